"""The landscape's losses and metric, each in two layouts.

Called as ``f(outputs, targets)`` with outputs ``(N, C)`` they are ordinary mean losses
(what :class:`fitscope.landscape.Problem` passes to any loss). ``f.columns(z, targets)``
takes the outputs of P parameter points at once, transposed to ``(P, C, N)`` as
:mod:`fitscope.landscape.batched_mlp` computes them, and returns the P means. Reducing
over the classes along dim 1 runs over N contiguous rows at a time; PyTorch's
``log_softmax`` over a last dim of 10 classes was the largest single cost of a digits
slice (measured with ``torch.profiler`` while writing ``benchmarks/landscape.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from fitscope import regularize as reg
from fitscope.core import losses as core


class _DataLoss:
    """The engine's data loss (:func:`fitscope.core.losses.example_losses`), cross-entropy
    when ``classify`` else squared error, in both layouts."""

    classify: bool

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return core.mean_loss(outputs, targets, self.classify)

    def columns(self, z: Tensor, targets: Tensor) -> Tensor:
        return core.example_losses(z, targets.expand(z.shape[0], -1), self.classify).mean(1)


@dataclass(frozen=True)
class CrossEntropy(_DataLoss):
    """The engine's classification data loss without label smoothing. On the
    ``(P, C, N)`` layout the points are the core's member axis, so softmax runs over the
    strided class axis, N rows at a time (1.58x faster than a logsumexp written out on a
    digits chunk, 15 x 10 x 1078, one thread, median of 9, 2026-12-07)."""

    n_classes: int
    classify = True


@dataclass(frozen=True)
class SquaredError(_DataLoss):
    """The engine's regression data loss, squared error of the first output."""

    classify = False


@dataclass(frozen=True)
class Accuracy:
    """Share of correct class predictions (:func:`fitscope.core.losses.predictions`)."""

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return (reg.predictions(outputs) == targets).float().mean()

    def columns(self, z: Tensor, targets: Tensor) -> Tensor:
        return (core.predictions(z) == targets).float().mean(1)


accuracy = Accuracy()
