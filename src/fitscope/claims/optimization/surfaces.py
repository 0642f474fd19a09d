"""Optimization claims 23 and 24, on :mod:`fitscope.landscape.toy`'s surfaces: gradient
descent near a saddle point, and gradient clipping on a cliff."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...landscape import toy
from ..base import Claim, Context, Measurement, Verdict, mean
from ..tests import greater
from .common import _band, _jitter, _parts_verdict

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
                       notes=[(f"Gradient descent with learning rate {surf.lr['sgd']} on "
                               f"{surf.formula}; near = within {SADDLE_RADIUS} of (0, 0).")])


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
    "the approach, each by a one-sided sign-flip permutation test over jittered starts "
    "(Holm-adjusted p < 0.05)",
    measure_saddle, decide_saddle, figure_saddle,
    smallest_effect=0.5,
    protocol=('gradient descent on the toy saddle from starts on and off the ridge; each seed '
              'jitters the start'))


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
    paths: dict[str, list] = {}
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
                       notes=[(f"Gradient descent, learning rate {surf.lr['sgd']}, from starts "
                               f"on the plateau jittered by up to 0.3 around {surf.start}.")])


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
    "and a smaller largest one-step loss rise, each by a one-sided sign-flip permutation test over "
    "jittered starts (Holm-adjusted p < 0.05)", measure_cliff, decide_cliff, figure_cliff,
    smallest_effect=0.5,
    protocol=('gradient descent on the toy cliff with and without clipping at norm 1: clipping '
              'bounds the step by construction, shown'), kind="demonstration")
