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

  const page = {
    probe: true,
    clear() {
      loss.clear();
      points = null;
      theory = null;
      V.empty("boundary", "decision boundary");
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
      if (v.probes) {
        V.histograms("act-hist", v.probes.act, v.probes.edges, `activations per layer (step ${v.probes.step})`);
        V.histograms("grad-hist", v.probes.grad, v.probes.edges, `gradients per layer (step ${v.probes.step})`);
        variance(v.probes);
      }
      if (v.findings) V.findings("findings", v.findings);
    },
    finished(ev) { if (ev.findings) V.findings("findings", ev.findings); },
  };

  for (const button of $("#presets").querySelectorAll("button")) {
    button.onclick = () => {
      form.elements["init.scheme"].value = button.dataset.scheme;
      if (button.dataset.std) form.elements["init.std"].value = button.dataset.std;
      if (button.dataset.value) form.elements["init.value"].value = button.dataset.value;
      form.dispatchEvent(new Event("change"));
    };
  }

  Lab.prepareForm(form, LABELS).then(() => {
    page.clear();
    Lab.bindTraining(form, page);
  }).catch((e) => Lab.showError(String(e)));
})();
