/* The Regularization landscape page: penalized optima of a 2-D quadratic, and the
 * L1 / L2 paths of logistic regression on breast cancer. */
"use strict";

(() => {
  const { $, plot, fmt } = Lab;
  const form = $("#form");
  const lam = form.elements.lam;
  let inFlight = false;
  let again = false;

  function region(v) {
    const t = v.radius;
    if (v.penalty === "l1") return { x: [t, 0, -t, 0, t], y: [0, t, 0, -t, 0] };
    const a = [...Array(121).keys()].map((i) => (i / 120) * 2 * Math.PI);
    return { x: a.map((s) => t * Math.cos(s)), y: a.map((s) => t * Math.sin(s)) };
  }

  function drawContours(v) {
    const g = v.grid;
    const [w1, w2] = v.optimum;
    const shape = v.penalty === "l1" ? "diamond |w1| + |w2| ≤ t" : "disc w1² + w2² ≤ t²";
    plot("contours", [
      { type: "contour", x: g.x, y: g.y, z: g.z, showscale: false, ncontours: 18,
        contours: { coloring: "lines" }, colorscale: "Blues", reversescale: true,
        line: { width: 1 }, hoverinfo: "skip", name: "loss" },
      { type: "contour", x: g.x, y: g.y, z: g.z, showscale: false, autocontour: false,
        contours: { start: v.loss_at_optimum, end: v.loss_at_optimum, size: 1, coloring: "lines" },
        colorscale: [[0, "#d94841"], [1, "#d94841"]], line: { width: 2, dash: "dot" },
        hoverinfo: "skip", name: "contour through the optimum" },
      { ...region(v), mode: "lines", fill: "toself", fillcolor: "rgba(47,111,219,0.15)",
        line: { color: "#2f6fdb" }, name: `region: ${shape}` },
      { x: v.path.w1, y: v.path.w2, mode: "lines", line: { color: "#7b1fa2", width: 2 },
        name: "optimum as lambda grows" },
      { x: [v.center[0]], y: [v.center[1]], mode: "markers", name: "unregularized",
        marker: { symbol: "x", size: 11, color: "#1f2933" } },
      { x: [w1], y: [w2], mode: "markers", name: "regularized",
        marker: { size: 12, color: "#d94841", line: { color: "#fff", width: 1.5 } } },
    ], {
      title: { text: `loss contours and the ${v.penalty.toUpperCase()} optimum` },
      xaxis: { title: { text: "w1" }, zeroline: true, zerolinewidth: 2, range: [g.x[0], g.x.at(-1)] },
      yaxis: { title: { text: "w2" }, zeroline: true, zerolinewidth: 2, scaleanchor: "x",
        range: [g.y[0], g.y.at(-1)] },
      legend: { orientation: "h", x: 0, y: -0.15 }, margin: { l: 50, r: 10, t: 40, b: 10 },
    });
  }

  function drawWeights(v) {
    plot("weights", [
      { x: v.path.lam, y: v.path.w1, name: "w1", mode: "lines" },
      { x: v.path.lam, y: v.path.w2, name: "w2", mode: "lines" },
      { x: [v.lam, v.lam], y: v.optimum, mode: "markers", name: "now",
        marker: { size: 10, color: "#d94841" } },
    ], {
      title: { text: "each weight of the optimum against lambda" },
      xaxis: { title: { text: "lambda" } }, yaxis: { title: { text: "weight" }, zeroline: true },
      shapes: [{ type: "line", x0: v.lam, x1: v.lam, yref: "paper", y0: 0, y1: 1,
        line: { color: "#d94841", dash: "dot" } }],
    });
  }

  function draw(v) {
    lam.max = Math.max(v.lam_max, v.lam);
    lam.step = 10 ** Math.floor(Math.log10(v.lam_max / 200)); // a round step: 0.01, 0.1, ...
    $("#lam-text").textContent = `lambda = ${fmt(v.lam)}; L1 reaches the origin at ${fmt(v.lam_zero)}`;
    const readout = $("#readout");
    const [w1, w2] = v.optimum;
    readout.textContent = `optimum w = (${fmt(w1)}, ${fmt(w2)}); zero weights: ${v.zeros}; ` +
      `region size t = ${fmt(v.radius)}`;
    Object.assign(readout.dataset, { w1, w2, zeros: v.zeros });
    drawContours(v);
    drawWeights(v);
  }

  /* At most one request in flight; the latest settings win. */
  async function update() {
    Lab.saveState(form);
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      draw(await Lab.getJSON(`/api/landscape/quadratic${location.search}`));
      Lab.showError("");
    } catch (e) {
      Lab.showError(e.message);
    } finally {
      inFlight = false;
      if (again) { again = false; update(); }
    }
  }

  function drawLogistic(p) {
    for (const penalty of ["l1", "l2"]) {
      const path = p[penalty];
      const traces = path.coef.map((ys, i) => ({
        x: p.lam, y: ys, mode: "lines", name: p.features[i], line: { width: 1.2 },
        showlegend: false, hovertemplate: `${p.features[i]}: %{y:.3f}<extra></extra>`,
      }));
      traces.push({ x: p.lam, y: path.zeros, yaxis: "y2", mode: "lines", name: "zero weights",
        line: { shape: "hv", dash: "dot", color: "#1f2933", width: 2 } });
      plot(`logistic-${penalty}`, traces, {
        title: { text: `${penalty.toUpperCase()} path: coefficients and zero weights` },
        xaxis: { type: "log", title: { text: "lambda" }, exponentformat: "power" },
        yaxis: { title: { text: "coefficient" } },
        yaxis2: { overlaying: "y", side: "right", range: [0, p.features.length],
          tickmode: "linear", tick0: 0, dtick: 5, title: { text: "zero weights" },
          showgrid: false },
        margin: { l: 55, r: 50, t: 34, b: 42 },
      });
    }
  }

  Lab.prepareForm(form).then(() => {
    form.addEventListener("input", update);
    Lab.followHistory(form, update);
    update();
  });
  for (const penalty of ["l1", "l2"]) {
    Lab.placeholder(`logistic-${penalty}`, `${penalty.toUpperCase()} path`, "fitting the path…");
  }
  Lab.getJSON("/api/landscape/logistic").then(drawLogistic)
    .catch((e) => Lab.showError(e.message));
})();
