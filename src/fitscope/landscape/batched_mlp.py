"""A plain MLP evaluated at P parameter points at once, activations kept transposed.

For a model that is a chain of ``nn.Linear``, ``nn.BatchNorm1d`` (running statistics),
element-wise activations and ``nn.Dropout`` (the identity in eval mode) -- fitscope's
:class:`~fitscope.models.MLP`, or an ``nn.Sequential`` of those -- each layer runs for
all P points as one batched product on activations of shape ``(P, units, N)``:

    z = W h + b  for every point  (``torch.baddbmm(b, W, h)``),

and the loss reduces over the classes along dim 1
(:mod:`fitscope.landscape.losses`). Every chunk writes its layers' outputs into the same
buffers (:meth:`BatchedMLP.room`), and chunks are sized so that one layer's activations
stay near ``CACHE_FLOATS`` floats.

On a slice ``origin + sum_k c_k d_k`` the first layer is affine in the coordinates, as
its input x is the same at every point:

    W(c) x + b(c) = (W_0 x + b_0) + sum_k c_k (D_k x + e_k),

with W_0, b_0 from ``origin`` and D_k, e_k from direction k. Its k + 1 products with the
data are computed once, and each point then costs k + 1 scaled sums instead of a matrix
product: 60% of the digits MLP's (64-32-32-10) multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.activations import ELEMENTWISE, of_module
from ..models import MLP

PASS = (nn.Identity, nn.Dropout)  # the identity in eval mode
CACHE_FLOATS = 1 << 19  # 2 MiB of float32 activations per chunk (benchmarks/landscape.py)


@dataclass(frozen=True)
class Layer:
    """One step of the chain: ``kind`` is "linear", "bn" or "act"; ``weight`` / ``bias``
    name the parameters ("" / None where the layer has none); ``module`` is the layer
    itself."""

    kind: str
    module: nn.Module
    weight: str = ""
    bias: str | None = None


def layers_of(model: nn.Module) -> list[Layer] | None:
    """The model as a chain of :class:`Layer`, or None when it is not a plain MLP (then
    the caller falls back to the general ``vmap`` evaluation)."""
    if isinstance(model, MLP):
        if model.out is None:
            return None
    elif not isinstance(model, nn.Sequential):
        return None
    chain: list[Layer] = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue  # a container: its leaves follow in forward order
        prefix = f"{name}." if name else ""
        has_bias = getattr(module, "bias", None) is not None
        bias = f"{prefix}bias" if has_bias else None
        if isinstance(module, nn.Linear):
            chain.append(Layer("linear", module, f"{prefix}weight", bias))
        elif isinstance(module, nn.BatchNorm1d):
            if module.running_mean is None or not module.affine:
                return None
            chain.append(Layer("bn", module, f"{prefix}weight", bias))
        elif isinstance(module, ELEMENTWISE):
            chain.append(Layer("act", module))
        elif not isinstance(module, PASS):
            return None
    if not chain or chain[0].kind != "linear":
        return None
    return chain


class BatchedMLP:
    """Evaluates a plain MLP's ``chain`` (see :func:`layers_of`) at many points; ``loss``
    and ``metric`` have a ``columns`` method (:mod:`fitscope.landscape.losses`)."""

    def __init__(self, chain: list[Layer], loss, metric=None):
        self.chain, self.loss, self.metric = chain, loss, metric
        self._rooms: dict[tuple[int, ...], Tensor] = {}

    def room(self, slot: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """An uninitialized ``shape`` tensor for intermediate ``slot``, reused from chunk
        to chunk (the first ``shape[0]`` points of the one made for the largest chunk):
        a chunk's activations are written where the previous chunk's were, in memory the
        cache and the page tables already hold."""
        key = (slot, *shape[1:])  # data batches of two sizes get a room each
        buf = self._rooms.get(key)
        if (buf is None or buf.shape[0] < shape[0] or buf.dtype != like.dtype
                or buf.device != like.device):
            buf = self._rooms[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf[:shape[0]]

    @classmethod
    def of(cls, model: nn.Module, loss, metric=None) -> BatchedMLP | None:
        """The evaluator for ``model``, or None when the model, loss or metric does not
        allow it."""
        if not hasattr(loss, "columns") or (metric is not None and
                                            not hasattr(metric, "columns")):
            return None
        chain = layers_of(model)
        return None if chain is None else cls(chain, loss, metric)

    def chunk_size(self, rows: int) -> int:
        """Points per chunk: one layer's activations on ``rows`` rows of data near
        ``CACHE_FLOATS`` floats."""
        widest = max(cast(nn.Linear, layer.module).out_features for layer in self.chain
                     if layer.kind == "linear")
        return max(1, CACHE_FLOATS // max(1, rows * widest))

    def first_layer(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """(P, out, N): W_p x^T + b_p for each of the P stacked first-layer weights in
        ``params`` (name -> (P, *shape))."""
        first = self.chain[0]
        out = torch.matmul(params[first.weight], x.T)
        return out if first.bias is None else out + params[first.bias].unsqueeze(2)

    def first_layer_affine(self, coords: Tensor, products: Tensor, rows: int) -> Tensor:
        """(P, out, N) at P points of a slice, from the first layer's products with the
        data at the origin and along each direction, ``products`` (k + 1, out * N), and
        the points' ``coords`` (P, k + 1) with a leading 1 (see the module doc)."""
        flat = self.room(0, (len(coords), products.shape[1]), products)
        return torch.mm(coords, products, out=flat).view(len(coords), -1, rows)

    def values(self, params: dict[str, Tensor], first: Tensor, y: Tensor
               ) -> tuple[Tensor, Tensor | None]:
        """(loss (P,), metric (P,) or None) at P points, given the first layer's
        pre-activations ``first`` (P, out, N) and ``params`` name -> (P, *shape)."""
        h = first
        for slot, layer in enumerate(self.chain[1:], start=1):
            if layer.kind == "linear":
                w = params[layer.weight]
                out = self.room(slot, (h.shape[0], w.shape[1], h.shape[2]), h)
                h = (torch.bmm(w, h, out=out) if layer.bias is None
                     else torch.baddbmm(params[layer.bias].unsqueeze(2), w, h, out=out))
            elif layer.kind == "bn":
                bn = cast(nn.BatchNorm1d, layer.module)
                h = F.batch_norm(h, bn.running_mean, bn.running_var, training=False,
                                 eps=bn.eps)
                beta = params[cast(str, layer.bias)]  # layers_of takes affine ones only
                h = torch.addcmul(beta.unsqueeze(2), h,
                                  params[layer.weight].unsqueeze(2))
            else:
                h = _activate(layer.module, h)
        loss = self.loss.columns(h, y)
        return loss, (self.metric.columns(h, y) if self.metric is not None else None)


def _activate(module: nn.Module, h: Tensor) -> Tensor:
    """``module(h)``, in place on ``h`` (a fresh intermediate) for the activations of
    the table (:mod:`fitscope.core.activations`)."""
    act = of_module(module)
    return act.activate_(h) if act is not None else module(h)
