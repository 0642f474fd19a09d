/* Figures of a training, shared by the Initialization, Overfitting and Runs pages. */
"use strict";

const TrainViews = (() => {
  const { plot } = Lab;

  /* "hidden.3.act" -> "layer 4", "out" -> "output". */
  function layerLabel(name) {
    const m = /^hidden\.(\d+)\./.exec(name);
    if (m) return `layer ${Number(m[1]) + 1}`;
    return name === "out" ? "output" : name;
  }

  /* Curves of history columns over epochs, with optional vertical marks. */
  class Curves {
    constructor(id, columns, title, yTitle) {
      Object.assign(this, { id, columns, title, yTitle, rows: [], marks: [], levels: [] });
    }

    clear() { this.rows = []; this.marks = []; this.draw(); }

    add(rows) { this.rows.push(...rows); this.draw(); }

    /* Vertical lines: [{epoch, label, color}]. */
    mark(marks) { this.marks = marks; this.draw(); }

    /* Horizontal reference lines: [{y, label, color}]. */
    level(levels) { this.levels = levels; this.draw(); }

    draw() {
      if (!this.rows.length && !this.levels.length) return empty(this.id, this.title);
      const x = this.rows.map((r) => r.epoch);
      const traces = this.columns.map(([key, name, dash]) => ({
        x, y: this.rows.map((r) => r[key]), name, mode: "lines", line: { dash },
      }));
      const shapes = this.marks.map((m) => ({
        type: "line", x0: m.epoch, x1: m.epoch, yref: "paper", y0: 0, y1: 1,
        line: { color: m.color, dash: "dot", width: 2 },
      }));
      const annotations = this.marks.map((m, i) => ({
        x: m.epoch, yref: "paper", y: 1 - 0.08 * i, text: m.label, showarrow: false,
        font: { color: m.color, size: 11 }, xanchor: "left", yanchor: "top",
      }));
      for (const l of this.levels) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: l.y, y1: l.y,
          line: { color: l.color, dash: "dash", width: 1.5 } });
        annotations.push({ xref: "paper", x: 0.01, y: l.y, text: l.label, showarrow: false,
          font: { color: l.color, size: 11 }, xanchor: "left", yanchor: "bottom" });
      }
      plot(this.id, traces, {
        title: { text: this.title }, shapes, annotations,
        xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: this.yTitle } },
      });
    }
  }

  const CLASS_COLORS = ["#2f6fdb", "#d94841", "#2e7d32", "#b7791f", "#7b1fa2"];

  /* The heatmap's colours come from CLASS_COLORS, so a point sits on its own class's
   * colour where the model predicts that class: for two classes P(class 1) runs from
   * class 0's colour (0) through white (0.5) to class 1's (1); for more, each predicted
   * class k is a band of its colour (z in [k - 0.5, k + 0.5]). */
  function heatColors(kind, nClasses) {
    if (kind === "probability") {
      return { colorscale: [[0, CLASS_COLORS[0]], [0.5, "#ffffff"], [1, CLASS_COLORS[1]]],
        zmin: 0, zmax: 1 };
    }
    if (kind === "class") {
      const n = Math.max(2, nClasses);
      const scale = [];
      for (let k = 0; k < n; k++) {
        const c = CLASS_COLORS[k % CLASS_COLORS.length];
        scale.push([k / n, c], [(k + 1) / n, c]);
      }
      return { colorscale: scale, zmin: -0.5, zmax: n - 0.5 };
    }
    return { colorscale: "Viridis" };
  }

  /* The model's output over the plane and the points on top (`points`: training
   * points; `extra`: [{x, y, label, name}] drawn as open symbols, e.g. validation). */
  function boundary(id, b, points, extra = []) {
    const traces = [];
    const nClasses = points ? Math.max(...points.label) + 1 : 2;
    if (b) {
      traces.push({
        type: "heatmap", x: b.x, y: b.y, z: b.z, showscale: false, opacity: 0.75,
        hoverinfo: "skip", zsmooth: b.kind === "class" ? false : "fast", // "best": slower to draw
        ...heatColors(b.kind, nClasses),
      });
    }
    const colors = (labels) => labels.map((k) => CLASS_COLORS[k % CLASS_COLORS.length]);
    if (points) {
      traces.push({
        type: "scatter", mode: "markers", x: points.x, y: points.y, hoverinfo: "skip",
        name: "training", marker: { size: 5, line: { width: 0.5, color: "#fff" },
          color: colors(points.label) },
        showlegend: extra.length > 0,
      });
    }
    for (const set of extra) {
      traces.push({
        type: "scatter", mode: "markers", x: set.x, y: set.y, hoverinfo: "skip", name: set.name,
        marker: { size: 7, symbol: set.symbol ?? "diamond-open", line: { width: 1.5 },
          color: colors(set.label) },
      });
    }
    const title = !b ? "decision boundary" : b.kind === "probability"
      ? "decision boundary (P of class 1: blue 0, red 1)"
      : b.kind === "class" ? "decision boundary (predicted class)" : "prediction";
    plot(id, traces, {
      title: { text: title },
      xaxis: { title: { text: "x1" }, zeroline: false },
      yaxis: { title: { text: "x2" }, zeroline: false },
    });
  }

  const TICKS = [-100, -1, -0.01, -1e-4, -1e-6, 0, 1e-6, 1e-4, 0.01, 1, 100];
  const TICK_TEXT = { "-0.0001": "-1e-4", "-0.000001": "-1e-6", 0.0001: "1e-4", 0.000001: "1e-6" };

  /* Where value v sits on a heatmap whose column i spans (edges[i], edges[i+1]]:
   * edge k is drawn at k - 0.5, and between edges the position is linear in log|v|. */
  function position(v, edges) {
    const k = edges.findIndex((e, i) => i < edges.length - 1 && e <= v && v <= edges[i + 1]);
    if (k < 0) return null;
    const [a, b] = [edges[k], edges[k + 1]];
    const frac = a === v ? 0 : b === v ? 1 : a * b > 0
      ? Math.log(Math.abs(v / a)) / Math.log(Math.abs(b / a)) : 0.5;
    return k - 0.5 + frac;
  }

  /* One row per layer: the share of its values in each of the probe's fixed bins. */
  function histograms(id, part, edges, title) {
    const z = part.counts.map((c) => {
      const total = c.reduce((a, v) => a + v, 0);
      return c.map((v) => (total ? v / total : 0));
    });
    const ticks = TICKS.map((v) => [position(v, edges), v]).filter(([x]) => x !== null);
    plot(id, [{
      type: "heatmap", z, y: part.layers.map(layerLabel), zmin: 0,
      colorscale: [[0, "#ffffff"], [0.01, "#e3ecfa"], [0.3, "#7aa5e6"], [1, "#0b3d91"]],
      colorbar: { title: { text: "share" }, thickness: 10 },
      hovertemplate: "%{y}, bin %{x}: %{z:.2f}<extra></extra>",
    }], {
      title: { text: title },
      xaxis: { tickvals: ticks.map(([x]) => x), ticktext: ticks.map(([, v]) => TICK_TEXT[v] ?? v),
        title: { text: "value (bins log-spaced in |value|)" } },
      yaxis: { type: "category" },
    });
  }

  const empty = (id, title) => Lab.placeholder(id, title, "press Train");

  /* How sure a finding is, when the diagnosis says (the severity "possible", which
   * fitscope.probe.findings gives a finding it does not assert: less sure than its
   * POSSIBLE_BELOW, or its code's line in POSSIBLE_BELOW_CALIBRATED; or a
   * `confidence` in [0, 1] or a word, on the finding or in its evidence): "not sure"
   * for "possible", below 0.7 or for "low" / "possible", else null. */
  function unsure(f) {
    const c = f.confidence ?? f.evidence?.confidence;
    if (f.severity === "possible") {
      return typeof c === "number" ? `not sure (confidence ${c.toFixed(2)})` : "not sure";
    }
    if (typeof c === "number") return c < 0.7 ? `not sure (confidence ${c.toFixed(2)})` : null;
    if (typeof c === "string" && ["low", "possible", "unsure", "maybe"].includes(c.toLowerCase())) {
      return `not sure (${c})`;
    }
    return null;
  }

  /* A diagnosis (fitscope.probe.diagnose findings) as a list, in the order diagnose gives:
   * each finding's severity in words, and a "not sure" mark when it is uncertain. */
  function findings(id, list, emptyText = "No finding.") {
    const ul = document.getElementById(id);
    ul.replaceChildren();
    if (!list.length) {
      ul.append(Object.assign(document.createElement("li"), { textContent: emptyText }));
    }
    for (const f of list) {
      const doubt = unsure(f);
      const li = Object.assign(document.createElement("li"),
        { className: `sev-${f.severity}${doubt ? " unsure" : ""}` });
      const head = document.createElement("div");
      head.append(Object.assign(document.createElement("span"), { className: "code", textContent: f.code }),
        f.layer ? ` (${f.layer})` : "",
        Object.assign(document.createElement("span"),
          { className: "severity", textContent: ` · ${doubt ?? f.severity}` }));
      const text = Object.assign(document.createElement("div"),
        { textContent: doubt ? `Possibly: ${f.explanation}` : f.explanation });
      const fix = Object.assign(document.createElement("div"),
        { className: "fix", textContent: f.fix ? `Try: ${f.fix}` : "" });
      li.append(head, text, fix);
      ul.append(li);
    }
  }

  return { Curves, boundary, CLASS_COLORS, histograms, empty, findings, layerLabel };
})();
