"""Claims 36 and 37: what the initialization does to the signal a network passes.

- 36: Xavier initialization keeps the variance of the back-propagated gradient (Glorot &
  Bengio 2010's derivation, on the backward pass);
- 37: under the standard initialization sigmoid layers saturate: the top hidden layer is
  driven toward 0 early in training (Glorot & Bengio 2010, fig. 2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..config import RunConfig
from ..landscape import problem_for_run
from ..run import Run
from .base import Context, Measurement, Verdict, declared, mean, verdict_from
from .initialization import KEEP_FACTOR, init_profile
from .plots import finish
from .regularization.penalties import hidden_outputs
from .tests import greater, mean_ci, versus

# -- 36: Xavier keeps the back-propagated gradient's variance ---------------------------

GRADIENT_DEPTH = 30    # hidden layers of the network the gradient is followed down
GRADIENT_WIDTH = 128
GRADIENT_EXAMPLES = 256
GRADIENT_INITS: dict[str, dict[str, Any]] = {
    "xavier": {"init.scheme": "xavier_normal", "init.xavier_mode": "avg"},
    "standard U(+-1/sqrt(n))": {"init.scheme": "default"},
    "N(0, 1)": {"init.scheme": "normal", "init.std": 1.0}}
GRADIENT_ACTIVATIONS = ("linear", "tanh")


def gradient_ratios(grad_rms: list[float], depth: int) -> list[float]:
    """Var(dL/dz) k layers below the top hidden layer over its value at the top, for
    k = 0 .. depth - 1 (``grad_rms`` per layer, bottom first, the output layer last)."""
    top = grad_rms[depth - 1] ** 2
    return [grad_rms[depth - 1 - k] ** 2 / top for k in range(depth)]


def gradient_kept_layers(ratios: list[float]) -> int:
    """The most layers k the gradient crosses with its variance within a factor
    :data:`~fitscope.claims.initialization.KEEP_FACTOR` of its value at the top, for
    every k' <= k (the ratios of :func:`gradient_ratios`)."""
    kept = 0
    for k, r in enumerate(ratios):
        if not 1 / KEEP_FACTOR <= r <= KEEP_FACTOR:
            break
        kept = k
    return kept


def change_per_layer(ratios: list[float]) -> float:
    """|log10 r_K| / K for the deepest k = K whose ratio r_k (:func:`gradient_ratios`) is
    finite and positive: the variance's change per layer crossed, in decades (an exploding
    gradient overflows float32 before the bottom layer; its change is read above that)."""
    finite = [(k, r) for k, r in enumerate(ratios) if k > 0 and 0 < r < math.inf]
    if not finite:
        return math.nan
    k, r = finite[-1]
    return abs(math.log10(r)) / k


def measure_backward(ctx: Context) -> Measurement:
    """One probed backward pass per (activation, init, seed) through a
    :data:`GRADIENT_DEPTH`-layer MLP on MNIST-1D at initialization."""
    base = RunConfig.model_validate({
        "data": {"name": "mnist1d", "n_samples": 1000},
        "model": {"depth": GRADIENT_DEPTH, "width": GRADIENT_WIDTH}})
    values: dict = {"kept_layers": {}, "log10_change_per_layer": {}}
    series: dict = {}
    for act in GRADIENT_ACTIVATIONS:
        for quantity in values.values():
            quantity[act] = {}
        series[act] = {}
        for label, overrides in GRADIENT_INITS.items():
            cfg = base.with_overrides({"model.activation": act, **overrides})
            ratios = [gradient_ratios(init_profile(seeded, GRADIENT_EXAMPLES)["grad_rms"],
                                      GRADIENT_DEPTH) for seeded in ctx.seeded(cfg)]
            values["kept_layers"][act][label] = [float(gradient_kept_layers(r)) for r in ratios]
            values["log10_change_per_layer"][act][label] = [change_per_layer(r) for r in ratios]
            with np.errstate(divide="ignore", invalid="ignore"):
                geo = np.exp(np.mean(np.log(np.asarray(ratios, dtype=float)), axis=0))
            series[act][label] = [float(g) if np.isfinite(g) and g > 0 else None for g in geo]
    return Measurement(values=values, series=series, notes=[
        (f"MLPs of {GRADIENT_DEPTH} hidden layers of width {GRADIENT_WIDTH} on MNIST-1D at "
        f"init, one backward pass of the cross-entropy on {GRADIENT_EXAMPLES} examples; the "
        "gradient dL/dz is followed down from the top hidden layer. Xavier is Glorot & "
        "Bengio's normalized form, variance 2 / (n_in + n_out); standard is PyTorch's "
        "default U(-1/sqrt(n_in), 1/sqrt(n_in)), the 'standard' init they compare it with.")])


def decide_backward(m: Measurement) -> Verdict:
    """Per activation: Xavier's gradient variance changes less per layer than under the
    standard init and under N(0, 1) (two-sample tests over seeds: different draws); the
    layers through which it stays within a factor 2 give the region."""
    change, kept_layers = m.values["log10_change_per_layer"], m.values["kept_layers"]
    others = [k for k in GRADIENT_INITS if k != "xavier"]
    kept, beats, parts = {}, {}, []
    for act in GRADIENT_ACTIVATIONS:
        xavier = change[act]["xavier"]
        tests = [greater(change[act][o], xavier,
                         label=f"{act}: |log10 change per layer| {o} > Xavier") for o in others]
        beats[act] = all(c.significant for c in tests)
        kept[act] = min(kept_layers[act]["xavier"])
        parts.append(f"{act}: Xavier's gradient variance stays within a factor "
                     f"{KEEP_FACTOR:g} through {kept[act]:.0f} of {GRADIENT_DEPTH - 1} layers "
                     "(fewest over seeds) and changes by 10^" + ", ".join(
                         f"{mean(change[act][k]):.3f} per layer ({k})"
                         for k in GRADIENT_INITS) + " ("
                     + "; ".join(c.text() for c in tests) + ")")
    detail = "; ".join(parts)
    if not any(beats.values()):
        return Verdict("does not hold", detail + ": Xavier's gradient changes no less than "
                       "under the badly scaled inits.")
    full = GRADIENT_DEPTH - 1
    if all(beats.values()) and all(k >= full for k in kept.values()):
        return Verdict("holds", detail + ".")
    where = [f"{act} layers" + ("" if kept[act] >= full else
                                f" up to {kept[act]:.0f} layers deep")
             for act in GRADIENT_ACTIVATIONS if beats[act] and kept[act] >= 1]
    if not where:
        return Verdict("holds only when", detail + ".",
                       "'keeps' means 'changes far less than under the standard or N(0, 1) "
                       f"init': it drifts past a factor {KEEP_FACTOR:g} within a layer")
    return Verdict("holds only when", detail + ".",
                   "the gradient crosses " + " or ".join(where) + " (within a factor "
                   f"{KEEP_FACTOR:g}; elsewhere it drifts, but far less per layer than under "
                   "the standard or N(0, 1) init)")


def figure_backward(m: Measurement) -> go.Figure:
    fig = make_subplots(1, len(GRADIENT_ACTIVATIONS), shared_yaxes=True,
                        subplot_titles=[f"{a} layers" for a in GRADIENT_ACTIVATIONS])
    colors = dict(zip(GRADIENT_INITS, ("#0969da", "#cf222e", "#8250df")))
    for col, act in enumerate(GRADIENT_ACTIVATIONS, 1):
        for label in GRADIENT_INITS:
            ys = m.series[act][label]
            fig.add_scatter(x=list(range(len(ys))), y=ys, mode="lines+markers", name=label,
                            line={"color": colors[label]}, showlegend=col == 1, row=1, col=col)
        fig.add_hrect(y0=1 / KEEP_FACTOR, y1=KEEP_FACTOR, fillcolor="#2da44e", opacity=0.12,
                      line_width=0, row=1, col=col)
    return finish(fig, f"The back-propagated gradient at init, {GRADIENT_DEPTH} layers of "
                  f"width {GRADIENT_WIDTH} (band: within a factor {KEEP_FACTOR:g})",
                  x=["layers below the top hidden layer"] * len(GRADIENT_ACTIVATIONS),
                  y=[("Var(dL/dz) / its value at the top (geometric mean)", "log")]
                  + [(None, "log")] * (len(GRADIENT_ACTIVATIONS) - 1))


BACKWARD = declared(
    36, measure_backward, decide_backward, figure_backward, GRADIENT_DEPTH=GRADIENT_DEPTH,
    KEEP_FACTOR=KEEP_FACTOR, GRADIENT_WIDTH=GRADIENT_WIDTH)


# -- 37: sigmoid layers saturate under the standard init -------------------------------

SIGMOID_BASE = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 4, "width": 64, "activation": "sigmoid"},
    "init": {"scheme": "default"}, "optimizer": {"name": "sgd", "lr": 0.3},
    "budget": {"epochs": 1000, "max_steps": 600, "batch_size": 10},
    "observe": {"snapshot_every": 100}})
SATURATED_BELOW = 0.1  # sigmoid output under which its slope is < 0.09, a third of its peak


def layer_outputs(run: Run) -> list[dict[str, list[float]]]:
    """At each parameter snapshot of ``run``, per hidden layer: the mean sigmoid output on
    the test set and the share of outputs under :data:`SATURATED_BELOW`."""
    problem = problem_for_run(run, "test")
    model = run.trained_model()
    final = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    out = []
    try:
        for snap in run.snapshots:
            torch.nn.utils.vector_to_parameters(snap["params"], model.parameters())
            hs = hidden_outputs(model, problem.x)
            out.append({"step": snap["step"], "mean": [float(h.mean()) for h in hs],
                        "saturated": [float((h < SATURATED_BELOW).float().mean())
                                      for h in hs]})
    finally:
        torch.nn.utils.vector_to_parameters(final, model.parameters())
    return out


def measure_sigmoid(ctx: Context) -> Measurement:
    base = SIGMOID_BASE.with_overrides({"budget.max_steps": round(600 * ctx.scale)})
    runs = ctx.train_many(ctx.seeded(base))
    per_run = [layer_outputs(r) if r.status != "diverged" else None for r in runs]

    def at(i: int, key: str, layer: int) -> list[float]:
        return [p[i][key][layer] if p else math.nan for p in per_run]

    depth = base.model.depth
    values: dict[str, Any] = {
        key: {when: {layer + 1: at(i, key, layer) for layer in range(depth)}
              for when, i in (("init", 0), ("end", -1))}
        for key in ("mean", "saturated")}
    values["test_acc"] = [r.metrics.get("test_acc", math.nan) for r in runs]
    ok = [p for p in per_run if p]
    series = {"steps": [row["step"] for row in ok[0]],
              "mean": [np.mean([[row["mean"][layer] for row in p] for p in ok], axis=0).tolist()
                       for layer in range(depth)]}
    return Measurement(values=values, series=series, notes=[
        (f"sigmoid MLP {depth}x{base.model.width} on digits with PyTorch's default init "
        f"U(-1/sqrt(n_in), 1/sqrt(n_in)) (Glorot & Bengio's 'standard' init), SGD "
        f"{base.optimizer.lr}, batch {base.budget.batch_size}, {base.budget.max_steps} steps; "
        f"outputs on the test set; saturated: output under {SATURATED_BELOW}.")])


def decide_sigmoid(m: Measurement) -> Verdict:
    """The share of the top hidden layer's outputs under :data:`SATURATED_BELOW` is larger
    after training than at init, and larger than the first hidden layer's after training
    (paired by seed): Glorot & Bengio's top-layer saturation."""
    out, saturated = m.values["mean"], m.values["saturated"]
    top = max(out["init"])
    shares = {"init": saturated["init"][top], "end": saturated["end"][top],
              "layer 1": saturated["end"][1]}
    rises, rise_text = versus(shares, "end", "init", "share of the top hidden layer's (layer "
                              f"{top}) outputs under {SATURATED_BELOW:g}:", ("at the end",
                              "at init"), ".1%",
                              label=f"layer {top}'s saturated share at the end > at init")
    top_only, top_text = versus(shares, "end", "layer 1", "at the end,", (f"in layer {top}",
                                "in layer 1"), ".1%",
                                label=f"layer {top}'s saturated share > layer 1's")
    detail = (f"{rise_text}; {top_text}; mean output of layer {top} "
              f"{mean(out['init'][top]):.3f} at init, {mean(out['end'][top]):.3f} at the end, "
              f"of layer 1 {mean(out['init'][1]):.3f} and {mean(out['end'][1]):.3f}; "
              f"test accuracy {mean(m.values['test_acc']):.3f}")
    return verdict_from(detail, rises.significant, top_only.significant,
                        "read as 'sigmoid layers saturate': the first layer saturates as much "
                        "as the top one")


def figure_sigmoid(m: Measurement) -> go.Figure:
    steps = m.series["steps"]
    fig = make_subplots(1, 2, subplot_titles=("mean output per hidden layer (mean over seeds)",
                                              "top layer's mean output, init and end (95% CI)"))
    for layer, ys in enumerate(m.series["mean"], 1):
        fig.add_scatter(x=steps, y=ys, mode="lines+markers", name=f"layer {layer}", row=1,
                        col=1)
    top = len(m.series["mean"])
    est = [mean_ci(m.values["mean"][w][top]) for w in ("init", "end")]
    fig.add_bar(x=["init", "end"], y=[e.mean for e in est], name=f"layer {top}, init and end",
                error_y={"type": "data", "array": [e.half_width for e in est]}, row=1, col=2)
    fig.update_xaxes(title="step", row=1, col=1)
    fig.update_yaxes(title="mean sigmoid output", range=[0, 1])
    fig.update_layout(title="Sigmoid MLP on digits under the standard init: the top hidden "
                      "layer is driven toward 0")
    return fig


SIGMOID = declared(
    37, measure_sigmoid, decide_sigmoid, figure_sigmoid, SATURATED_BELOW=SATURATED_BELOW)

CLAIMS = [BACKWARD, SIGMOID]
