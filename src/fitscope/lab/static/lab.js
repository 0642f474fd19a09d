/* fitscope lab: what every page shares.
 *
 * - Page state lives in the URL: every named form control is a query parameter, so a
 *   link reproduces the view (restoreState / saveState).
 * - Training settings are RunConfig fields: a control with `data-config` and a dotted
 *   name (`model.depth`) becomes part of the config sent to the server (configOf).
 * - A range slider shows its value beside it.
 * - A checkbox with `data-enables="field"` switches that control on and off; a disabled
 *   control is left out of the config (the field keeps its default).
 * - Live training talks to /ws/train (Live) and the four buttons Train / Pause / Step /
 *   Reset drive it (bindTraining).
 */
"use strict";

const Lab = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  // -- state in the URL ---------------------------------------------------------------
  const named = (form) => [...form.elements].filter((el) => el.name);

  function readControl(el) {
    if (el.type === "checkbox") return el.checked;
    if (el.type === "number" || el.type === "range" || el.dataset.type === "number") {
      return el.value === "" ? null : Number(el.value);
    }
    return el.value;
  }

  /* Set the controls from the URL. A value a control cannot take (an unknown choice, a
   * number out of its range, not a number) leaves the control as it was (its default)
   * and is named in a note at the top of the page, never sent to the server. */
  function restoreState(form) {
    const params = new URLSearchParams(location.search);
    const notes = [];
    for (const el of named(form)) {
      if (!params.has(el.name)) continue;
      const text = params.get(el.name);
      const problem = setControl(el, text);
      if (problem) {
        const now = el.type === "checkbox" ? String(el.checked) : el.value || "(blank)";
        notes.push(`${el.name}=${JSON.stringify(text)} ${problem}; using ${now}`);
      }
    }
    for (const el of named(form)) el.labSync?.(); // a slider's value, an enabled field
    urlNote(notes);
  }

  /* Put `text` into control `el`; undo it and say why when `el` cannot take it. */
  function setControl(el, text) {
    if (el.type === "checkbox") {
      if (text !== "true" && text !== "false") return "is not true or false";
      el.checked = text === "true";
      return null;
    }
    const before = el.value;
    el.value = text;
    let problem = null;
    if (el.tagName === "SELECT") {
      if (el.value !== text) problem = `is not one of ${[...el.options].map((o) => o.value).join(", ")}`;
    } else if (el.type === "number" || el.type === "range") {
      const x = Number(text);
      if (text.trim() === "" && el.type === "number") problem = null;
      else if (!Number.isFinite(x)) problem = "is not a number";
      else if ((el.min !== "" && x < Number(el.min)) || (el.max !== "" && x > Number(el.max))) {
        problem = `is out of range (${el.min || "–∞"} to ${el.max || "∞"})`;
      }
    }
    if (problem) el.value = before;
    return problem;
  }

  function urlNote(notes) {
    let note = $("#url-note");
    if (!note) {
      note = Object.assign(document.createElement("p"),
        { id: "url-note", className: "url-note", role: "status" });
      $("main h1").after(note);
    }
    note.textContent = notes.length ? `The address had values this page cannot use: ${notes.join("; ")}.` : "";
  }

  /* The server's limits (/api/form "limits"): a control named like a limit gets it as
   * its maximum; the run budgets (time, probe volume, histogram bins, steps) are listed
   * under the form. */
  function applyLimits(form, limits = {}) {
    const BUDGETS = {
      max_run_seconds: (v) => `${v} s of training a run`,
      max_steps: (v) => `${v} optimizer steps a run`,
      max_probe_mb: (v) => `${v} MB of probe records`,
      max_histogram_bins: (v) => `${v} histogram bins`,
    };
    const lines = [];
    for (const [key, value] of Object.entries(limits)) {
      const el = form.elements[key];
      if (el && el.max !== undefined && typeof value === "number") {
        if (el.max === "" || Number(el.max) > value) el.max = String(value);
        el.title = `at most ${value} on this server`;
      }
      if (BUDGETS[key] && typeof value === "number") lines.push(BUDGETS[key](value));
    }
    if (lines.length && form.querySelector("[data-config]")) {
      const p = form.querySelector(".limits") ?? form.appendChild(
        Object.assign(document.createElement("p"), { className: "note limits" }));
      p.textContent = `This server allows at most ${lines.join(", ")}.`;
    }
  }

  /* Write the form into the address: replacing the current history entry (a keystroke,
   * a slider), or with `push` as a new entry when the query changed (an action: Train,
   * Race, a pick), so Back returns to the view before it. */
  function saveState(form, push = false) {
    const params = new URLSearchParams();
    for (const el of named(form)) {
      params.set(el.name, el.type === "checkbox" ? String(el.checked) : el.value);
    }
    const url = `${location.pathname}?${params}`;
    if (push && `?${params}` !== location.search) history.pushState(history.state, "", url);
    else history.replaceState(history.state, "", url);
  }

  /* Back / forward on a page whose figures follow from its address: set the form from
   * the address and call `redraw`. */
  function followHistory(form, redraw) {
    addEventListener("popstate", () => { restoreState(form); redraw(); });
  }

  /* What a training page shows, to put back on Back / Forward: every figure's data and
   * layout, and the text it wrote (status, summary, findings, notes). */
  const SNAPSHOT_TEXT = "#status, #summary, .findings, [id$='-note']:not(#url-note)";

  function snapshot() {
    const figures = {};
    for (const div of document.querySelectorAll(".plot")) {
      if (div.data) figures[div.id] = { data: div.data, layout: div.layout };
    }
    const texts = {};
    for (const el of document.querySelectorAll(SNAPSHOT_TEXT)) {
      if (el.id) texts[el.id] = el.innerHTML;
    }
    return { figures, texts };
  }

  function restoreSnapshot({ figures, texts }) {
    for (const [id, { data, layout }] of Object.entries(figures)) plot(id, data, layout);
    for (const [id, html] of Object.entries(texts)) {
      const el = document.getElementById(id);
      if (el) el.innerHTML = html;
    }
  }

  function configOf(form) {
    const cfg = {};
    for (const el of named(form)) {
      if (!("config" in el.dataset) || el.disabled) continue;
      const keys = el.name.split(".");
      let node = cfg;
      for (const k of keys.slice(0, -1)) node = node[k] ??= {};
      node[keys.at(-1)] = readControl(el);
    }
    return cfg;
  }

  /* Fill `select[data-choices]` from /api/form, set defaults, let `build(info)` add
   * controls of its own, then apply the URL. */
  async function prepareForm(form, labels = {}, build = null) {
    form.addEventListener("submit", (e) => e.preventDefault());
    const selects = form.querySelectorAll("select[data-choices]");
    if (selects.length || build) {
      const info = await getJSON("/api/form");
      build?.(info);
      applyLimits(form, info.limits);
      for (const sel of selects) {
        const allowed = sel.dataset.only ? sel.dataset.only.split(",") : null;
        for (const value of info.choices[sel.dataset.choices]) {
          if (allowed && !allowed.includes(value)) continue;
          sel.add(new Option(labels[value] ?? value, value));
        }
        sel.value = sel.dataset.default ?? sel.options[0].value;
      }
    }
    restoreState(form);
    saveState(form);
    for (const range of form.querySelectorAll("input[type=range]")) {
      const shown = Object.assign(document.createElement("span"), { className: "value" });
      const sync = () => { shown.textContent = String(Number(Number(range.value).toPrecision(3))); };
      range.after(shown);
      range.addEventListener("input", sync);
      range.labSync = sync;
      sync();
    }
    for (const box of form.querySelectorAll("input[data-enables]")) {
      const target = form.elements[box.dataset.enables];
      const sync = () => { target.disabled = !box.checked; };
      box.addEventListener("change", sync);
      box.labSync = sync;
      sync();
    }
  }

  // -- talking to the server ----------------------------------------------------------
  /* The JSON body of a GET; an Error saying what went wrong otherwise (a body that is
   * not JSON, e.g. a server error's plain text, is quoted, not parsed). A 202 (the
   * server is still computing a costly answer) is asked again after its Retry-After. */
  async function getJSON(url) {
    let response = await fetch(url);
    while (response.status === 202) {
      const wait = 1000 * (Number(response.headers.get("Retry-After")) || 1);
      await new Promise((resolve) => setTimeout(resolve, wait));
      response = await fetch(url);
    }
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`the server answered ${response.status} ${response.statusText}: ` +
        `${text.slice(0, 200) || "(no text)"}`);
    }
    if (!response.ok) throw new Error(describe(body));
    return body;
  }

  function describe(body) {
    if (Array.isArray(body.detail)) {
      return body.detail.map((e) => `${e.loc.slice(1).join(".")}: ` +
        `${e.msg.replace(/^Value error, /, "")}` +
        (e.input !== undefined ? ` (got ${JSON.stringify(e.input)})` : "")).join("\n");
    }
    return String(body.detail ?? JSON.stringify(body));
  }

  function showError(message) { $("#error").textContent = message || ""; }

  // -- figures ------------------------------------------------------------------------
  const LAYOUT = {
    margin: { l: 55, r: 15, t: 34, b: 42 }, font: { size: 11 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    legend: { orientation: "h", x: 1, xanchor: "right", y: 1, yanchor: "bottom" },
  };

  /* Draw (or redraw) a figure; titles sit top left, legends top right. Drawing waits
   * for an animation frame, and of the figures asked for before it only the newest of
   * each is drawn: a page fed faster than it can draw skips states instead of falling
   * behind (a live training sends up to 30 updates a second; drawing all the
   * Initialization page's figures takes about 100 ms). A frame draws figures, oldest
   * request first, until FRAME_BUDGET_MS have passed and leaves the rest to the next
   * one, so a click or a message waits for one figure at most, never for all of them.
   * The promise resolves once the figure is drawn. */
  const FRAME_BUDGET_MS = 12;
  const SNAPSHOTS_KEPT = 20;
  const queued = new Map(); // figure id -> {traces, layout, done: [resolve, ...]}
  let frameId = 0;

  function plot(id, traces, layout = {}) {
    return new Promise((resolve) => {
      const done = [...(queued.get(id)?.done ?? []), resolve];
      queued.delete(id); // a figure asked for again goes to the back of the line
      queued.set(id, { traces, layout, done });
      if (!frameId) frameId = requestAnimationFrame(drawQueued);
    });
  }

  function drawQueued() {
    frameId = 0;
    const t0 = performance.now();
    for (const [id, { traces, layout, done }] of queued) {
      queued.delete(id);
      let title = { x: 0.01, xanchor: "left", font: { size: 13 }, ...layout.title };
      let margin = layout.margin ?? LAYOUT.margin;
      if (!layout.legend && document.getElementById(id)?.clientWidth < 520) {
        // narrow: the title on a line of its own above the top-right legend
        title = { ...title, yref: "container", y: 1, yanchor: "top", pad: { t: 8 } };
        margin = { ...margin, t: margin.t + 22 };
      }
      try {
        Plotly.react(id, traces, { ...LAYOUT, ...layout, title, margin },
          { displayModeBar: false, responsive: true })
          .finally(() => done.forEach((resolve) => resolve()));
        describeFigure(id, traces, layout);
      } catch (e) {
        console.error(`figure ${id}: ${e}`); // the other figures are still drawn
        done.forEach((resolve) => resolve());
      }
      if (performance.now() - t0 > FRAME_BUDGET_MS) break;
    }
    if (queued.size) frameId = requestAnimationFrame(drawQueued);
    else for (const resolve of idlers.splice(0)) resolve();
  }

  /* One line of text beside a figure, for those who cannot see it (and read by screen
   * readers as the figure's description): its title and, per curve, the last value;
   * per heatmap its size; a placeholder's hint. */
  function describeFigure(id, traces, layout) {
    const div = document.getElementById(id);
    let line = div.nextElementSibling;
    if (!line?.classList.contains("summary")) {
      line = Object.assign(document.createElement("p"), { className: "summary", id: `${id}-summary` });
      div.after(line);
      div.setAttribute("role", "img");
      div.setAttribute("aria-describedby", line.id);
    }
    const title = layout.title?.text ?? "";
    const parts = [];
    for (const t of traces) {
      if (t.type === "heatmap" || t.type === "contour") {
        parts.push(Array.isArray(t.z) ? `${t.type} of ${t.z.length} × ${t.z[0]?.length ?? 0} values`
          : t.type); // a typed array from plotly's JSON: its shape is not at hand
      } else if (t.y?.length && t.name && !(t.mode ?? "").startsWith("markers")) {
        const [x, y] = [t.x?.at(-1), t.y.at(-1)];
        const show = (v) => (typeof v === "number" ? fmt(v) : String(v));
        parts.push(`${t.name} ${show(y)}${x !== undefined ? ` at ${show(x)}` : ""}`);
      } else if (t.x?.length && t.mode === "markers") {
        parts.push(`${t.x.length} ${t.name ?? "points"}`);
      }
      if (parts.length >= 6) break;
    }
    const hint = !traces.length && layout.annotations?.[0]?.text;
    const text = `${title || "figure"}: ${hint || parts.join("; ") || "empty"}.`;
    div.setAttribute("aria-label", title || "figure");
    line.textContent = text.charAt(0).toUpperCase() + text.slice(1);
  }

  /* Resolves once every figure asked for is drawn. */
  const idlers = [];
  const drawn = () => (queued.size ? new Promise((resolve) => idlers.push(resolve))
    : Promise.resolve());

  /* An empty figure with a title and a grey hint in the middle. */
  function placeholder(id, title, hint) {
    return plot(id, [], {
      title: { text: title }, xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text: hint, showarrow: false, font: { color: "#616e7c", size: 13 } }],
    });
  }

  const fmt = (x, digits = 3) => (x === null || x === undefined ? "–"
    : Number.isInteger(x) ? String(x)
      : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2)
        : x.toFixed(digits));

  /* On a narrow screen the controls sit above the figures: scroll the least that brings
   * the first plot's figure wholly into view (its top, when it is taller than the
   * screen), unless the plot already is (called by Train, Train and compare, a preset,
   * a run picked in the Runs table). */
  function showFigures() {
    const first = $("section.figures .plot");
    if (!first || !matchMedia("(max-width: 800px)").matches) return;
    const box = first.getBoundingClientRect();
    if (box.top >= 0 && box.bottom <= innerHeight) return;
    const figure = first.closest(".figure");
    figure.scrollIntoView({ block: figure.offsetHeight <= innerHeight ? "nearest" : "start" });
  }

  // -- live training ------------------------------------------------------------------
  class Live {
    constructor(handlers) {
      this.handlers = handlers;
      this.pending = [];
      const proto = location.protocol === "https:" ? "wss" : "ws";
      this.ws = new WebSocket(`${proto}://${location.host}/ws/train`);
      this.ws.onopen = () => this.pending.splice(0).forEach((m) => this.ws.send(m));
      this.ws.onmessage = (e) => this.receive(JSON.parse(e.data));
      this.ws.onclose = () => handlers.closed();
    }

    send(message) {
      const text = JSON.stringify(message);
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
      else this.pending.push(text);
    }

    /* A message's events, then its rows, then its view; but the events that end a
     * training (finished, failed, stopped) come last: the rows and view in the same
     * message were posted before them. */
    receive(m) {
      const last = m.events.filter((e) => Live.ENDS.includes(e.type));
      for (const event of m.events) if (!last.includes(event)) this.handlers.event(event, m.training);
      if (m.rows.length) this.handlers.rows(m.rows, m.training);
      if (m.view) this.handlers.view(m.view, m.training);
      for (const event of last) this.handlers.event(event, m.training);
    }

    static ENDS = ["finished", "failed", "stopped"];
  }

  /* Wire #train #pause #step #reset, #status and #error to a live training.
   * `page` has clear(), started(event), rows(rows), view(view), finished(event), and
 * `probe: true` when it shows per-layer probes, `weights: true` when it shows weight
 * histograms, and optionally failed(event). */
  function bindTraining(form, page) {
    let current = null; // id of the training this page shows
    let state = "idle"; // idle | running | paused | finished | stopped | failed
    let dirty = false; // the form changed since the training started
    let where = ""; // "epoch e · step s" of the latest view
    const buttons = { train: $("#train"), pause: $("#pause"), step: $("#step"), reset: $("#reset") };

    const status = (text) => { $("#status").textContent = text; };
    const refresh = () => {
      buttons.pause.disabled = state !== "running";
      buttons.train.textContent = state === "paused" && !dirty ? "Resume" : "Train";
    };
    const live = new Live({
      event(ev, training) {
        if (ev.type === "error") { showError(ev.message); return; }
        if (ev.type === "failed" && training > (current ?? 0)) {
          current = training; // it failed before it started (e.g. a bad data split)
        }
        if (ev.type === "started") {
          current = training; state = "running"; where = ""; showError("");
          page.clear(); page.started(ev);
        } else if (training !== current && ev.type !== "reset") {
          return;
        } else if (ev.type === "state") {
          state = ev.state;
          status(`${state}${where ? ` · ${where}` : ""}`);
        } else if (ev.type === "finished") {
          state = ev.state; page.finished(ev);
          status(`${ev.state}: ${ev.status}${ev.reason ? ` (${ev.reason})` : ""}`);
        } else if (ev.type === "failed" || ev.type === "stopped") {
          state = ev.type; showError(ev.message);
          status(ev.type === "failed" ? "failed: the training stopped with an error"
            : "stopped");
          page.failed?.(ev);
        } else if (ev.type === "reset") {
          if (quiet > 0) { quiet -= 1; return; }
          current = null; state = "idle"; page.clear(); status("");
        }
        refresh();
      },
      rows(rows, training) { if (training === current) page.rows(rows); },
      view(view, training) {
        if (training !== current) return;
        if (view.epoch !== undefined) where = `epoch ${view.epoch} · step ${view.step}`;
        if (view.state === "running" || view.state === "paused") {
          status(`${view.state} · ${where}`);
        }
        page.view(view);
      },
      closed() { showError("lost the connection to the lab server; reload the page"); },
    });

    /* History: each Train opens a new entry whose address is the settings trained; the
     * entry left behind gets back the address of what it shows, and its figures are kept
     * (in memory, SNAPSHOTS_KEPT entries at most) for Back / Forward. */
    const views = new Map(); // history entry -> snapshot()
    let entry = history.state?.entry ?? 0;
    let shownUrl = location.href; // the settings of what the page shows
    let quiet = 0; // resets sent on Back / Forward: they leave the restored figures alone
    history.replaceState({ entry }, "", location.href);
    const keep = () => {
      views.set(entry, snapshot());
      for (const old of [...views.keys()].slice(0, -SNAPSHOTS_KEPT)) views.delete(old);
    };
    const openEntry = () => {
      keep();
      saveState(form);
      const url = location.href;
      history.replaceState({ entry }, "", shownUrl);
      entry = Date.now() + Math.random();
      history.pushState({ entry }, "", url);
      shownUrl = url;
    };
    addEventListener("popstate", (e) => {
      keep();
      if (state === "running" || state === "paused") { quiet += 1; live.send({ type: "reset" }); }
      current = null; state = "idle"; dirty = false;
      entry = e.state?.entry ?? 0;
      restoreState(form);
      shownUrl = location.href;
      page.clear();
      status("");
      showError("");
      const view = views.get(entry);
      if (view) restoreSnapshot(view);
      form.dispatchEvent(new Event("restored"));
      refresh();
    });

    const start = (paused) => {
      showError("");
      dirty = false;
      openEntry();
      status("starting…");
      live.send({ type: "start", config: configOf(form), paused, probe: Boolean(page.probe),
        weights: Boolean(page.weights) });
    };
    buttons.train.onclick = () => {
      if (state === "paused" && !dirty) live.send({ type: "resume" });
      else start(false);
      showFigures();
    };
    buttons.pause.onclick = () => live.send({ type: "pause" });
    buttons.step.onclick = () => {
      if (state === "paused" && !dirty) live.send({ type: "step" });
      else { start(true); live.send({ type: "step" }); }
    };
    buttons.reset.onclick = () => live.send({ type: "reset" });
    form.addEventListener("change", () => { dirty = state !== "idle"; saveState(form); refresh(); });
    refresh();
    return live;
  }

  /* Status lines, errors and findings change while the page is open: screen readers
   * announce them (errors at once, the others when idle). */
  document.addEventListener("DOMContentLoaded", () => {
    for (const el of document.querySelectorAll(".status, .findings, .url-note")) {
      el.setAttribute("aria-live", "polite");
    }
    for (const el of document.querySelectorAll(".error")) {
      el.setAttribute("aria-live", "assertive");
      el.setAttribute("role", "alert");
    }
  });

  return { $, configOf, prepareForm, saveState, restoreState, followHistory, getJSON, showError, plot, drawn,
    placeholder, fmt, showFigures, Live, bindTraining };
})();
