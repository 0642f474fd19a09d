"""2-D slices of the loss: L(center + a d1 + b d2) on a grid of (a, b) (Li et al. 2018,
sec. 4), by default along two random filter-normalized directions
(:mod:`fitscope.landscape.directions`), so that a = 1 moves every weight filter by its
own norm."""

from __future__ import annotations

import torch
from torch import Tensor

from .directions import random_directions
from .evaluate import Problem
from .results import Surface


def grid_coords(xs: Tensor, ys: Tensor) -> Tensor:
    """All (a, b) pairs, ``(len(ys) * len(xs), 2)``, row-major over ``ys`` then ``xs``
    (so a flat result reshapes to ``(len(ys), len(xs))``)."""
    b, a = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


def axis(points: int, span: float | tuple[float, float]) -> Tensor:
    """``points`` values evenly spaced over ``(-span, span)`` or ``(low, high)``."""
    low, high = (-span, span) if isinstance(span, (int, float)) else span
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    if not low < high:
        raise ValueError(f"span must be positive or (low, high) with low < high, got {span}")
    return torch.linspace(low, high, points, dtype=torch.float64)


def slice_surface(problem: Problem, center: Tensor, directions: Tensor, xs: Tensor,
                  ys: Tensor, *, kind: str = "plane", progress: bool = False,
                  chunk: int | None = None) -> Surface:
    """Evaluate L(center + x d1 + y d2) on the grid ``xs`` x ``ys``."""
    if directions.shape[0] != 2:
        raise ValueError(f"directions must have shape (2, n_params), "
                         f"got {tuple(directions.shape)}")
    loss, metric = problem.evaluate_affine(center, directions, grid_coords(xs, ys),
                                           chunk=chunk, progress=progress, description=kind)
    shape = (len(ys), len(xs))
    center_loss, _ = problem.evaluate(problem.as_point(center)[None])
    return Surface(x=xs.numpy(), y=ys.numpy(), loss=loss.reshape(shape).numpy(),
                   accuracy=None if metric is None else metric.reshape(shape).numpy(),
                   kind=kind, center_loss=float(center_loss[0]))


def plane(problem: Problem, center: Tensor | None = None, directions: Tensor | None = None,
          *, points: int = 41, span: float | tuple[float, float] = 1.0, seed: int = 0,
          progress: bool = False, chunk: int | None = None) -> Surface:
    """The ``points`` x ``points`` slice around ``center`` (default: the model's current
    parameters) along ``directions`` ``(2, n_params)`` (default: two random
    filter-normalized directions drawn from ``seed``), both axes over ``span``."""
    center = problem.center() if center is None else center
    if directions is None:
        directions = random_directions(problem.model, 2, seed)
    ax = axis(points, span)
    surface = slice_surface(problem, center, directions, ax, ax, progress=progress, chunk=chunk)
    surface.meta.update({"seed": seed, "directions": "filter-normalized random"})
    return surface
