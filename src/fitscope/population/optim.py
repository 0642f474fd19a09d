"""Deprecated names, kept for earlier callers: the batched update rules are the
transforms of :mod:`fitscope.core.transforms` (one per-member column per
hyperparameter), which both engines run through :class:`fitscope.core.loop.Updater`."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..config import OptimizerConfig
from ..core.transforms import clip_by_global_norm, clip_by_value, column
from ..core.transforms import learning_rates as _learning_rates

__all__ = ["clip_per_member_", "column", "schedule_lrs"]


def clip_per_member_(g: Tensor, clip_value: Tensor | None, clip_norm: Tensor | None) -> None:
    """Clip each member's row of (N, D) ``g`` in place by value, then by its norm
    (:func:`~fitscope.core.transforms.clip_by_value`,
    :func:`~fitscope.core.transforms.clip_by_global_norm`); columns hold inf for
    members that do not clip."""
    for c, transform in ((clip_value, clip_by_value), (clip_norm, clip_by_global_norm)):
        if c is not None:
            t = transform(c)
            t.update([g], t.init([g]), [g], None)


def schedule_lrs(cfgs: Sequence[OptimizerConfig], step: int, total_steps: float) -> list[float]:
    """Each member's learning rate at ``step``
    (:func:`~fitscope.core.transforms.learning_rates`)."""
    return _learning_rates(cfgs, step, total_steps)
