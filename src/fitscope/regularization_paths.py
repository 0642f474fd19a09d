"""Why L1 gives zeros and L2 does not: penalized optima in two dimensions, and the
regularization path of a real logistic regression (what the lab's landscape page and
:class:`fitscope.widgets` draw; formerly ``fitscope.lab.penalty``).

Penalties use fitscope's convention (:class:`~fitscope.config.RegularizationConfig`):
L1 adds ``lam * ||w||_1``, L2 adds ``lam / 2 * ||w||_2^2``.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Penalty = Literal["l1", "l2"]
PATH_POINTS = 101
GRID = 81


class Quadratic(BaseModel):
    """A two-parameter quadratic loss ``L(w) = 1/2 (w - c)^T H (w - c)`` with
    ``H = scale * R(angle) diag(1, 1/cond) R(angle)^T``: minimum at the centre
    ``c = (cx, cy)``, curvatures ``scale`` and ``scale / cond`` along axes turned by
    ``angle`` degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cx: float = Field(2.0, ge=-3.0, le=3.0)
    cy: float = Field(1.0, ge=-3.0, le=3.0)
    scale: float = Field(1.0, ge=0.1, le=5.0)
    cond: float = Field(4.0, ge=1.0, le=50.0)
    angle: float = Field(30.0, ge=-90.0, le=90.0)
    penalty: Penalty = "l1"
    lam: float = Field(0.5, ge=0.0, le=1000.0)

    @property
    def center(self) -> np.ndarray:
        return np.array([self.cx, self.cy])

    @property
    def hessian(self) -> np.ndarray:
        t = math.radians(self.angle)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return self.scale * rot @ np.diag([1.0, 1.0 / self.cond]) @ rot.T

    def loss(self, w: np.ndarray) -> np.ndarray:
        """``L`` at points ``w`` of shape (..., 2)."""
        d = w - self.center
        return 0.5 * np.einsum("...i,ij,...j->...", d, self.hessian, d)


def soft_threshold(v: np.ndarray, tau: np.ndarray | float) -> np.ndarray:
    """``S_tau(v) = sign(v) max(|v| - tau, 0)``, the proximal map of ``tau ||.||_1``."""
    return np.sign(v) * np.maximum(np.abs(v) - tau, 0.0)


def penalized_optima(h: np.ndarray, c: np.ndarray, lams: np.ndarray, penalty: Penalty,
                     iterations: int = 2000) -> np.ndarray:
    """``argmin_w 1/2 (w - c)^T H (w - c) + Omega_lam(w)`` for each ``lam``; shape (n, d).

    L2 (``Omega = lam/2 ||w||^2``): setting the gradient to zero gives
    ``w = (H + lam I)^-1 H c``: every weight shrinks, none reaches zero (Goodfellow et
    al. 2016, eq. 7.13). L1 (``Omega = lam ||w||_1``): proximal gradient descent (ISTA,
    Beck and Teboulle 2009), ``w <- S_{eta lam}(w - eta H (w - c))`` with
    ``eta = 1 / largest eigenvalue of H``, which converges for any symmetric positive
    definite ``H``; for a diagonal ``H`` its fixed point is the closed form
    ``w_i = sign(c_i) max(|c_i| - lam / H_ii, 0)`` (Goodfellow et al. 2016, eq. 7.22):
    exact zeros once ``lam >= |H_ii c_i|``.
    """
    lams = np.asarray(lams, dtype=float)[:, None]
    if penalty == "l2":
        eye = np.eye(len(c))
        return np.stack([np.linalg.solve(h + lam * eye, h @ c) for lam in lams[:, 0]])
    eta = 1.0 / np.linalg.eigvalsh(h).max()
    w = np.zeros((len(lams), len(c)))
    for _ in range(iterations):
        w = soft_threshold(w - eta * (w - c) @ h, eta * lams)
    return w


def norm(w: np.ndarray, penalty: Penalty) -> np.ndarray:
    """``||w||_1`` or ``||w||_2`` along the last axis: the size of the constraint region
    (diamond or disc) whose constrained optimum is the penalized one."""
    return np.abs(w).sum(-1) if penalty == "l1" else np.sqrt((w ** 2).sum(-1))


def quadratic_view(q: Quadratic) -> dict:
    """Everything the landscape page draws for ``q``: contours, both optima, the
    constraint region's size and the path of the optimum as lambda grows.

    ``lam_zero = max_i |(H c)_i|`` is where the L1 optimum reaches the origin (there
    the subgradient condition ``|grad L(0)|_i <= lam`` holds for every i); the slider
    and the path run to ``1.25 lam_zero``. Not cached (the lab caches it in its
    byte-bounded LRU).
    """
    h, c = q.hessian, q.center
    lam_zero = float(np.abs(h @ c).max())
    lam_max = 1.25 * lam_zero if lam_zero > 0 else 1.0
    lams = np.linspace(0.0, lam_max, PATH_POINTS)
    path = penalized_optima(h, c, lams, q.penalty)
    w = penalized_optima(h, c, np.array([q.lam]), q.penalty)[0]
    half = 1.3 * max(1.0, abs(q.cx), abs(q.cy))
    axis = np.linspace(-half, half, GRID)
    gx, gy = np.meshgrid(axis, axis)
    return {
        "center": c.tolist(), "hessian": h.tolist(), "penalty": q.penalty, "lam": q.lam,
        "lam_zero": lam_zero, "lam_max": lam_max,
        "optimum": w.tolist(), "zeros": int((w == 0).sum()),
        "radius": float(norm(w, q.penalty)), "loss_at_optimum": float(q.loss(w)),
        "path": {"lam": lams.tolist(), "w1": path[:, 0].tolist(), "w2": path[:, 1].tolist()},
        "grid": {"x": axis.tolist(), "y": axis.tolist(),
                 "z": q.loss(np.stack([gx, gy], -1)).tolist()},
    }


@functools.lru_cache(maxsize=1)
def logistic_path(n_lams: int = 30) -> dict:
    """Regularization paths of logistic regression on the breast cancer data (fitscope's
    split, standardized): each coefficient, the number of zero weights and the
    validation accuracy for L1 and for L2 over ``n_lams`` values of lambda, log-spaced
    up to ``lam_zero = ||X^T (y - mean y)||_inf / n``, beyond which L1 keeps no weight.

    Solved by scikit-learn's liblinear (exact zeros for L1), with ``C = 1 / (n lam)``:
    liblinear minimizes ``C * sum(log loss) + Omega(w)``, which is ``n C`` times
    fitscope's ``mean(log loss) + lam Omega(w)``. A large ``intercept_scaling`` keeps
    liblinear's penalty on the intercept negligible.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from fitscope.config import DataConfig
    from fitscope.data import load_data

    s = load_data(DataConfig(name="breast_cancer"))
    x, y = s.x_train.double().numpy(), s.y_train.numpy()
    xv, yv = s.x_val.double().numpy(), s.y_val.numpy()
    n = len(x)
    lam_zero = float(np.abs(x.T @ (y - y.mean())).max() / n)
    lams = np.geomspace(lam_zero * 1e-3, lam_zero, n_lams)
    body = {"lam": lams.tolist(), "lam_zero": lam_zero,
            "features": [str(f) for f in load_breast_cancer().feature_names]}
    for penalty, ratio in (("l1", 1.0), ("l2", 0.0)):
        coefs, accs = [], []
        for lam in lams:
            m = LogisticRegression(C=1.0 / (n * lam), l1_ratio=ratio, solver="liblinear",
                                   intercept_scaling=100.0, tol=1e-6, max_iter=10_000)
            m.fit(x, y)
            coefs.append(m.coef_[0])
            accs.append(float(m.score(xv, yv)))
        coef = np.array(coefs)
        body[penalty] = {"coef": coef.T.tolist(), "zeros": (coef == 0).sum(1).tolist(),
                         "val_acc": accs}
    return body
