"""1-D linear interpolation between two parameter vectors (Goodfellow, Vinyals and Saxe
2015, "Qualitatively characterizing neural network optimization problems"; Li et al.
2018, sec. 3): theta(t) = (1 - t) theta_a + t theta_b, e.g. from the init (t = 0) to the
trained weights (t = 1), or between two solutions (different seeds or regularizers).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .evaluate import Problem
from .results import Line


def interpolate(problem: Problem, theta_a: Tensor, theta_b: Tensor, *, points: int = 41,
                span: tuple[float, float] = (-0.5, 1.5), progress: bool = False,
                chunk: int | None = None) -> Line:
    """Loss (and the problem's metric) at ``points`` values of t evenly spaced over
    ``span``, along theta(t) = theta_a + t (theta_b - theta_a)."""
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    if not span[0] < span[1]:
        raise ValueError(f"span must be (low, high) with low < high, got {span}")
    theta_a = problem.as_point(theta_a, "theta_a")
    theta_b = problem.as_point(theta_b, "theta_b")
    t = torch.linspace(span[0], span[1], points, dtype=torch.float64)
    loss, metric = problem.evaluate_affine(theta_a, (theta_b - theta_a)[None], t[:, None],
                                           chunk=chunk, progress=progress,
                                           description="line")
    return Line(t=t.numpy(), loss=loss.numpy(),
                accuracy=None if metric is None else metric.numpy(),
                meta={"distance": float((theta_b - theta_a).norm())})

