"""Optimization claim 26: momentum beats plain SGD on an ill-conditioned ravine."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...config import RunConfig
from ...landscape import toy
from ..base import Claim, Context, Measurement, Verdict, mean, metric
from ..tests import greater
from .common import _band, _chunks, _jitter

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
    "(same eps) by a one-sided sign-flip permutation test over jittered starts; on an MLP on digits, a "
    "lower final training loss at equal steps by a one-sided sign-flip permutation test over seeds "
    "(p < 0.05 each)", measure_momentum, decide_momentum, figure_momentum,
    smallest_effect=0.5,
    protocol=('SGD against momentum on the toy ravine (jittered starts) and on an MLP on '
              'digits; each seed varies init and data order'))
