"""The notes' 2-D toy surfaces, and the engines' optimizers run on them.

Each :class:`ToySurface` has its formula, its gradient written out by hand, its minima,
a start and a view. :func:`optimize` runs one optimizer, by the same names and the same
code as the engines (:class:`fitscope.core.loop.Updater`, clipping included, over the
point as a population of one), and returns the path as an array,
so the same paths can be drawn next to a real network's landscape.

The surfaces (Goodfellow et al. 2016, ch. 8; the notes' optimization lecture):

- ``ravine``: f = (x^2 + 100 y^2) / 2, an ill-conditioned quadratic (condition number
  100). Plain SGD must keep its step below 2/100 for the steep axis and so crawls along
  the flat one, zig-zagging across the ravine; momentum accumulates the consistent
  gradient along the flat axis (fig. 8.5).
- ``saddle``: f = x^2 / 2 + y^4 / 4 - y^2 / 2, a saddle point at (0, 0) (curvatures
  1 and -1) between two minima at (0, +-1), f = -1/4. Started almost on the ridge,
  gradient descent slows down near the saddle before it escapes.
- ``rosenbrock``: f = (1 - x)^2 + 100 (y - x^2)^2 (Rosenbrock 1960), a curved valley with
  its minimum at (1, 1).
- ``cliff``: f = (x^2 + y^2) / 2 + h clip((x - c + w) / w, 0, 1) with h = 50, c = 1.5,
  w = 0.25: a bowl with a plateau of height h behind a wall, a ramp of slope h / w = 200
  from x = c - w to x = c. A gradient step that lands on the wall is catapulted far
  away, losing the work done; clipping the gradient norm bounds the step (Pascanu et
  al. 2013; fig. 8.3). Its minimum is (0, 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from fitscope.config import OptimizerConfig, RegularizationConfig
from fitscope.core.loop import Updater

Fn = Callable[[Tensor, Tensor], Tensor]
GradFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


@dataclass(frozen=True)
class ToySurface:
    """A 2-D loss surface ``f(x, y)`` (elementwise on tensors) with its gradient
    ``grad(x, y) -> (df/dx, df/dy)``, its minima, a ``start`` for the optimizers, a view
    ``bounds`` ((x_low, x_high), (y_low, y_high)) and a learning rate per optimizer under
    which the surface's lesson shows within a few hundred steps (on the cliff, SGD's is
    large enough to be catapulted)."""

    name: str
    formula: str
    f: Fn
    grad: GradFn
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    lr: dict[str, float] = field(default_factory=dict)

    @property
    def f_min(self) -> float:
        """The lowest value at the minima."""
        return min(float(self.f(torch.tensor(x), torch.tensor(y))) for x, y in self.minima)

    def grid(self, points: int = 101) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, z) over ``bounds``, ``z[i, j] = f(xs[j], ys[i])``."""
        (x0, x1), (y0, y1) = self.bounds
        xs = torch.linspace(x0, x1, points, dtype=torch.float64)
        ys = torch.linspace(y0, y1, points, dtype=torch.float64)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return xs.numpy(), ys.numpy(), self.f(xx, yy).numpy()


def _ravine(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + 100 * y**2) / 2


def _ravine_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return x, 100 * y


def _saddle(x: Tensor, y: Tensor) -> Tensor:
    return x**2 / 2 + y**4 / 4 - y**2 / 2


def _saddle_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return x, y**3 - y


def _rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


CLIFF_H, CLIFF_C, CLIFF_W = 50.0, 1.5, 0.25


def _cliff(x: Tensor, y: Tensor) -> Tensor:
    ramp = ((x - CLIFF_C + CLIFF_W) / CLIFF_W).clamp(0.0, 1.0)
    return (x**2 + y**2) / 2 + CLIFF_H * ramp


def _cliff_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    on_wall = (x > CLIFF_C - CLIFF_W) & (x < CLIFF_C)
    return x + on_wall * (CLIFF_H / CLIFF_W), y


SURFACES: dict[str, ToySurface] = {s.name: s for s in (
    ToySurface("ravine", "(x^2 + 100 y^2) / 2", _ravine, _ravine_grad, ((0.0, 0.0),),
               start=(-9.0, 1.0), bounds=((-10.0, 10.0), (-1.5, 1.5)),
               lr={"sgd": 0.012, "momentum": 0.012, "nesterov": 0.012, "adagrad": 1.0,
                   "rmsprop": 0.1, "adam": 0.3}),
    ToySurface("saddle", "x^2 / 2 + y^4 / 4 - y^2 / 2", _saddle, _saddle_grad,
               ((0.0, -1.0), (0.0, 1.0)), start=(-2.0, 0.001),
               bounds=((-2.5, 2.5), (-1.6, 1.6)),
               lr={"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5,
                   "rmsprop": 0.03, "adam": 0.1}),
    ToySurface("rosenbrock", "(1 - x)^2 + 100 (y - x^2)^2", _rosenbrock, _rosenbrock_grad,
               ((1.0, 1.0),), start=(-1.2, 1.0), bounds=((-2.0, 2.0), (-1.0, 3.0)),
               lr={"sgd": 0.002, "momentum": 0.001, "nesterov": 0.001, "adagrad": 1.0,
                   "rmsprop": 0.01, "adam": 0.3}),
    ToySurface("cliff", f"(x^2 + y^2) / 2 + {CLIFF_H:g} clip((x - {CLIFF_C - CLIFF_W:g}) / "
               f"{CLIFF_W:g}, 0, 1)", _cliff, _cliff_grad, ((0.0, 0.0),), start=(3.0, 1.0),
               bounds=((-20.0, 4.0), (-3.0, 3.0)),
               lr={"sgd": 0.1, "momentum": 0.005, "nesterov": 0.005, "adagrad": 1.0,
                   "rmsprop": 0.1, "adam": 0.3}),
)}


def surface(name: str) -> ToySurface:
    """The toy surface called ``name`` (one of :data:`SURFACES`)."""
    if name not in SURFACES:
        raise ValueError(f"surface must be one of {tuple(SURFACES)}, got {name!r}")
    return SURFACES[name]


def optimizer_config(surf: ToySurface, optimizer: str | OptimizerConfig,
                     **overrides) -> OptimizerConfig:
    """The :class:`OptimizerConfig` for a name (with the surface's learning rate) or a
    given config, with ``overrides`` (e.g. ``lr``, ``momentum``, ``clip_norm``) applied and
    validated; ``None`` overrides are ignored."""
    if isinstance(optimizer, OptimizerConfig):
        base = optimizer.model_dump()
    else:
        base = {"name": optimizer, "lr": surf.lr.get(optimizer, 0.01)}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return OptimizerConfig.model_validate(base)


def optimize(surf: ToySurface | str, optimizer: str | OptimizerConfig = "sgd", *,
             steps: int = 200, start: tuple[float, float] | None = None, **overrides) -> np.ndarray:
    """The path ``(steps + 1, 2)`` of ``optimizer`` from ``start`` (default the surface's),
    stepping on the surface's hand-written gradient. The learning rate is constant (no
    schedule); ``adamw`` has no weight decay to apply here, so it steps like ``adam``.
    The path stops early, at its last finite point, if the parameters blow up.
    """
    surf = surface(surf) if isinstance(surf, str) else surf
    cfg = optimizer_config(surf, optimizer, **overrides)
    theta = torch.tensor([start or surf.start], dtype=torch.float64)  # (1, 2): one member
    grad = torch.zeros_like(theta)
    updater = Updater([cfg], [RegularizationConfig()], [theta], None)
    path = [theta[0].clone()]
    for k in range(steps):
        grad[0] = torch.stack(surf.grad(*theta[0]))
        updater.step(k, steps, [theta], [grad])
        if not torch.isfinite(theta).all():
            break
        path.append(theta[0].clone())
    return torch.stack(path).numpy()


def race(surf: ToySurface | str, optimizers: tuple[str, ...] = OPTIMIZERS, *,
         steps: int = 200, **overrides) -> dict[str, np.ndarray]:
    """Several optimizers on one surface from its start: ``{name: path}``."""
    return {name: optimize(surf, name, steps=steps, **overrides) for name in optimizers}


def losses(surf: ToySurface | str, path: np.ndarray) -> np.ndarray:
    """f along a path ``(K, 2)``."""
    surf = surface(surf) if isinstance(surf, str) else surf
    p = torch.as_tensor(path, dtype=torch.float64)
    return surf.f(p[:, 0], p[:, 1]).numpy()


def steps_to_tolerance(surf: ToySurface | str, path: np.ndarray, tol: float) -> int | None:
    """The first step at which f - f_min <= ``tol`` (None if the path never gets there)."""
    surf = surface(surf) if isinstance(surf, str) else surf
    hits = np.flatnonzero(losses(surf, path) - surf.f_min <= tol)
    return int(hits[0]) if len(hits) else None
