"""Optimizers, learning-rate schedules and gradient clipping.

The update rules, in the notes' symbols (Goodfellow et al. 2016, ch. 8; eps is ``lr``,
alpha ``momentum``, rho ``rho``, rho_1 / rho_2 ``beta1`` / ``beta2``, delta ``eps``):

- SGD:      theta <- theta - eps * g
- Momentum: v <- alpha v - eps g;  theta <- theta + v                  (Polyak 1964)
- Nesterov: the gradient is taken at theta + alpha v               (Sutskever et al. 2013)
- AdaGrad:  r <- r + g*g;  theta <- theta - eps / (delta + sqrt(r)) * g   (Duchi et al. 2011)
- RMSProp:  r <- rho r + (1 - rho) g*g;  theta <- theta - eps / (delta + sqrt(r)) * g
                                                                 (Hinton, lecture 6e, 2012)
- Adam:     s <- rho_1 s + (1 - rho_1) g;  r <- rho_2 r + (1 - rho_2) g*g;
            s_hat = s / (1 - rho_1^t);  r_hat = r / (1 - rho_2^t);
            theta <- theta - eps * s_hat / (sqrt(r_hat) + delta)       (Kingma and Ba 2015)
- AdamW:    Adam plus theta <- theta (1 - eps * lambda) outside the gradient
                                                           (Loshchilov and Hutter 2019)

They run as ``torch.optim`` implementations (fused or foreach kernels); Adam through
:class:`LeanAdam`, torch's fused kernel without the per-step bookkeeping around it.
Two conventions differ from the notes and are worth knowing: PyTorch's momentum keeps
``v <- alpha v + g`` and steps ``eps * v``, which equals the notes' rule while ``eps``
is constant; RMSProp's ``delta`` sits outside the square root (the notes put it inside).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import optimizer as _optimizer

from .config import OptimizerConfig, ScheduleConfig


def make_optimizer(params: list[torch.Tensor], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer for ``cfg.name`` over one parameter group.

    ``adamw`` is Adam's update here; its decoupled decay is applied to the weights only,
    by :func:`fitscope.regularize.decoupled_weight_decay_` just before the step, exactly
    where ``torch.optim.AdamW`` applies it (one group keeps the fused kernel to one call).
    """
    lr, name = cfg.lr, cfg.name
    if name in ("sgd", "momentum", "nesterov"):
        momentum = 0.0 if name == "sgd" else cfg.momentum
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov")
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=cfg.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.rho, eps=cfg.eps)
    if _fusable(params):
        return LeanAdam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` whose ``step`` calls the fused kernel directly.

    The same kernel, arguments and state (``step``, ``exp_avg``, ``exp_avg_sq`` per
    parameter), so the numbers are bit for bit those of ``torch.optim.Adam(fused=True)``
    (tests/test_math.py), without the per-call bookkeeping around it: the profiler
    wrapper ``torch.optim`` puts on every ``step``, grouping by device and dtype, and
    per-parameter checks. On the 64-128-128-10 MLP that bookkeeping cost more than the
    kernel (``benchmarks/vs_sklearn.py``). The general, hooked ``Adam.step`` runs
    whenever the short one does not apply: a closure, step hooks, several groups,
    AMSGrad, a tensor learning rate, a parameter without a gradient.
    """

    def __init__(self, params, **kwargs):
        super().__init__(params, fused=True, **kwargs)
        self._lean: tuple[list, list, list, list, torch.Tensor] | None = None

    def _lean_state(self) -> tuple[list, list, list, list, torch.Tensor] | None:
        """(params, exp_avgs, exp_avg_sqs, steps, counts) when the short step applies.

        Each parameter keeps its own ``state["step"]`` tensor, as in ``torch.optim.Adam``,
        but here they are views into one ``counts`` tensor, so one ``add_`` advances them
        all (for the digits MLP's six parameters: about 2 us a step, against 10 us for a
        ``_foreach_add_`` over the six scalars, measured).
        """
        group = self.param_groups[0]
        params = group["params"]
        if (len(self.param_groups) != 1 or group["amsgrad"] or group["maximize"]
                or group["differentiable"] or isinstance(group["lr"], torch.Tensor)
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _optimizer._global_optimizer_pre_hooks
                or _optimizer._global_optimizer_post_hooks
                or any(p.grad is None for p in params)):
            return None
        if self._lean is None or self._lean[0] != params:
            if any(p.grad.is_sparse or p.device != params[0].device
                   or p.dtype != params[0].dtype for p in params):
                return None
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
            states = [self.state[p] for p in params]
            counts = torch.stack([s["step"] for s in states])  # one add_ counts every step
            for i, s in enumerate(states):
                s["step"] = counts[i]
            self._lean = (list(params), [s["exp_avg"] for s in states],
                          [s["exp_avg_sq"] for s in states], [s["step"] for s in states],
                          counts)
        return self._lean

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._lean = None

    def step(self, closure=None):
        lean = None if closure is not None else self._lean_state()
        if lean is None:  # Adam's own step, with the hooks torch.optim gives it
            adam_step = torch.optim.Adam.step
            adam_step = adam_step.__wrapped__ if getattr(adam_step, "hooked", False) else adam_step
            return torch.optim.Optimizer.profile_hook_step(adam_step)(self, closure)
        params, exp_avgs, exp_avg_sqs, steps, counts = lean
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            counts.add_(1)
            torch._fused_adam_(params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [],
                               steps, amsgrad=False, lr=group["lr"], beta1=beta1,
                               beta2=beta2, weight_decay=group["weight_decay"],
                               eps=group["eps"], maximize=False, grad_scale=None,
                               found_inf=None)
        return None

    step.hooked = True  # tells torch.optim not to wrap it in its profiler hooks


def _fusable(params: list[torch.Tensor]) -> bool:
    """Fused Adam kernels exist for floating tensors on CPU and CUDA."""
    return bool(params) and all(p.is_floating_point() for p in params)


def lr_at(step: int, base_lr: float, cfg: ScheduleConfig, total_steps: int) -> float:
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


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_gradients_(params: Iterable[torch.Tensor], clip_norm: float | None,
                    clip_value: float | None) -> None:
    """Gradient clipping (Pascanu et al. 2013; the notes' cliff remedy).

    By value: each component g_i <- max(-c, min(c, g_i)). By norm: if ||g|| > c then
    g <- g * c / ||g||, with ||g|| the norm of all gradients joined into one vector.
    """
    params = [p for p in params if p.grad is not None]
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value, foreach=True)
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_norm, foreach=True)


def grad_norm(params: Iterable[torch.Tensor]) -> float:
    """Euclidean norm of all gradients joined into one vector."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()
