"""Forms of standard layers for the functional stack: fast under ``torch.func.vmap``, and
member-stacked for its direct path.

:class:`~fitscope.population.functional.FunctionalStack` runs its private copy of the
members' module in one of two ways: on the **direct path**, one call of the module's
own ``forward`` on the members' folded rows, with member-stacked parameters; otherwise
mapped over the member axis with ``vmap``. :func:`mapped_forms` switches the copy's
standard layers to the forms below, each of which serves both ways: given one member's
parameters (under ``vmap``, or unstacked) it computes the layer, given stacked ones
((N, *shape), by ``functional_call``) every member's layer at once. Each gives the same
outputs and gradients as the layer it replaces (exactly for pooling, up to float
rounding for the rest).

Mapped (``vmap``), two layers' mapped forms cost more than their work needs (measured on
the benchmark's CNN and residual MLP):

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
  N = 32: a training step 14.4 ms against 23.3. Pooling works row by row, so on the
  direct path the same form runs on the folded rows as they are.

On the direct path the members' (N, B, *f) inputs are **folded** into one batch of
R = N B rows, member n's example b in row n B + b (members outermost) or b N + n
(innermost; :func:`mapped_forms` keeps them outermost unless a convolution or batch
norm is switched, whose member-stacked forms need them innermost to run as views), and
every layer with parameters computes each member's rows with that member's parameters:
``nn.Linear`` as one ``baddbmm`` (:class:`_StackedLinear`, its weight gradient written
in the weight's layout, straight into the members' gradient rows where the stack asks
for it, :func:`gradients_into`), ``nn.Conv1d`` / ``nn.Conv2d`` as one grouped convolution over
(B, N C, *sides) (:class:`_MappedConv`; a ``Conv1d`` with one input channel as one
batched multiply over its windows, :func:`_one_channel_conv1d`), ``nn.BatchNorm1d`` /
``nn.BatchNorm2d`` with per-member batch statistics and running averages
(:class:`_MappedBatchNorm`). Activations, adds, flattening and reshapes that keep the
rows apart need no form of their own. A module with a parameter or buffer outside
these layers cannot take the direct path (:func:`direct_ready`); whether it runs
right there (a forward that mixes rows, such as ``x - x.mean(0)``) only the stack's
trial step tells.

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
    inputs go to ``F.linear``. With member-stacked parameters (weight (N, out, in), bias
    (N, out): the direct path) on folded rows, :class:`_StackedLinear` per member."""

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.dim() == 3:
            return _stacked_linear(self, x)
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


def _window_max(x: Tensor, k: tuple[int, ...]) -> Tensor:
    """:class:`WindowMax` in grad mode, else (an evaluation) torch's kernel without
    indices directly: the same values, without ``Function.apply``'s per-call cost (the
    built-in CNN's evaluation, 32 members member by member on 800 rows: 34.5 ms against
    39 ms, one thread, CPU seconds, 2026-12-08). Not on ``x.requires_grad``: under
    ``vmap`` a mapped input does not show it."""
    if torch.is_grad_enabled():
        return WindowMax.apply(x, k)
    return _max_pool(x, k)


class MappedMaxPool1d(nn.MaxPool1d):
    """``nn.MaxPool1d`` through :func:`_window_max`."""

    def forward(self, x: Tensor) -> Tensor:
        k = _window(self, 1)
        assert k is not None  # mapped_forms switches only pools with window = stride
        return _window_max(x, k)


class MappedMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` through :func:`_window_max`."""

    def forward(self, x: Tensor) -> Tensor:
        k = _window(self, 2)
        assert k is not None  # mapped_forms switches only pools with window = stride
        return _window_max(x, k)


# -- the direct path: member-stacked parameters on folded rows ---------------------------
# Rows are folded: the members' (N, B, *f) inputs as one (R, *f) batch, R = N * B, member
# n's example b in row n * B + b ("outer": the members outermost) or b * N + n ("inner").


def _by_member(x: Tensor, n: int, outer: bool) -> Tensor:
    """Folded rows (R, *f) as a (B, N, *f) view."""
    if outer:
        return x.view(n, -1, *x.shape[1:]).transpose(0, 1)
    return x.view(-1, n, *x.shape[1:])


def _folded(t: Tensor, outer: bool) -> Tensor:
    """(B, N, *f) -> folded rows (R, *f): a view in the layout ``t`` is stored in, else a
    copy."""
    return (t.transpose(0, 1) if outer else t).reshape(-1, *t.shape[2:])


class _StackedLinear(torch.autograd.Function):
    """y_n = x_n W_n^T + b_n for every member n: x (N, M, in), W (N, out, in), b (N, out)
    or None, y (N, M, out), one ``baddbmm``. Backward: dx_n = g_n W_n, dW_n = g_n^T x_n
    (in W's own (out, in) layout, no transposing copy into the gradient rows), db_n = the
    column sums of g_n; dW and db written into ``into`` (a pair of tensors shaped like W
    and b, or None: fresh tensors), when given (:func:`gradients_into`)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor | None,
                into: tuple[Tensor, Tensor | None] | None) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.has_bias, ctx.into = b is not None, into
        return torch.bmm(x, w.mT) if b is None else torch.baddbmm(b.unsqueeze(1), x, w.mT)

    @staticmethod
    def backward(ctx: Any, g: Tensor
                 ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gw, gb = ctx.into or (None, None)
        return (torch.bmm(g, w) if need_x else None,
                torch.bmm(g.mT, x, out=gw) if need_w else None,
                torch.sum(g, 1, out=gb) if need_b and ctx.has_bias else None, None)


def _stacked_linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """:class:`MappedLinear` with weight (N, out, in) on folded rows (R, *mid, in)."""
    n, outer = layer.weight.shape[0], _outer(layer)
    xm = _by_member(x, n, outer).transpose(0, 1)  # (N, B, *mid, in)
    into = layer.__dict__.pop("grad_into", None)  # the first call's only: see gradients_into
    y = _StackedLinear.apply(xm.reshape(n, -1, x.shape[-1]), layer.weight, layer.bias, into)
    return _folded(y.view(*xm.shape[:-1], -1).transpose(0, 1), outer)


LinearNames = list[tuple["MappedLinear", str, str | None]]
"""Linear layers with their weight's and bias's names (None: no bias)."""


def linear_layers(module: nn.Module) -> LinearNames:
    """The :class:`MappedLinear` layers of ``module`` (after :func:`mapped_forms`), each
    with its weight's and bias's parameter names in ``module``."""
    found: LinearNames = []
    for prefix, m in module.named_modules():
        if type(m) is MappedLinear:
            dot = f"{prefix}." if prefix else ""
            found.append((m, f"{dot}weight", f"{dot}bias" if m.bias is not None else None))
    return found


def gradients_into(layers: LinearNames, grads: dict[str, Tensor]) -> None:
    """Have each member-stacked linear layer of ``layers`` (:func:`linear_layers`) write
    its weight's and bias's gradients of the next training pass straight into
    ``grads[name]`` (name -> (N, *shape), such as views of the members' gradient rows),
    instead of fresh tensors: a step then neither allocates them (fresh blocks of the
    population's size are page faults at every step) nor copies them into the rows.
    Autograd returns those very tensors as the parameters' gradients (``is``).

    Only a layer's first call in the pass writes there (a layer called twice would
    otherwise overwrite its first call's gradient before autograd sums the two); a
    later call's gradients are fresh tensors, and autograd sums them as usual. A layer
    without its names in ``grads`` (an empty ``grads``: all of them) computes fresh
    ones; destinations an earlier call set and no pass used are dropped."""
    for m, w, b in layers:
        m.__dict__.pop("grad_into", None)
        if w in grads and (b is None or b in grads):
            m.__dict__["grad_into"] = (grads[w], None if b is None else grads[b])


def _outer(m: nn.Module) -> bool:
    """The folded rows' layout :func:`mapped_forms` chose for the module of layer ``m``."""
    return bool(m.__dict__.get("members_outer", False))


def members_outer(module: nn.Module) -> bool:
    """Whether the direct path's folded rows keep the members outermost for ``module``
    (after :func:`mapped_forms`)."""
    return all(_outer(m) for m in module.modules() if "members_outer" in m.__dict__)


class _MappedConv:
    """A convolution whose member-stacked weight (N, out, in / groups, *k) runs as one
    grouped convolution over (B, N * in, *sides): the members' channels side by side,
    N times the groups (what ``vmap`` makes of it too). Unstacked: the layer's own."""

    weight: Tensor
    bias: Tensor | None
    groups: int

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.dim() == len(self.kernel_size) + 2:  # type: ignore[attr-defined]
            return super().forward(x)  # type: ignore[misc]
        if self.padding_mode != "zeros":  # type: ignore[attr-defined]
            raise NotImplementedError("the direct path convolves with zero padding only")
        n, outer = self.weight.shape[0], _outer(self)  # type: ignore[arg-type]
        if (isinstance(self, nn.Conv1d) and self.in_channels == 1
                and not isinstance(self.padding, str)):
            return _one_channel_conv1d(self, x, n, outer)
        xc = _by_member(x, n, outer).flatten(1, 2)
        bias = None if self.bias is None else self.bias.reshape(-1)
        y = self._conv(xc, self.weight.flatten(0, 1), bias)  # type: ignore[attr-defined]
        return _folded(y.unflatten(1, (n, -1)), outer)


def _one_channel_conv1d(conv: nn.Conv1d, x: Tensor, n: int, outer: bool) -> Tensor:
    """A member-stacked ``Conv1d`` with one input channel (weight (N, O, 1, k)) on folded
    rows (R, 1, L), as one batched multiply over each member's windows (im2col): y_n =
    W_n X_n + b_n with X_n the member's (k, B L') windows. For the built-in CNN's first
    layer on MNIST-1D (1 -> 8 channels, kernel 3, 40 points, N = 32, B = 64; one thread,
    CPU, 2026-12-07), forward and backward with the output folded back into rows 1.1 ms
    against 2.6 for the grouped convolution, whose kernel handles one channel per group
    poorly; with more input channels the grouped one was faster (8 -> 16 channels on 20
    points: 2.5 ms against 5.0; 4 -> 8 on 40: 3.3 against 4.3)."""
    (k,), (s,), (d,) = conv.kernel_size, conv.stride, conv.dilation
    p = conv.padding[0]
    assert isinstance(p, int)
    windows = F.pad(_by_member(x, n, outer), (p, p)).unfold(-1, d * (k - 1) + 1, s)
    windows = windows[..., ::d]  # (B, N, 1, L', k)
    b, length = windows.shape[0], windows.shape[3]
    cols = windows.permute(1, 2, 4, 0, 3).reshape(n, k, b * length)  # (N, k, B L')
    w = conv.weight.reshape(n, -1, k)  # (N, O, k)
    y = (torch.bmm(w, cols) if conv.bias is None
         else torch.baddbmm(conv.bias.unsqueeze(2), w, cols))  # (N, O, B L')
    return _folded(y.view(n, -1, b, length).permute(2, 0, 1, 3), outer)


class MappedConv1d(_MappedConv, nn.Conv1d):
    """``nn.Conv1d``; member-stacked, :class:`_MappedConv`."""

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.conv1d(x, w, b, self.stride, self.padding, self.dilation,
                        self.groups * self.weight.shape[0])


class MappedConv2d(_MappedConv, nn.Conv2d):
    """``nn.Conv2d``; member-stacked, :class:`_MappedConv`."""

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation,
                        self.groups * self.weight.shape[0])


class _MappedBatchNorm:
    """Batch norm with member-stacked parameters and running statistics ((N, C) each):
    ``F.batch_norm`` over (B, N * C, *sides), so that each member's channels get their
    own batch statistics and their own running averages (updated in place in the
    stacked buffers), as ``nn.BatchNorm``'s ``forward`` computes them for one member.
    Unstacked: the layer's own."""

    def forward(self, x: Tensor) -> Tensor:
        bn: Any = self
        first = bn.running_mean if bn.running_mean is not None else bn.weight
        if first is None or first.dim() == 1:
            return super().forward(x)  # type: ignore[misc]
        n, outer = first.shape[0], _outer(bn)
        factor = 0.0 if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(bn.num_batches_tracked.reshape(-1)[0])
        use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)

        def flat(t: Tensor | None) -> Tensor | None:  # (N, C) -> (N C,)
            return None if t is None else t.reshape(-1)

        def stats(t: Tensor | None) -> Tensor | None:  # a view: updates reach the stack
            return None if t is None or not running else t.view(-1)

        running = bn.running_mean is not None and (not bn.training or bn.track_running_stats)
        y = F.batch_norm(_by_member(x, n, outer).flatten(1, 2),
                         stats(bn.running_mean), stats(bn.running_var),
                         flat(bn.weight), flat(bn.bias), use_batch, factor, bn.eps)
        return _folded(y.unflatten(1, (n, -1)), outer)


class MappedBatchNorm1d(_MappedBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d``; member-stacked, :class:`_MappedBatchNorm`."""


class MappedBatchNorm2d(_MappedBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d``; member-stacked, :class:`_MappedBatchNorm`."""


_DIRECT = {nn.Linear: MappedLinear, nn.Conv1d: MappedConv1d, nn.Conv2d: MappedConv2d,
           nn.BatchNorm1d: MappedBatchNorm1d, nn.BatchNorm2d: MappedBatchNorm2d}
"""Each layer type with a member-stacked form: its mapped form."""


def direct_ready(module: nn.Module) -> bool:
    """Whether every parameter and buffer of ``module`` (after :func:`mapped_forms`)
    belongs to a layer with a member-stacked form, so that the direct path can run it;
    whether it runs it right, only a trial tells
    (:class:`~fitscope.population.functional.FunctionalStack`)."""
    stacked = set(_DIRECT.values())
    return all(type(m) in stacked for m in module.modules()
               if any(True for _ in m.parameters(recurse=False))
               or any(True for _ in m.buffers(recurse=False)))


def mapped_forms(module: nn.Module) -> nn.Module:
    """``module`` with every submodule of exactly the type ``nn.Linear``, ``nn.Conv1d``,
    ``nn.Conv2d``, ``nn.BatchNorm1d`` or ``nn.BatchNorm2d``, or ``nn.MaxPool1d`` /
    ``nn.MaxPool2d`` with window = stride and nothing else set, switched in place to its
    mapped form above (same parameters, buffers and hooks; subclasses of those types,
    which may override ``forward``, are left alone). The folded rows of the direct path
    keep the members outermost when no convolution or batch norm needs them innermost
    (``members_outer`` on each switched layer). Returns ``module``."""
    switched = []
    for m in module.modules():
        if type(m) in _DIRECT:
            m.__class__ = _DIRECT[type(m)]
            switched.append(m)
        elif type(m) is nn.MaxPool1d and _window(m, 1) is not None:
            m.__class__ = MappedMaxPool1d
        elif type(m) is nn.MaxPool2d and _window(m, 2) is not None:
            m.__class__ = MappedMaxPool2d
    outer = all(type(m) is MappedLinear for m in switched)
    for m in switched:
        m.__dict__["members_outer"] = outer  # a plain attribute, read by _outer
    return module
