"""Optimization claims 21 and 22: the standard error of a minibatch gradient, and small
batches as a regularizer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from torch.func import functional_call, grad, vmap

from ...config import RunConfig
from ...landscape import Problem, problem_for_run
from ...landscape.evaluate import eval_mode
from ..base import Context, Measurement, Verdict, declared, mean, metric, setting
from ..tests import greater, mean_ci, versus
from .common import _ci_text, _errorbars

# -- 21: standard error of the minibatch gradient -----------------------------------------

GRAD_SIZES = (4, 16, 64, 256)
SLOPE, SLOPE_TOL = -0.5, 0.1
GRAD_BASE = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 2, "width": 32},
    "optimizer": {"name": "adam", "lr": 0.01},
    "budget": {"epochs": 2, "batch_size": 64},
    "observe": {"snapshot_every": 100_000}})  # keeps the step-0 snapshot: the init


def minibatch_gradients(problem: Problem, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Gradients ``(R, n_params)`` of the mean loss over each minibatch: row r of ``rows``
    ``(R, n)`` indexes the examples of minibatch r (the model in eval mode)."""
    buffers = dict(problem.model.named_buffers())

    def loss(t: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return problem.loss_fn(functional_call(problem.model, (problem.unflatten(t), buffers),
                                               (xb,)), yb)

    with eval_mode(problem.model):
        return vmap(grad(loss), in_dims=(None, 0, 0))(theta, problem.x[rows], problem.y[rows])


def gradient_errors(problem: Problem, theta: torch.Tensor, draws: int,
                    gen: torch.Generator) -> dict[str, list[float]]:
    """Standard error of the minibatch gradient for each size n in :data:`GRAD_SIZES`.

    SE(n) = sqrt(mean over ``draws`` minibatches of ||g_B - g||^2), g the full-batch
    gradient. With replacement E||g_B - g||^2 = sigma^2 / n exactly, sigma^2 = mean_i
    ||g_i - g||^2 over the N examples' gradients g_i, so SE = sigma / sqrt(n) (the notes).
    Without replacement it is smaller by the finite-population correction
    sqrt((N - n) / (N - 1)) (Cochran 1977, thm. 2.2); ``fpc`` divides it out.
    """
    n_rows = len(problem.x)
    full = grad(problem.loss_at)(theta)
    out: dict[str, list[float]] = {"with": [], "without": [], "fpc": []}
    for n in GRAD_SIZES:
        with_rep = torch.randint(n_rows, (draws, n), generator=gen)
        without = torch.rand(draws, n_rows, generator=gen).argsort(dim=1)[:, :n]
        for key, rows in (("with", with_rep), ("without", without)):
            dev = minibatch_gradients(problem, theta, rows) - full
            out[key].append(float(dev.pow(2).sum(dim=1).mean().sqrt()))
        out["fpc"].append(out["without"][-1] / math.sqrt((n_rows - n) / (n_rows - 1)))
    return out


def loglog_slope(ns: Sequence[float], ses: Sequence[float]) -> float:
    """Least-squares slope of log SE against log n."""
    return float(np.polyfit(np.log(ns), np.log(ses), 1)[0])


def measure_gradient_noise(ctx: Context) -> Measurement:
    runs = ctx.train_many(ctx.seeded(GRAD_BASE, **{"budget.epochs": ctx.epochs(2)}))
    draws = max(32, round(64 * ctx.scale))
    slopes: dict[str, list[float]] = {"with": [], "without": [], "fpc": []}
    curves: dict[str, list[list[float]]] = {k: [] for k in slopes}
    problems = [problem_for_run(run) for run in runs]
    for seed, (run, problem) in enumerate(zip(runs, problems)):
        gen = torch.Generator().manual_seed(seed)
        for theta in (run.snapshots[0]["params"], problem.center()):  # init, trained
            ses = gradient_errors(problem, theta, draws, gen)
            for key, ys in ses.items():
                slopes[key].append(loglog_slope(GRAD_SIZES, ys))
                curves[key].append(ys)
    return Measurement(
        values={"slope": slopes, "training_examples": len(problems[0].x),
                "minibatches_per_size": draws},
        series={"sizes": list(GRAD_SIZES), "curves": curves},
        notes=[("Each seed measures at two points, the init and after a short Adam run; "
                "sizes 4 to 256 out of the training set, 'fpc' divides the without-replacement "
                "error by sqrt((N - n) / (N - 1)).")])


def decide_gradient_noise(m: Measurement) -> Verdict:
    v, slope = m.values, m.values["slope"]
    near = {k: abs(mean(slope[k]) - SLOPE) <= SLOPE_TOL for k in ("with", "without", "fpc")}
    text = "; ".join(f"{label} {_ci_text(slope[k])}" for k, label in (
                         ("with", "with replacement"), ("without", "without replacement"),
                         ("fpc", "without replacement, corrected")))
    detail = (f"log-log slope of the gradient's standard error against n: {text}; N = "
              f"{v['training_examples']}")
    if near["with"] and near["fpc"] and near["without"]:
        return Verdict("holds", detail + f": all within {SLOPE_TOL} of {SLOPE}.")
    if near["with"] and near["fpc"]:
        return Verdict("holds only when", detail + ".", "minibatches are drawn with "
                       "replacement, or the finite-population correction is divided out")
    return Verdict("does not hold", detail + f": not within {SLOPE_TOL} of {SLOPE}.")


def figure_gradient_noise(m: Measurement) -> go.Figure:
    sizes, curves = m.series["sizes"], m.series["curves"]
    fig = go.Figure()
    for key, name in (("with", "with replacement"), ("without", "without replacement"),
                      ("fpc", "without, divided by sqrt((N-n)/(N-1))")):
        relative = [[c[i] / c[0] for c in curves[key]] for i in range(len(sizes))]
        _errorbars(fig, sizes, relative, name)
    fig.add_scatter(x=sizes, y=[math.sqrt(sizes[0] / n) for n in sizes], mode="lines",
                    name="1 / sqrt(n), through n = 4", line={"dash": "dot", "color": "gray"})
    fig.update_layout(title="Standard error of the minibatch gradient, MLP on digits (95% CI "
                      "over seeds and two points of training)", xaxis_title="minibatch size n",
                      yaxis_title="SE(n) / SE(4), SE = RMS ||g_batch - g_full||")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


GRADIENT_NOISE = declared(
    21, measure_gradient_noise, decide_gradient_noise, figure_gradient_noise, SLOPE_TOL=SLOPE_TOL,
    SLOPE=SLOPE)


# -- 22: small batches regularize ---------------------------------------------------------

SMALL, LARGE = 8, 128
BATCH_SIZES = (SMALL, LARGE)
BATCH_LR = 0.1          # one learning rate for both batches (protocols "equal steps/epochs")
BATCH_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 256}, "model": {"depth": 2, "width": 64},
    "optimizer": {"name": "sgd", "lr": BATCH_LR}, "budget": {"epochs": 100_000}})
# protocol -> budget -> overrides per batch size; budgets "short" and "long" (3x)
BATCH_PROTOCOLS = ("equal steps", "equal epochs", "lr scaled with batch")
BATCH_BUDGETS = {"short": 1, "long": 3}
STEPS, EPOCHS = 400, 25


def batch_setting(protocol: str, budget: str, batch: int, scale: float) -> dict:
    """Overrides of one (protocol, budget, batch size): equal steps (400, or 1200 long) at
    one learning rate; equal epochs (25, or 75) at one learning rate; equal epochs with
    the learning rate scaled with the batch, eps = 0.4 b / 128 (Goyal et al. 2017's linear
    rule: 0.4 at 128, 0.025 at 8)."""
    k = BATCH_BUDGETS[budget] * scale
    o: dict[str, Any] = {"budget.batch_size": batch}
    if protocol == "equal steps":
        return o | {"budget.max_steps": max(1, round(STEPS * k))}
    o |= {"budget.epochs": max(1, round(EPOCHS * k)), "budget.max_steps": None}
    if protocol == "lr scaled with batch":
        o["optimizer.lr"] = 0.4 * batch / LARGE
    return o


# Claim 22's setting: the protocol, the budget ("short" or "long") and the batch size.
Batch = setting("Batch", "protocol budget batch",
                lambda protocol, budget, batch: f"{protocol}, {budget}, b={batch}")

def measure_batch_regularizer(ctx: Context) -> Measurement:
    groups = ctx.train_variants(BATCH_BASE, {
        Batch(p, b, n): batch_setting(p, b, n, ctx.scale)
        for p in BATCH_PROTOCOLS for b in BATCH_BUDGETS for n in BATCH_SIZES})
    values: dict[str, dict[tuple, list[float]]] = {"test_acc": {}, "gap": {}}
    for batch, rs in groups.items():
        train, test = metric(rs, "train_acc"), metric(rs, "test_acc")
        values["test_acc"][batch] = test
        values["gap"][batch] = [a - t for a, t in zip(train, test)]
    return Measurement(values=values, series={"settings": [[p, b] for p in BATCH_PROTOCOLS
                                                           for b in BATCH_BUDGETS]},
                       notes=[(f"Batch {SMALL} against {LARGE}, SGD on 256 digits. Protocols: "
                               f"equal steps ({STEPS}; long: 3x) at eps = {BATCH_LR}; equal "
                               f"epochs ({EPOCHS}; long: 3x) at eps = {BATCH_LR}; equal epochs "
                               "with eps = 0.4 b / 128. Gap = train - test accuracy.")])


def decide_batch_regularizer(m: Measurement) -> Verdict:
    """Per (protocol, budget): batch 8's test accuracy above batch 128's (the claim) or
    below it (the opposite), paired by seed; the verdict maps the settings."""
    acc, gap = m.values["test_acc"], m.values["gap"]
    settings = [(s.protocol, s.budget) for s in acc if s.batch == SMALL]
    wins, losses, parts = [], [], []
    for p, b in settings:
        key = f"{p}, {b}"
        small, large = Batch(p, b, SMALL), Batch(p, b, LARGE)
        better, text = versus(acc, small, large, f"{key}: test accuracy",
                              (f"with b={SMALL}", f"with b={LARGE}"),
                              label=f"{key}: test accuracy b={SMALL} > b={LARGE}")
        worse = greater(acc[large], acc[small], paired=True, label=f"{key}: test accuracy "
                        f"b={LARGE} > b={SMALL}", reported=True)
        if better.significant:
            wins.append(key)
        elif worse.significant:
            losses.append(key)
        parts.append(f"{text}, gap {mean(gap[small]):.3f} vs {mean(gap[large]):.3f}")
    detail = "; ".join(parts)
    if len(wins) == len(settings):
        return Verdict("holds", detail + ".")
    if wins:
        lost = f"; the large batch generalizes better with {', '.join(losses)}" if losses else ""
        return Verdict("holds only when", detail + ".", f"{' or '.join(wins)}{lost}")
    return Verdict("does not hold", detail + ": the small batch is not better in any setting.")


def figure_batch_regularizer(m: Measurement) -> go.Figure:
    settings = m.series["settings"]
    fig = go.Figure()
    for n in BATCH_SIZES:
        est = [mean_ci(m.values["test_acc"][Batch(p, b, n)]) for p, b in settings]
        fig.add_bar(name=f"batch {n}", x=[f"{p}, {b}" for p, b in settings],
                    y=[e.mean for e in est],
                    error_y={"type": "data", "array": [e.half_width for e in est]})
    fig.update_layout(barmode="group", yaxis_title="test accuracy", title=f"Batch {SMALL} "
                      f"against {LARGE} by protocol and budget, SGD on 256 digits (95% CI over "
                      "seeds)")
    return fig


BATCH_REGULARIZER = declared(
    22, measure_batch_regularizer, decide_batch_regularizer, figure_batch_regularizer, SMALL=SMALL,
    LARGE=LARGE)
