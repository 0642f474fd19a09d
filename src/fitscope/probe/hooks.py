"""The probe: per-layer records of activations, gradients and weights on sampled steps.

A plain PyTorch loop::

    with fitscope.probe(model, every=10) as p:
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            p.step()                      # one call per optimizer step
    records = p.records                   # [{"step", "layer", "quantity", "value"}, ...]

Step ``s`` is the step computed with the weights after ``s`` updates; it is sampled when
``s % every == 0`` (so step 0, at initialization, always is). On a sampled step:

- every module with a ``weight`` parameter (Linear, Conv, BatchNorm, ...) records its
  output as the pre-activation ``z``: ``preact_mean``, ``preact_std``, ``preact_hist``;
- every activation module (``torch.nn`` ReLU, Tanh, Sigmoid, GELU, ..., and Identity)
  records its output ``a``: ``act_mean``, ``act_std``, ``act_hist``, plus ``act_dead``
  (ReLU, ReLU6) or ``act_saturated`` (Tanh, Sigmoid) from :mod:`fitscope.probe.stats`;
- the gradient of the loss with respect to each of those outputs (dL/dz, dL/da):
  ``preact_grad_norm|std|hist`` and ``act_grad_norm|std|hist``;
- each ``weight`` parameter W (the weights this step's forward pass used), and its
  ``.grad`` when the step ends (the gradient the optimizer used, so call ``p.step()``
  before the next ``zero_grad()``): ``weight_norm|std|hist``,
  ``weight_grad_norm|std|hist``, ``unit_distance`` (weights of 2+ dims with 2+ units)
  and ``update_ratio`` = ||W_after - W_before|| / ||W_before||, the relative size of the
  step's update (recorded at the next :meth:`Probe.step`; not when W is all zero).

Only the first forward pass of the root module with gradients enabled is recorded on a
sampled step (evaluation under ``torch.no_grad()`` is not); a module called several
times in that pass (a shared ``nn.ReLU``) gets layers ``name``, ``name#2``, ...
Activations computed by functions (``F.relu``) are not modules and are not seen; the
pre-activations and gradients of the layers around them still are. On steps that are
not sampled the model is left alone: on a sampled step each probed module's ``forward``
is wrapped (an instance attribute that calls the module's own forward, then looks at the
output; a forward hook where the module has a ``forward`` attribute of its own), and the
wrappers go before a step that is not sampled and when the ``with`` block ends, also on
an exception. A copy or pickle of the model made meanwhile keeps its own forward.

How it stays cheap: a sampled step's outputs are copied into one buffer as the forward
pass makes them (laid out by an earlier step of the same shapes), the gradients and
weights when the step ends; one pass over that buffer gives every tensor's histogram and
sums (:func:`fitscope.probe.stats.partial_summary`); up to FLUSH_STEPS steps then become
records together (:attr:`Probe.records` finishes any pending ones when read). The
histogram records of a probe share one ``edges`` list: treat records as read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, NamedTuple, Self

import torch
from torch import Tensor, nn

from ..core.activations import COUNTED, TABLE
from . import stats

# the activations a probe counts, by module class (ReLU6 dies as ReLU does)
_KINDS = {**{TABLE[name].module: name for name in COUNTED}, nn.ReLU6: "relu"}


def activation_kind(module: nn.Module) -> str | None:
    """"relu", "tanh", "sigmoid", "other" for an activation module, else None.

    An activation module is any class of ``torch.nn.modules.activation`` without
    parameters of its own (so not MultiheadAttention), or ``nn.Identity`` (the
    "linear" activation of fitscope's MLP).
    """
    for cls, kind in _KINDS.items():
        if isinstance(module, cls):
            return kind
    is_act = type(module).__module__ == "torch.nn.modules.activation" and not any(
        True for _ in module.parameters(recurse=False))
    return "other" if is_act or isinstance(module, nn.Identity) else None


def layer_name(name: str) -> str:
    """The record's layer for a module name; the root module is ``"root"``."""
    return name or "root"


_WITH_MEAN = ("act", "preact")  # outputs record mean, std, hist; the rest norm, std, hist
_SATURATING_KINDS = tuple(k for k, by in COUNTED.items() if by == "saturated")  # act_saturated
_COUNTED = tuple(COUNTED)  # "relu" (dead) gives act_dead
_NAMES = {prefix: (prefix + ("_mean" if prefix in _WITH_MEAN else "_norm"), prefix + "_std",
                   prefix + "_hist") for prefix in ("act", "preact", "act_grad", "preact_grad")}
_WEIGHT_NAMES = ("weight_norm", "weight_std", "weight_hist")
_WEIGHT_GRAD_NAMES = ("weight_grad_norm", "weight_grad_std", "weight_grad_hist")


FLUSH_STEPS = 16  # sampled steps whose records are finished together
FLUSH_VALUES = 1 << 20  # or fewer, so that their weight copies hold at most this many values


def _as_float32(t: Tensor) -> Tensor:
    """``t`` detached, as float32 (a copy only when it is another dtype)."""
    if t.requires_grad:
        t = t.detach()
    return t if t.dtype == torch.float32 else t.float()


class _Output(NamedTuple):
    """One output a sampled step's forward pass made, as the probe keeps it."""

    module: nn.Module
    layer: str  # the record's layer (``name#2`` for a module's second call)
    role: str  # "preact" or "act"
    kind: str  # :func:`activation_kind`, "" for a pre-activation
    copy: Tensor  # float32 copy (a view of the plan's buffer when a plan is followed)
    keep: Tensor | None  # the output whose ``.grad`` autograd keeps; None: a leaf, hooked


class _Counts(NamedTuple):
    """What ``act_dead`` and ``act_saturated`` need of a step's activations: each ReLU's
    (layer, :func:`~fitscope.probe.stats.unit_maxima`), each tanh / sigmoid's (layer,
    number of values, :func:`~fitscope.probe.stats.saturated_count`), and, when both kinds
    occur, whether each counted activation is a ReLU, in forward order (else None)."""

    maxima: list[tuple[str, Tensor]]
    saturated: list[tuple[str, int, Tensor]]
    order: list[bool] | None


def _counts(outs: list[_Output]) -> _Counts:
    """The :class:`_Counts` of a step's outputs."""
    maxima = [(o.layer, stats.unit_maxima(o.copy)) for o in outs if o.kind == "relu"]
    saturated = [(o.layer, o.copy.numel(), stats.saturated_count(o.copy, o.kind))
                 for o in outs if o.kind in _SATURATING_KINDS]
    order = ([o.kind == "relu" for o in outs if o.kind in _COUNTED]
             if maxima and saturated else None)
    return _Counts(maxima, saturated, order)


class _Step(NamedTuple):
    """A sampled step between its summary and its records."""

    step: int
    keys: list[tuple[str, str]]  # (layer, prefix) of the outputs, then of their gradients
    n_outs: int
    wgrad_at: list[int | None]  # each weight's gradient's place in the buffer, if any
    updated: bool  # whether the buffer ends with W_after - W_before
    part: tuple[Tensor, Tensor, Tensor]  # :func:`fitscope.probe.stats.partial_summary`
    before: Tensor | None  # the weights the step started with, a block (unit distance)
    counts: _Counts


def _triple(step: int, layer: str, names: tuple[str, str, str], first: float, std: float,
            hist: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The three records of one tensor: ``names`` = (``*_mean`` or ``*_norm``, ``*_std``,
    ``*_hist``) with their values."""
    return ({"step": step, "layer": layer, "quantity": names[0], "value": first},
            {"step": step, "layer": layer, "quantity": names[1], "value": std},
            {"step": step, "layer": layer, "quantity": names[2], "value": hist})


def _class_forward(module: nn.Module) -> Any:
    """The forward of ``module``'s class, bound to it (what a copy of a probed module
    gets instead of the probe's :class:`_Forward`)."""
    return type(module).forward.__get__(module)


class _Forward:
    """A probed module's ``forward`` during a sampled step: the module's own forward,
    then the probe's look at its output (for the root module: first the start of a
    pass). Set as the module's instance attribute ``forward``, which ``Module.__call__``
    calls; it costs a fraction of a forward hook, whose dispatch in ``Module.__call__``
    takes several times what the probe does with the output. A copy or a pickle of the
    module gets the module's own forward instead."""

    __slots__ = ("captures", "forward", "module", "probe", "root")
    module: nn.Module

    def __init__(self, probe: Probe, module: nn.Module, captures: bool, root: bool):
        self.probe, self.module, self.forward = probe, module, _class_forward(module)
        self.captures, self.root = captures, root

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.root:
            self.probe._on_root_call(self.module, args)
        out = self.forward(*args, **kwargs)
        if self.captures:
            self.probe._on_forward(self.module, args, out)
        return out

    def __deepcopy__(self, memo: dict) -> Any:
        return _class_forward(memo.get(id(self.module), self.module))

    def __reduce__(self) -> tuple:
        return _class_forward, (self.module,)


class _Plan:
    """A step's buffer laid out in advance, for the steps shaped like the one it was
    made from: the outputs are copied into it as the forward pass makes them, the
    gradients and weights when the step ends, so no step copies a tensor twice.

    ``outs``: (module, shape) of each output in forward order; ``grad_of``: the outputs
    with a gradient, in backward order; ``wgrads``: the weights with a gradient;
    ``updated``: whether it holds W_after - W_before."""

    __slots__ = ("buffer", "diff_view", "end_views", "grad_of", "layout", "out_views", "outs",
                 "updated", "wgrads", "workspace")

    def __init__(self, outs: tuple, grad_of: tuple[int, ...], wgrads: tuple[int, ...],
                 updated: bool, sizes: list[int], shapes: list[tuple[int, ...]], hist: int,
                 bins: int, device: torch.device):
        self.outs, self.grad_of, self.wgrads, self.updated = outs, grad_of, wgrads, updated
        self.layout = stats.layout(tuple(sizes), hist, bins, device)
        starts = [0]
        for n in sizes:
            starts.append(starts[-1] + stats.padded_size(n))
        self.buffer = torch.zeros(starts[-1], device=device)
        self.workspace = stats.Workspace(self.buffer, self.layout)
        views = [self.buffer[a:a + n].view(shape)
                 for a, n, shape in zip(starts, sizes, shapes)]
        n_outs, n_acts = len(outs), len(outs) + len(grad_of)
        self.out_views = views[:n_outs]
        self.end_views = views[n_outs:n_acts]  # then the weight block, the weight gradients
        self.diff_view = None
        if shapes[n_acts:]:  # the weights, one block; their gradients; the update, one block
            n_weights = hist - n_acts - len(wgrads)
            block = starts[n_acts + n_weights] - starts[n_acts]
            self.end_views.append(self.buffer[starts[n_acts]:starts[n_acts] + block])
            self.end_views += views[n_acts + n_weights:hist]
            if updated:
                self.diff_view = self.buffer[starts[hist]:starts[hist] + block]

    def fill(self, grads: list[Tensor], before: Tensor | None, wgrads: list[Tensor],
             after: Tensor | None) -> None:
        """Copy the end of a step shaped like this plan's into the buffer: the outputs'
        gradients, the weights' block and the weights' gradients, and W_after - W_before
        when the plan holds it (the outputs were copied as the forward pass made them)."""
        ends = grads + ([before] if before is not None else []) + wgrads
        for view, t in zip(self.end_views, ends, strict=True):
            view.copy_(t)
        if after is not None and before is not None:  # the plan holds the update
            torch.sub(after, before, out=self.diff_view)


class Probe:
    """Records per-layer statistics of ``model`` every ``every`` steps; see the module doc.

    ``records`` is a list of ``{"step": int, "layer": str, "quantity": str, "value":
    float | {"edges": [...], "counts": [...]}}`` dicts; histograms use ``bins`` bins
    (:func:`fitscope.probe.stats.histogram_edges`). A sampled step keeps copies of its
    outputs and weights, and the gradients, until :meth:`step`, which lays them end to
    end in one buffer and reduces it (histograms, sums per CHUNK values). Up to
    FLUSH_STEPS such steps then become records together: when they are that many, when
    the model's shapes change, when ``records`` is read and when the ``with`` block ends.
    """

    def __repr__(self) -> str:
        from ..display import probe_repr

        return probe_repr(self)

    def _repr_html_(self) -> str:
        """The last probed step per layer (:mod:`fitscope.display`)."""
        from ..display import probe_html

        return probe_html(self)

    def __init__(self, model: nn.Module, every: int = 10, bins: int = 30):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Argument `model` must be an nn.Module. Received: "
                            f"model={type(model).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"Argument `every` must be an int >= 1. Received: every={every!r}")
        self.edges = list(stats.histogram_edges(bins))
        # one list shared by the histogram records (read-only, like the records)
        self._edges = list(self.edges)
        self.model, self.every, self.bins = model, every, bins
        self.current = 0  # the step in progress = optimizer updates done so far
        self._records: list[dict[str, Any]] = []
        self._info: dict[nn.Module, tuple[str, str, str]] = {}  # module -> (layer, role, kind)
        self._weights = {layer_name(n): m.weight for n, m in model.named_modules()
                         if isinstance(getattr(m, "weight", None), nn.Parameter)
                         and m.weight.requires_grad and m.weight.numel() > 0}
        self._sizes = [w.numel() for w in self._weights.values()]
        self._weight_pieces = stats.padded(list(self._weights.values()))  # for a weight block
        self._weight_device = self._weight_pieces[0].device if self._weights else None
        self._starts = [sum(map(stats.padded_size, self._sizes[:i]))
                        for i in range(len(self._sizes))]  # in a weight block
        self._block = sum(map(stats.padded_size, self._sizes))  # values in a weight block
        # units of the weights with 2+ dims and 2+ units (unit distance), else None
        self._units = [w.shape[0] if w.dim() >= 2 and w.shape[0] >= 2 else None
                       for w in self._weights.values()]
        self._handles: list[Any] = []  # hooks of the sampled step in progress
        self._outs: list[_Output] = []  # the step's outputs
        self._retained: list[Tensor] = []  # outputs whose .grad we asked autograd to keep
        self._grads: dict[int, Tensor] = {}  # index in _outs -> dL/d(output) (leaf outputs)
        self._before: Tensor | None = None  # the weights at the step's start, a block
        self._after: Tensor | None = None  # the weights after the last sampled step
        self._plans: dict[tuple, _Plan] = {}  # by (module, shape) of a step's first output
        self._plan: _Plan | None = None  # the plan the step in progress follows, if any
        self._pending: list[_Step] = []  # summarized steps waiting for their records
        self._pending_layout: stats.Layout | None = None
        self._calls: dict[str, int] = {}
        self._sampled = self._active = False
        self._passes = 0

    @property
    def records(self) -> list[dict[str, Any]]:
        """The tidy records of the sampled steps so far."""
        if self._pending:
            self._flush()
        return self._records

    # -- context --------------------------------------------------------------------
    def __enter__(self) -> Self:
        for name, module in self.model.named_modules():
            kind = activation_kind(module)
            if kind is not None or isinstance(getattr(module, "weight", None), nn.Parameter):
                role = "preact" if kind is None else "act"
                self._info[module] = (layer_name(name), role, kind or "")
        self._begin_step()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                if self._sampled and self._outs:
                    self._end_step(updated=False)  # a step with no p.step() after it
                self._flush()
            elif self._pending:  # keep the steps done; the block's exception is the news
                try:
                    self._flush()
                except Exception:  # noqa: BLE001
                    self._pending = []
        finally:
            self._release()
            self._remove_hooks()
            self._sampled = self._active = False
            self._after = None

    def step(self) -> None:
        """End the current step (call it after ``optimizer.step()``) and start the next."""
        if self._sampled:
            self._end_step(updated=True)
        self.current += 1
        if self.current % self.every:
            self._remove_hooks()
        self._begin_step()

    # -- step bookkeeping: hooks exist only during sampled steps ---------------------
    def _begin_step(self) -> None:
        after, self._after = self._after, None
        self._sampled = self._active = self.current % self.every == 0
        if not self._sampled:
            return
        self._passes, self._calls, self._outs, self._grads = 0, {}, [], {}
        self._plan = None
        # the weights right after the previous step's update, when that step was sampled
        self._before = after if after is not None else self._weight_block()
        if not self._handles:  # still there when the previous step was sampled too
            self._add_hooks()

    def _add_hooks(self) -> None:
        """A :class:`_Forward` on each probed module and the root (a forward hook, and a
        forward pre-hook on the root, where the module's forward cannot be replaced)."""
        root = self.model
        for m in [*self._info, root] if root not in self._info else list(self._info):
            is_root = m is root
            if "forward" in m.__dict__ or isinstance(m, torch.jit.ScriptModule):
                if m in self._info:
                    self._handles.append(m.register_forward_hook(self._on_forward))
                if is_root:
                    self._handles.append(m.register_forward_pre_hook(self._on_root_call))
                continue
            wrapper = _Forward(self, m, m in self._info, is_root)
            m.__dict__["forward"] = wrapper
            self._handles.append(wrapper)

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            if isinstance(handle, _Forward):
                own = handle.module.__dict__
                if own.get("forward") is handle:
                    del own["forward"]
            else:
                handle.remove()
        self._handles = []

    def _release(self) -> None:
        """Drop the step's tensors; the outputs' gradients kept for us go too."""
        for out in self._retained:
            out.grad = None
        self._retained, self._outs, self._grads, self._before = [], [], {}, None
        self._plan = None

    def _weight_block(self) -> Tensor | None:
        """All weights, each padded (:func:`fitscope.probe.stats.padded`), end to end in
        a new float32 tensor; None for a model without weights."""
        if not self._weights:
            return None
        pieces = self._weight_pieces
        if pieces[0].device != self._weight_device:  # the model moved: its padding too
            self._weight_device = pieces[0].device
            pieces = self._weight_pieces = stats.padded(list(self._weights.values()))
        with torch.no_grad():  # a plain copy, outside autograd
            block = stats.flatten(pieces)
        return block if block.dtype == torch.float32 else block.float()

    def _output_grads(self) -> tuple[list[Tensor], list[int]]:
        """dL/d(output) of each output that has one, float32, in backward order (the
        last output first), and the index in ``_outs`` of each."""
        grads, grad_of = [], []
        for i in range(len(self._outs) - 1, -1, -1):
            keep = self._outs[i].keep
            grad = self._grads.get(i) if keep is None else keep.grad
            if grad is not None:
                grads.append(_as_float32(grad))
                grad_of.append(i)
        return grads, grad_of

    def _weight_grads(self, first: int) -> tuple[list[Tensor], list[int | None], list[int]]:
        """Each weight's ``.grad`` that exists (float32), each weight's gradient's place
        in the buffer (its tensors from ``first`` on are the weights' block, then these
        gradients) or None, and the index of each weight that has one."""
        wgrads, wgrad_at, wgrad_mask = [], [], []
        j = first + len(self._sizes)
        for w, weight in enumerate(self._weights.values()):
            g = weight.grad
            wgrad_at.append(None if g is None else j)
            if g is not None:
                wgrads.append(_as_float32(g))
                wgrad_mask.append(w)
                j += 1
        return wgrads, wgrad_at, wgrad_mask

    def _end_step(self, updated: bool) -> None:
        """Lay the step's tensors end to end in one buffer and reduce it.

        The buffer, histogrammed first: the outputs, their gradients, the weights (a
        block) and the weight gradients; then, for its norms only, W_after - W_before
        (update ratio, a block). W - w_bar (unit distance) comes later, for several
        steps at once, from the weight blocks. A step shaped like an earlier one uses
        that step's :class:`_Plan` (its outputs are already in the buffer); another
        step is copied into a new buffer, and makes a plan for the next ones."""
        outs, before = self._outs, self._before
        grads, grad_of = self._output_grads()
        keys = ([(o.layer, o.role) for o in outs]
                + [(outs[i].layer, outs[i].role + "_grad") for i in grad_of])
        wgrads, wgrad_at, wgrad_mask = (self._weight_grads(len(keys)) if before is not None
                                        else ([], [], []))
        updated = updated and before is not None
        after = self._weight_block() if updated else None
        counts = _counts(outs)
        plan = self._plan
        if (plan is not None and len(outs) == len(plan.outs) and plan.updated == updated
                and tuple(grad_of) == plan.grad_of and tuple(wgrad_mask) == plan.wgrads):
            plan.fill(grads, before, wgrads, after)
            buffer, lay, ws = plan.buffer, plan.layout, plan.workspace
        else:  # a new buffer, and a plan for the steps shaped like this one
            made = self._new_buffer(grads, grad_of, wgrads, wgrad_mask, before, after)
            if made is None:
                self._release()
                return
            (buffer, lay), ws = made, None
        self._release()
        self._after = after
        if self._pending and (lay is not self._pending_layout
                              or len(self._pending) * self._block >= FLUSH_VALUES):
            self._flush()
        self._pending_layout = lay
        self._pending.append(_Step(self.current, keys, len(outs), wgrad_at, updated,
                                   stats.partial_summary(buffer, lay, ws), before, counts))
        if len(self._pending) >= FLUSH_STEPS:
            self._flush()

    def _new_buffer(self, grads: list[Tensor], grad_of: list[int], wgrads: list[Tensor],
                    wgrad_mask: list[int], before: Tensor | None, after: Tensor | None
                    ) -> tuple[Tensor, stats.Layout] | None:
        """The step's tensors copied end to end into a new buffer, with its layout, and
        a :class:`_Plan` kept for the steps shaped like this one; None when the step has
        no tensors."""
        outs = self._outs
        tensors = [o.copy for o in outs] + grads
        pieces, sizes = stats.padded(tensors), [t.numel() for t in tensors]
        shapes = [tuple(t.shape) for t in tensors]
        if before is not None:
            pieces.append(before)
            pieces += stats.padded(wgrads)
            sizes += self._sizes + [g.numel() for g in wgrads]
            shapes += [(n,) for n in self._sizes] + [tuple(g.shape) for g in wgrads]
        hist = len(sizes)
        updated = after is not None and before is not None
        if after is not None and before is not None:
            pieces.append(after - before)
            sizes += self._sizes
            shapes += [(n,) for n in self._sizes]
        if not sizes:
            return None
        buffer = stats.flatten(pieces)
        if outs:
            self._plans[(outs[0].module, outs[0].copy.shape)] = _Plan(
                tuple((o.module, o.copy.shape) for o in outs), tuple(grad_of),
                tuple(wgrad_mask), updated, sizes, shapes, hist, self.bins, buffer.device)
            if len(self._plans) > 8:
                del self._plans[next(iter(self._plans))]
        return buffer, stats.layout(tuple(sizes), hist, self.bins, buffer.device)

    def _flush(self) -> None:
        """Turn the pending steps (of one layout) into records, in a few batched
        operations: their sums and histograms (:func:`fitscope.probe.stats.summarize`),
        W - w_bar of each weight of each step (unit distance), dead units and saturated
        values; then each step's records (:meth:`_step_records`)."""
        steps, self._pending = self._pending, []
        if not steps:
            return
        lay = self._pending_layout
        assert lay is not None  # set with the first pending step
        means, stds, norms, hists = stats.summarize(lay, [s.part for s in steps])
        spreads = self._unit_spreads(steps)
        maxima = [m for s in steps for _, m in s.counts.maxima]
        maxima_values = iter(torch.cat(maxima).tolist() if maxima else [])
        counts = [c for s in steps for _, _, c in s.counts.saturated]
        count_values = iter(torch.stack(counts).tolist() if counts else [])
        for b, s in enumerate(steps):
            hist = [{"edges": self._edges, "counts": c} for c in hists[b]]
            self._output_records(s, means[b], stds[b], norms[b], hist)
            if s.before is not None:
                self._weight_records(s, stds[b], norms[b], hist, [v[b] for v in spreads],
                                     lay.hist)
            self._count_records(s, maxima_values, count_values)

    def _unit_spreads(self, steps: list[_Step]) -> list[list[float]]:
        """||W - w_bar|| (:func:`fitscope.probe.stats.unit_spreads`) of each weight with
        units, one value per step, from the steps' weight blocks."""
        befores = [s.before for s in steps if s.before is not None]  # all or none
        if not befores or all(m is None for m in self._units):
            return []
        n = len(steps)
        blocks = torch.stack(befores)
        return torch.stack([
            stats.unit_spreads(blocks.as_strided((n, m, size // m), (self._block, size // m, 1),
                                                 start))
            for start, size, m in zip(self._starts, self._sizes, self._units)
            if m is not None]).tolist()

    def _output_records(self, s: _Step, mean: list[float], std: list[float],
                        norm: list[float], hist: list[dict[str, Any]]) -> None:
        """Per output z (``preact``: a weighted module's output; ``act``: an activation's)
        ``{role}_mean`` = mean(z), ``{role}_std`` and ``{role}_hist``; per gradient
        g = dL/dz, ``{role}_grad_norm`` = ||g||, ``{role}_grad_std`` and
        ``{role}_grad_hist`` (:func:`fitscope.probe.stats.summarize`), the outputs in
        forward order, then the gradients in backward order."""
        records, step, n_outs = self._records, s.step, s.n_outs
        for i, (layer, prefix) in enumerate(s.keys):
            records += _triple(step, layer, _NAMES[prefix],
                               mean[i] if i < n_outs else norm[i], std[i], hist[i])

    def _weight_records(self, s: _Step, std: list[float], norm: list[float],
                        hist: list[dict[str, Any]], spreads: list[float],
                        update_at: int) -> None:
        """Per weight W (the weights this step's forward pass used): ``weight_norm`` =
        ||W||, ``weight_std``, ``weight_hist``; of its gradient G = dL/dW (what the
        optimizer used) ``weight_grad_norm`` = ||G||, ``weight_grad_std``,
        ``weight_grad_hist``; ``unit_distance`` (:func:`fitscope.probe.stats.unit_distance`,
        2+ dims and 2+ units); ``update_ratio`` = ||W_after - W_before|| / ||W_before||
        (the relative size of the step's update; not when W = 0, where it is undefined).
        ``spreads``: ||W - w_bar|| of each weight with units; ``update_at``: the index of
        the first W_after - W_before in the step's buffer."""
        records, step, first = self._records, s.step, len(s.keys)
        spread = iter(spreads)
        for w, (layer, m) in enumerate(zip(self._weights, self._units)):
            i = first + w
            records += _triple(step, layer, _WEIGHT_NAMES, norm[i], std[i], hist[i])
            j = s.wgrad_at[w]
            if j is not None:
                records += _triple(step, layer, _WEIGHT_GRAD_NAMES, norm[j], std[j], hist[j])
            if m is not None:
                records.append({"step": step, "layer": layer, "quantity": "unit_distance",
                                "value": stats.unit_distance(next(spread), norm[i], m)})
            if s.updated and norm[i] > 0:
                records.append({"step": step, "layer": layer, "quantity": "update_ratio",
                                "value": norm[update_at + w] / norm[i]})

    def _count_records(self, s: _Step, maxima: Iterator[float], counts: Iterator[float]
                       ) -> None:
        """``act_dead`` of each ReLU (:func:`fitscope.probe.stats.dead_fraction`) and
        ``act_saturated`` of each tanh / sigmoid (the share of its values where
        :func:`fitscope.probe.stats.saturated` holds), in forward order. ``maxima`` and
        ``counts``: the values of all flushed steps' unit maxima and saturated counts,
        read on from where the previous step stopped."""
        step = s.step
        dead = [{"step": step, "layer": layer, "quantity": "act_dead",
                 "value": stats.dead_fraction([next(maxima) for _ in range(m.numel())])}
                for layer, m in s.counts.maxima]
        saturated = [{"step": step, "layer": layer, "quantity": "act_saturated",
                      "value": next(counts) / size} for layer, size, _ in s.counts.saturated]
        if s.counts.order is None:
            self._records += dead + saturated
        else:
            dead.reverse()
            saturated.reverse()
            self._records += [(dead if is_relu else saturated).pop() for is_relu in s.counts.order]

    # -- hooks ----------------------------------------------------------------------
    def _on_root_call(self, module: nn.Module, inputs: Any) -> None:
        if self._sampled and torch.is_grad_enabled():
            self._passes += 1
            self._active = self._passes == 1

    def _on_forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not self._active or not isinstance(output, Tensor) or not torch.is_grad_enabled():
            return
        name, role, kind = self._info[module]
        calls = self._calls.get(name, 0)
        self._calls[name] = calls + 1
        if output.numel() == 0:  # no statistics of nothing
            return
        layer = name if calls == 0 else f"{name}#{calls + 1}"
        # a copy: the statistics come later, and a later in-place op may change the output
        i, plan = len(self._outs), self._plan
        if i == 0:
            plan = self._plan = self._plans.get((module, output.shape))
        if plan is not None and i < len(plan.outs) and plan.outs[i][0] is module \
                and plan.outs[i][1] == output.shape:
            copy = plan.out_views[i]
            copy.copy_(output.detach())  # a plain copy, outside autograd
        else:
            self._plan = None
            copy = output.detach()
            copy = copy.clone() if copy.dtype == torch.float32 else copy.float()
        keep = None  # dL/d(output), when backward computes it
        if output.requires_grad:
            if output.grad_fn is not None:  # autograd keeps it in .grad for us (a C call)
                if not output.retains_grad:
                    output.retain_grad()
                    self._retained.append(output)
                keep = output
            else:  # a leaf (an input passed through): its .grad accumulates, so hook it
                output.register_hook(partial(self._grads.__setitem__, i))
        self._outs.append(_Output(module, layer, role, kind, copy, keep))


def probe(model: nn.Module, every: int = 10, bins: int = 30) -> Probe:
    """A :class:`Probe` on any ``nn.Module``, to use as ``with probe(model) as p:``.

    Call ``p.step()`` after each optimizer step; ``p.records`` holds the tidy records.
    See :mod:`fitscope.probe.hooks` for what is recorded and a five-line loop.
    """
    return Probe(model, every, bins)
