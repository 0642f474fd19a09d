/* The trained-network landscape page: two runs' training paths on their PCA planes,
 * their sharpness, and the same optimizers on a toy surface. */
"use strict";

(() => {
  const { $, plot, placeholder, fmt } = Lab;
  const form = $("#form");
  const COLORS = { A: "#2f6fdb", B: "#c62828" }; // text on white at 4.5:1 or more
  const PRESETS = {
    noise: { a_optimizer: "adam", a_lr: 0.01, a_batch: 64, a_noise: 0,
      b_optimizer: "adam", b_lr: 0.01, b_batch: 64, b_noise: 0.05 },
    batch: { a_optimizer: "adam", a_lr: 0.01, a_batch: 16, a_noise: 0,
      b_optimizer: "adam", b_lr: 0.01, b_batch: 512, b_noise: 0 },
    optimizer: { a_optimizer: "sgd", a_lr: 0.1, a_batch: 64, a_noise: 0,
      b_optimizer: "adam", b_lr: 0.01, b_batch: 64, b_noise: 0 },
  };
  const PLOTS = ["slice-a", "slice-b", "toy", "curves"];
  let inFlight = false;
  let again = false;

  const log10 = (v) => (v === null ? null : Math.log10(Math.max(v, 1e-12)));
  const pct = (r) => `${(100 * r).toFixed(1)}%`;
  const sig = (x) => (x === null || x === undefined ? "–" : String(Number(x.toPrecision(3))));

  /* The colour range shared by both slices, so equal colours mean equal losses. */
  function sharedRange(runs) {
    const values = runs.flatMap((r) => (r.trajectory ? r.trajectory.loss.flat() : []))
      .filter((v) => v !== null).map(log10);
    if (!values.length) return {};
    return { zmin: Math.min(...values), zmax: Math.max(...values) };
  }

  function drawSlice(run, range) {
    const id = `slice-${run.side.toLowerCase()}`;
    const title = `${run.side}: ${run.label}`;
    const t = run.trajectory;
    if (!t) return placeholder(id, title, run.problem || "no landscape for this run");
    const [ev1, ev2] = t.explained_variance;
    const px = t.path.map((p) => p[0]);
    const py = t.path.map((p) => p[1]);
    const text = t.path_steps.map((s, i) => `step ${s}<br>loss ${fmt(t.path_loss[i], 4)}`);
    return plot(id, [
      { type: "contour", x: t.x, y: t.y, z: t.loss.map((row) => row.map(log10)),
        customdata: t.loss, ...range, colorscale: "Viridis", ncontours: 24,
        colorbar: { title: { text: "log10 loss", side: "right" }, thickness: 10, len: 0.85 },
        hovertemplate: "PC1 %{x:.3g}<br>PC2 %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>",
        name: "loss" },
      { x: px, y: py, text, mode: "lines+markers", name: "training path",
        line: { color: "#fff", width: 2 }, marker: { size: 4, color: "#1f2933" },
        hovertemplate: "%{text}<extra></extra>" },
      { x: px.slice(0, 1), y: py.slice(0, 1), mode: "markers", name: "initialization",
        marker: { symbol: "circle-open", size: 15, color: "#ff4d4d", line: { width: 3 } },
        hovertemplate: `initialization<br>loss ${fmt(t.path_loss[0], 4)}<extra></extra>` },
      { x: px.slice(-1), y: py.slice(-1), mode: "markers", name: "trained weights",
        marker: { symbol: "star", size: 17, color: "#ffd43b",
          line: { color: "#1f2933", width: 1 } },
        hovertemplate: `trained weights<br>loss ${fmt(t.path_loss.at(-1), 4)}<extra></extra>` },
    ], {
      title: { text: title, font: { size: 13, color: COLORS[run.side] } },
      xaxis: { title: { text: `PC1 (${pct(ev1)} of the path)` }, range: [t.x[0], t.x.at(-1)] },
      yaxis: { title: { text: `PC2 (${pct(ev2)})` }, range: [t.y[0], t.y.at(-1)] },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.17, yanchor: "top" },
      margin: { l: 55, r: 10, t: 34, b: 70 },
    });
  }

  function sliceNote(run) {
    const t = run.trajectory;
    const m = run.metrics;
    const status = run.status === "completed" ? "" : ` The run ${run.status}` +
      `${run.reason ? ` (${run.reason})` : ""}.`;
    const how = run.cached ? "read from the cache" : `trained and measured in ` +
      `${fmt(run.seconds.train + run.seconds.landscape + run.seconds.sharpness, 1)} s`;
    const shown = t ? ` The plane shows ${pct(t.explained_variance[0] + t.explained_variance[1])}` +
      ` of the path's variance (${t.path.length} snapshots over ${m.steps} steps; the two` +
      " axes are not drawn to the same scale)." : "";
    return `${run.description}.${status}${shown} Final training loss ${fmt(m.train_loss, 4)},` +
      ` test accuracy ${fmt(m.test_acc)}; ${how}.`;
  }

  /* Sharpness and the final numbers, A beside B; the flatter value in bold. */
  function drawNumbers(view) {
    const [a, b] = view.runs;
    const rows = [
      ["settings", (r) => r.label],
      ["status", (r) => r.status],
      ["converged", (r) => (r.convergence.converged ? "yes" : "no")],
      ["optimizer steps", (r) => fmt(r.metrics.steps)],
      ["final training loss", (r) => fmt(r.metrics.train_loss, 4)],
      ["test accuracy", (r) => fmt(r.metrics.test_acc)],
      ["top Hessian eigenvalue", (r) => r.sharpness?.hessian.eigenvalue ?? null,
        (r) => (r.sharpness && !r.sharpness.hessian.converged ? " (not converged)" : "")],
      ...view.alphas.map((alpha, k) => [`expected increase, α\u00a0=\u00a0${alpha}`,
        (r) => r.sharpness?.expected[k].increase ?? null,
        (r) => (r.sharpness ? ` ± ${sig(r.sharpness.expected[k].std_error)}` : "")]),
      ["path shown by the plane", (r) => (r.trajectory
        ? pct(r.trajectory.explained_variance[0] + r.trajectory.explained_variance[1]) : "–")],
      ["run id", (r) => r.run_id],
    ];
    const body = rows.map(([name, get, extra]) => {
      const va = get(a);
      const vb = get(b);
      const numeric = typeof va === "number" && typeof vb === "number";
      const cell = (v, other, r) => {
        const flatter = numeric && v < other ? " class=\"flatter\"" : "";
        const shown = typeof v === "number" ? sig(v) : (v ?? "–");
        return `<td${flatter}>${shown}${extra ? extra(r) : ""}</td>`;
      };
      const mono = name === "run id" ? " class=\"mono\"" : "";
      return `<tr${mono}><th>${name}</th>${cell(va, vb, a)}${cell(vb, va, b)}</tr>`;
    });
    $("#numbers").innerHTML = `<thead><tr><th></th><th class="run-a">run A</th>` +
      `<th class="run-b">run B</th></tr></thead><tbody>${body.join("")}</tbody>`;
    $("#caveat").textContent = caveat(view.runs);
  }

  /* A warning when a run has not converged (the server's fitscope.lab.convergence rule:
   * the training loss's trend over the last third of the epochs still falls by 5% or
   * more, or the run did not complete): its sharpness is measured on the way down, not
   * at a minimum, so comparing it says little. Empty when both converged. */
  function caveat(runs) {
    const open = runs.filter((r) => !r.convergence.converged);
    if (!open.length) return "";
    const which = open.map((r) => `run ${r.side} (${r.convergence.reason})`).join(" and ");
    const verb = open.length === 1 ? "has" : "have";
    return `Not converged: ${which} ${verb} not reached a minimum, so ` +
      `${open.length === 1 ? "its" : "their"} sharpness is measured on the way down and ` +
      "the comparison may answer differently with more epochs; raise the epochs until " +
      "the loss levels off before reading which minimum is flatter.";
  }

  /* The runs' optimizers on the toy surface (fitscope.landscape.figures.toy_figure). */
  function drawToy(toy, runs) {
    const fig = toy.figure;
    plot("toy", fig.data, {
      ...fig.layout, title: { text: `${toy.surface}: f = ${toy.formula}` },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.17, yanchor: "top" },
      margin: { l: 55, r: 10, t: 34, b: 70 },
    });
    const used = Object.entries(toy.paths).map(([name, p]) => `${name} at lr ${fmt(p.lr)} ` +
      `ends ${fmt(p.final_gap)} above the minimum`);
    const same = runs[0].settings.optimizer === runs[1].settings.optimizer
      ? " Both runs use the same optimizer, so there is one path: batch size and weight noise" +
        " have no counterpart on a surface without data." : "";
    const steps = Math.max(...Object.values(toy.paths).map((p) => p.x.length - 1));
    $("#toy-note").textContent = `The same optimizers, ${steps} steps from the surface's ` +
      `start, each at the surface's own learning rate (a network's would not fit its ` +
      `scale): ${used.join("; ")}.${same}`;
  }

  function drawCurves(runs) {
    const traces = runs.flatMap((r) => [
      { x: r.history.epoch, y: r.history.train_loss, mode: "lines", name: `${r.side} training`,
        line: { color: COLORS[r.side] } },
      { x: r.history.epoch, y: r.history.val_loss, mode: "lines", name: `${r.side} validation`,
        line: { color: COLORS[r.side], dash: "dot" } },
    ]);
    plot("curves", traces, {
      title: { text: "loss per epoch: training (solid) and validation (dotted)" },
      xaxis: { title: { text: "epoch" } },
      yaxis: { title: { text: "loss" }, rangemode: "tozero" },
    });
  }

  function draw(view) {
    const range = sharedRange(view.runs);
    for (const run of view.runs) {
      drawSlice(run, range);
      $(`#note-${run.side.toLowerCase()}`).textContent = sliceNote(run);
    }
    drawNumbers(view);
    drawToy(view.toy, view.runs);
    drawCurves(view.runs);
  }

  /* Show the server's progress until `done` settles. */
  function watch(query, done) {
    const busy = $("#busy");
    const started = performance.now();
    let settled = false;
    busy.hidden = false;
    $("#progress").removeAttribute("value");
    $("#stage").textContent = "starting";
    $("section.figures").classList.add("computing");
    const poll = async () => {
      if (settled) return;
      try {
        const p = await Lab.getJSON(`/api/trajectories/progress?${query}`);
        if (!settled && p.stage) {
          $("#progress").value = p.fraction;
          const seconds = ((performance.now() - started) / 1000).toFixed(0);
          $("#stage").textContent = `${p.stage} · ${seconds} s`;
        }
      } catch (e) { /* the comparison itself reports errors */ }
      if (!settled) setTimeout(poll, 300);
    };
    setTimeout(poll, 150);
    return done.finally(() => {
      settled = true;
      busy.hidden = true;
      $("section.figures").classList.remove("computing");
    });
  }

  async function compare() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    Lab.saveState(form, true);
    const query = new URLSearchParams(location.search);
    const started = performance.now();
    $("#status").textContent = "";
    try {
      const view = await watch(query, Lab.getJSON(`/api/trajectories?${query}`));
      Lab.showError("");
      draw(view);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const cached = view.runs.every((r) => r.cached) ? " (both from the cache)" : "";
      $("#status").textContent =
        `compared in ${seconds} s${cached}; grid ${view.grid} × ${view.grid}`;
      document.body.dataset.compared = query.toString();
    } catch (e) {
      Lab.showError(e.message);
      $("#status").textContent = "";
      if (!document.body.dataset.compared) {
        for (const id of PLOTS) placeholder(id, "", "nothing to show: see the message on the left");
      }
    } finally {
      inFlight = false;
      if (again) { again = false; compare(); }
    }
  }

  /* Run A's and Run B's fieldsets, both from one template: each field gets its side's
   * prefix and the page's defaults, which are the "noise" preset. */
  function addRunFields() {
    const template = $("#run-fields");
    for (const side of ["a", "b"]) {
      const set = template.content.firstElementChild.cloneNode(true);
      set.querySelector("legend").textContent = `Run ${side.toUpperCase()}`;
      for (const el of set.querySelectorAll("[name]")) {
        el.name = `${side}_${el.name}`;
        const value = String(PRESETS.noise[el.name]);
        if (el.tagName === "SELECT") el.dataset.default = value;
        else el.value = value;
      }
      template.before(set);
    }
  }

  function applyPreset(name) {
    for (const [field, value] of Object.entries(PRESETS[name])) form.elements[field].value = value;
    pressPreset();
    compare();
    Lab.showFigures();
  }

  /* The preset whose settings the form holds is shown pressed. */
  function pressPreset() {
    for (const b of $("#presets").querySelectorAll("button")) {
      const on = Object.entries(PRESETS[b.dataset.preset])
        .every(([field, value]) => String(form.elements[field].value) === String(value));
      b.setAttribute("aria-pressed", String(on));
    }
  }

  addRunFields();
  Lab.prepareForm(form).then(() => {
    for (const b of $("#presets").querySelectorAll("button")) {
      b.onclick = () => applyPreset(b.dataset.preset);
    }
    $("#compare").onclick = () => { compare(); Lab.showFigures(); };
    form.addEventListener("change", () => { pressPreset(); compare(); });
    Lab.followHistory(form, () => { pressPreset(); compare(); });
    pressPreset();
    for (const id of PLOTS) placeholder(id, "", "training…");
    compare();
  }).catch((e) => Lab.showError(String(e)));
})();
