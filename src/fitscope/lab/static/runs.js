/* The Runs page: the run store, one run or two side by side. */
"use strict";

(() => {
  const { $, plot, fmt } = Lab;
  const form = $("#form");
  const el = form.elements;
  let store = null;
  const records = {}; // run id -> full record

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function table() {
    const body = $("#runs tbody");
    body.replaceChildren();
    const members = el.study.value ? new Set(store.studies[el.study.value]) : null;
    for (const r of store.runs) {
      if (members && !members.has(r.run_id)) continue;
      const row = body.insertRow();
      if (r.run_id === el.a.value || r.run_id === el.b.value) row.className = "picked";
      for (const slot of ["a", "b"]) {
        const pick = document.createElement("input");
        Object.assign(pick, { type: "radio", name: `pick-${slot}`, checked: el[slot].value === r.run_id });
        pick.onchange = () => { el[slot].value = r.run_id; changed(); Lab.showFigures(); };
        row.insertCell().append(pick);
      }
      cell(row, r.run_id, "mono");
      for (const v of [r.name, r.status, r.data, r.depth, r.width, r.init, r.optimizer]) cell(row, String(v));
      cell(row, fmt(r.metrics.val_acc));
      cell(row, fmt(r.metrics.test_acc));
      cell(row, r.studies.join(", "));
    }
  }

  async function record(id) {
    if (!id) return null;
    records[id] ??= await Lab.getJSON(`/api/runs/${encodeURIComponent(id)}`);
    return records[id];
  }

  function curves(runs) {
    if (!runs.length) return Lab.placeholder("curves", "loss", "pick a run in the table");
    const traces = [];
    for (const [slot, r] of runs) {
      const x = r.history.map((h) => h.epoch);
      traces.push({ x, y: r.history.map((h) => h.train_loss), name: `${slot} training`, mode: "lines" });
      traces.push({ x, y: r.history.map((h) => h.val_loss), name: `${slot} validation`, mode: "lines",
        line: { dash: "dash" } });
    }
    plot("curves", traces, {
      title: { text: "loss" }, xaxis: { title: { text: "epoch" } },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.28, yanchor: "top" },
      margin: { l: 55, r: 15, t: 34, b: 80 },
    });
  }

  /* Per-layer spreads at each run's last probed step (what the store keeps). */
  function probes(runs) {
    if (!runs.length) return Lab.placeholder("probes", "probes", "pick a run in the table");
    const traces = [];
    for (const [slot, r] of runs) {
      const last = Math.max(...r.probes.map((p) => p.step));
      for (const [quantity, name] of [["act_std", "std of activations"], ["preact_grad_std", "std of dL/dz"]]) {
        const rows = r.probes.filter((p) => p.quantity === quantity && p.step === last)
          .map((p) => ({ ...p, label: TrainViews.layerLabel(p.layer) }))
          .sort((a, b) => order(a.label) - order(b.label));
        traces.push({ x: rows.map((p) => p.label), y: rows.map((p) => p.value),
          name: `${slot}: ${name}`, mode: "lines+markers" });
      }
    }
    const stored = runs.some(([, r]) => r.probes.length);
    plot("probes", traces, {
      title: { text: stored ? "probes at the last probed step" : "probes (none stored)" },
      yaxis: { type: "log", exponentformat: "power", title: { text: "std" } },
      xaxis: { type: "category", categoryorder: "array",
        categoryarray: [...new Set(traces.flatMap((t) => t.x))].sort((a, b) => order(a) - order(b)) },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.15, yanchor: "top" },
      margin: { l: 55, r: 15, t: 34, b: 80 },
    });
  }

  /* Forward order of layer labels: layer 1, layer 2, ..., output. */
  const order = (label) => (label === "output" ? Infinity : Number(label.split(" ")[1]));

  function compare(runs) {
    const t = $("#compare");
    t.replaceChildren();
    if (!runs.length) return;
    const head = t.createTHead().insertRow();
    cell(head, "");
    for (const [slot, r] of runs) cell(head, `${slot}: ${r.run_id}`, "mono");
    const lines = [["status", (r) => r.status], ["engine", (r) => r.engine || "–"],
                   ["reason", (r) => r.reason || "–"]];
    for (const k of ["train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc", "best_epoch", "epochs_run"]) {
      lines.push([k, (r) => fmt(r.metrics[k])]);
    }
    const body = t.createTBody();
    for (const [label, get] of lines) {
      const row = body.insertRow();
      cell(row, label);
      for (const [, r] of runs) cell(row, String(get(r)));
    }
  }

  async function changed() {
    Lab.saveState(form, true);
    table();
    try {
      const runs = [];
      for (const slot of ["a", "b"]) {
        const r = await record(el[slot].value.trim());
        if (r) runs.push([slot.toUpperCase(), r]);
      }
      Lab.showError("");
      curves(runs); probes(runs); compare(runs);
      for (const slot of ["A", "B"]) {
        const r = runs.find(([s]) => s === slot);
        TrainViews.findings(`findings-${slot.toLowerCase()}`, r ? r[1].findings : [],
          r ? "No finding." : `Pick run ${slot} in the table.`);
      }
    } catch (e) {
      Lab.showError(e.message);
    }
  }

  (async () => {
    store = await Lab.getJSON("/api/runs");
    $("#store").textContent = store.store ? `${store.store}: ${store.runs.length} runs`
      : "no store: start the lab with --store PATH";
    for (const name of Object.keys(store.studies)) el.study.add(new Option(name, name));
    await Lab.prepareForm(form);
    form.addEventListener("change", changed);
    Lab.followHistory(form, changed);
    await changed();
  })().catch((e) => Lab.showError(String(e)));
})();
