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
  let points = null;
  let neighbour = null;
  let last = null;
  let early = null; // the running config's early stopping settings

  function summary(metrics) {
    const lines = [];
    if (metrics) {
      lines.push(`network: training accuracy ${fmt(metrics.train_acc)}, validation ${fmt(metrics.val_acc)}` +
        ` (gap ${fmt(metrics.train_acc - metrics.val_acc)}); test ${fmt(metrics.test_acc)}`);
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
        { y: neighbour.val_acc, label: "1-NN validation", color: "#b7791f" },
      ]);
    } catch (e) {
      neighbour = null;
      accuracy.level([]);
      Lab.showError(`1-nearest-neighbour: ${e.message}`);
    }
    summary(null);
  }

  const page = {
    clear() {
      loss.clear(); accuracy.clear();
      points = null; last = null;
      V.empty("boundary", "decision boundary");
      $("#boundary-note").textContent = "";
      summary(null);
    },
    started(ev) {
      points = ev.meta.points ?? null;
      early = ev.config.regularization.early_stopping;
      $("#boundary-note").textContent = points ? ""
        : "The decision boundary is drawn for 2-D data sets only.";
    },
    rows(rows) {
      loss.add(rows); accuracy.add(rows);
      last = rows.at(-1);
      summary(null);
    },
    view(v) {
      if (v.boundary) V.boundary("boundary", v.boundary, points);
      if (v.best_epoch && (v.state === "running" || v.state === "paused")) {
        const marks = [{ epoch: v.best_epoch, label: "best so far", color: "#2e7d32" }];
        loss.mark(marks); accuracy.mark(marks);
      }
    },
    finished(ev) {
      const marks = [];
      if (ev.stop_epoch) marks.push({ epoch: ev.stop_epoch, label: "stopped", color: "#c62828" });
      if (early?.enabled && early.restore_best && ev.best_epoch) {
        marks.push({ epoch: ev.best_epoch, label: `restored epoch ${ev.best_epoch}`, color: "#2e7d32" });
      }
      loss.mark(marks); accuracy.mark(marks);
      summary(ev.metrics);
    },
  };

  Lab.prepareForm(form).then(() => {
    page.clear();
    Lab.bindTraining(form, page);
    form.addEventListener("change", (e) => {
      if (e.target.name.startsWith("data.")) updateNeighbour();
    });
    updateNeighbour();
  }).catch((e) => Lab.showError(String(e)));
})();
