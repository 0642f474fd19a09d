/* The Optimizers page: optimizers racing on a toy surface, animated. */
"use strict";

(() => {
  const { $, plot, fmt } = Lab;
  const form = $("#form");
  const FRAMES = 90; // the race takes about FRAMES animation frames, whatever the steps
  const ON_BY_DEFAULT = ["sgd", "momentum", "adagrad", "rmsprop", "adam"];
  let names = [];
  let race = null; // the last response
  let unclipped = null; // with clipping on: the same race without it, drawn faintly
  let animation = 0;
  let clickable = false; // the click handler is attached after the first plot

  function build(info) {
    names = info.choices.optimizer;
    const box = $("#optimizers");
    for (const name of names) {
      const row = document.createElement("label");
      row.innerHTML = `<span><input type="checkbox" name="run_${name}"> ${name}</span>` +
        `<input type="number" name="lr_${name}" min="0.000001" max="10" step="any" ` +
        `placeholder="lr" aria-label="learning rate of ${name}" title="learning rate of ${name}">`;
      row.querySelector("input[type=checkbox]").checked = ON_BY_DEFAULT.includes(name);
      box.append(row);
    }
  }

  function query() {
    const p = new URLSearchParams();
    const el = form.elements;
    p.set("surface", el.surface.value);
    p.set("steps", el.steps.value);
    for (const key of ["x0", "y0"]) if (el[key].value !== "") p.set(key, el[key].value);
    if (el.clip.checked) p.set("clip_norm", el.clip_norm.value);
    for (const name of names) {
      if (!el[`run_${name}`].checked) continue;
      p.append("run", name);
      if (el[`lr_${name}`].value !== "") p.set(`lr_${name}`, el[`lr_${name}`].value);
    }
    return p;
  }

  /* The figure from fitscope.landscape.figures.toy_figure, paths cut to `k` steps; with
   * clipping on, each path without clipping drawn faintly (dotted) beside it. Equal
   * scales on both axes, so a ravine looks as narrow as it is. */
  function frame(k) {
    const fig = race.figure;
    const data = fig.data.map((trace) => {
      const path = race.paths[trace.name];
      if (path) return { ...trace, x: path.x.slice(0, k + 1), y: path.y.slice(0, k + 1) };
      // "skip" would also swallow clicks; "none" only hides the hover label
      return trace.type === "contour" ? { ...trace, hoverinfo: "none" } : trace;
    });
    if (unclipped) {
      for (const trace of fig.data) {
        const path = unclipped.paths[trace.name];
        if (!path) continue;
        data.push({ x: path.x.slice(0, k + 1), y: path.y.slice(0, k + 1), mode: "lines",
          name: `${trace.name} without clipping`, hoverinfo: "skip", opacity: 0.5,
          line: { color: colorOf(trace.name), dash: "dot", width: 1.5 } });
      }
    }
    plot("surface", data, {
      ...fig.layout, title: { text: fig.layout.title.text },
      yaxis: { ...fig.layout.yaxis, scaleanchor: "x", scaleratio: 1 },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.12, yanchor: "top" },
      margin: { l: 55, r: 15, t: 40, b: 60 }, uirevision: race.surface,
    }).then(() => {
      if (!clickable) {
        $("#surface").on("plotly_click", startAt);
        clickable = true;
      }
    });
  }

  /* A click on the surface restarts the race from there. */
  function startAt(ev) {
    const pt = ev.points[0];
    form.elements.x0.value = pt.x.toPrecision(4);
    form.elements.y0.value = pt.y.toPrecision(4);
    update();
  }

  function animate() {
    cancelAnimationFrame(animation);
    const steps = Math.max(...Object.values(race.paths).map((p) => p.x.length - 1), 0);
    const per = Math.max(1, Math.ceil(steps / FRAMES));
    let k = 0;
    const tick = () => {
      k = Math.min(steps, k + per);
      frame(k);
      if (k < steps) animation = requestAnimationFrame(tick);
    };
    frame(0);
    animation = requestAnimationFrame(tick);
  }

  /* The colour an optimizer's path has on the surface figure (its template's colorway,
   * by trace index). */
  function colorOf(name) {
    const colorway = race.figure.layout.template?.layout?.colorway ?? [];
    const index = race.figure.data.findIndex((t) => t.name === name);
    return colorway[index % colorway.length];
  }

  /* Each optimizer in the colour its path has on the surface figure. */
  function drawLosses() {
    const traces = Object.entries(race.paths).map(([name, p]) => ({
      y: p.loss.map((f) => f - race.f_min), name: `${name} (lr ${fmt(p.lr)})`, mode: "lines",
      line: { color: colorOf(name) },
    }));
    plot("losses", traces, {
      title: { text: "f − f_min along each path" },
      xaxis: { title: { text: "step" } },
      yaxis: { type: "log", title: { text: "f − f_min" }, exponentformat: "power" },
    });
  }

  async function update() {
    Lab.saveState(form, true);
    try {
      const q = query();
      race = await Lab.getJSON(`/api/optimizers/race?${q}`);
      if (q.has("clip_norm")) {
        q.delete("clip_norm");
        unclipped = await Lab.getJSON(`/api/optimizers/race?${q}`);
      } else {
        unclipped = null;
      }
      Lab.showError("");
    } catch (e) {
      Lab.showError(e.message);
      return;
    }
    for (const name of names) form.elements[`lr_${name}`].placeholder = `lr ${race.default_lr[name]}`;
    $("#surface-note").textContent = `f = ${race.formula}. Contours of log10(1 + f − f_min); ` +
      `the star marks the minimum. Start: (${fmt(race.start[0])}, ${fmt(race.start[1])}).`;
    drawLosses();
    animate();
  }

  Lab.prepareForm(form, {}, build).then(() => {
    form.addEventListener("change", (e) => {
      if (e.target.name === "surface") { form.elements.x0.value = ""; form.elements.y0.value = ""; }
      update();
    });
    $("#race").onclick = update;
    Lab.followHistory(form, update);
    $("#home").onclick = () => {
      form.elements.x0.value = ""; form.elements.y0.value = "";
      update();
    };
    update();
  }).catch((e) => Lab.showError(String(e)));
})();
