"""Forms of standard layers that run fast under ``torch.func.vmap``, for the functional stack.

:class:`~fitscope.population.functional.FunctionalStack` runs every member's forward pass
as one call of the module's own ``forward`` mapped over the member axis. Two layers'
mapped forms cost more than their work needs (measured on the benchmark's CNN and
residual MLP), so the stack's private copy of the module runs them in the forms below
(:func:`mapped_forms`); each gives the same outputs and the same gradients as the layer
it replaces (up to float rounding for the linear layer, exactly for pooling), mapped or
not:

- ``nn.Linear`` (:class:`MappedLinear`): y = (W x^T)^T + b instead of x W^T + b. Mapped,
  either is a batched matrix multiply; in this order the weight gradient, g^T x, comes
  out in W's own (out, in) layout, where ``x W^T`` gives it transposed and its copy
  into the members' gradient rows is a transposing one (the benchmark's residual MLP,
  N = 32: a training step 16.5 ms against 19.0, CPU, minimum of 25).
- ``nn.MaxPool1d`` / ``nn.MaxPool2d`` whose window equals its stride (no padding, no
  dilation, no ``ceil_mode``, no indices returned; the built-in CNN's ``MaxPool(2)``)
  (:class:`MappedMaxPool1d`, :class:`MappedMaxPool2d` via :class:`WindowMax`): under
  ``vmap``, and whenever autograd records it, ``max_pool`` runs its kernel that also
  returns the argmax indices (2048 rows of 8 x 40: 5.0 to 5.3 ms forward and
  backward, mapped or not, against 0.25 ms for the forward alone without indices).
  :class:`WindowMax` runs torch's kernel without indices forward and finds the
  window's maximum again in the backward pass (x == y), the first one on ties, where
  ``max_pool`` sends the gradient too: 1.6 ms for the same rows unmapped, about 0.3 ms
  more mapped (``torch.func``'s dispatch of a custom ``Function``). (A non-finite
  gradient also reaches the window's other entries, as NaN, where ``max_pool`` leaves
  them 0: the member's gradient is non-finite either way.) The benchmark's CNN,
  N = 32: a training step 14.4 ms against 23.3.

Timings: one thread, torch 2.13, CPU seconds on the loaded 2-core development machine,
2026-12-07.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MappedLinear(nn.Linear):
    """``nn.Linear`` computing y = (W x^T)^T + b for 2-D inputs (rows x features); other
    inputs go to ``F.linear``."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            return F.linear(x, self.weight, self.bias)
        if self.bias is None:
            return (self.weight @ x.T).T
        return torch.addmm(self.bias.unsqueeze(1), self.weight, x.T).T


class WindowMax(torch.autograd.Function):
    """Max pooling over non-overlapping windows of ``k`` (one int per pooled dimension,
    the last ``len(k)`` dimensions of x): y = the window's maximum, as ``max_pool`` with
    kernel = stride = k gives it. Backward (:func:`_window_max_backward`): each window's
    gradient goes to its first maximum in row-major order (x == y), as ``max_pool``'s
    does; a last partial window (a side not divisible by k) is dropped, as ``max_pool``
    drops it, and gets zero.

    Mapped (``vmap``), the members' axis is folded into the rows and
    :class:`_WindowMaxRows`, the same computation, runs once on them (:meth:`vmap`).
    The ``torch.func`` rules need this class's ``forward`` / ``setup_context`` split;
    the inner class's older form skips ``Function.apply``'s per-call signature binding."""

    @staticmethod
    def forward(x: Tensor, k: tuple[int, ...]) -> Tensor:
        return _max_pool(x, k)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, tuple[int, ...]], output: Tensor) -> None:
        x, k = inputs
        ctx.save_for_backward(x, output)
        ctx.k = k

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        x, y = ctx.saved_tensors
        return _window_max_backward(x, y, g, ctx.k), None

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, Any], x: Tensor, k: tuple[int, ...]
             ) -> tuple[Tensor, int]:
        """The members' axis (``in_dims[0]``) joins the other leading dimensions as rows,
        in their order in memory, so that the rows are a view (no copy in, none out);
        on a channel or pooled side it moves to the front first."""
        d, sides = in_dims[0], x.dim() - len(k) - 1  # sides: dims before the channels
        assert d is not None
        if d >= sides:
            x, d, sides = x.movedim(d, 0), 0, 1
        strides = x.stride()
        order = sorted(range(sides), key=lambda i: strides[i], reverse=True)  # outermost first
        x = x.permute(*order, *range(sides, x.dim()))
        out = _WindowMaxRows.apply(x.reshape(-1, *x.shape[sides:]), k)
        return out.reshape(*x.shape[:sides], *out.shape[1:]), order.index(d)


class _WindowMaxRows(torch.autograd.Function):
    """:class:`WindowMax` on unmapped tensors, in ``Function``'s older form."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: tuple[int, ...]) -> Tensor:
        y = _max_pool(x, k)
        ctx.save_for_backward(x, y)
        ctx.k = k
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        x, y = ctx.saved_tensors
        return _window_max_backward(x, y, g, ctx.k), None


def _max_pool(x: Tensor, k: tuple[int, ...]) -> Tensor:
    """torch's max pooling with kernel = stride = ``k``, without indices (its fast kernel
    when autograd does not record it)."""
    return F.max_pool1d(x, k) if len(k) == 1 else F.max_pool2d(x, k)


def _window_max_backward(x: Tensor, y: Tensor, g: Tensor, k: tuple[int, ...]) -> Tensor:
    """d loss / d x for y = :class:`WindowMax` (x, k), given g = d loss / d y."""
    kept = tuple(o * s for o, s in zip(y.shape[-len(k):], k))  # sides the windows cover
    full = kept == tuple(x.shape[-len(k):])
    gx = torch.empty_like(x) if full else torch.zeros_like(x)
    inner = _crop(gx, kept)
    if k == (2,):  # the built-in CNN's: two strided halves, no window tensor
        first = x[..., 0:kept[0]:2] == y
        torch.mul(g, first, out=inner[..., 0::2])  # (where() is 3x slower on CPU)
        torch.mul(g, first.logical_not_(), out=inner[..., 1::2])
        return gx
    windows = _windows(_crop(x, kept), k)
    hit = windows == y.reshape(*y.shape, 1)
    first = hit & (hit.cumsum(-1) == 1)
    inner.copy_(_unwindow(torch.where(first, g.unsqueeze(-1), g.new_zeros(())), k,
                          inner.shape))
    return gx


def _crop(t: Tensor, sides: tuple[int, ...]) -> Tensor:
    """The view of ``t`` whose last ``len(sides)`` dimensions start at 0 and are
    ``sides`` long."""
    for i, side in enumerate(sides, start=t.dim() - len(sides)):
        t = t.narrow(i, 0, side)
    return t


def _windows(x: Tensor, k: tuple[int, ...]) -> Tensor:
    """(..., *sides) -> (..., *pooled sides, prod(k)): each window's values in row-major
    order, last."""
    if len(k) == 1:
        return x.unflatten(-1, (x.shape[-1] // k[0], k[0]))
    (kh, kw), (h, w) = k, x.shape[-2:]
    t = x.unflatten(-1, (w // kw, kw)).unflatten(-3, (h // kh, kh))  # (..., H, kh, W, kw)
    return t.transpose(-3, -2).flatten(-2)  # (..., H, W, kh * kw)


def _unwindow(t: Tensor, k: tuple[int, ...], shape: torch.Size) -> Tensor:
    """The inverse of :func:`_windows`, to ``shape``."""
    if len(k) == 1:
        return t.flatten(-2)
    (kh, kw) = k
    return t.unflatten(-1, (kh, kw)).transpose(-3, -2).reshape(shape)


def _window(pool: nn.Module, dims: int) -> tuple[int, ...] | None:
    """The pooling window of ``pool`` as a ``dims``-tuple when it equals the stride and
    nothing else is set (the cases :class:`WindowMax` computes), else None."""
    def as_tuple(v: Any) -> tuple[int, ...]:
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims

    k, stride = as_tuple(pool.kernel_size), as_tuple(pool.stride or pool.kernel_size)
    plain = (as_tuple(pool.padding) == (0,) * dims and as_tuple(pool.dilation) == (1,) * dims
             and not pool.ceil_mode and not pool.return_indices)
    return k if plain and k == stride else None


class MappedMaxPool1d(nn.MaxPool1d):
    """``nn.MaxPool1d`` through :class:`WindowMax`."""

    def forward(self, x: Tensor) -> Tensor:
        return WindowMax.apply(x, _window(self, 1))


class MappedMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` through :class:`WindowMax`."""

    def forward(self, x: Tensor) -> Tensor:
        return WindowMax.apply(x, _window(self, 2))


def mapped_forms(module: nn.Module) -> nn.Module:
    """``module`` with every submodule of exactly the type ``nn.Linear``, or
    ``nn.MaxPool1d`` / ``nn.MaxPool2d`` with window = stride and nothing else set, switched
    in place to its mapped form above (same parameters, buffers and hooks; subclasses of
    those types, which may override ``forward``, are left alone). Returns ``module``."""
    for m in module.modules():
        if type(m) is nn.Linear:
            m.__class__ = MappedLinear
        elif type(m) is nn.MaxPool1d and _window(m, 1) is not None:
            m.__class__ = MappedMaxPool1d
        elif type(m) is nn.MaxPool2d and _window(m, 2) is not None:
            m.__class__ = MappedMaxPool2d
    return module
