"""Optimization claims 23 and 24, on :mod:`fitscope.landscape.toy`'s surfaces: gradient
descent near a saddle point, and gradient clipping on a cliff."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...landscape import toy
from ..base import Context, Measurement, Verdict, declared
from ..plots import finish
from ..tests import versus
from .common import _band, _jitter, _parts_verdict

Walk = Callable[[str, np.ndarray, np.ndarray], dict[str, float]]


def walk_surface(surf: toy.ToySurface, starts: Iterable[tuple[str, tuple[float, float], dict]],
                 steps: int, walk: Walk) -> Measurement:
    """Gradient descent on ``surf`` from each (label, start, options of
    :func:`~fitscope.landscape.toy.optimize`) of ``starts``, seed 0's first: ``walk(label,
    path, f - f_min)``'s numbers as values by quantity, then label (one per start); the
    series ``losses`` (f - f_min along each path, by label) and ``paths`` (the first path
    of each label, to draw)."""
    values: dict[str, dict[str, list[float]]] = {}
    losses: dict[str, list[list[float]]] = {}
    paths: dict[str, list] = {}
    for label, start, options in starts:
        path = toy.optimize(surf, "sgd", steps=steps, start=start, **options)
        f = toy.losses(surf, path) - surf.f_min
        for key, x in walk(label, path, f).items():
            values.setdefault(key, {}).setdefault(label, []).append(x)
        losses.setdefault(label, []).append(f.tolist())
        paths.setdefault(label, path.tolist())
    return Measurement(values=values, series={"losses": losses, "paths": paths})


def surface_figure(surf: toy.ToySurface, m: Measurement, colors: dict[str, str],
                   name: Callable[[str], str], grid: int, contours: int,
                   titles: tuple[str, str], loss_title: str, title: str) -> go.Figure:
    """Seed 0's path of each label on the contours of ``surf`` (left), and f - f_min per
    step with its range over seeds (right, log scale); ``name(label)`` names a path."""
    xs, ys, z = surf.grid(grid)
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    fig.add_contour(x=xs, y=ys, z=z, showscale=False, colorscale="Greys", ncontours=contours,
                    row=1, col=1)
    for label, path in m.series["paths"].items():
        p = np.asarray(path)
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", marker={"size": 3},
                        name=name(label), line={"color": colors[label]}, row=1, col=1)
    for label, per_seed in m.series["losses"].items():
        _band(fig, list(range(len(per_seed[0]))), per_seed, f"loss, {name(label)}",
              colors[label], 1, 2)
    return finish(fig, title, x=["x", "step"], y=["y", (loss_title, "log")])


# -- 23: gradient descent slows near a saddle point ----------------------------------------

SADDLE_RADIUS = 0.25   # "near the saddle": within this distance of (0, 0)
SADDLE_STEPS = 150
ON_RIDGE, OFF_RIDGE = "on the ridge", "off the ridge"


def _saddle_starts(seed: int) -> dict[str, tuple[float, float]]:
    """Two starts at x = -2: one almost on the ridge y = 0 (|y| = 10^U(-3.5, -2.5)), one
    off it (y = 0.5 + U(-0.1, 0.1)); the sign of y is drawn too."""
    rng = np.random.default_rng(seed)
    sign = float(rng.choice([-1.0, 1.0]))
    return {ON_RIDGE: (-2.0, sign * 10 ** rng.uniform(-3.5, -2.5)),
            OFF_RIDGE: (-2.0, sign * (0.5 + rng.uniform(-0.1, 0.1)))}


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
    """The walk of :func:`saddle_walk` from each seed's two starts: all three numbers on
    the ridge, the dwell off it."""
    surf = toy.surface("saddle")

    def walk(label: str, path: np.ndarray, _f: np.ndarray) -> dict[str, float]:
        numbers = saddle_walk(path)
        return numbers if label == ON_RIDGE else {"dwell": numbers["dwell"]}

    m = walk_surface(surf, ((label, start, {}) for seed in range(ctx.seeds)
                            for label, start in _saddle_starts(seed).items()),
                     SADDLE_STEPS, walk)
    m.notes.append(f"Gradient descent with learning rate {surf.lr['sgd']} on {surf.formula}; "
                   f"near = within {SADDLE_RADIUS} of (0, 0).")
    return m


def decide_saddle(m: Measurement) -> Verdict:
    dwell, approach, near = (m.values[k] for k in ("dwell", "approach_step", "near_step"))
    dwells, dwell_text = versus(dwell, ON_RIDGE, OFF_RIDGE, f"steps within {SADDLE_RADIUS} of "
                                "the saddle:", ("from a start on the ridge", "off it"), ".1f")
    lengths = {"approach": approach[ON_RIDGE], "near": near[ON_RIDGE]}
    slows, slow_text = versus(lengths, "approach", "near", "median step length",
                              ("on the approach", "near the saddle"), ".3g")
    detail = f"{dwell_text}; {slow_text}"
    return _parts_verdict(detail, {"it lingers near the saddle": dwells.significant,
                                   "its steps shrink there": slows.significant})


def figure_saddle(m: Measurement) -> go.Figure:
    surf = toy.surface("saddle")
    titles = ("paths (seed 0)", "f - f_min, the saddle at 0.25 (band: range over seeds)")
    return surface_figure(surf, m, {ON_RIDGE: "#cf222e", OFF_RIDGE: "#0969da"},
                          lambda label: f"start {label}", 81, 25, titles, "f - f_min",
                          f"Gradient descent on the saddle {surf.formula}")


SADDLE = declared(23, measure_saddle, decide_saddle, figure_saddle, SADDLE_RADIUS=SADDLE_RADIUS)


# -- 24: clipping prevents the catapult on a cliff -----------------------------------------

CLIP_NORM = 1.0
CLIFF_STEPS = 100
CLIPPED = f"clip_norm={CLIP_NORM:g}"


def cliff_walk(path: np.ndarray, f: np.ndarray) -> dict[str, float]:
    """The largest step ||theta_{k+1} - theta_k||, the largest rise f_{k+1} - f_k (0 if f
    never rises) and the final f of a path."""
    return {"largest_step": float(np.linalg.norm(np.diff(path, axis=0), axis=1).max()),
            "largest_rise": float(max(np.diff(f).max(), 0.0)), "final_loss": float(f[-1])}


def measure_cliff(ctx: Context) -> Measurement:
    """The walk of :func:`cliff_walk` from each seed's jittered start, without and with
    clipping."""
    surf = toy.surface("cliff")
    starts = ((label, _jitter(surf.start, seed, (0.3, 0.3)), {"clip_norm": clip})
              for seed in range(ctx.seeds)
              for label, clip in (("plain", None), (CLIPPED, CLIP_NORM)))
    m = walk_surface(surf, starts, CLIFF_STEPS, lambda _label, path, f: cliff_walk(path, f))
    m.notes.append(f"Gradient descent, learning rate {surf.lr['sgd']}, from starts on the "
                   f"plateau jittered by up to 0.3 around {surf.start}.")
    return m


def decide_cliff(m: Measurement) -> Verdict:
    step, rise = m.values["largest_step"], m.values["largest_rise"]
    said = ("without clipping", "with")
    jump, jump_text = versus(step, "plain", CLIPPED, "largest step", said, ".3g")
    rises, rise_text = versus(rise, "plain", CLIPPED, "largest loss rise in one step", said,
                              ".3g")
    detail = f"{jump_text}; {rise_text}"
    return _parts_verdict(detail, {"clipping bounds the jump": jump.significant,
                                   "clipping prevents the loss from jumping up":
                                       rises.significant})


def figure_cliff(m: Measurement) -> go.Figure:
    return surface_figure(toy.surface("cliff"), m, {"plain": "#cf222e", CLIPPED: "#0969da"},
                          str, 121, 30, ("paths (seed 0)", "loss (band: range over seeds)"),
                          "f", "Gradient descent off a cliff, with and without gradient "
                          "clipping")


CLIFF = declared(24, measure_cliff, decide_cliff, figure_cliff, CLIP_NORM=CLIP_NORM)
