"""The update rules as small composable transforms over stacked parameters.

Modelled on optax: a :class:`Transform` is a pair ``(init, update)``;
``init(params) -> state`` and ``update(grads, state, params, lr) -> (updates, state)``,
each state a ``NamedTuple``; :func:`chain` runs transforms one after another and
:func:`apply_updates` adds the final updates to the parameters (theta <- theta + u).

Every tensor has a leading member axis: parameters and gradients are lists of (N, D_i)
tensors (the population engine's one (N, D) ``flat``; the sequential engine's (1, D)
buffer, N = 1), and each hyperparameter is an (N, 1) column held in the state, so
member i's row is updated with its own learning rate, momentum, betas, penalties.
:func:`keep_members` drops members from a state. ``lr`` is an (N, 1) float64 column of
this step's learning rates (:func:`lr_at`). ``masks`` (one (1, D_i) bool tensor per
parameter tensor, or None for "all weights") mark the weights: penalties and decay act
on weights only (Goodfellow et al. 2016, 7.1), L2 on the rest only when asked for.

Transforms write in place for speed: penalties and clipping change ``grads``; each
optimizer keeps its own update tensor ``u`` in its state and returns it (so ``grads``
keep the gradient the optimizer saw, for the history's ``grad_norm``). Parameters are
plain tensors outside autograd (the engines' buffers, or ``p.detach()``): no transform
opens a ``torch.no_grad()`` block of its own.

Sources. The notes (the course's optimization slides, after Goodfellow et al. 2016,
ch. 7 and 8; their symbols: eps for ``lr``, alpha ``momentum``, rho ``rho``,
rho_1 / rho_2 ``beta1`` / ``beta2``, delta ``eps``) and the papers named per transform;
the conventions are those of the ``torch.optim`` classes (their documentation's
algorithm boxes), which tests/test_transforms.py checks the transforms against over
many steps, each member against its own ``torch.optim`` optimizer. Two conventions
differ from the notes: momentum keeps v <- alpha v + g and steps eps v (equal to the
notes' v <- alpha v - eps g; theta <- theta + v while eps is constant), and RMSProp's
delta sits outside the square root (the notes put it inside, Goodfellow et al. alg. 8.5).

``torch._foreach_*`` would be allowed here; the engines pass one flat tensor per
population (a list of one), so plain tensor operations serve and none is used. (On the
CPU a ``_foreach`` function loops over its tensors, one kernel each: it saves Python
calls, not passes over memory; over the 32 member rows of a (32, 42634) tensor
``_foreach_sqrt`` took 0.61 ms against 0.58 for one ``sqrt``, one thread. Adam's time
there is its passes, ``sqrt`` the slowest at 0.57 ms, compute-bound. For the same
reason running the update block by block so that a block's tensors stay in cache, by
groups of members or by slices of D, was slower than whole tensors at every block size
tried: docs/population.md, 2026-12-08.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..config import OptimizerConfig, RegularizationConfig, ScheduleConfig

Params = Sequence[Tensor]  # (N, D_i) each
Masks = Sequence[Tensor] | None  # (1, D_i) bool each: True on weights; None: all weights
Values = float | Sequence[float] | Tensor  # one value for all members, or one per member


class Transform(NamedTuple):
    """``init(params) -> state``; ``update(grads, state, params, lr) -> (updates, state)``."""

    init: Callable[[Params], Any]
    update: Callable[[list[Tensor], Any, Params, Tensor | None], tuple[list[Tensor], Any]]


def column(values: Values, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """An (N, 1) column of per-member ``values`` on ``like``'s device, ``like``'s dtype by
    default (float64 columns keep Python's precision until the final cast). One float
    gives N = ``like.shape[0]`` equal rows."""
    dtype = dtype or like.dtype
    if isinstance(values, Tensor):
        return values.to(device=like.device, dtype=dtype).reshape(-1, 1)
    if isinstance(values, (int, float)):
        return torch.full((like.shape[0], 1), float(values), dtype=dtype, device=like.device)
    return torch.tensor(list(values), dtype=dtype, device=like.device).view(-1, 1)


def _any(values: Values) -> bool:
    """Whether some member has a nonzero, finite value."""
    t = torch.as_tensor(values if not isinstance(values, (int, float)) else [values],
                        dtype=torch.float64)
    return bool(((t != 0) & torch.isfinite(t)).any())


def _on_weights(mask: Tensor | None, on: Tensor, off: Tensor | float) -> Tensor:
    """``on`` (an (N, 1) column) where ``mask`` marks weights, ``off`` elsewhere: (N, D_i),
    or ``on`` itself without a mask."""
    return on if mask is None else torch.where(mask, on, off)


def _masks(masks: Masks, params: Params) -> list[Tensor | None]:
    return [None] * len(params) if masks is None else list(masks)


def chain(*transforms: Transform) -> Transform:
    """The transforms one after another: each one's updates are the next one's grads."""

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params, lr):
        new_state = []
        for t, s in zip(transforms, state):
            grads, updated = t.update(grads, s, params, lr)
            new_state.append(updated)
        return grads, tuple(new_state)

    return Transform(init, update)


def apply_updates(params: Params, updates: Sequence[Tensor]) -> None:
    """theta <- theta + u, in place."""
    for p, u in zip(params, updates):
        p.add_(u)


def keep_members(state: Any, index: Tensor) -> Any:
    """``state`` with only the members at ``index`` (a 1-D long tensor), in that order:
    every tensor in it (columns, moments) has the member axis first."""
    if isinstance(state, Tensor):
        return state[index.to(state.device)]
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(keep_members(v, index) for v in state))
    if isinstance(state, (tuple, list)):
        return type(state)(keep_members(v, index) for v in state)
    return state


def global_norm(grads: Sequence[Tensor]) -> Tensor:
    """Each member's ||g||: the Euclidean norm of all its gradients joined into one
    vector, an (N, 1) column."""
    if len(grads) == 1:
        return torch.linalg.vector_norm(grads[0], dim=1, keepdim=True)
    norms = torch.stack([torch.linalg.vector_norm(g, dim=1) for g in grads], dim=1)
    return torch.linalg.vector_norm(norms, dim=1, keepdim=True)


# -- gradient transforms: penalties and clipping ---------------------------------------
class PenaltyState(NamedTuple):
    l2: Tensor  # (N, 1) lambda_2 on weights
    l2_other: Tensor  # (N, 1) lambda_2 on the other parameters (``l2_on_bias``), or 0
    l1: Tensor  # (N, 1) lambda_1 on weights


def penalty_gradients(l2: Values = 0.0, l1: Values = 0.0, l2_other: Values = 0.0,
                      masks: Masks = None) -> Transform:
    """Add the gradients of the norm penalties (Goodfellow et al. 2016, 7.1.1 and 7.1.2):
    g <- g + lambda_2 w + lambda_1 sign(w) on weights, g <- g + lambda_2b b on the other
    parameters (``l2_other``; the engines' ``l2_on_bias`` gives it lambda_2).

    L2: Omega(w) = 1/2 ||w||^2, so grad [J + lambda Omega] = grad J + lambda w, and one
    gradient step is w <- (1 - eps lambda) w - eps grad J: a weight decay by the factor
    (1 - eps lambda) every step. L1: Omega(w) = ||w||_1, whose (sub)gradient is
    lambda sign(w). Both together are the elastic net (Zou and Hastie 2005)."""
    use_l2, use_l1 = _any(l2) or _any(l2_other), _any(l1)

    def init(params: Params) -> PenaltyState:
        like = params[0]
        return PenaltyState(column(l2, like), column(l2_other, like), column(l1, like))

    def update(grads, state, params, lr):
        for g, p, m in zip(grads, params, _masks(masks, params)):
            if use_l2:
                g.addcmul_(p, _on_weights(m, state.l2, state.l2_other))
            if use_l1:
                g.addcmul_(p.sign(), _on_weights(m, state.l1, 0.0))
        return grads, state

    return Transform(init, update)


class ClipState(NamedTuple):
    c: Tensor  # (N, 1) threshold; inf for a member that does not clip


def clip_by_value(c: Values) -> Transform:
    """Each component g_i <- max(-c, min(c, g_i)) (Pascanu et al. 2013; the notes' cliff
    remedy; ``torch.nn.utils.clip_grad_value_``)."""

    def init(params: Params) -> ClipState:
        return ClipState(column(c, params[0]))

    def update(grads, state, params, lr):
        for g in grads:
            torch.clamp(g, -state.c, state.c, out=g)
        return grads, state

    return Transform(init, update)


def clip_by_global_norm(c: Values) -> Transform:
    """Per member, g <- g min(1, c / (||g|| + 1e-6)), with ||g|| the norm of all the
    member's gradients joined into one vector (:func:`global_norm`; Pascanu et al. 2013;
    the coefficient of ``torch.nn.utils.clip_grad_norm_``)."""

    def init(params: Params) -> ClipState:
        return ClipState(column(c, params[0]))

    def update(grads, state, params, lr):
        coef = (state.c / (global_norm(grads) + 1e-6)).clamp_(max=1.0)
        for g in grads:
            g.mul_(coef)
        return grads, state

    return Transform(init, update)


# -- optimizers: gradients in, the step's updates out -------------------------------------
def _zeros(params: Params) -> list[Tensor]:
    return [torch.zeros_like(p, memory_format=torch.contiguous_format) for p in params]


def _neg(lr: Tensor, like: Tensor) -> Tensor:
    return (-lr).to(like.dtype)


class SGDState(NamedTuple):
    u: list[Tensor]


def sgd() -> Transform:
    """theta <- theta - eps g (the notes; ``torch.optim.SGD``)."""

    def init(params: Params) -> SGDState:
        return SGDState(_zeros(params))

    def update(grads, state, params, lr):
        for g, u in zip(grads, state.u):
            torch.mul(g, _neg(lr, g), out=u)
        return state.u, state

    return Transform(init, update)


class MomentumState(NamedTuple):
    momentum: Tensor  # (N, 1) alpha
    v: list[Tensor]
    u: list[Tensor]


def momentum(alpha: Values, nesterov: bool = False) -> Transform:
    """Momentum (Polyak 1964) in ``torch.optim.SGD``'s form: v <- alpha v + g (v starts
    at 0, so the first v is g, as torch's copy of the first gradient);
    theta <- theta - eps v. With ``nesterov`` (Sutskever et al. 2013, torch's form):
    theta <- theta - eps (g + alpha v)."""

    def init(params: Params) -> MomentumState:
        return MomentumState(column(alpha, params[0]), _zeros(params), _zeros(params))

    def update(grads, state, params, lr):
        mu = state.momentum
        for g, v, u in zip(grads, state.v, state.u):
            torch.addcmul(g, v, mu, out=v)
            if nesterov:
                torch.addcmul(g, v, mu, out=u).mul_(_neg(lr, g))
            else:
                torch.mul(v, _neg(lr, g), out=u)
        return state.u, state

    return Transform(init, update)


def nesterov(alpha: Values) -> Transform:
    """:func:`momentum` with Nesterov's look-ahead."""
    return momentum(alpha, nesterov=True)


class AdaGradState(NamedTuple):
    eps: Tensor  # (N, 1) delta
    r: list[Tensor]
    u: list[Tensor]


class RMSPropState(NamedTuple):
    w: Tensor  # (N, 1) 1 - rho
    eps: Tensor  # (N, 1) delta
    r: list[Tensor]
    u: list[Tensor]


def _scaled_step_(u: Tensor, num: Tensor, r: Tensor, inv_scale: Tensor | None, eps: Tensor,
                  factor: Tensor) -> Tensor:
    """u <- factor num / (sqrt(r) inv_scale + delta), with ``u`` as the scratch.
    (sqrt(r) inv_scale + delta as a multiply and an add: ``addcmul`` of the (N, 1)
    columns took 4x as long as both, 0.75 ms against 0.18 for (32, 42634), one
    thread.)"""
    torch.sqrt(r, out=u)
    if inv_scale is not None:
        u.mul_(inv_scale)
    return torch.div(num, u.add_(eps), out=u).mul_(factor)


def adagrad(eps: Values) -> Transform:
    """AdaGrad (Duchi et al. 2011; ``torch.optim.Adagrad``): r <- r + g*g;
    theta <- theta - eps g / (sqrt(r) + delta)."""

    def init(params: Params) -> AdaGradState:
        return AdaGradState(column(eps, params[0]), _zeros(params), _zeros(params))

    def update(grads, state, params, lr):
        for g, r, u in zip(grads, state.r, state.u):
            r.addcmul_(g, g)
            _scaled_step_(u, g, r, None, state.eps, _neg(lr, g))
        return state.u, state

    return Transform(init, update)


def rmsprop(rho: Values, eps: Values) -> Transform:
    """RMSProp (Hinton, lecture 6e, 2012; ``torch.optim.RMSprop``):
    r <- rho r + (1 - rho) g*g; theta <- theta - eps g / (sqrt(r) + delta)."""

    def init(params: Params) -> RMSPropState:
        like = params[0]
        w = (1.0 - column(rho, like, torch.float64)).to(like.dtype)
        return RMSPropState(w, column(eps, like), _zeros(params), _zeros(params))

    def update(grads, state, params, lr):
        for g, r, u in zip(grads, state.r, state.u):
            r.lerp_(torch.mul(g, g, out=u), state.w)
            _scaled_step_(u, g, r, None, state.eps, _neg(lr, g))
        return state.u, state

    return Transform(init, update)


class AdamState(NamedTuple):
    beta1: Tensor  # (N, 1) float64 rho_1
    beta2: Tensor  # (N, 1) float64 rho_2
    w1: Tensor  # (N, 1) 1 - rho_1
    w2: Tensor  # (N, 1) 1 - rho_2
    eps: Tensor  # (N, 1) delta
    powers1: Tensor  # (N, 1) float64 rho_1^t
    powers2: Tensor  # (N, 1) float64 rho_2^t
    s: list[Tensor]
    r: list[Tensor]
    u: list[Tensor]


def adam(beta1: Values, beta2: Values, eps: Values) -> Transform:
    """Adam (Kingma and Ba 2015; ``torch.optim.Adam``): at step t,
    s <- rho_1 s + (1 - rho_1) g;  r <- rho_2 r + (1 - rho_2) g*g;
    theta <- theta - (eps / (1 - rho_1^t)) s / (sqrt(r) / sqrt(1 - rho_2^t) + delta),
    i.e. the notes' s_hat = s / (1 - rho_1^t), r_hat = r / (1 - rho_2^t),
    theta <- theta - eps s_hat / (sqrt(r_hat) + delta) with delta outside the bias
    correction, as torch has it. rho^t is a running product in float64."""

    def init(params: Params) -> AdamState:
        like = params[0]
        b1, b2 = column(beta1, like, torch.float64), column(beta2, like, torch.float64)
        return AdamState(b1, b2, (1.0 - b1).to(like.dtype), (1.0 - b2).to(like.dtype),
                         column(eps, like), torch.ones_like(b1), torch.ones_like(b2),
                         _zeros(params), _zeros(params), _zeros(params))

    def update(grads, state, params, lr):
        state.powers1.mul_(state.beta1)
        state.powers2.mul_(state.beta2)
        like = grads[0]
        inv_scale = (1.0 - state.powers2).rsqrt_().to(like.dtype)
        factor = (lr / (state.powers1 - 1.0)).to(like.dtype)  # -eps / (1 - rho_1^t)
        for g, s, r, u in zip(grads, state.s, state.r, state.u):
            s.lerp_(g, state.w1)
            r.lerp_(torch.mul(g, g, out=u), state.w2)
            _scaled_step_(u, s, r, inv_scale, state.eps, factor)
        return state.u, state

    return Transform(init, update)


class DecayState(NamedTuple):
    decay: Tensor  # (N, 1) float64 lambda


def decoupled_weight_decay(decay: Values, masks: Masks = None) -> Transform:
    """Decoupled weight decay (Loshchilov and Hutter 2019): w <- w (1 - eps lambda),
    outside the gradient, on weights. Placed after the optimizer in a chain it adds
    -eps lambda w to the optimizer's update u, so theta + u' = theta (1 - eps lambda) + u:
    the decay first, then the optimizer's step, as ``torch.optim.AdamW`` does it (u does
    not depend on theta, so the order is immaterial)."""

    def init(params: Params) -> DecayState:
        return DecayState(column(decay, params[0], torch.float64))

    def update(updates, state, params, lr):
        rate = (-lr * state.decay).to(params[0].dtype)
        for u, p, m in zip(updates, params, _masks(masks, params)):
            u.addcmul_(p, _on_weights(m, rate, 0.0))
        return updates, state

    return Transform(init, update)


def adamw(beta1: Values, beta2: Values, eps: Values, decay: Values,
          masks: Masks = None) -> Transform:
    """AdamW (Loshchilov and Hutter 2019; ``torch.optim.AdamW``): :func:`adam` plus
    :func:`decoupled_weight_decay`."""
    return chain(adam(beta1, beta2, eps), decoupled_weight_decay(decay, masks))


# -- learning-rate schedules ------------------------------------------------------------
def lr_at(step: int, base_lr: float, cfg: ScheduleConfig, total_steps: float) -> float:
    """Learning rate at step ``k`` (0-based) for a schedule.

    - constant: eps_k = eps_0
    - linear (the notes, Goodfellow et al. 8.3.1): eps_k = (1 - a) eps_0 + a eps_tau with
      a = min(1, k / tau), eps_tau = ``final_fraction`` * eps_0, tau = ``tau`` or all steps;
      constant after tau.
    - step: eps_k = eps_0 * gamma ** floor(k / step_size)
    - cosine (Loshchilov and Hutter 2017): eps_k = eps_tau + (eps_0 - eps_tau)
      * (1 + cos(pi * min(k, tau) / tau)) / 2
    """
    if cfg.kind == "constant":
        return base_lr
    if cfg.kind == "step":
        return base_lr * cfg.gamma ** (step // cfg.step_size)
    tau = cfg.tau or max(total_steps, 1)
    final = cfg.final_fraction * base_lr
    a = min(1.0, step / tau)
    if cfg.kind == "linear":
        return (1 - a) * base_lr + a * final
    return final + (base_lr - final) * (1 + math.cos(math.pi * a)) / 2


def learning_rates(cfgs: Sequence[OptimizerConfig], step: int, total_steps: float
                   ) -> list[float]:
    """Each member's learning rate at ``step`` (:func:`lr_at` of its schedule)."""
    return [lr_at(step, c.lr, c.schedule, total_steps) for c in cfgs]


# -- the engines' chain ------------------------------------------------------------------
def optimizer(cfgs: Sequence[OptimizerConfig]) -> Transform:
    """The optimizer transform for ``cfgs`` (one per member; they share ``name``).
    ``adamw`` is :func:`adam` here: its decoupled decay comes from
    ``regularization.weight_decay`` (:func:`from_configs`), for every optimizer."""
    names = {c.name for c in cfgs}
    if len(names) != 1:
        raise ValueError(f"optimizer.name must be the same for every member, got {sorted(names)}")
    name = names.pop()

    def values(field: str) -> list[float]:
        return [getattr(c, field) for c in cfgs]

    if name == "sgd":
        return sgd()
    if name in ("momentum", "nesterov"):
        return momentum(values("momentum"), nesterov=name == "nesterov")
    if name == "adagrad":
        return adagrad(values("eps"))
    if name == "rmsprop":
        return rmsprop(values("rho"), values("eps"))
    return adam(values("beta1"), values("beta2"), values("eps"))


def from_configs(optimizers: Sequence[OptimizerConfig],
                 regularizations: Sequence[RegularizationConfig], masks: Masks) -> Transform:
    """The chain both engines run, one config pair per member, in the step's order:
    penalty gradients (L2, L1); clipping by value, then by global norm; the optimizer's
    update; decoupled weight decay (see :func:`decoupled_weight_decay` on its place).
    A transform no member uses is left out; a member that does not clip has c = inf."""
    inf = math.inf
    l2 = [r.l2 for r in regularizations]
    l2_other = [r.l2 if r.l2_on_bias else 0.0 for r in regularizations]
    l1 = [r.l1 for r in regularizations]
    clip_value = [o.clip_value or inf for o in optimizers]
    clip_norm = [o.clip_norm or inf for o in optimizers]
    decay = [r.weight_decay for r in regularizations]
    parts = []
    if _any(l2) or _any(l1):
        parts.append(penalty_gradients(l2, l1, l2_other, masks))
    if _any(clip_value):
        parts.append(clip_by_value(clip_value))
    if _any(clip_norm):
        parts.append(clip_by_global_norm(clip_norm))
    parts.append(optimizer(optimizers))
    if _any(decay):
        parts.append(decoupled_weight_decay(decay, masks))
    return chain(*parts)
