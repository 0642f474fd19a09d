"""The training path on its own plane (Li et al. 2018, sec. 7).

With snapshots theta_0 (the init), ..., theta_n (the trained weights), the matrix M
with rows theta_i - theta_n (every snapshot, as in Li et al.'s code) is analysed by PCA
(centered, as sklearn's ``PCA`` does); its first two components d1, d2 (unit vectors)
span the plane through theta_n, oriented so that the init has coordinates <= 0. Each
snapshot's coordinates are ((theta_i - theta_n) . d1, (theta_i - theta_n) . d2), so the
path ends at the origin, and the explained variance ratio of component k is
s_k^2 / sum_j s_j^2 (s the singular values of the centered M): the share of the path
that the drawing shows. Random directions would show almost nothing of the path, since
in high dimension they are nearly orthogonal to it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .evaluate import Problem
from .plane import axis, slice_surface
from .results import Surface


def pca_directions(path: Tensor, final: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(directions ``(2, n)``, coordinates ``(K, 2)``, explained variance ratios ``(2,)``)
    of the snapshots ``path`` ``(K, n)`` relative to ``final`` (see the module docstring)."""
    if path.dim() != 2 or len(path) < 3:
        raise ValueError(f"path must hold at least 3 snapshots (K, n_params), "
                         f"got shape {tuple(path.shape)}")
    m = (path - final).double()
    centered = m - m.mean(dim=0)
    _, s, vh = torch.linalg.svd(centered, full_matrices=False)
    # signs are arbitrary in an SVD: orient both axes so the init has coordinates <= 0
    directions = vh[:2] * torch.where(vh[:2] @ m[0] > 0, -1.0, 1.0).to(vh)[:, None]
    ratio = s[:2] ** 2 / (s ** 2).sum()
    return directions.to(path.dtype), (m @ directions.T).to(path.dtype), ratio


def trajectory(problem: Problem, path: Tensor, steps: list[int] | None = None, *,
               final: Tensor | None = None, points: int = 41, margin: float = 0.25,
               progress: bool = False, chunk: int | None = None) -> Surface:
    """The loss on the PCA plane of the training ``path`` ``(K, n_params)`` (first row the
    init), around ``final`` (default: the last row), with the path drawn in it.

    The grid covers the path's coordinates plus ``margin`` of their range on each side;
    ``steps`` labels the snapshots (default 0, 1, ...).
    """
    if margin < 0:
        raise ValueError(f"margin must be at least 0, got {margin}")
    path = problem.as_point(path, "path")
    final = path[-1] if final is None else problem.as_point(final, "final")
    steps = list(range(len(path))) if steps is None else list(steps)
    if len(steps) != len(path):
        raise ValueError(f"steps must label every snapshot: {len(path)} snapshots, "
                         f"got {len(steps)} steps")
    directions, coords, ratio = pca_directions(path, final)
    axes = [axis(points, _padded(coords[:, k], margin)) for k in (0, 1)]
    surface = slice_surface(problem, final, directions, *axes, kind="trajectory",
                            progress=progress, chunk=chunk)
    path_loss, _ = problem.evaluate_affine(final, directions, coords, chunk=chunk)
    surface.path = coords.double().cpu().numpy()
    surface.path_steps = steps
    surface.path_loss = path_loss.numpy()
    surface.explained_variance = [float(r) for r in ratio]
    return surface


def _padded(values: Tensor, margin: float) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    pad = margin * max(high - low, 1e-3 * max(abs(low), abs(high), 1.0))
    return low - pad, high + pad

