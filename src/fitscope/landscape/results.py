"""The numbers of a landscape: a line (1-D) or a surface (2-D slice, with an optional path).

Both are plain data with NumPy arrays; ``to_dict`` gives JSON-ready data (non-finite
values become ``None``) and ``from_dict`` reads it back (``None`` becomes NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _encode(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decode_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.array(value, dtype=float)  # None entries become NaN


ARRAYS = {"t", "loss", "accuracy", "x", "y", "path", "path_loss"}
FLOATS = {"center_loss"}


class _Result:
    kind: str

    def __repr__(self) -> str:
        from ..display import landscape_repr

        return landscape_repr(cast("Line | Surface", self))

    def _repr_html_(self) -> str:
        """Kind, size, loss range (:mod:`fitscope.display`)."""
        from ..display import landscape_html

        return landscape_html(cast("Line | Surface", self))

    def plot(self, fig=None, title: str = "", name: str = ""):
        """The plotly figure of this line or surface
        (:func:`fitscope.landscape.figures.figure_for`); a line is added to ``fig``
        when one is given (its traces named ``name``), to overlay two lines."""
        from .figures import figure_for

        return figure_for(cast("Line | Surface", self), title, fig=fig, name=name)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name))
                for f in fields(cast("Line | Surface", self))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        body = {k: (_decode_array(v) if k in ARRAYS else v) for k, v in data.items()}
        body.update({k: math.nan for k in FLOATS if k in body and body[k] is None})
        return cls(**body)


@dataclass(repr=False)
class Line(_Result):
    """Loss (and accuracy) along theta(t) = (1 - t) theta_a + t theta_b at the values ``t``;
    t = 0 is ``theta_a``, t = 1 is ``theta_b``. ``meta`` says what the ends are."""

    t: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None = None
    kind: str = "line"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(repr=False)
class Surface(_Result):
    """Loss on a grid of a 2-D slice: ``loss[i, j]`` = L(center + x[j] d1 + y[i] d2), rows
    along ``y`` (the layout plotly's contour and surface expect).

    ``kind`` is ``"plane"`` (random filter-normalized directions) or ``"trajectory"``
    (the first two principal components of the training path). For a trajectory,
    ``path`` ``(K, 2)`` holds the snapshots' coordinates (the first is the init),
    ``path_steps`` their training steps, ``path_loss`` the loss at their projections on
    the plane, and ``explained_variance`` the share of the path's variance each of the
    two components explains.
    """

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None = None
    kind: str = "plane"
    center_loss: float = math.nan
    path: np.ndarray | None = None
    path_steps: list[int] | None = None
    path_loss: np.ndarray | None = None
    explained_variance: list[float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def from_dict(data: dict[str, Any]) -> Line | Surface:
    """A :class:`Line` or :class:`Surface` from its ``to_dict`` form."""
    return (Line if data.get("kind") == "line" else Surface).from_dict(data)
