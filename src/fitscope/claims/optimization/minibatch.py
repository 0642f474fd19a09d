"""Optimization claims 21 and 22: the standard error of a minibatch gradient, and small
batches as a regularizer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch.func import functional_call, grad, vmap

from ...config import RunConfig
from ...landscape import Problem, problem_for_run
from ...landscape.evaluate import eval_mode
from ..base import Claim, Context, Measurement, Verdict, mean, metric
from ..tests import greater
from .common import _chunks, _ci_text, _errorbars

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
        values={f"slope_{k}": v for k, v in slopes.items()} | {
            "training_examples": len(problems[0].x), "minibatches_per_size": draws},
        series={"sizes": list(GRAD_SIZES), "curves": curves},
        notes=["Each seed measures at two points, the init and after a short Adam run; "
               "sizes 4 to 256 out of the training set, 'fpc' divides the without-replacement "
               "error by sqrt((N - n) / (N - 1))."])


def decide_gradient_noise(m: Measurement) -> Verdict:
    v = m.values
    near = {k: abs(mean(v[f"slope_{k}"]) - SLOPE) <= SLOPE_TOL for k in ("with", "without", "fpc")}
    text = "; ".join(f"{label} {_ci_text(v[f'slope_{k}'])}" for k, label in (
                         ("with", "with replacement"), ("without", "without replacement"),
                         ("fpc", "without replacement, corrected")))
    detail = f"log-log slope of the gradient's standard error against n: {text}; N = " \
             f"{v['training_examples']}"
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


GRADIENT_NOISE = Claim(
    21, "minibatch-gradient-se", "The standard error of a minibatch gradient falls as "
    "1/sqrt(n): 100 times more examples only make the estimate 10 times more precise.",
    "note 003, Batch and minibatch algorithms",
    f"mean log-log slope of SE(n) against n (n = 4..256, over seeds and two points of "
    f"training) within {SLOPE_TOL} of {SLOPE}, with replacement and, without replacement, "
    "after the finite-population correction", measure_gradient_noise, decide_gradient_noise,
    figure_gradient_noise,
    smallest_effect=0.5,
    protocol=('gradients of an MLP on digits at init and after 2 epochs; standard error of '
              'minibatch gradients for n = 4..256; each seed draws new weights and minibatches'))


# -- 22: small batches regularize ---------------------------------------------------------

BATCH_SIZES = (8, 32, 128)
BATCH_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 256}, "model": {"depth": 2, "width": 64},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "budget": {"epochs": 100_000, "max_steps": 400}})


def measure_batch_regularizer(ctx: Context) -> Measurement:
    base = BATCH_BASE.with_overrides({"budget.max_steps": round(400 * ctx.scale)})
    configs = [c for b in BATCH_SIZES for c in ctx.seeded(base, **{"budget.batch_size": b})]
    groups = _chunks(ctx.train_many(configs), ctx.seeds)
    values = {}
    for b, rs in zip(BATCH_SIZES, groups):
        train, test = metric(rs, "train_acc"), metric(rs, "test_acc")
        values[f"test_acc b={b}"] = test
        values[f"gap b={b}"] = [a - t for a, t in zip(train, test)]
    return Measurement(values=values, series={"sizes": list(BATCH_SIZES)},
                       notes=[f"Equal steps ({base.budget.max_steps}) for every batch size, "
                              "so larger batches see more epochs; SGD, same learning rate; "
                              "256 digits for training; gap = train - test accuracy."])


def decide_batch_regularizer(m: Measurement) -> Verdict:
    v, small, large = m.values, BATCH_SIZES[0], BATCH_SIZES[-1]
    better = greater(v[f"test_acc b={small}"], v[f"test_acc b={large}"], paired=True)
    narrower = greater(v[f"gap b={large}"], v[f"gap b={small}"], paired=True)
    detail = (f"batch {small} vs {large}: test accuracy {mean(v[f'test_acc b={small}']):.3f} vs "
              f"{mean(v[f'test_acc b={large}']):.3f} ({better.text()}); train-test gap "
              f"{mean(v[f'gap b={small}']):.3f} vs {mean(v[f'gap b={large}']):.3f} "
              f"({narrower.text()})")
    if better.significant and narrower.significant:
        return Verdict("holds", detail + ".")
    if better.significant:
        return Verdict("holds only when", detail + ".", "judged by test accuracy: the gap "
                       "did not narrow significantly")
    if narrower.significant:
        return Verdict("holds only when", detail + ".", "judged by the gap: test accuracy "
                       "did not rise significantly")
    return Verdict("does not hold", detail + ": neither difference is significant.")


def figure_batch_regularizer(m: Measurement) -> go.Figure:
    sizes = m.series["sizes"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy", "train - test accuracy"))
    _errorbars(fig, sizes, [m.values[f"test_acc b={b}"] for b in sizes], "test accuracy", 1, 1)
    _errorbars(fig, sizes, [m.values[f"gap b={b}"] for b in sizes], "generalization gap", 1, 2)
    fig.update_xaxes(type="log", title="batch size")
    fig.update_layout(title="Batch size at equal steps, SGD on 256 digits (95% CI over seeds)")
    return fig


BATCH_REGULARIZER = Claim(
    22, "small-batch-regularizes", "Small batches act as a regularizer: trained as long, a "
    "network generalizes better with small minibatches than with large ones.",
    "note 003, Batch and minibatch algorithms (batch sizes)",
    f"at equal steps, batch {BATCH_SIZES[0]} against {BATCH_SIZES[-1]}: higher test accuracy "
    "and a narrower train-test accuracy gap, each by a one-sided sign-flip permutation test over seeds "
    "(Holm-adjusted p < 0.05)", measure_batch_regularizer, decide_batch_regularizer, figure_batch_regularizer,
    smallest_effect=0.5,
    protocol=('MLP 2x64 on 256 digits, SGD; batch 8 against 128 at equal steps; each seed '
              'varies init and data order'), factors=('protocol',))
