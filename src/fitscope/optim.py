"""Deprecated names of the optimizers, schedules and clipping, kept for earlier callers:
the update rules now live in :mod:`fitscope.core.transforms`, where both engines run
them (formulas and sources in its docstrings).

:func:`make_optimizer` still builds the ``torch.optim`` optimizer for a config (the toy
landscape's paths and outside code use it; the engines no longer do).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .config import OptimizerConfig
from .core.transforms import clip_by_global_norm, clip_by_value, global_norm, lr_at

__all__ = ["clip_gradients_", "grad_norm", "lr_at", "make_optimizer", "set_lr"]


def make_optimizer(params: list[torch.Tensor], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer for ``cfg.name`` over one parameter group (``adamw``
    is Adam: its decoupled decay is ``regularization.weight_decay``'s, applied by the
    caller)."""
    lr, name = cfg.lr, cfg.name
    if name in ("sgd", "momentum", "nesterov"):
        momentum = 0.0 if name == "sgd" else cfg.momentum
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov")
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=cfg.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.rho, eps=cfg.eps)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _grads(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The gradients of ``params`` as one member's (1, D_i) rows (views)."""
    return [p.grad.view(1, -1) for p in params if p.grad is not None]


def clip_gradients_(params: Iterable[torch.Tensor], clip_norm: float | None,
                    clip_value: float | None) -> None:
    """Clip the gradients of ``params`` in place, by value then by their global norm
    (:func:`~fitscope.core.transforms.clip_by_value`,
    :func:`~fitscope.core.transforms.clip_by_global_norm`)."""
    grads = _grads(params)
    for c, transform in ((clip_value, clip_by_value), (clip_norm, clip_by_global_norm)):
        if grads and c is not None:
            t = transform(c)
            t.update(grads, t.init(grads), grads, None)


def grad_norm(params: Iterable[torch.Tensor]) -> float:
    """Euclidean norm of all gradients joined into one vector."""
    grads = _grads(params)
    return float(global_norm(grads)) if grads else 0.0
