"""Batched optimizers, clipping and learning rates: all members in one update.

Parameters and gradients are (N, D) tensors (one row per member, see
:mod:`fitscope.population.stacked`); every hyperparameter is an (N, 1) column, so member
i's row is updated with its own learning rate, momentum, betas, rho and eps, with a
handful of whole-population tensor operations and no loop over members.

The update rules are those of :mod:`fitscope.optim` (formulas in its docstring) in the
conventions of the ``torch.optim`` implementations the sequential engine runs:
``SGD`` keeps v <- alpha v + g and steps eps * v (Nesterov steps eps * (g + alpha v));
``Adagrad`` and ``RMSprop`` put delta outside the square root; ``Adam`` divides by the
bias corrections 1 - rho_1^t and sqrt(1 - rho_2^t). AdamW is Adam: its decoupled decay
on the weights is applied by the engine just before every optimizer's update, as the
sequential engine does (:func:`fitscope.regularize.decoupled_weight_decay_`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..config import OptimizerConfig
from ..optim import lr_at


def column(values: Sequence[float], like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """An (N, 1) column of per-member values on ``like``'s device (``like``'s dtype by
    default; float64 columns keep Python's precision until the final cast)."""
    return torch.tensor(list(values), dtype=dtype or like.dtype, device=like.device).view(-1, 1)


class BatchedOptimizer:
    """State as (N, D) tensors, hyperparameters as (N, 1) columns (``hyper``: float64,
    ``h``: float32); :meth:`keep` drops members. Subclasses define :meth:`update`, with
    in-place operations and one scratch tensor ``tmp``, so a step allocates nothing of
    the population's size."""

    state_names: tuple[str, ...] = ()
    hyper_names: tuple[str, ...] = ()

    def __init__(self, cfgs: Sequence[OptimizerConfig], flat: Tensor):
        self.t = 0  # steps taken (all members step together)
        for name in (*self.state_names, "tmp"):
            setattr(self, name, torch.zeros_like(flat, memory_format=torch.contiguous_format))
        self._set_hyper({name: column([getattr(c, name) for c in cfgs], flat, torch.float64)
                         for name in self.hyper_names})

    def _set_hyper(self, hyper: dict[str, Tensor]) -> None:
        self.hyper = hyper
        self.h = {name: col.float() for name, col in hyper.items()}

    def keep(self, index: Tensor) -> None:
        """Keep the members at ``index``, in that order."""
        for name in (*self.state_names, "tmp"):
            setattr(self, name, getattr(self, name)[index])
        self._set_hyper({k: v[index] for k, v in self.hyper.items()})

    @torch.no_grad()
    def step(self, p: Tensor, g: Tensor, lr: Tensor, lrs: Sequence[float] | None = None
             ) -> None:
        """Update ``p`` in place from gradients ``g``; ``lr`` is an (N, 1) float64 column
        (``lrs``, the same learning rates as Python floats, is a hint some optimizers
        use)."""
        self.t += 1
        self.update(p, g, lr)

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        raise NotImplementedError


class SGD(BatchedOptimizer):
    """theta <- theta - eps g."""

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        p.addcmul_(g, (-lr).float())


class Momentum(BatchedOptimizer):
    """v <- alpha v + g; theta <- theta - eps v (torch's convention; v starts at 0, so the
    first v is g, as torch's clone of the first gradient)."""

    state_names, hyper_names = ("v",), ("momentum",)

    def direction(self, g: Tensor) -> Tensor:
        return torch.addcmul(g, self.v, self.h["momentum"], out=self.v)

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        p.addcmul_(self.direction(g), (-lr).float())


class Nesterov(Momentum):
    """v <- alpha v + g; theta <- theta - eps (g + alpha v) (torch's Nesterov form)."""

    def direction(self, g: Tensor) -> Tensor:
        v = super().direction(g)
        return torch.addcmul(g, v, self.h["momentum"], out=self.tmp)


class AdaGrad(BatchedOptimizer):
    """r <- r + g*g; theta <- theta - eps g / (sqrt(r) + delta)."""

    state_names, hyper_names = ("r",), ("eps",)

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        self.r.addcmul_(g, g)
        _step_(p, g, torch.sqrt(self.r, out=self.tmp), 1.0, self.hyper["eps"], lr)


class RMSProp(BatchedOptimizer):
    """r <- rho r + (1 - rho) g*g; theta <- theta - eps g / (sqrt(r) + delta)."""

    state_names, hyper_names = ("r",), ("rho", "eps")

    def _set_hyper(self, hyper: dict[str, Tensor]) -> None:
        super()._set_hyper(hyper)
        self.w = (1.0 - hyper["rho"]).float()

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        self.r.mul_(self.h["rho"]).addcmul_(torch.mul(g, self.w, out=self.tmp), g)
        _step_(p, g, torch.sqrt(self.r, out=self.tmp), 1.0, self.hyper["eps"], lr)


class Adam(BatchedOptimizer):
    """s <- rho_1 s + (1 - rho_1) g (as ``lerp``); r <- rho_2 r + (1 - rho_2) g*g;
    theta <- theta - (eps / (1 - rho_1^t)) s / (sqrt(r) / sqrt(1 - rho_2^t) + delta).
    rho^t is kept as a running product (float64).

    When every member has the same rho_1, rho_2 and delta (the usual case: studies vary
    the learning rate, the seed, the penalties), the update is torch's fused Adam kernel
    (``torch._fused_adam_``, the kernel the sequential engine's ``Adam(fused=True)``
    runs), one pass over the (N, D) state. Given the learning rates as Python floats
    (``lrs``), the kernel runs on the parameters themselves: in one call when the members
    share one rate, else in one call per distinct rate over the rows of the members that
    have it, when rows have at least ``ROW_FLOATS`` values (the kernel's cost per tensor
    is then small). Otherwise it runs on a zeroed update u with learning rate 1, then
    theta <- theta + eps_i u per member: two more passes over (N, D), cheaper than many
    short rows."""

    state_names, hyper_names = ("s", "r"), ("beta1", "beta2", "eps")

    def _set_hyper(self, hyper: dict[str, Tensor]) -> None:
        super()._set_hyper(hyper)
        self.w1, self.w2 = (1.0 - hyper["beta1"]).float(), (1.0 - hyper["beta2"]).float()
        if not hasattr(self, "powers"):  # rho_1^t, rho_2^t at t = 0
            self.powers = torch.ones_like(hyper["beta1"]), torch.ones_like(hyper["beta2"])
        self.shared = _shared(hyper["beta1"], hyper["beta2"], hyper["eps"])
        self.fusable = self.shared is not None and self.s.dtype in FUSED_DTYPES

    def keep(self, index: Tensor) -> None:
        self.powers = self.powers[0][index], self.powers[1][index]
        super().keep(index)

    def step(self, p: Tensor, g: Tensor, lr: Tensor, lrs: Sequence[float] | None = None
             ) -> None:
        if not self.fusable:
            super().step(p, g, lr)
            return
        self.t += 1
        self.powers[0].mul_(self.hyper["beta1"])  # kept in step for the unfused update
        self.powers[1].mul_(self.hyper["beta2"])
        step = torch.tensor(float(self.t), device=p.device)  # read on the kernel's device
        groups = self._lr_groups(lrs, p.shape[1])
        with torch.no_grad():
            if groups is None:
                self._fused([self.tmp.zero_()], [g], [self.s], [self.r], [step], 1.0)
                p.addcmul_(self.tmp, lr.float())
            elif len(groups) == 1:
                self._fused([p], [g], [self.s], [self.r], [step], lrs[0])
            else:
                rows = self._rows(p, g)
                for rate, members in groups.items():
                    self._fused(*([t[i] for i in members] for t in rows),
                                [step] * len(members), rate)

    def _fused(self, params: list[Tensor], grads: list[Tensor], s: list[Tensor],
               r: list[Tensor], steps: list[Tensor], lr: float) -> None:
        beta1, beta2, eps = self.shared
        torch._fused_adam_(params, grads, s, r, [], steps, lr=lr, beta1=beta1, beta2=beta2,
                           weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)

    def _lr_groups(self, lrs: Sequence[float] | None, row: int) -> dict[float, list[int]] | None:
        """Member indices by learning rate, or None for the zeroed-update path (no
        ``lrs``, or several rates over rows shorter than ``ROW_FLOATS``)."""
        if lrs is None:
            return None
        key = (tuple(lrs), row)
        if getattr(self, "_groups_key", None) != key:
            groups: dict[float, list[int]] = {}
            for i, rate in enumerate(lrs):
                groups.setdefault(rate, []).append(i)
            self._groups_key = key
            self._groups = groups if len(groups) == 1 or row >= ROW_FLOATS else None
        return self._groups

    def _rows(self, p: Tensor, g: Tensor) -> tuple[list[Tensor], ...]:
        """Each member's row of the parameters, gradients and state (views, made again
        when the tensors change)."""
        key = tuple(t.data_ptr() for t in (p, g, self.s, self.r)) + (p.shape[0],)
        if getattr(self, "_rows_key", None) != key:
            self._rows_key = key
            self._row_views = tuple(list(t.unbind(0)) for t in (p, g, self.s, self.r))
        return self._row_views

    def update(self, p: Tensor, g: Tensor, lr: Tensor) -> None:
        b1t = self.powers[0].mul_(self.hyper["beta1"])
        b2t = self.powers[1].mul_(self.hyper["beta2"])
        self.s.lerp_(g, self.w1)
        self.r.mul_(self.h["beta2"]).addcmul_(torch.mul(g, self.w2, out=self.tmp), g)
        root = torch.sqrt(self.r, out=self.tmp)
        _step_(p, self.s, root, (1.0 - b2t).sqrt(), self.hyper["eps"], lr / (1.0 - b1t))


FUSED_DTYPES = (torch.float32, torch.float64)
# Rows at least this long take fused Adam once per learning rate on the members' rows (a
# few microseconds a row) rather than an update tensor and a per-member scale (two more
# passes over (N, D)). Measured, 2 threads: N = 32 rows of 141,706 values 3.1 ms against
# 4.2 ms a step; N = 128 rows of 2,258 values 0.38 ms against 0.09 ms.
ROW_FLOATS = 16384


def _shared(*columns: Tensor) -> tuple[float, ...] | None:
    """The values of (N, 1) columns as Python floats when each column holds one value."""
    values = [col.unique() for col in columns]
    return tuple(float(v) for v in values) if all(len(v) == 1 for v in values) else None


def _step_(p: Tensor, u: Tensor, root: Tensor, scale: Tensor | float, eps: Tensor,
           lr: Tensor) -> None:
    """theta <- theta - lr u / (root / scale + eps), in three in-place passes: ``root``
    (a scratch tensor) becomes the denominator divided by -lr (lr, scale, eps: float64
    columns, combined before the cast to float32)."""
    root.mul_((-1.0 / (scale * lr)).float()).add_((-eps / lr).float())
    p.addcdiv_(u, root)


OPTIMIZERS: dict[str, type[BatchedOptimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
    "rmsprop": RMSProp, "adam": Adam, "adamw": Adam,
}


def make_batched_optimizer(cfgs: Sequence[OptimizerConfig], flat: Tensor) -> BatchedOptimizer:
    """The batched optimizer for ``cfgs`` (which share ``name``) over ``flat`` (N, D)."""
    names = {c.name for c in cfgs}
    if len(names) != 1:
        raise ValueError(f"optimizer.name must be the same for every member, got {sorted(names)}")
    return OPTIMIZERS[names.pop()](cfgs, flat)


def clip_per_member_(g: Tensor, clip_value: Tensor | None, clip_norm: Tensor | None) -> None:
    """:func:`fitscope.optim.clip_gradients_` for each member on its own row of ``g``:
    by value, then by norm, with ``torch.nn.utils.clip_grad_norm_``'s coefficient
    min(1, c / (||g_i|| + 1e-6)). Columns hold inf for members that do not clip."""
    if clip_value is not None:
        torch.clamp(g, -clip_value, clip_value, out=g)
    if clip_norm is not None:
        norm = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        g.mul_((clip_norm / (norm + 1e-6)).clamp_(max=1.0))


def schedule_lrs(cfgs: Sequence[OptimizerConfig], step: int, total_steps: int) -> list[float]:
    """Each member's learning rate at ``step`` (:func:`fitscope.optim.lr_at`)."""
    return [lr_at(step, c.lr, c.schedule, total_steps) for c in cfgs]
