"""The plotly figures of runs and studies: what ``run.plot``, ``report.plot``, the study's
HTML report and the live training display draw (landscapes are drawn by
:mod:`fitscope.landscape.figures`, which ``line.plot()`` / ``surface.plot()`` call).

Every function takes ``fig=``: with an existing figure it adds its traces to it (named
after the run), so comparing two runs is two lines::

    fig = run_a.plot.loss()
    run_b.plot.loss(fig=fig)

Figures are plain ``plotly.graph_objects.Figure`` objects: ``fig.show()`` in a notebook,
``fig.write_html(path)``, or :func:`save` for PNG / SVG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

if TYPE_CHECKING:
    from .run import Run
    from .study.report import StudyReport

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
          "#e377c2", "#7f7f7f", "#bcbd22")
HISTOGRAMS = {"activations": "act_hist", "gradients": "preact_grad_hist",
              "weights": "weight_hist", "preactivations": "preact_hist"}
"""``kind`` of :func:`histograms` -> the probe quantity it draws."""


GRID = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "linecolor": "#d0d7de"}
STYLE = {"plot_bgcolor": "white", "paper_bgcolor": "white", "xaxis": GRID, "yaxis": GRID}
"""The look of plotly's "plotly_white" template, set directly: a figure made with the
template took 37 ms, with this style 3 ms (the template is copied; median of 7, one
thread, a loaded 2-core machine, 2026-12-07)."""


def _figure(fig: go.Figure | None, **layout) -> tuple[go.Figure, bool]:
    """(``fig`` or a new figure with :data:`STYLE` and ``layout``, whether it is new)."""
    if fig is not None:
        return fig, False
    fig = go.Figure(layout=STYLE)
    fig.update_layout(**layout)
    return fig, True


def label(run: Run) -> str:
    """What a run's traces are called: its config's ``name``, else its run id."""
    return run.config.name or run.run_id[:8]


def _runs_on(fig: go.Figure) -> int:
    """How many runs the figure shows already (its legend groups)."""
    return len(dict.fromkeys(t.legendgroup for t in fig.data if t.legendgroup))


def _color(fig: go.Figure) -> str:
    """The next colour: one per run already on the figure."""
    return COLORS[_runs_on(fig) % len(COLORS)]


DASHES = ("solid", "dash", "dot", "dashdot")
"""Per-layer figures colour the layers; the runs on one figure differ by dash."""


# -- a run's history ---------------------------------------------------------------------
def history(run: Run, keys: Sequence[str], title: str, yaxis: str,
            fig: go.Figure | None = None) -> go.Figure:
    """``keys`` of ``run.history`` per epoch, solid for training, dashed for the others."""
    fig, _ = _figure(fig, title=title, xaxis_title="epoch", yaxis_title=yaxis)
    name, color = label(run), _color(fig)
    epochs = run.column("epoch")
    for key in keys:
        if not run.history or key not in run.history[0]:
            continue
        dash = "solid" if key.startswith("train") else "dash"
        fig.add_trace(go.Scatter(x=epochs, y=run.column(key), name=f"{name} {key}",
                                 legendgroup=name, line={"color": color, "dash": dash}))
    return fig


def loss(run: Run, fig: go.Figure | None = None) -> go.Figure:
    """Training (solid) and validation (dashed) loss per epoch."""
    return history(run, ("train_loss", "val_loss"), "loss per epoch", "loss", fig)


def accuracy(run: Run, fig: go.Figure | None = None) -> go.Figure:
    """Training (solid) and validation (dashed) accuracy per epoch."""
    return history(run, ("train_acc", "val_acc"), "accuracy per epoch", "accuracy", fig)


# -- probes ------------------------------------------------------------------------------
def _need_probes(run: Run) -> None:
    if not run.probes:
        raise ValueError(f"run {run.run_id} has no probe records: train it with "
                         "observe.probe_every > 0 (e.g. cfg.with_overrides("
                         "{'observe.probe_every': 10}))")


def probed_steps(run: Run) -> list[int]:
    return sorted({r["step"] for r in run.probes})


def at_step(run: Run, quantity: str, step: int) -> dict[str, Any]:
    """``{layer: value}`` of one probe quantity at one step, layers in forward order."""
    return {r["layer"]: r["value"] for r in run.probes
            if r["step"] == step and r["quantity"] == quantity}


TICKS = (-100, -1, -0.01, -1e-4, -1e-6, 0, 1e-6, 1e-4, 0.01, 1, 100)
"""Values marked on a histogram's axis (the lab's histogram view marks the same)."""


def bin_position(value: float, edges: Sequence[float]) -> float | None:
    """Where ``value`` sits on an axis whose bin k spans (edges[k], edges[k + 1]] and is
    drawn at x = k: edge k at k - 0.5, and between two edges of one sign linearly in
    log|value| (the probe's bins are log-spaced in magnitude); None outside the edges."""
    for k in range(len(edges) - 1):
        a, b = edges[k], edges[k + 1]
        if a <= value <= b:
            if value == a:
                frac = 0.0
            elif value == b:
                frac = 1.0
            elif a * b > 0:
                frac = math.log(abs(value / a)) / math.log(abs(b / a))
            else:
                frac = 0.5
            return k - 0.5 + frac
    return None


def histograms(run: Run, kind: str = "activations", step: int | None = None,
               fig: go.Figure | None = None) -> go.Figure:
    """Per layer, the histogram of ``kind`` ("activations": each activation's output;
    "gradients": dL/dz of each weight layer's output; also "weights", "preactivations")
    at probed ``step`` (the last by default): the counts in the probe's fixed bins, bin k
    drawn at x = k (the bins are log-spaced in magnitude; the axis marks :data:`TICKS`
    at their :func:`bin_position`)."""
    _need_probes(run)
    if kind not in HISTOGRAMS:
        raise ValueError(f"kind must be one of {list(HISTOGRAMS)}, got {kind!r}")
    steps = probed_steps(run)
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ValueError(f"step {step} was not probed; probed steps: {steps}")
    hists = at_step(run, HISTOGRAMS[kind], step)
    edges = next(iter(hists.values()))["edges"] if hists else []
    ticks = [(x, v) for v in TICKS if (x := bin_position(v, edges)) is not None]
    fig, new = _figure(fig, title=f"{kind} histograms at step {step}", yaxis_title="count",
                       xaxis_title="value (bins log-spaced in |value|)")
    if new:
        fig.update_xaxes(tickvals=[x for x, _ in ticks], ticktext=[f"{v:g}" for _, v in ticks])
    name, dash = label(run), DASHES[_runs_on(fig) % len(DASHES)]
    for k, (layer, hist) in enumerate(hists.items()):
        counts = hist["counts"]
        fig.add_trace(go.Scatter(x=list(range(len(counts))), y=counts, name=f"{name} {layer}",
                                 legendgroup=name, line={"shape": "hvh", "dash": dash,
                                                         "color": COLORS[k % len(COLORS)]}))
    return fig


def variance(run: Run, step: int = 0, fig: go.Figure | None = None) -> go.Figure:
    """Per weight layer, Var(z) and Var(dL/dz): the theory at initialization
    (:func:`fitscope.probe.theory.theory_table`, lines) beside the run's measurement at
    probed ``step`` (markers; the measurement of ``theory_table`` when the run has no
    probes). Log scale: a bad init changes these by orders of magnitude.

    The backward theory starts from the output's measured Var(dL/dz), which scales as
    1 / batch size squared (the loss is a mean): it is scaled here by the run's output
    Var(dL/dz) over ``theory_table``'s, so both start from the run's own batch."""
    from .probe.theory import theory_table

    rows = theory_table(run.config)
    layers = [r["layer"] for r in rows]
    theory = {k: [r[k] for r in rows] for k in ("z_var", "grad_z_var")}
    if run.probes:
        z = at_step(run, "preact_std", step)
        g = at_step(run, "preact_grad_std", step)
        measured = {"z_var": [z[la] ** 2 for la in layers],
                    "grad_z_var": [g[la] ** 2 for la in layers]}
        scale = measured["grad_z_var"][-1] / rows[-1]["grad_z_var_measured"]
        theory["grad_z_var"] = [v * scale for v in theory["grad_z_var"]]
    else:
        measured = {k: [r[f"{k}_measured"] for r in rows] for k in ("z_var", "grad_z_var")}
    fig, _ = _figure(fig, title="variance per layer: theory (lines) and measured (markers)",
                     xaxis_title="layer", yaxis_title="variance", yaxis_type="log")
    name, runs = label(run), _runs_on(fig)
    for k, key in enumerate(("z_var", "grad_z_var")):
        color = COLORS[(2 * runs + k) % len(COLORS)]
        fig.add_trace(go.Scatter(x=layers, y=theory[key], mode="lines",
                                 name=f"{name} {key} theory", legendgroup=name,
                                 line={"color": color, "dash": "dot"}))
        fig.add_trace(go.Scatter(x=layers, y=measured[key], mode="markers",
                                 name=f"{name} {key} measured", legendgroup=name,
                                 marker={"color": color, "size": 9}))
    return fig


def weights(run: Run, quantity: str = "weight_norm", fig: go.Figure | None = None
            ) -> go.Figure:
    """Per weight layer, ``quantity`` over the probed steps: ``weight_norm`` (||W||),
    ``update_ratio`` (||dW|| / ||W|| per step), ``weight_grad_norm``, ``unit_distance``."""
    _need_probes(run)
    fig, _ = _figure(fig, title=f"{quantity} per layer over training", xaxis_title="step",
                     yaxis_title=quantity)
    name, dash = label(run), DASHES[_runs_on(fig) % len(DASHES)]
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in run.probes:
        if r["quantity"] == quantity:
            steps, values = series.setdefault(r["layer"], ([], []))
            steps.append(r["step"])
            values.append(r["value"])
    for k, (layer, (steps, values)) in enumerate(series.items()):
        fig.add_trace(go.Scatter(x=steps, y=values, name=f"{name} {layer}", legendgroup=name,
                                 line={"color": COLORS[k % len(COLORS)], "dash": dash}))
    return fig


# -- the decision boundary of a 2-D data set ---------------------------------------------
def boundary(run: Run, fig: go.Figure | None = None, n: int = 60) -> go.Figure:
    """The model's output over the plane of a 2-D data set (the lab's
    :func:`fitscope.lab.views.decision_boundary`, in the data's raw coordinates) with the
    training points. On an existing ``fig`` only the run's decision boundary is added, as
    one line: P(class 1) = 0.5, or the edges between predicted classes (regression: the
    output's contour lines)."""
    from .config import TOY_2D
    from .data import load_data
    from .lab.views import Plane, decision_boundary

    cfg = run.config
    if cfg.data.name not in TOY_2D:
        raise ValueError(f"boundary needs a 2-D data set ({', '.join(TOY_2D)}); run "
                         f"{run.run_id} trained on {cfg.data.name!r}")
    if run.model is None:
        raise ValueError(f"run {run.run_id} has no model (a run loaded without model.pt)")
    plane = Plane(cfg.data, cfg.task.kind)
    device = next(run.model.parameters()).device
    # what decision_boundary reads of a live trainer
    trainer: Any = SimpleNamespace(model=run.model, device=device,
                                   classify=cfg.task.kind == "classification")
    grid = decision_boundary(trainer, plane, n)
    fig, new = _figure(fig, title=f"decision boundary ({grid['kind']})", xaxis_title="x1",
                       yaxis_title="x2", width=600, height=560,
                       legend={"orientation": "h", "y": -0.18})
    name = label(run)
    if new:
        fig.add_trace(go.Contour(x=grid["x"], y=grid["y"], z=grid["z"], name=f"{name} model",
                                 colorscale="RdBu", opacity=0.6, legendgroup=name,
                                 colorbar={"title": grid["kind"]}))
        labels = load_data(cfg.data, cfg.task.kind).y_train.tolist()
        fig.add_trace(go.Scatter(x=plane.points[:, 0], y=plane.points[:, 1], mode="markers",
                                 name="training points", marker={
                                     "color": labels, "colorscale": "RdBu", "size": 5,
                                     "line": {"width": 0.5, "color": "black"}}))
    else:
        color = COLORS[(_runs_on(fig) + 2) % len(COLORS)]
        levels = ({"start": 0.5, "end": 0.5, "size": 1} if grid["kind"] == "probability" else
                  {"start": 0.5, "end": max(max(row) for row in grid["z"]) - 0.5, "size": 1}
                  if grid["kind"] == "class" else {})
        fig.add_trace(go.Contour(x=grid["x"], y=grid["y"], z=grid["z"], name=f"{name} model",
                                 contours={"coloring": "lines", **levels}, showscale=False,
                                 colorscale=[[0, color], [1, color]], line={"width": 3},
                                 legendgroup=name, showlegend=True))
    return fig


# -- studies -----------------------------------------------------------------------------
def compare(report: StudyReport, metric: str | None = None, fig: go.Figure | None = None
            ) -> go.Figure:
    """``metric`` (the report's by default) per configuration: the mean over seeds with
    its 95% CI as the error bar."""
    metric = metric or report.metric
    known = next(iter(report.configs)).estimates if report.configs else {}
    if report.configs and metric not in known:
        raise ValueError(f"metric must be one of {list(known)}, got {metric!r}")
    est = [c.estimates[metric] for c in report.configs]
    fig, _ = _figure(fig, title=f"{metric}: mean and 95% CI over seeds",
                     yaxis={"autorange": "reversed"}, height=160 + 30 * len(est))
    fig.add_trace(go.Bar(
        x=[e.mean for e in est], y=[c.label for c in report.configs], orientation="h",
        name=f"{report.study} {metric}",
        error_x={"type": "data", "array": [0 if math.isnan(e.half_width) else e.half_width
                                           for e in est]}))
    return fig


def curves(report: StudyReport, fig: go.Figure | None = None) -> go.Figure:
    """Validation loss per epoch: mean line and 95% CI band over seeds per configuration."""
    fig, _ = _figure(fig, title="validation loss per epoch (mean and 95% CI over seeds)",
                     xaxis_title="epoch", yaxis_title="validation loss", height=520,
                     legend={"font": {"size": 10}})
    for i, c in enumerate(report.configs):
        if not c.curve:
            continue
        color = COLORS[i % len(COLORS)]
        epochs, mean, low, high = zip(*c.curve)
        lo = [m if math.isnan(v) else v for m, v in zip(mean, low)]
        hi = [m if math.isnan(v) else v for m, v in zip(mean, high)]
        fig.add_trace(go.Scatter(x=[*epochs, *epochs[::-1]], y=[*hi, *lo[::-1]], fill="toself",
                                 fillcolor=color, opacity=0.2, line={"width": 0},
                                 hoverinfo="skip", showlegend=False, legendgroup=c.label))
        fig.add_trace(go.Scatter(x=epochs, y=mean, name=c.label, legendgroup=c.label,
                                 line={"color": color}))
    return fig


# -- namespaces --------------------------------------------------------------------------
class RunPlots:
    """``run.plot``: this module's run figures, bound to one run."""

    def __init__(self, run: Run):
        self._run = run

    def loss(self, fig: go.Figure | None = None) -> go.Figure:
        return loss(self._run, fig)

    def accuracy(self, fig: go.Figure | None = None) -> go.Figure:
        return accuracy(self._run, fig)

    def boundary(self, fig: go.Figure | None = None, n: int = 60) -> go.Figure:
        return boundary(self._run, fig, n)

    def histograms(self, kind: str = "activations", step: int | None = None,
                   fig: go.Figure | None = None) -> go.Figure:
        return histograms(self._run, kind, step, fig)

    def variance(self, step: int = 0, fig: go.Figure | None = None) -> go.Figure:
        return variance(self._run, step, fig)

    def weights(self, quantity: str = "weight_norm", fig: go.Figure | None = None
                ) -> go.Figure:
        return weights(self._run, quantity, fig)


class StudyPlots:
    """``report.plot``: the study figures, bound to one :class:`StudyReport`."""

    def __init__(self, report: StudyReport):
        self._report = report

    def compare(self, metric: str | None = None, fig: go.Figure | None = None) -> go.Figure:
        return compare(self._report, metric, fig)

    def curves(self, fig: go.Figure | None = None) -> go.Figure:
        return curves(self._report, fig)


for _cls, _names in ((RunPlots, ("loss", "accuracy", "boundary", "histograms", "variance",
                                 "weights")), (StudyPlots, ("compare", "curves"))):
    for _name in _names:  # each method documents itself with its function's docstring
        getattr(_cls, _name).__doc__ = globals()[_name].__doc__
del _cls, _names, _name


# -- export ------------------------------------------------------------------------------
def save(fig: go.Figure, path: str | Path, width: int | None = None,
         height: int | None = None, scale: float = 1.0) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by the suffix of ``path``) through kaleido,
    with the system's chromium (``/usr/bin/chromium`` unless ``BROWSER_PATH`` names
    another), or as self-contained HTML for ``.html``. Nothing is downloaded."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "html":
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        return path
    if suffix not in ("png", "svg", "pdf", "jpg", "jpeg", "webp"):
        raise ValueError(f"{path}: the suffix must be .png, .svg, .pdf, .jpg, .webp or .html")
    if not os.environ.get("BROWSER_PATH") and Path("/usr/bin/chromium").exists():
        os.environ["BROWSER_PATH"] = "/usr/bin/chromium"
    fig.write_image(path, format=suffix, width=width, height=height, scale=scale)
    return path
