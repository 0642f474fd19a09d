/* The Initialization page: a deep network trained live, probed layer by layer. */
"use strict";

(() => {
  const { $, plot } = Lab;
  const V = TrainViews;
  const form = $("#form");
  const LABELS = {
    default: "PyTorch default", zeros: "zeros", constant: "constant", normal: "normal (std)",
    uniform: "uniform", xavier_normal: "Xavier normal", xavier_uniform: "Xavier uniform",
    kaiming_normal: "He normal", kaiming_uniform: "He uniform", lecun_normal: "LeCun normal",
    orthogonal: "orthogonal",
  };
  const loss = new V.Curves("loss", [["train_loss", "training"], ["val_loss", "validation", "dash"]],
    "loss", "cross-entropy");
  let points = null;
  let theory = null; // the started event's theory line (variances at initialization)
  const SERIES = [["z_var", "Var(z)", "#2f6fdb"], ["grad_z_var", "Var(dL/dz)", "#d94841"]];

  /* Measured variances now (solid), theory at init (dashed), measured at init (rings). */
  function variance(probes) {
    const v = probes.variance;
    const traces = SERIES.map(([key, name, color]) => ({
      x: v.layers.map(V.layerLabel), y: v[key], name: `${name} now`, mode: "lines+markers",
      line: { color },
    }));
    if (theory) {
      const x = theory.layers.map(V.layerLabel);
      for (const [key, name, color] of SERIES) {
        traces.push({ x, y: theory[key], name: `${name} theory at init`, mode: "lines",
          line: { color, dash: "dash" } });
        traces.push({ x, y: theory[`${key}_measured`], name: `${name} measured at init`,
          mode: "markers", marker: { color, symbol: "circle-open", size: 9 } });
      }
    }
    plot("variance", traces, {
      title: { text: `variance per layer (step ${probes.step})` },
      yaxis: { type: "log", title: { text: "variance" }, exponentformat: "power" },
      xaxis: { type: "category" },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.18, yanchor: "top" },
      margin: { l: 55, r: 15, t: 34, b: 90 },
    });
  }

  /* The probes received, one per step; the scrubber picks one (its right end: the
   * newest, following the training). */
  let snapshots = [];
  const scrubber = $("#probe-step");
  const following = () => Number(scrubber.value) >= snapshots.length - 1;

  function drawProbes(probes) {
    V.histograms("act-hist", probes.act, probes.edges, `activations per layer (step ${probes.step})`);
    V.histograms("grad-hist", probes.grad, probes.edges, `gradients per layer (step ${probes.step})`);
    variance(probes);
  }

  function drawInitial(probes) {
    V.histograms("act-hist-0", probes.act, probes.edges, "activations per layer at step 0");
    V.histograms("grad-hist-0", probes.grad, probes.edges, "gradients per layer at step 0");
  }

  function addSnapshot(probes) {
    if (snapshots.at(-1)?.step === probes.step) snapshots.pop();
    const follow = following();
    snapshots.push(probes);
    scrubber.max = String(snapshots.length - 1);
    scrubber.disabled = snapshots.length < 2;
    if (follow) { scrubber.value = scrubber.max; drawProbes(probes); }
    scrubber.setAttribute("aria-valuetext", `step ${snapshots[Number(scrubber.value)].step}`);
  }

  scrubber.addEventListener("input", () => {
    const probes = snapshots[Number(scrubber.value)];
    scrubber.setAttribute("aria-valuetext", `step ${probes.step}`);
    drawProbes(probes);
  });

  const page = {
    probe: true,
    clear() {
      loss.clear();
      points = null;
      theory = null;
      snapshots = [];
      Object.assign(scrubber, { max: "0", value: "0", disabled: true });
      V.empty("boundary", "decision boundary");
      V.empty("act-hist-0", "activations per layer at step 0");
      V.empty("grad-hist-0", "gradients per layer at step 0");
      V.empty("act-hist", "activations per layer");
      V.empty("grad-hist", "gradients per layer");
      V.empty("variance", "variance per layer");
      $("#boundary-note").textContent = "";
      V.findings("findings", [], "Train to see what the diagnosis finds.");
    },
    started(ev) {
      points = ev.meta.points ?? null;
      $("#boundary-note").textContent = points ? ""
        : "The decision boundary is drawn for 2-D data sets only.";
    },
    rows(rows) { loss.add(rows); },
    view(v) {
      if ("theory" in v) {
        theory = v.theory;
        $("#variance-note").textContent = theory ? ""
          : "No theory line: it covers plain MLPs (no batch norm).";
      }
      if (v.boundary) V.boundary("boundary", v.boundary, points);
      if (v.initial_probes) {
        drawInitial(v.initial_probes);
        if (!snapshots.length || snapshots[0].step > 0) snapshots.unshift(v.initial_probes);
      }
      if (v.probes) addSnapshot(v.probes);
      if (v.findings) V.findings("findings", v.findings);
    },
    finished(ev) { if (ev.findings) V.findings("findings", ev.findings); },
  };

  /* A preset sets the init (and for "too small" / "too large" the optimizer); the
   * preset matching the form is shown pressed. */
  const presets = [...$("#presets").querySelectorAll("button")];
  function pressPreset() {
    const el = form.elements;
    for (const b of presets) {
      const d = b.dataset;
      const on = el["init.scheme"].value === d.scheme
        && (!d.std || Number(el["init.std"].value) === Number(d.std))
        && (!d.value || Number(el["init.value"].value) === Number(d.value));
      b.setAttribute("aria-pressed", String(on));
    }
  }
  for (const button of presets) {
    button.onclick = () => {
      const el = form.elements;
      const d = button.dataset;
      el["init.scheme"].value = d.scheme;
      if (d.std) el["init.std"].value = d.std;
      if (d.value) el["init.value"].value = d.value;
      if (d.optimizer) el["optimizer.name"].value = d.optimizer;
      if (d.lr) el["optimizer.lr"].value = d.lr;
      form.dispatchEvent(new Event("change"));
    };
  }
  form.addEventListener("change", pressPreset);

  Lab.prepareForm(form, LABELS).then(() => {
    page.clear();
    pressPreset();
    Lab.bindTraining(form, page);
  }).catch((e) => Lab.showError(String(e)));
})();
