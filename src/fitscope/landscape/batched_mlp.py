"""A plain MLP evaluated at P parameter points at once: a stack whose members are the points.

For a model that is a chain of ``nn.Linear``, ``nn.BatchNorm1d`` (running statistics),
element-wise activations and ``nn.Dropout`` (the identity in eval mode), each linear
layer followed by at most a batch norm and then an activation -- fitscope's
:class:`~fitscope.models.MLP`, or an ``nn.Sequential`` of those -- the P points are the
members of a stacked MLP, and the population's evaluation pass,
:func:`fitscope.population.stacked.forward_layers`, runs each layer for all of them as
one batched product on activations of shape ``(P, units, N)``:

    z = W h + b  for every point  (``torch.baddbmm(b, W, h)``),

in two scratch buffers that every chunk of points reuses (a
:class:`~fitscope.population.stacked.Workspace`). The loss then reduces over the
classes along dim 1 (:mod:`fitscope.landscape.losses`). Chunks are sized so that one
layer's activations stay near ``CACHE_FLOATS`` floats.

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
from torch import Tensor, nn

from ..core.activations import ELEMENTWISE, of_module
from ..models import MLP
from ..population.stacked import Layer, Norm, Workspace, forward_layers, shared_linear

PASS = (nn.Identity, nn.Dropout)  # the identity in eval mode
CACHE_FLOATS = 1 << 19  # 2 MiB of float32 activations per chunk (benchmarks/landscape.py)


@dataclass(frozen=True)
class Step:
    """One step of the chain: ``kind`` is "linear", "bn" or "act"; ``weight`` / ``bias``
    name the parameters ("" / None where the step has none); ``module`` is the layer
    itself, ``name`` its name in the model."""

    kind: str
    module: nn.Module
    weight: str = ""
    bias: str | None = None
    name: str = ""


def layers_of(model: nn.Module) -> list[Step] | None:
    """The model as a chain of :class:`Step`, or None when it is not a plain MLP (then
    the caller falls back to the general ``vmap`` evaluation)."""
    if isinstance(model, MLP):
        if model.out is None:
            return None
    elif not isinstance(model, nn.Sequential):
        return None
    chain: list[Step] = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue  # a container: its leaves follow in forward order
        prefix = f"{name}." if name else ""
        has_bias = getattr(module, "bias", None) is not None
        bias = f"{prefix}bias" if has_bias else None
        if isinstance(module, nn.Linear):
            chain.append(Step("linear", module, f"{prefix}weight", bias, name))
        elif isinstance(module, nn.BatchNorm1d):
            if module.running_mean is None or not module.affine:
                return None
            chain.append(Step("bn", module, f"{prefix}weight", bias, name))
        elif isinstance(module, ELEMENTWISE):
            chain.append(Step("act", module, name=name))
        elif not isinstance(module, PASS):
            return None
    if not chain or chain[0].kind != "linear":
        return None
    return chain


Block = tuple[Step, Step | None, Step | None]  # linear, its batch norm, its activation


def blocks_of(chain: list[Step]) -> list[Block] | None:
    """The chain (which starts with a linear step) as one block per linear layer: the
    layer, then at most a batch norm and then an activation (a stacked
    :class:`~fitscope.population.stacked.Layer` each); None for another order."""
    blocks: list[list[Step | None]] = []
    for step in chain:
        if step.kind == "linear":
            blocks.append([step, None, None])
        elif step.kind == "bn" and blocks[-1][1] is None and blocks[-1][2] is None:
            blocks[-1][1] = step
        elif step.kind == "act" and blocks[-1][2] is None:
            blocks[-1][2] = step
        else:
            return None
    return [(cast(Step, linear), bn, act) for linear, bn, act in blocks]


class BatchedMLP:
    """Evaluates a plain MLP's ``blocks`` (see :func:`blocks_of`) at many points;
    ``loss`` and ``metric`` have a ``columns`` method (:mod:`fitscope.landscape.losses`)."""

    def __init__(self, blocks: list[Block], loss, metric=None):
        self.blocks, self.loss, self.metric = blocks, loss, metric
        self.shapes = [_shape(cast(nn.Linear, linear.module)) for linear, _, _ in blocks]
        self._workspaces: dict[int, Workspace] = {}

    @classmethod
    def of(cls, model: nn.Module, loss, metric=None) -> BatchedMLP | None:
        """The evaluator for ``model``, or None when the model, loss or metric does not
        allow it."""
        if not hasattr(loss, "columns") or (metric is not None and
                                            not hasattr(metric, "columns")):
            return None
        chain = layers_of(model)
        blocks = None if chain is None else blocks_of(chain)
        return None if blocks is None else cls(blocks, loss, metric)

    def chunk_size(self, rows: int) -> int:
        """Points per chunk: one layer's activations on ``rows`` rows of data near
        ``CACHE_FLOATS`` floats."""
        widest = max(out for out, _ in self.shapes)
        return max(1, CACHE_FLOATS // max(1, rows * widest))

    def layers(self, params: dict[str, Tensor]) -> list[Layer]:
        """The blocks as the stacked layers of P points, ``params`` name -> (P, *shape);
        batch norms use the model's running statistics, shared by every point."""
        layers = []
        for linear, bn, act in self.blocks:
            norm = None
            if bn is not None:
                module = cast(nn.BatchNorm1d, bn.module)
                stats = cast(Tensor, module.running_mean), cast(Tensor, module.running_var)
                norm = Norm(bn.name, params[bn.weight], params[cast(str, bn.bias)],
                            stats[0].unsqueeze(0), stats[1].unsqueeze(0), eps=module.eps)
            layers.append(Layer(
                linear.name, params[linear.weight],
                None if linear.bias is None else params[linear.bias], norm,
                None if act is None else (of_module(act.module) or act.module),
                "" if act is None else act.name))
        return layers

    def workspace(self, n: int, b: int, like: Tensor) -> Workspace:
        """Scratch buffers for chunks of up to ``n`` points on data batches of ``b`` rows,
        reused from chunk to chunk: each chunk's activations are written where the
        previous chunk's were, in memory the cache and the page tables already hold."""
        ws = self._workspaces.get(b)
        if (ws is None or ws.n < n or ws.scratches[0].dtype != like.dtype
                or ws.scratches[0].device != like.device):
            ws = self._workspaces[b] = Workspace(self.shapes, n, like, b, train=False)
        return ws

    def products(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """(k + 1, out * N): the first layer's products with the data ``x`` (N, in) at
        the k + 1 points of ``params`` (a slice's origin and directions)."""
        return shared_linear(x, self.layers(params)[0]).flatten(1)

    def values(self, params: dict[str, Tensor], x: Tensor, y: Tensor,
               coords: Tensor | None = None, products: Tensor | None = None
               ) -> tuple[Tensor, Tensor | None]:
        """(loss (P,), metric (P,) or None) on data ``x``, ``y`` at P points, ``params``
        name -> (P, *shape). On a slice, ``coords`` (P, k + 1, with a leading 1) and the
        first layer's ``products`` (see :meth:`products`) give the first layer's output
        (see the module doc)."""
        n = len(next(iter(params.values())))
        ws = self.workspace(n, len(x), x)
        first = None
        if coords is not None and products is not None:
            first = ws.scratch(0, n, self.shapes[0][0])
            torch.mm(coords, products, out=first.view(n, -1))
        h = forward_layers(self.layers(params), x.expand(n, *x.shape), ws, first=first)
        loss = self.loss.columns(h, y)
        return loss, (self.metric.columns(h, y) if self.metric is not None else None)


def _shape(linear: nn.Linear) -> tuple[int, int]:
    """(out, in): a linear layer's weight shape."""
    return linear.out_features, linear.in_features
