/* The Overfitting page: capacity and noise against regularization, live. */
"use strict";

(() => {
  const { $, fmt } = Lab;
  const V = TrainViews;
  const form = $("#form");
  const loss = new V.Curves("loss", [["train_loss", "training"], ["val_loss", "validation", "dash"]],
    "loss: training against validation", "loss");
  const accuracy = new V.Curves("accuracy", [["train_acc", "training"], ["val_acc", "validation", "dash"]],
    "accuracy, with 1-nearest-neighbour for reference", "accuracy");
  const NN_FIELDS = ["name", "n_samples", "noise", "label_noise", "train_size"];
  let meta = null; // the started event's meta: points of each split
  let boundary = null; // the latest decision boundary
  let neighbour = null;
  let last = null; // the latest history row
  let final = null; // the finished event: metrics of the weights the run kept
  let failure = null; // the failed event's message
  let early = null; // the running config's early stopping settings

  /* The gap while training (the latest epoch's row); at the end the final metrics of
   * the weights the run kept (with early stopping: the restored epoch's). */
  function summary() {
    const lines = [];
    if (failure) {
      lines.push(`the training failed: ${failure}`);
    } else if (final?.metrics?.train_acc !== undefined) {
      const m = final.metrics;
      const which = early?.enabled && early.restore_best && final.best_epoch
        ? `the weights of epoch ${final.best_epoch} (restored)`
        : `the weights after epoch ${m.epochs_run}`;
      lines.push(`network, ${which}: training accuracy ${fmt(m.train_acc)}, validation ` +
        `${fmt(m.val_acc)} (gap ${fmt(m.train_acc - m.val_acc)}); test ${fmt(m.test_acc)}`);
    } else if (last) {
      lines.push(`network (epoch ${last.epoch}): training accuracy ${fmt(last.train_acc)}, ` +
        `validation ${fmt(last.val_acc)} (gap ${fmt(last.train_acc - last.val_acc)})`);
    }
    if (neighbour) {
      lines.push(`1-nearest-neighbour: training accuracy ${fmt(neighbour.train_acc)}, validation ` +
        `${fmt(neighbour.val_acc)} (gap ${fmt(neighbour.train_acc - neighbour.val_acc)})`);
    }
    $("#summary").textContent = lines.join("\n");
    $("#summary").style.whiteSpace = "pre-line";
  }

  async function updateNeighbour() {
    const params = new URLSearchParams();
    for (const f of NN_FIELDS) {
      const el = form.elements[`data.${f}`];
      if (el.value !== "") params.set(f, el.value);
    }
    try {
      neighbour = await Lab.getJSON(`/api/overfitting/nearest-neighbour?${params}`);
      accuracy.level([
        { y: neighbour.train_acc, label: "1-NN training", color: "#7b1fa2" },
        { y: neighbour.val_acc, label: "1-NN validation", color: "#8a5a00" },
      ]);
    } catch (e) {
      neighbour = null;
      accuracy.level([]);
      Lab.showError(`1-nearest-neighbour: ${e.message}`);
    }
    summary();
  }

  const SHOWN = {
    val: { key: "val_points", name: "validation", symbol: "diamond-open" },
    test: { key: "test_points", name: "test", symbol: "square-open" },
  };

  function drawBoundary() {
    if (!boundary) return;
    const shown = SHOWN[form.elements.points.value];
    const extra = shown && meta?.[shown.key] ? [{ ...meta[shown.key], ...shown }] : [];
    V.boundary("boundary", boundary, meta?.points ?? null, extra);
  }

  function drawWeights(w) {
    V.histograms("weights", w, w.edges, "weights per layer");
    $("#weights-note").textContent = "Share of weights under 0.01 in size: " +
      w.layers.map((name, i) => `${V.layerLabel(name.replace(/\.linear$/, ".act"))} ` +
        `${Math.round(100 * w.near_zero[i])}%`).join(", ") + ".";
  }

  const page = {
    weights: true,
    clear() {
      loss.clear(); accuracy.clear();
      meta = null; boundary = null; last = null; final = null; failure = null;
      V.empty("boundary", "decision boundary");
      V.empty("weights", "weights per layer");
      $("#boundary-note").textContent = "";
      $("#weights-note").textContent = "";
      summary();
    },
    started(ev) {
      meta = ev.meta;
      early = ev.config.regularization.early_stopping;
      $("#boundary-note").textContent = meta.points ? ""
        : "The decision boundary is drawn for 2-D data sets only.";
    },
    rows(rows) {
      loss.add(rows); accuracy.add(rows);
      last = rows.at(-1);
      summary();
    },
    view(v) {
      if (v.boundary) { boundary = v.boundary; drawBoundary(); }
      if (v.weights) drawWeights(v.weights);
      if (v.best_epoch && (v.state === "running" || v.state === "paused")) {
        const marks = [{ epoch: v.best_epoch, label: "best so far", color: "#2e7d32" }];
        loss.mark(marks); accuracy.mark(marks);
      }
    },
    finished(ev) {
      final = ev;
      const marks = [];
      if (ev.stop_epoch) marks.push({ epoch: ev.stop_epoch, label: "stopped", color: "#c62828" });
      if (early?.enabled && early.restore_best && ev.best_epoch) {
        marks.push({ epoch: ev.best_epoch, label: `restored epoch ${ev.best_epoch}`, color: "#2e7d32" });
      }
      loss.mark(marks); accuracy.mark(marks);
      summary();
    },
    failed(ev) { failure = ev.message; summary(); },
  };

  Lab.prepareForm(form).then(() => {
    page.clear();
    Lab.bindTraining(form, page);
    form.addEventListener("change", (e) => {
      if (e.target.name.startsWith("data.")) updateNeighbour();
    });
    form.elements.points.addEventListener("change", () => { Lab.saveState(form); drawBoundary(); });
    updateNeighbour();
  }).catch((e) => Lab.showError(String(e)));
})();
