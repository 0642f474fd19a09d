"""Claims from the optimization slides of note 003 ("Optimization for training deep models"
and "Batch normalization"; Goodfellow et al. 2016, ch. 8).

Real networks train through ``ctx.train_many``; the toy surfaces (saddle, cliff, ravine)
are :mod:`fitscope.landscape.toy`'s, where each seed jitters the start point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch.func import functional_call, grad, vmap

from ..config import RunConfig
from ..landscape import Problem, problem_for_run, toy
from ..landscape.evaluate import eval_mode
from ..run import Run
from .base import Claim, Context, Measurement, Verdict, mean, metric
from .tests import greater, mean_ci

# -- shared helpers -----------------------------------------------------------------------


def _chunks(runs: Sequence[Run], n: int) -> list[list[Run]]:
    """``runs`` cut into consecutive groups of ``n`` (one group per setting, seeds inside)."""
    return [list(runs[i:i + n]) for i in range(0, len(runs), n)]


def _band(fig: go.Figure, x: Sequence[float], per_seed: Sequence[Sequence[float]], name: str,
          color: str, row: int | None = None, col: int | None = None) -> None:
    """Mean over seeds as a line, the range over seeds (lowest to highest) as a band: it
    stays positive on log axes, where a t interval of three seeds would not."""
    cols = [[s[i] for s in per_seed] for i in range(len(x))]
    lo, hi = [min(c) for c in cols], [max(c) for c in cols]
    where = {"row": row, "col": col} if row else {}
    fig.add_scatter(x=list(x) + list(x)[::-1], y=hi + lo[::-1], fill="toself", opacity=0.2,
                    mode="lines", line={"width": 0}, fillcolor=color, hoverinfo="skip",
                    showlegend=False, **where)
    fig.add_scatter(x=list(x), y=[mean(c) for c in cols], mode="lines", name=name,
                    line={"color": color}, **where)


def _errorbars(fig: go.Figure, x: Sequence, per_x: Sequence[Sequence[float]], name: str,
               row: int | None = None, col: int | None = None, color: str | None = None) -> None:
    """Mean of each x's values with its 95% t interval as error bars."""
    cis = [mean_ci(v) for v in per_x]
    where = {"row": row, "col": col} if row else {}
    fig.add_scatter(x=list(x), y=[c.mean for c in cis], mode="lines+markers", name=name,
                    line={"color": color} if color else None,
                    error_y={"type": "data", "array": [c.half_width for c in cis]}, **where)


def _jitter(start: tuple[float, float], seed: int,
            spread: tuple[float, float]) -> tuple[float, float]:
    """``start`` moved by U(-spread, spread) per coordinate, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return tuple(float(s + rng.uniform(-d, d)) for s, d in zip(start, spread))


def _ci_text(xs: Sequence[float]) -> str:
    e = mean_ci(xs)
    return f"{e.mean:.3f} (95% CI {e.low:.3f} to {e.high:.3f})"


def _parts_verdict(detail: str, parts: dict[str, bool]) -> Verdict:
    """``holds`` when every part of a compound claim holds; else ``does not hold``, naming
    the parts that held and those that did not."""
    if all(parts.values()):
        return Verdict("holds", detail + ".")
    held = [p for p, ok in parts.items() if ok] or ["none"]
    failed = [p for p, ok in parts.items() if not ok]
    return Verdict("does not hold", f"{detail}. Held: {'; '.join(held)}. Did not hold: "
                   f"{'; '.join(failed)}.")


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
    figure_gradient_noise)


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
    "and a narrower train-test accuracy gap, each by a one-sided paired t-test over seeds "
    "(p < 0.05)", measure_batch_regularizer, decide_batch_regularizer, figure_batch_regularizer)


# -- 23: gradient descent slows near a saddle point ----------------------------------------

SADDLE_RADIUS = 0.25   # "near the saddle": within this distance of (0, 0)
SADDLE_STEPS = 150


def _saddle_starts(seed: int) -> dict[str, tuple[float, float]]:
    """Two starts at x = -2: one almost on the ridge y = 0 (|y| = 10^U(-3.5, -2.5)), one
    off it (y = 0.5 + U(-0.1, 0.1)); the sign of y is drawn too."""
    rng = np.random.default_rng(seed)
    sign = float(rng.choice([-1.0, 1.0]))
    return {"on the ridge": (-2.0, sign * 10 ** rng.uniform(-3.5, -2.5)),
            "off the ridge": (-2.0, sign * (0.5 + rng.uniform(-0.1, 0.1)))}


def saddle_walk(path: np.ndarray) -> dict[str, float]:
    """Of a path on the saddle surface: the steps spent within :data:`SADDLE_RADIUS` of the
    saddle (0, 0), and the median step length ||theta_{k+1} - theta_k|| on the approach
    (before the path first comes that near; the whole path if it never does) and near it."""
    lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
    near = np.linalg.norm(path[:-1], axis=1) < SADDLE_RADIUS
    first = int(np.argmax(near)) if near.any() else len(near)
    return {"dwell": float(near.sum()),
            "approach_step": float(np.median(lengths[:max(first, 1)])),
            "near_step": float(np.median(lengths[near])) if near.any() else math.nan}


def measure_saddle(ctx: Context) -> Measurement:
    surf = toy.surface("saddle")
    values: dict[str, list[float]] = {}
    gaps: dict[str, list[list[float]]] = {}  # f - f_min along each path
    paths: dict[str, list] = {}              # seed 0's, to draw
    for seed in range(ctx.seeds):
        for label, start in _saddle_starts(seed).items():
            path = toy.optimize(surf, "sgd", steps=SADDLE_STEPS, start=start)
            walk = saddle_walk(path)
            keys = walk if label == "on the ridge" else ("dwell",)
            for key in keys:
                values.setdefault(f"{key} {label}", []).append(walk[key])
            gaps.setdefault(label, []).append((toy.losses(surf, path) - surf.f_min).tolist())
            paths.setdefault(label, path.tolist())
    return Measurement(values=values, series={"gaps": gaps, "paths": paths},
                       notes=[f"Gradient descent with learning rate {surf.lr['sgd']} on "
                              f"{surf.formula}; near = within {SADDLE_RADIUS} of (0, 0)."])


def decide_saddle(m: Measurement) -> Verdict:
    v = m.values
    ridge, off = "on the ridge", "off the ridge"
    dwells = greater(v[f"dwell {ridge}"], v[f"dwell {off}"], paired=True)
    slows = greater(v[f"approach_step {ridge}"], v[f"near_step {ridge}"], paired=True)
    detail = (f"steps within {SADDLE_RADIUS} of the saddle: {mean(v[f'dwell {ridge}']):.1f} from "
              f"a start on the ridge vs {mean(v[f'dwell {off}']):.1f} off it ({dwells.text()}); "
              f"median step length {mean(v[f'approach_step {ridge}']):.3g} on the approach vs "
              f"{mean(v[f'near_step {ridge}']):.3g} near the saddle ({slows.text()})")
    return _parts_verdict(detail, {"it lingers near the saddle": dwells.significant,
                                   "its steps shrink there": slows.significant})


def figure_saddle(m: Measurement) -> go.Figure:
    surf = toy.surface("saddle")
    xs, ys, z = surf.grid(81)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "paths (seed 0)", "f - f_min, the saddle at 0.25 (band: range over seeds)"))
    fig.add_contour(x=xs, y=ys, z=z, showscale=False, colorscale="Greys", ncontours=25,
                    row=1, col=1)
    colors = {"on the ridge": "#cf222e", "off the ridge": "#0969da"}
    for label, path in m.series["paths"].items():
        p = np.asarray(path)
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", marker={"size": 3},
                        name=f"start {label}", line={"color": colors[label]}, row=1, col=1)
    for label, per_seed in m.series["gaps"].items():
        _band(fig, list(range(len(per_seed[0]))), per_seed, f"loss, start {label}",
              colors[label], 1, 2)
    fig.update_yaxes(type="log", title="f - f_min", row=1, col=2)
    fig.update_xaxes(title="x", row=1, col=1)
    fig.update_yaxes(title="y", row=1, col=1)
    fig.update_xaxes(title="step", row=1, col=2)
    fig.update_layout(title=f"Gradient descent on the saddle {surf.formula}")
    return fig


SADDLE = Claim(
    23, "saddle-slows-gd", "Plain gradient descent slows down near a saddle point: the "
    "gradient vanishes there, so the steps shrink and many are spent before it escapes.",
    "note 003, Challenges in neural network optimization (saddle points)",
    f"on the toy saddle, from starts almost on the ridge: more steps within {SADDLE_RADIUS} "
    "of the saddle than from starts off the ridge, and a smaller median step there than on "
    "the approach, each by a one-sided paired t-test over jittered starts (p < 0.05)",
    measure_saddle, decide_saddle, figure_saddle)


# -- 24: clipping prevents the catapult on a cliff -----------------------------------------

CLIP_NORM = 1.0
CLIFF_STEPS = 100


def cliff_walk(path: np.ndarray, f: np.ndarray) -> dict[str, float]:
    """The largest step ||theta_{k+1} - theta_k||, the largest rise f_{k+1} - f_k (0 if f
    never rises) and the final f of a path."""
    return {"largest_step": float(np.linalg.norm(np.diff(path, axis=0), axis=1).max()),
            "largest_rise": float(max(np.diff(f).max(), 0.0)), "final_loss": float(f[-1])}


def measure_cliff(ctx: Context) -> Measurement:
    surf = toy.surface("cliff")
    values: dict[str, list[float]] = {}
    curves: dict[str, list[list[float]]] = {}
    paths = {}
    for seed in range(ctx.seeds):
        start = _jitter(surf.start, seed, (0.3, 0.3))
        for label, clip in (("plain", None), (f"clip_norm={CLIP_NORM:g}", CLIP_NORM)):
            path = toy.optimize(surf, "sgd", steps=CLIFF_STEPS, start=start, clip_norm=clip)
            f = toy.losses(surf, path)
            for key, x in cliff_walk(path, f).items():
                values.setdefault(f"{key} {label}", []).append(x)
            curves.setdefault(label, []).append(f.tolist())
            paths.setdefault(label, path.tolist())
    return Measurement(values=values, series={"losses": curves, "paths": paths},
                       notes=[f"Gradient descent, learning rate {surf.lr['sgd']}, from starts "
                              f"on the plateau jittered by up to 0.3 around {surf.start}."])


def decide_cliff(m: Measurement) -> Verdict:
    v, clipped = m.values, f"clip_norm={CLIP_NORM:g}"
    jump = greater(v["largest_step plain"], v[f"largest_step {clipped}"], paired=True)
    rise = greater(v["largest_rise plain"], v[f"largest_rise {clipped}"], paired=True)
    detail = (f"largest step {mean(v['largest_step plain']):.3g} without clipping vs "
              f"{mean(v[f'largest_step {clipped}']):.3g} with ({jump.text()}); largest loss "
              f"rise in one step {mean(v['largest_rise plain']):.3g} vs "
              f"{mean(v[f'largest_rise {clipped}']):.3g} ({rise.text()})")
    return _parts_verdict(detail, {"clipping bounds the jump": jump.significant,
                                   "clipping prevents the loss from jumping up": rise.significant})


def figure_cliff(m: Measurement) -> go.Figure:
    surf = toy.surface("cliff")
    xs, ys, z = surf.grid(121)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("paths (seed 0)",
                                                        "loss (band: range over seeds)"))
    fig.add_contour(x=xs, y=ys, z=z, showscale=False, colorscale="Greys", ncontours=30,
                    row=1, col=1)
    colors = dict(zip(m.series["paths"], ("#cf222e", "#0969da")))
    for label, path in m.series["paths"].items():
        p = np.asarray(path)
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", marker={"size": 3},
                        name=label, line={"color": colors[label]}, row=1, col=1)
    for label, per_seed in m.series["losses"].items():
        _band(fig, list(range(len(per_seed[0]))), per_seed, f"loss, {label}", colors[label],
              1, 2)
    fig.update_yaxes(type="log", title="f", row=1, col=2)
    fig.update_xaxes(title="x", row=1, col=1)
    fig.update_yaxes(title="y", row=1, col=1)
    fig.update_xaxes(title="step", row=1, col=2)
    fig.update_layout(title="Gradient descent off a cliff, with and without gradient clipping")
    return fig


CLIFF = Claim(
    24, "cliff-clipping", "On a cliff, a gradient step can catapult the parameters far away; "
    "clipping the gradient norm prevents it.",
    "note 003, Cliffs and exploding gradients",
    f"on the toy cliff, with clip_norm = {CLIP_NORM:g} against none: a smaller largest step "
    "and a smaller largest one-step loss rise, each by a one-sided paired t-test over "
    "jittered starts (p < 0.05)", measure_cliff, decide_cliff, figure_cliff)


# -- 25: linear learning-rate decay ends lower than a constant rate -----------------------

DECAY_BASE = RunConfig.model_validate({
    "data": {"name": "moons", "noise": 0.3, "n_samples": 500},
    "model": {"depth": 2, "width": 16}, "optimizer": {"name": "sgd", "lr": 2.0},
    "budget": {"epochs": 100_000, "max_steps": 399}})  # 21 whole epochs of 19 steps at batch 16
SCHEDULES = ("constant", "linear")
DECAY_BATCHES = (16, 0)  # minibatch SGD, and full-batch gradient descent (0) as the contrast


def _batch_name(b: int) -> str:
    return "full batch" if b == 0 else f"batch {b}"


def measure_decay(ctx: Context) -> Measurement:
    base = DECAY_BASE.with_overrides({"budget.max_steps": round(399 * ctx.scale)})
    settings = [(b, k) for b in DECAY_BATCHES for k in SCHEDULES]
    configs = [c for b, k in settings for c in ctx.seeded(
        base, **{"budget.batch_size": b, "optimizer.schedule.kind": k})]
    groups = dict(zip(settings, _chunks(ctx.train_many(configs), ctx.seeds)))
    sched = base.optimizer.schedule
    return Measurement(
        values={f"final_train_loss b={b} {k}": metric(rs, "train_loss")
                for (b, k), rs in groups.items()},
        series={f"b={b} {k}": {"steps": [row["step"] for row in rs[0].history],
                               "loss": [[row["train_loss"] for row in r.history] for r in rs]}
                for (b, k), rs in groups.items()},
        notes=[f"eps_0 = {base.optimizer.lr}, {base.budget.max_steps} steps, on noisy moons (no "
               f"network reaches loss 0 there, so the minibatch gradient stays noisy at the "
               f"minimum); linear: eps_tau = {sched.final_fraction} eps_0 reached at the last "
               f"step (tau = all steps). Full-batch gradient descent is the notes' contrast: "
               f"its gradient vanishes at a minimum, so a fixed rate should do."])


def decide_decay(m: Measurement) -> Verdict:
    v = m.values
    tests = {b: greater(v[f"final_train_loss b={b} constant"], v[f"final_train_loss b={b} linear"],
                        paired=True) for b in DECAY_BATCHES}
    detail = "; ".join(
        f"{_batch_name(b)}: final training loss {mean(v[f'final_train_loss b={b} linear']):.4f} "
        f"with linear decay vs {mean(v[f'final_train_loss b={b} constant']):.4f} constant "
        f"({c.text()})" for b, c in tests.items())
    sgd, full = tests[DECAY_BATCHES[0]], tests[0]
    contrast = ("full-batch descent gains nothing significant from the decay, as the notes "
                "expect" if not full.significant else "full-batch descent gains from it too, so "
                "the gain is not only from the gradient noise")
    if sgd.significant:
        return Verdict("holds", f"{detail}. With SGD the decay ends lower; {contrast}.")
    return Verdict("does not hold", f"{detail}. With SGD the decay does not end significantly "
                   "lower.")


def figure_decay(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(DECAY_BATCHES), shared_yaxes=True,
                        subplot_titles=[_batch_name(b) for b in DECAY_BATCHES])
    for col, b in enumerate(DECAY_BATCHES, 1):
        for kind, color in zip(SCHEDULES, ("#cf222e", "#0969da")):
            s = m.series[f"b={b} {kind}"]
            _band(fig, s["steps"], s["loss"], f"{kind} rate, {_batch_name(b)}", color, 1, col)
        fig.update_xaxes(title="step", row=1, col=col)
    fig.update_yaxes(title="training loss (epoch mean)", type="log", row=1, col=1)
    fig.update_layout(title="Noisy moons: constant rate against the notes' linear decay, "
                      "minibatch and full batch (band: range over seeds)")
    return fig


DECAY = Claim(
    25, "linear-lr-decay", "SGD's gradient noise does not vanish at a minimum, so decaying the "
    "learning rate linearly (eps_k = (1 - a) eps_0 + a eps_tau) ends at a lower training loss "
    "than keeping it constant.", "note 003, Learning rate of SGD",
    f"SGD with batch {DECAY_BATCHES[0]}: final training loss (whole training set) higher with "
    "the constant rate than with linear decay from the same eps_0, by a one-sided paired "
    "t-test over seeds (p < 0.05); full-batch descent, the same test, reported as the "
    "contrast",
    measure_decay, decide_decay, figure_decay)


# -- 26: momentum beats SGD on an ill-conditioned ravine -----------------------------------

RAVINE_TOL = 1e-3
RAVINE_STEPS = 1000
MOMENTUM_BASE = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 2, "width": 32},
    "optimizer": {"name": "sgd", "lr": 0.01}, "budget": {"epochs": 5, "batch_size": 64}})


def ravine_steps(start: tuple[float, float], name: str) -> int:
    """Steps until f - f_min <= :data:`RAVINE_TOL` on the toy ravine (the surface's learning
    rate for SGD, for both optimizers); :data:`RAVINE_STEPS` + 1 if never within budget."""
    surf = toy.surface("ravine")
    path = toy.optimize(surf, name, steps=RAVINE_STEPS, start=start, lr=surf.lr["sgd"])
    hit = toy.steps_to_tolerance(surf, path, RAVINE_TOL)
    return RAVINE_STEPS + 1 if hit is None else hit


def measure_momentum(ctx: Context) -> Measurement:
    surf = toy.surface("ravine")
    starts = [_jitter(surf.start, seed, (1.0, 0.3)) for seed in range(ctx.seeds)]
    values = {f"ravine_steps {n}": [float(ravine_steps(s, n)) for s in starts]
              for n in ("sgd", "momentum")}
    base = MOMENTUM_BASE.with_overrides({"budget.epochs": ctx.epochs(5)})
    names = ("sgd", "momentum")
    configs = [c for n in names for c in ctx.seeded(base, **{"optimizer.name": n})]
    groups = dict(zip(names, _chunks(ctx.train_many(configs), ctx.seeds)))
    values |= {f"digits_train_loss {n}": metric(rs, "train_loss") for n, rs in groups.items()}
    return Measurement(
        values=values, series={n: [[row["train_loss"] for row in r.history] for r in rs]
                               for n, rs in groups.items()} | {"starts": starts},
        notes=[f"Ravine {surf.formula}, eps = {surf.lr['sgd']} for both, alpha = 0.9, from "
               f"starts jittered around {surf.start}; digits: MLP, eps = "
               f"{base.optimizer.lr}, batch {base.budget.batch_size}, {base.budget.epochs} "
               "epochs."])


def decide_momentum(m: Measurement) -> Verdict:
    v = m.values
    toy_c = greater(v["ravine_steps sgd"], v["ravine_steps momentum"], paired=True)
    real = greater(v["digits_train_loss sgd"], v["digits_train_loss momentum"], paired=True)
    detail = (f"steps to f - f_min <= {RAVINE_TOL:g} on the ravine: SGD "
              f"{mean(v['ravine_steps sgd']):.0f}, momentum {mean(v['ravine_steps momentum']):.0f} "
              f"({toy_c.text()}); final training loss on digits at equal steps: SGD "
              f"{mean(v['digits_train_loss sgd']):.3f}, momentum "
              f"{mean(v['digits_train_loss momentum']):.3f} ({real.text()})")
    if toy_c.significant and real.significant:
        return Verdict("holds", detail + ".")
    if toy_c.significant:
        return Verdict("holds only when", detail + ".", "the problem is the ill-conditioned "
                       "toy ravine (not significant on the digits network)")
    return Verdict("does not hold", detail + ".")


def figure_momentum(m: Measurement) -> go.Figure:
    surf = toy.surface("ravine")
    xs, ys, z = surf.grid(101)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "ravine, first 150 steps (seed 0)", "MLP on digits (band: range over seeds)"))
    fig.add_contour(x=xs, y=ys, z=np.log10(z + 1e-3), showscale=False, ncontours=20,
                    colorscale=[[0, "#999"], [1, "#999"]], contours_coloring="lines", row=1,
                    col=1)
    for name, color in (("sgd", "#cf222e"), ("momentum", "#0969da")):
        p = toy.optimize(surf, name, steps=150, start=m.series["starts"][0], lr=surf.lr["sgd"])
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", marker={"size": 3},
                        name=f"{name} on the ravine", line={"color": color}, row=1, col=1)
        per_seed = m.series[name]
        _band(fig, list(range(1, len(per_seed[0]) + 1)), per_seed, f"{name} on digits",
              color, 1, 2)
    fig.update_xaxes(title="x", row=1, col=1)
    fig.update_yaxes(title="y", row=1, col=1)
    fig.update_xaxes(title="epoch", row=1, col=2)
    fig.update_yaxes(title="training loss", type="log", row=1, col=2)
    fig.update_layout(title="SGD against momentum at the same learning rate")
    return fig


MOMENTUM = Claim(
    26, "momentum-ravine", "Momentum is faster than plain SGD on an ill-conditioned ravine: "
    "it accumulates the small consistent gradient along the valley floor.",
    "note 003, Momentum (Goodfellow et al. fig. 8.5)",
    f"on the toy ravine, fewer steps to f - f_min <= {RAVINE_TOL:g} with momentum than SGD "
    "(same eps) by a one-sided paired t-test over jittered starts; on an MLP on digits, a "
    "lower final training loss at equal steps by a one-sided paired t-test over seeds "
    "(p < 0.05 each)", measure_momentum, decide_momentum, figure_momentum)


# -- 27: AdaGrad stalls, RMSProp does not, Adam's bias correction -------------------------

ADAPTIVE = ("adagrad", "rmsprop", "adam")
ADAPTIVE_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 300}, "model": {"depth": 1, "width": 32},
    "optimizer": {"lr": 0.005}, "observe": {"snapshot_every": 1},
    "budget": {"epochs": 100_000, "max_steps": 100, "batch_size": 0}})
SHRINK = 0.5        # AdaGrad's rate must end below this share of its first value ...
FLOOR = 0.5         # ... and RMSProp's never fall below this share of its value at 1/(1-rho)
BIAS_EFFECT = 1.5   # Adam: the uncorrected first step is off by at least this factor
FORMULA_TOL = 1e-3  # relative error allowed between a measured Adam step and the formula


def path_and_gradients(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters at every step ``(K + 1, D)`` (the run's snapshots) and the full-batch
    training gradient at each of the first K ``(K, D)``: with ``batch_size = 0`` exactly
    the gradient the optimizer stepped on."""
    path = torch.stack([s["params"] for s in run.snapshots]).double()
    problem = problem_for_run(run)
    return path, vmap(grad(problem.loss_at))(path[:-1].float()).double()


def step_rates(path: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """|theta_{k+1} - theta_k| / |g_k| per step and parameter ``(K, D)`` (NaN where
    g_k = 0): the learning rate each parameter actually got; for AdaGrad and RMSProp it is
    eps / (delta + sqrt(r_k)) (:mod:`fitscope.optim`)."""
    steps, g = (path[1:] - path[:-1]).abs(), grads.abs()
    return torch.where(g > 0, steps / g.clamp_min(1e-30), torch.nan)


def rise_share(rates: torch.Tensor, tol: float = 0.01) -> float:
    """Share of (step, parameter) pairs whose rate rose by more than ``tol`` (relative)
    from one step to the next, among pairs defined at both steps."""
    a, b = rates[:-1], rates[1:]
    defined = a.isfinite() & b.isfinite()
    return float(((b > a * (1 + tol)) & defined).sum() / defined.sum().clamp_min(1))


def adam_steps(grads: torch.Tensor, lr: float, beta1: float, beta2: float,
               eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrected, uncorrected) Adam steps ``(K, D)`` for the gradients ``grads``: Adam's
    rule as in :mod:`fitscope.optim`, and the same without the bias correction
    (s_hat, r_hat replaced by s, r: delta theta = -eps s / (sqrt(r) + delta))."""
    s, r = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    corrected, uncorrected = [], []
    for t, g in enumerate(grads, 1):
        s, r = beta1 * s + (1 - beta1) * g, beta2 * r + (1 - beta2) * g * g
        corrected.append(-lr * (s / (1 - beta1**t)) / ((r / (1 - beta2**t)).sqrt() + eps))
        uncorrected.append(-lr * s / (r.sqrt() + eps))
    return torch.stack(corrected), torch.stack(uncorrected)


def adam_bias(run: Run, path: torch.Tensor, grads: torch.Tensor) -> dict[str, list[float]]:
    """Per step: ||uncorrected|| / ||corrected|| (Adam's step without and with the bias
    correction, from the gradients the run stepped on) and the relative error between the
    step the run took and the corrected formula."""
    o = run.config.optimizer
    corrected, uncorrected = adam_steps(grads, o.lr, o.beta1, o.beta2, o.eps)
    taken = path[1:] - path[:-1]
    return {"ratio": (uncorrected.norm(dim=1) / corrected.norm(dim=1)).tolist(),
            "formula_error": ((taken - corrected).norm(dim=1) / taken.norm(dim=1)).tolist()}


def measure_adaptive(ctx: Context) -> Measurement:
    base = ADAPTIVE_BASE.with_overrides({"budget.max_steps": round(100 * ctx.scale)})
    configs = [c for n in ADAPTIVE for c in ctx.seeded(base, **{"optimizer.name": n})]
    groups = dict(zip(ADAPTIVE, _chunks(ctx.train_many(configs), ctx.seeds)))
    warm = math.ceil(1 / (1 - base.optimizer.rho))  # RMSProp's average covers ~1/(1-rho) steps
    values: dict[str, list[float]] = {k: [] for k in (
        "adagrad_end_over_start", "rmsprop_min_over_warm", "rise_share adagrad",
        "rise_share rmsprop", "adam_first_ratio", "adam_last_ratio", "adam_peak_ratio",
        "adam_formula_error")}
    series: dict[str, list[list[float]]] = {"adagrad": [], "rmsprop": [], "adam_ratio": []}
    for name in ("adagrad", "rmsprop"):
        values[f"final_train_loss {name}"] = metric(groups[name], "train_loss")
        for run in groups[name]:
            rates = step_rates(*path_and_gradients(run))
            values[f"rise_share {name}"].append(rise_share(rates))
            series[name].append(rates.nanmedian(dim=1).values.tolist())
    values["adagrad_end_over_start"] = [r[-1] / r[0] for r in series["adagrad"]]
    values["rmsprop_min_over_warm"] = [min(r[warm:]) / r[warm] for r in series["rmsprop"]]
    for run in groups["adam"]:
        bias = adam_bias(run, *path_and_gradients(run))
        series["adam_ratio"].append(bias["ratio"])
        values["adam_first_ratio"].append(bias["ratio"][0])
        values["adam_last_ratio"].append(bias["ratio"][-1])
        values["adam_peak_ratio"].append(max(bias["ratio"], key=lambda x: abs(math.log(x))))
        values["adam_formula_error"].append(max(bias["formula_error"]))
    o = base.optimizer
    series["adam_reference"] = [(1 - o.beta1**t) / math.sqrt(1 - o.beta2**t)
                                for t in range(1, base.budget.max_steps + 1)]
    return Measurement(values=values, series=series, notes=[
        f"Full-batch training on {base.data.train_size} digits, eps = {o.lr} for all three, "
        f"{base.budget.max_steps} steps; rho = {o.rho}, beta1 = {o.beta1}, beta2 = {o.beta2}. "
        f"RMSProp's floor is taken from step {warm} = 1/(1 - rho), once its average has "
        "warmed up. Adam's uncorrected steps are computed from the gradients of the "
        "corrected run (the two rules see the same gradients)."])


def decide_adaptive(m: Measurement) -> Verdict:
    v = m.values
    stalls = greater(v["final_train_loss adagrad"], v["final_train_loss rmsprop"], paired=True)
    shrinks = max(v["adagrad_end_over_start"]) < SHRINK
    bounded = min(v["rmsprop_min_over_warm"]) >= FLOOR
    matches = max(v["adam_formula_error"]) < FORMULA_TOL
    first = mean(v["adam_first_ratio"])
    bias = matches and min(abs(math.log(x)) for x in v["adam_first_ratio"]) >= math.log(BIAS_EFFECT)
    detail = (f"AdaGrad's effective rate (median over parameters) ends at "
              f"{mean(v['adagrad_end_over_start']):.2f} of its first value (a parameter's rate "
              f"rose by over 1% in {mean(v['rise_share adagrad']):.1%} of steps, RMSProp's in "
              f"{mean(v['rise_share rmsprop']):.1%}), and its final training "
              f"loss is {mean(v['final_train_loss adagrad']):.4f} vs RMSProp's "
              f"{mean(v['final_train_loss rmsprop']):.4f} ({stalls.text()}); RMSProp's rate never "
              f"falls below {min(v['rmsprop_min_over_warm']):.2f} of its warmed-up value; Adam's "
              f"steps match the corrected rule to {max(v['adam_formula_error']):.1g} (relative), "
              f"and without the correction step 1 would be {first:.2f} times as long (peak "
              f"{mean(v['adam_peak_ratio']):.2f}, last step {mean(v['adam_last_ratio']):.2f})")
    return _parts_verdict(detail, {
        "AdaGrad's rate shrinks and it stalls behind RMSProp": shrinks and stalls.significant,
        "RMSProp's rate stays bounded away from zero": bounded,
        "Adam's bias correction changes its first steps": bias})


def figure_adaptive(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "effective rate |delta theta| / |g| (median over parameters)",
        "Adam: uncorrected / corrected step length"))
    for name, color in (("adagrad", "#cf222e"), ("rmsprop", "#0969da")):
        per_seed = m.series[name]
        _band(fig, list(range(1, len(per_seed[0]) + 1)), per_seed, name, color, 1, 1)
    ratios = m.series["adam_ratio"]
    steps = list(range(1, len(ratios[0]) + 1))
    _band(fig, steps, ratios, "Adam, measured gradients", "#8250df", 1, 2)
    fig.add_scatter(x=steps, y=m.series["adam_reference"], mode="lines", name="(1 - beta1^t) / "
                    "sqrt(1 - beta2^t)", line={"dash": "dot", "color": "gray"}, row=1, col=2)
    fig.update_xaxes(title="step", type="log")
    fig.update_yaxes(type="log", row=1, col=1, title="effective learning rate")
    fig.update_yaxes(row=1, col=2, title="ratio")
    fig.update_layout(title="Adaptive learning rates, full-batch MLP on digits (band: range "
                      "over seeds)")
    return fig


ADAPTIVE_RATES = Claim(
    27, "adaptive-rates", "AdaGrad's effective learning rate shrinks until it stalls; "
    "RMSProp's does not; Adam's bias correction matters in the first steps.",
    "note 003, AdaGrad, RMSProp and Adam",
    f"AdaGrad's median per-parameter rate ends below {SHRINK} of its first value, "
    "and its final training loss exceeds RMSProp's at the same eps (one-sided paired t-test, "
    f"p < 0.05); RMSProp's rate never falls below {FLOOR} of its value after 1/(1 - rho) "
    f"steps; Adam's measured steps match the corrected rule (relative error < {FORMULA_TOL:g}) "
    f"and the uncorrected first step differs by at least a factor {BIAS_EFFECT}",
    measure_adaptive, decide_adaptive, figure_adaptive)


# -- 28: batch norm: higher learning rates, less sensitive to init -------------------------

BN_LRS = (0.1, 0.3, 1.0, 3.0)
BN_INIT_STDS = (0.01, 0.1, 0.3, 1.0)
BN_INIT_LR = 0.1
BN_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 512}, "model": {"depth": 6, "width": 32},
    "optimizer": {"name": "sgd", "lr": BN_INIT_LR}, "budget": {"epochs": 10, "batch_size": 64}})


def capped_loss(run: Run) -> float:
    """Final training loss, at most log k (a constant prediction's); a diverged run counts
    as log k: it learned nothing a constant would not."""
    worst = math.log(max(run.model_spec["n_classes"], 2))
    return worst if run.status == "diverged" else min(run.metrics["train_loss"], worst)


def trains(run: Run) -> bool:
    """The run ended below half a constant prediction's loss (log k / 2)."""
    return capped_loss(run) < math.log(max(run.model_spec["n_classes"], 2)) / 2


def measure_batch_norm(ctx: Context) -> Measurement:
    base = BN_BASE.with_overrides({"budget.epochs": ctx.epochs(10)})
    settings = [(bn, "lr", lr) for bn in (False, True) for lr in BN_LRS] + [
        (bn, "std", std) for bn in (False, True) for std in BN_INIT_STDS]
    configs = [c for bn, kind, x in settings for c in ctx.seeded(base, **{
        "model.batch_norm": bn, **({"optimizer.lr": x} if kind == "lr" else
                                   {"init.scheme": "normal", "init.std": x})})]
    groups = dict(zip(settings, _chunks(ctx.train_many(configs), ctx.seeds)))
    values, series = {}, {}
    for bn in (False, True):
        tag = "bn" if bn else "plain"
        lr_runs = [groups[(bn, "lr", lr)] for lr in BN_LRS]
        # largest learning rate that trains, per seed (0 if none does)
        values[f"largest_lr {tag}"] = [max([lr for lr, rs in zip(BN_LRS, lr_runs) if trains(rs[i])],
                                           default=0.0) for i in range(ctx.seeds)]
        std_runs = [groups[(bn, "std", std)] for std in BN_INIT_STDS]
        values[f"init_scales_trained {tag}"] = [float(sum(trains(rs[i]) for rs in std_runs))
                                                for i in range(ctx.seeds)]
        std_losses = [[capped_loss(r) for r in rs] for rs in std_runs]
        values[f"init_range {tag}"] = [float(np.ptp([ls[i] for ls in std_losses]))
                                       for i in range(ctx.seeds)]
        series[f"lr {tag}"] = [[capped_loss(r) for r in rs] for rs in lr_runs]
        series[f"std {tag}"] = std_losses
    return Measurement(values=values, series=series, notes=[
        f"MLP with {base.model.depth} ReLU hidden layers of {base.model.width} on "
        f"{base.data.train_size} digits, SGD, batch {base.budget.batch_size}, "
        f"{base.budget.epochs} epochs; the init sweep draws weights from N(0, std^2) at "
        f"eps = {BN_INIT_LR}. A run trains when its final training loss is below log(10) / 2; "
        "a diverged run counts as loss log(10). init_range = highest minus lowest final "
        "loss over the init scales."])


def decide_batch_norm(m: Measurement) -> Verdict:
    v = m.values
    lr_test = greater(np.log10(np.add(v["largest_lr bn"], 1e-3)),
                      np.log10(np.add(v["largest_lr plain"], 1e-3)), paired=True)
    init_test = greater(v["init_scales_trained bn"], v["init_scales_trained plain"], paired=True)
    detail = (f"largest learning rate that trains: {mean(v['largest_lr bn']):.3g} with batch "
              f"norm vs {mean(v['largest_lr plain']):.3g} without (on log10: {lr_test.text()}); "
              f"init scales (of {len(BN_INIT_STDS)}) that train: "
              f"{mean(v['init_scales_trained bn']):.2g} with vs "
              f"{mean(v['init_scales_trained plain']):.2g} without ({init_test.text()}); range "
              f"of final losses over them {mean(v['init_range bn']):.3f} vs "
              f"{mean(v['init_range plain']):.3f}")
    return _parts_verdict(detail, {"higher learning rates train": lr_test.significant,
                                   "less sensitive to init": init_test.significant})


def figure_batch_norm(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=(
        "learning rate (kaiming init)", f"init std of N(0, std^2) (eps = {BN_INIT_LR})"))
    for tag, name, color in (("plain", "without batch norm", "#cf222e"),
                             ("bn", "with batch norm", "#0969da")):
        _errorbars(fig, BN_LRS, m.series[f"lr {tag}"], f"{name}, lr sweep", 1, 1, color)
        _errorbars(fig, BN_INIT_STDS, m.series[f"std {tag}"], f"{name}, init sweep", 1, 2, color)
    fig.update_xaxes(type="log", title="learning rate", row=1, col=1)
    fig.update_xaxes(type="log", title="init std", row=1, col=2)
    fig.update_yaxes(title="final training loss (diverged = log 10)", row=1, col=1)
    fig.update_layout(title="Batch norm in a deep ReLU MLP on digits (95% CI over seeds)")
    return fig


BATCH_NORM = Claim(
    28, "batch-norm-lr-init", "Batch normalization lets the same network train at learning "
    "rates where it diverges without it, and makes it less sensitive to initialization.",
    "note 003, Batch normalization (Ioffe and Szegedy 2015)",
    "largest learning rate of the grid that trains (final loss < log(k)/2) higher with batch "
    "norm (one-sided paired t-test on log10, over seeds), and more of the init scales "
    f"N(0, std^2), std in {BN_INIT_STDS}, train with batch norm (one-sided paired t-test); "
    "p < 0.05 each",
    measure_batch_norm, decide_batch_norm, figure_batch_norm)


CLAIMS = [GRADIENT_NOISE, BATCH_REGULARIZER, SADDLE, CLIFF, DECAY, MOMENTUM, ADAPTIVE_RATES,
          BATCH_NORM]
