"""Data losses, their gradients with respect to the outputs, predictions and label
smoothing, over a leading member axis.

Layout: the classes (or outputs) lie along dim 1. A population's outputs are
``(N, k, B)`` -- N members, k outputs, B examples -- with targets ``(N, B)``: class
indices, or real values for regression. That is ``F.cross_entropy``'s K-dimensional
layout ``(batch, classes, d_1)``, so one kernel reduces over the classes for all members
and examples. One model's outputs ``(B, k)`` with targets ``(B,)`` (a sequential run, a
population of one) go through the same functions: their classes lie along dim 1 too.

The losses are those of the engines (Goodfellow et al. 2016, 6.2.2): a classifier with
two classes has one logit o and binary cross-entropy, one with k > 2 classes k logits
and the cross-entropy of their softmax, a regressor squared error on its first output.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor


class Smoothing:
    """Label-smoothing targets of every member, from an (N, 1) float64 column of eps.

    Binary (one logit): the target is t = y (1 - 2 eps) + eps, so eps and 1 - eps. k
    classes: the true class gets 1 - eps, each of the other k - 1 classes eps / (k - 1)
    (the notes' form; Szegedy et al. 2016 spread eps / k over all classes, which puts
    1 - eps + eps / k on the true one). The constants are computed in float64, like
    Python floats, then kept as float32.
    """

    def __init__(self, eps: Tensor, n_classes: int):
        eps = eps.double().view(-1, 1)
        k = max(n_classes, 2)
        self.eps = eps.float()
        self.scale = (1.0 - 2.0 * eps).float()
        self.on, self.off = (1.0 - eps).float(), (eps / (k - 1)).float()

    def binary(self, y: Tensor) -> Tensor:
        """(N, B) targets for one logit; (B,) for one model's (B,) labels."""
        if y.dim() == 1:
            return y.float() * self.scale[0, 0] + self.eps[0, 0]
        return y.float() * self.scale + self.eps

    def soft(self, y: Tensor, k: int) -> Tensor:
        """(N, k, B) target distributions; (B, k) for one model's (B,) labels."""
        if y.dim() == 1:
            return self.soft(y.unsqueeze(0), k)[0].T
        n, b = y.shape
        soft = self.off.view(n, 1, 1).expand(n, k, b).clone()
        return soft.scatter_(1, y.unsqueeze(1), self.on.view(n, 1, 1).expand(n, 1, b))


@lru_cache(maxsize=64)
def smoothing_of(eps: float, n_classes: int,
                 device: torch.device | str = "cpu") -> Smoothing | None:
    """The :class:`Smoothing` of one member with label smoothing ``eps`` (None for 0),
    cached: a sequential run asks for the same one at every step."""
    if not eps:
        return None
    return Smoothing(torch.tensor([[eps]], dtype=torch.float64, device=device), n_classes)


def example_losses(out: Tensor, y: Tensor, classify: bool,
                   smoothing: Smoothing | None = None, reduction: str = "none") -> Tensor:
    """Per-example data loss of every member, (N, B), from outputs (N, k, B) (or of one
    model, (B,) from (B, k)); ``reduction="mean"``: their mean, in the same kernel.

    - one logit o: binary cross-entropy with t = y (or the smoothed target),
      -t log sigmoid(o) - (1 - t) log(1 - sigmoid(o)) (``F.binary_cross_entropy_with_logits``);
    - k logits: -sum_c t_c log softmax(o)_c with t the one-hot y (-log softmax(o)_y) or
      the smoothed distribution (``F.cross_entropy``);
    - regression: (o_0 - y)^2 (``F.mse_loss``).
    """
    if not classify:
        return F.mse_loss(out[:, 0], y, reduction=reduction)
    if out.shape[1] == 1:
        target = y.to(out.dtype) if smoothing is None else smoothing.binary(y)
        return F.binary_cross_entropy_with_logits(out[:, 0], target, reduction=reduction)
    target = y if smoothing is None else smoothing.soft(y, out.shape[1])
    return F.cross_entropy(out, target, reduction=reduction)


def mean_loss(outputs: Tensor, y: Tensor, classify: bool,
              smoothing: Smoothing | None = None) -> Tensor:
    """The mean of :func:`example_losses` over every member and example: one model's
    data loss, from outputs (B, k)."""
    return example_losses(outputs, y, classify, smoothing, reduction="mean")


def losses_and_grad(out: Tensor, y: Tensor, classify: bool,
                    smoothing: Smoothing | None = None) -> tuple[Tensor, Tensor]:
    """Each member's mean data loss (N,) (the batch mean of :func:`example_losses`) and
    the gradient of their sum with respect to the outputs (N, k, B):

    - binary cross-entropy: (sigmoid(o) - t) / B;
    - cross-entropy: (softmax(o) - t) / B, computed as log-softmax's backward,
      g - e^lsm sum_c g_c with g = -t / B (torch's order of operations);
    - squared error: 2 (o_0 - y) / B.
    """
    b = out.shape[2]
    if not classify:
        diff = out[:, 0] - y
        losses = diff.square().mean(1)
        return losses, diff.mul_(2.0 / b).unsqueeze(1)
    if out.shape[1] == 1:
        o = out[:, 0]
        target = y.to(out.dtype) if smoothing is None else smoothing.binary(y)
        losses = F.binary_cross_entropy_with_logits(o, target, reduction="none").mean(1)
        return losses, torch.sigmoid(o).sub_(target).div_(b).unsqueeze(1)
    lsm = F.log_softmax(out, dim=1)
    if smoothing is None:
        losses = F.nll_loss(lsm, y, reduction="none").mean(1)
        grad = lsm.exp_().mul_(1.0 / b)  # - e^lsm * sum(g), sum(g) = -1 / B
        grad.scatter_add_(1, y.unsqueeze(1), grad.new_full((y.shape[0], 1, b), -1.0 / b))
        return losses, grad
    soft = smoothing.soft(y, out.shape[1])
    losses = -(soft * lsm).sum(1).mean(1)
    g = soft.mul_(-1.0 / b)
    return losses, g.sub_(lsm.exp_().mul_(g.sum(1, keepdim=True)))


def predictions(out: Tensor) -> Tensor:
    """(N, B) class predictions from (N, k, B) outputs ((B,) from (B, k)): o > 0 for
    one logit (sigmoid(o) > 1/2), else the arg-max over the classes."""
    if out.shape[1] == 1:
        return (out[:, 0] > 0).long()
    # argmax(1) across strides took 4 to 25 times as long (one thread, torch 2.13, 2026-12-07)
    return out.max(1).indices
