"""Regularizers as small composable pieces: penalties, noise, smoothed targets, FGSM.

Each function does one thing; the engine calls the ones a config switches on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .core import losses
from .core.activations import ELEMENTWISE
from .core.transforms import apply_updates, decoupled_weight_decay, penalty_gradients


def weights_and_others(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Split trainable parameters into weights (of Linear / Conv layers) and the rest.

    Penalties and weight decay act on weights only (Goodfellow et al. 2016, 7.1: biases
    need less data to fit and regularizing them can cause underfitting). Normalization
    layers' scales count as "the rest".
    """
    norm_types = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    weights: list[torch.Tensor] = []
    seen: set[int] = set()
    for module in model.modules():
        w = getattr(module, "weight", None)
        if (isinstance(w, nn.Parameter) and w.dim() >= 2 and not isinstance(module, norm_types)
                and w.requires_grad and id(w) not in seen):
            weights.append(w)
            seen.add(id(w))
    others: list[torch.Tensor] = [p for p in model.parameters()
                                  if p.requires_grad and id(p) not in seen]
    return weights, others


def add_penalty_grads_(params: list[torch.Tensor], l2: float = 0.0, l1: float = 0.0) -> None:
    """Add the gradients of the norm penalties on the weights ``params`` to ``p.grad`` in
    place (:func:`fitscope.core.transforms.penalty_gradients`, whose docstring has the
    formulas)."""
    pairs = [(p, p.grad) for p in params if p.grad is not None]
    if pairs and (l2 or l1):
        t = penalty_gradients(l2, l1)
        rows = [p.detach().reshape(1, -1) for p, _ in pairs]
        t.update([g.view(1, -1) for _, g in pairs], t.init(rows), rows, None)


def decoupled_weight_decay_(params: list[torch.Tensor], lr: float, decay: float) -> None:
    """w <- w (1 - lr * decay), outside the gradient
    (:func:`fitscope.core.transforms.decoupled_weight_decay`)."""
    if decay and params:
        t = decoupled_weight_decay(decay)
        rows = [p.detach().view(1, -1) for p in params]
        updates = [torch.zeros_like(r) for r in rows]
        t.update(updates, t.init(rows), rows, torch.tensor([[lr]], dtype=torch.float64))
        apply_updates(rows, updates)


class ActivationL1:
    """lambda * ||h||_1 on hidden activations, for sparse representations (the notes;
    Goodfellow et al. 2016, 7.10), averaged over the batch.

    Forward hooks on the given modules collect sum_i |h_i| while training; ``pop()``
    returns lambda * (sum over modules) / batch and clears the store.
    """

    def __init__(self, modules: list[nn.Module], lam: float):
        self.lam = lam
        self._terms: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._hook) for m in modules]

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        if module.training:
            self._terms.append(output.abs().sum() / output.shape[0])

    def pop(self) -> torch.Tensor | float:
        terms, self._terms = self._terms, []
        return self.lam * torch.stack(terms).sum() if terms else 0.0

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def hidden_activations(model: nn.Module) -> list[nn.Module]:
    """The activation modules of a model (the h whose sparsity ActivationL1 rewards):
    those of :data:`fitscope.core.activations.ELEMENTWISE`."""
    return [m for name, m in model.named_modules() if isinstance(m, ELEMENTWISE) and name]


def smoothed_targets(y: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    """(B, k) label-smoothing targets of :class:`fitscope.core.losses.Smoothing`."""
    return losses.Smoothing(torch.tensor([[eps]], dtype=torch.float64, device=y.device),
                            k).soft(y, k)


def classification_loss(logits: torch.Tensor, y: torch.Tensor, n_classes: int,
                        smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of logits (B, k); binary cross-entropy for one logit, with label
    smoothing ``smoothing`` (:func:`fitscope.core.losses.mean_loss`)."""
    smooth = losses.smoothing_of(smoothing, n_classes, logits.device) if smoothing else None
    return losses.mean_loss(logits, y, True, smooth)


predictions = losses.predictions  # (B, k) logits -> (B,) classes


def add_weight_noise_(params: list[torch.Tensor], std: float) -> list[torch.Tensor]:
    """Perturb weights in place by N(0, std^2) noise and return the noise, so the caller
    can subtract it after the backward pass (Graves 2011; the notes: noise on the weights
    looks for minima surrounded by flat regions).
    """
    with torch.no_grad():
        noise = [torch.randn_like(p) * std for p in params]
        for p, z in zip(params, noise):
            p.add_(z)
    return noise


def remove_weight_noise_(params: list[torch.Tensor], noise: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, z in zip(params, noise):
            p.sub_(z)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
         loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
         epsilon: float) -> torch.Tensor:
    """Fast gradient sign method: x' = x + epsilon * sign(grad_x J(theta, x, y))
    (Goodfellow, Shlens and Szegedy 2015; the notes' adversarial examples).
    Parameter gradients are left untouched.
    """
    x_adv = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(model(x_adv), y), x_adv)
    return (x + epsilon * grad.sign()).detach()
