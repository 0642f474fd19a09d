"""Optimization claims 26 and 38: momentum beats plain SGD on an ill-conditioned ravine, and
it averages out noisy minibatch gradients."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...config import RunConfig
from ...landscape import toy
from ...run import Run
from ..base import Context, Measurement, Verdict, declared, metric, setting, verdict_from
from ..plots import finish
from ..tests import versus
from .common import _band, _errorbars, _jitter, best_lr

# -- 26: momentum beats SGD on an ill-conditioned ravine -----------------------------------

RAVINE_TOL = 1e-3
RAVINE_STEPS = 1000
MOMENTUM_BASE = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 2, "width": 32},
    "optimizer": {"name": "sgd", "lr": 0.01}, "budget": {"epochs": 5, "batch_size": 64}})


RAVINE_GRID = (0.002, 0.005, 0.01, 0.015, 0.019)  # SGD diverges above 2/100 on the steep axis
DIGITS_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
NAMES = ("sgd", "momentum")


def ravine_steps(start: tuple[float, float], name: str, lr: float) -> int:
    """Steps until f - f_min <= :data:`RAVINE_TOL` on the toy ravine at learning rate
    ``lr``; :data:`RAVINE_STEPS` + 1 if never within budget."""
    surf = toy.surface("ravine")
    path = toy.optimize(surf, name, steps=RAVINE_STEPS, start=start, lr=lr)
    hit = toy.steps_to_tolerance(surf, path, RAVINE_TOL)
    return RAVINE_STEPS + 1 if hit is None else hit


def ravine_best_lr(name: str) -> float:
    """The rate of :data:`RAVINE_GRID` with the fewest mean steps from 3 selection starts
    (seeds 10,000 to 10,002, not the compared ones)."""
    surf = toy.surface("ravine")
    starts = [_jitter(surf.start, 10_000 + s, (1.0, 0.3)) for s in range(3)]
    return min(RAVINE_GRID, key=lambda lr: sum(ravine_steps(s, name, lr) for s in starts))


def measure_momentum(ctx: Context) -> Measurement:
    """SGD against momentum, each at its own best learning rate from a small grid, chosen
    on seeds apart from the compared ones (the same rate for both would compare effective
    rates, not the mechanism: momentum's effective step is eps / (1 - alpha))."""
    surf = toy.surface("ravine")
    toy_lr = {n: ravine_best_lr(n) for n in NAMES}
    starts = [_jitter(surf.start, seed, (1.0, 0.3)) for seed in range(ctx.seeds)]
    values = {"ravine_steps": {n: [float(ravine_steps(s, n, toy_lr[n])) for s in starts]
                               for n in NAMES}}
    base = MOMENTUM_BASE.with_overrides({"budget.epochs": ctx.epochs(5)})
    lr, table = best_lr(ctx, base, NAMES, dict.fromkeys(NAMES, DIGITS_GRID))
    groups = ctx.train_variants(base, {n: {"optimizer.name": n, "optimizer.lr": lr[n]}
                                       for n in NAMES})
    values["digits_train_loss"] = {n: metric(rs, "train_loss") for n, rs in groups.items()}
    return Measurement(
        values=values, series={n: [[row["train_loss"] for row in r.history] for r in rs]
                               for n, rs in groups.items()} | {"starts": starts,
                                                               "toy_lr": toy_lr},
        notes=[f"Ravine {surf.formula}, alpha = 0.9, from starts jittered around "
               f"{surf.start}; each optimizer at its best rate of {RAVINE_GRID}: SGD "
               f"{toy_lr['sgd']}, momentum {toy_lr['momentum']}. Digits: MLP, batch "
               f"{base.budget.batch_size}, {base.budget.epochs} epochs, each at its best rate "
               f"of {DIGITS_GRID} by mean final training loss on 3 selection seeds: SGD "
               f"{lr['sgd']}, momentum {lr['momentum']} (selection means: "
               + "; ".join(f"{n}: " + ", ".join(f"{k:g} -> {v:.3g}" for k, v in t.items())
                           for n, t in table.items()) + ")."])


def decide_momentum(m: Measurement) -> Verdict:
    steps, loss = m.values["ravine_steps"], m.values["digits_train_loss"]
    said = ("with momentum", "with SGD")
    toy_c, toy_text = versus(steps, "momentum", "sgd", f"steps to f - f_min <= {RAVINE_TOL:g} "
                             "on the ravine:", said, ".0f", lower=True)
    real, real_text = versus(loss, "momentum", "sgd", "final training loss on digits at equal "
                             "steps:", said, lower=True)
    return verdict_from(f"{toy_text}; {real_text}", toy_c.significant, real.significant,
                        "the problem is the ill-conditioned toy ravine (not significant on "
                        "the digits network)")


def figure_momentum(m: Measurement) -> go.Figure:
    surf = toy.surface("ravine")
    xs, ys, z = surf.grid(101)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "ravine, first 150 steps (seed 0)", "MLP on digits (band: range over seeds)"))
    fig.add_contour(x=xs, y=ys, z=np.log10(z + 1e-3), showscale=False, ncontours=20,
                    colorscale=[[0, "#999"], [1, "#999"]], contours_coloring="lines", row=1,
                    col=1)
    for name, color in (("sgd", "#cf222e"), ("momentum", "#0969da")):
        p = toy.optimize(surf, name, steps=150, start=m.series["starts"][0],
                         lr=m.series["toy_lr"][name])
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", marker={"size": 3},
                        name=f"{name} on the ravine", line={"color": color}, row=1, col=1)
        per_seed = m.series[name]
        _band(fig, list(range(1, len(per_seed[0]) + 1)), per_seed, f"{name} on digits",
              color, 1, 2)
    return finish(fig, "SGD against momentum, each at its own best learning rate",
                  x=["x", "epoch"], y=["y", ("training loss", "log")])


MOMENTUM = declared(26, measure_momentum, decide_momentum, figure_momentum, RAVINE_TOL=RAVINE_TOL)


# -- 38: momentum averages out noisy gradients ---------------------------------------------

NOISE_BASE = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 2, "width": 32},
    "optimizer": {"name": "momentum", "lr": 0.005, "momentum": 0.9},
    "budget": {"epochs": 1000, "max_steps": 200, "batch_size": 8},
    "observe": {"snapshot_every": 1}})
NOISE_BATCHES = (8, 64)  # the gradient noise falls with the batch
NOISE_WINDOW = 100       # the last steps whose updates are compared


def update_noise_share(run: Run, window: int = NOISE_WINDOW) -> float:
    """How much of a run's last ``window`` updates is noise around their mean direction:
    with d_t = theta_{t+1} - theta_t and m their mean over the window,
    sum_t ||d_t - m||^2 / sum_t ||d_t||^2 (0: every step moves the same way; 1: the steps
    average out to nothing)."""
    points = torch.stack([s["params"] for s in run.snapshots[-window - 1:]]).double()
    steps = points[1:] - points[:-1]
    return float((steps - steps.mean(0)).square().sum() / steps.square().sum())


# Claim 38's setting: the batch size and the optimizer ("sgd" or "momentum").
Noisy = setting("Noisy", "batch optimizer", lambda batch, optimizer: f"batch {batch} {optimizer}")

def measure_momentum_noise(ctx: Context) -> Measurement:
    """Momentum (eps, alpha = 0.9) against SGD at the matched effective rate eps / (1 -
    alpha), at batch 8 and 64, same seeds: the noise share of the last updates, and the
    final training loss."""
    base = NOISE_BASE.with_overrides({"budget.max_steps": round(200 * ctx.scale)})
    eps, alpha = base.optimizer.lr, base.optimizer.momentum
    rates = {"momentum": eps, "sgd": eps / (1 - alpha)}
    groups = ctx.train_variants(base, {
        Noisy(b, n): {"budget.batch_size": b, "optimizer.name": n, "optimizer.lr": rates[n]}
        for b in NOISE_BATCHES for n in NAMES})
    return Measurement(
        values={"noise_share": {s: [update_noise_share(r) if r.status != "diverged"
                                    else float("nan") for r in rs]
                                for s, rs in groups.items()},
                "train_loss": {s: metric(rs, "train_loss") for s, rs in groups.items()}},
        series={"batches": list(NOISE_BATCHES)},
        notes=[(f"MLP 2x32 on digits, {base.budget.max_steps} steps; momentum eps = {eps}, "
               f"alpha = {alpha}, against SGD at eps / (1 - alpha) = {rates['sgd']:g} (the "
               f"same mean step on a constant gradient); noise share over the last "
               f"{NOISE_WINDOW} updates.")])


def decide_momentum_noise(m: Measurement) -> Verdict:
    """Per batch size: the noise share of SGD's updates above momentum's (paired by
    seed); the final training loss is compared beside it (reported, not a criterion)."""
    noise, final = m.values["noise_share"], m.values["train_loss"]
    averaged, parts = [], []
    for b in m.series["batches"]:
        sgd, heavy = Noisy(b, "sgd"), Noisy(b, "momentum")
        said = ("with SGD", "with momentum")
        c, shares = versus(noise, sgd, heavy, f"batch {b}: noise share of the last "
                           f"{NOISE_WINDOW} updates", said,
                           label=f"batch {b}: SGD's update noise share > momentum's")
        _, losses = versus(final, sgd, heavy, "final training loss", said, reported=True,
                           label=f"batch {b}: SGD's final training loss > momentum's")
        if c.significant:
            averaged.append(b)
        parts.append(f"{shares}; {losses}")
    detail = "; ".join(parts)
    if len(averaged) == len(m.series["batches"]):
        return Verdict("holds", detail + ".")
    if averaged:
        return Verdict("holds only when", detail + ".",
                       f"the batch is {', '.join(map(str, averaged))} (not significant at the "
                       "others)")
    return Verdict("does not hold", detail + ".")


def figure_momentum_noise(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        f"noise share of the last {NOISE_WINDOW} updates", "final training loss"))
    batches = m.series["batches"]
    for name, color in (("sgd", "#cf222e"), ("momentum", "#0969da")):
        for col, key in ((1, "noise_share"), (2, "train_loss")):
            _errorbars(fig, [str(b) for b in batches],
                       [m.values[key][Noisy(b, name)] for b in batches],
                       name if col == 1 else f"{name} (loss)", 1, col, color)
    return finish(fig, "Momentum against SGD at the matched effective rate eps / (1 - alpha), "
                  "MLP on digits (mean, 95% CI over seeds)", x=["batch size"] * 2,
                  y=["sum ||d_t - mean d||^2 / sum ||d_t||^2", "training loss"])


MOMENTUM_NOISE = declared(
    38, measure_momentum_noise, decide_momentum_noise, figure_momentum_noise,
    NOISE_BATCHES=NOISE_BATCHES, NOISE_WINDOW=NOISE_WINDOW)
