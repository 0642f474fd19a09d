"""How sharp a minimum is: two measures.

- Expected sharpness (Keskar et al. 2017 measure the worst case in a box of relative
  size; Jiang et al. 2019, "Fantastic generalization measures and where to find them",
  the expectation under magnitude-aware Gaussian noise): the mean loss increase
  E_delta[L(theta + delta)] - L(theta) with delta_j ~ N(0, (alpha theta_j)^2), each
  parameter perturbed in proportion to its own size (``alpha`` is the relative size),
  estimated from ``samples`` draws evaluated as one batch. For small alpha it is about
  alpha^2 / 2 sum_j H_jj theta_j^2.
- The top eigenvalue of the Hessian H = grad^2 L(theta), by power iteration on
  Hessian-vector products (Pearlmutter 1994; no Hessian is formed): v <- H v / ||H v||,
  lambda = v . H v, until lambda changes by less than ``tol`` relative. Power iteration
  finds the eigenvalue of largest magnitude; if that is negative (away from a minimum),
  it runs again on H - lambda_1 I, whose dominant eigenvalue is lambda_max - lambda_1.

Both are measured on the data loss of the problem (no penalties), in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .evaluate import Problem


def expected_sharpness(problem: Problem, theta: Tensor | None = None, *, alpha: float = 0.05,
                       samples: int = 32, seed: int = 0, chunk: int | None = None) -> dict:
    """Mean loss increase under relative Gaussian weight noise (see the module docstring).

    Returns ``increase`` (the mean over samples), ``std_error`` (of that mean),
    ``base_loss`` L(theta), ``alpha`` and ``samples``.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    theta = problem.as_point(problem.center() if theta is None else theta)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(samples, len(theta), generator=g, dtype=theta.dtype).to(theta.device)
    losses, _ = problem.evaluate(theta + noise * (alpha * theta.abs()), chunk=chunk)
    base = float(problem.evaluate(theta[None])[0][0])
    increase = losses - base
    return {"increase": float(increase.mean()),
            "std_error": float(increase.std() / math.sqrt(samples)),
            "base_loss": base, "alpha": alpha, "samples": samples}


def power_iteration(matvec: Callable[[Tensor], Tensor], v0: Tensor, iters: int,
                    tol: float) -> tuple[float, int, bool]:
    """(dominant eigenvalue, iterations used, converged) of a symmetric operator."""
    v, lam = v0 / v0.norm(), math.nan
    for i in range(1, iters + 1):
        w = matvec(v)
        new = float(v @ w)
        norm = w.norm()
        if norm == 0:
            return 0.0, i, True
        v = w / norm
        if abs(new - lam) <= tol * abs(new):
            return new, i, True
        lam = new
    return lam, iters, False


def top_hessian_eigenvalue(problem: Problem, theta: Tensor | None = None, *, iters: int = 200,
                           tol: float = 1e-5, seed: int = 0) -> dict:
    """The largest eigenvalue of the Hessian of the loss at ``theta`` (default: the model's
    parameters), by power iteration on Hessian-vector products (see the module docstring).

    Returns ``eigenvalue``, ``iterations`` (all passes) and ``converged``.
    """
    if iters < 1 or tol <= 0:
        raise ValueError(f"iters must be >= 1 and tol > 0, got iters={iters}, tol={tol}")
    theta = problem.as_point(problem.center() if theta is None else theta).detach()
    g = torch.Generator().manual_seed(seed)
    v0 = torch.randn(len(theta), generator=g, dtype=theta.dtype).to(theta.device)
    lam, used, converged = power_iteration(lambda v: problem.hvp(theta, v), v0, iters, tol)
    if lam < 0:
        shifted = lambda v: problem.hvp(theta, v) - lam * v  # noqa: E731
        mu, more, converged = power_iteration(shifted, v0, iters, tol)
        lam, used = mu + lam, used + more
    return {"eigenvalue": lam, "iterations": used, "converged": converged}
