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
not sampled there are no hooks at all: they are added when a sampled step begins and
removed before a step that is not sampled, and when the ``with`` block ends, also on an
exception.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from . import stats

_DEAD_KINDS = (nn.ReLU, nn.ReLU6)
_SATURATING = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


def activation_kind(module: nn.Module) -> str | None:
    """"relu", "tanh", "sigmoid", "other" for an activation module, else None.

    An activation module is any class of ``torch.nn.modules.activation`` without
    parameters of its own (so not MultiheadAttention), or ``nn.Identity`` (the
    "linear" activation of fitscope's MLP).
    """
    if isinstance(module, _DEAD_KINDS):
        return "relu"
    for cls, kind in _SATURATING.items():
        if isinstance(module, cls):
            return kind
    is_act = type(module).__module__ == "torch.nn.modules.activation" and not any(
        True for _ in module.parameters(recurse=False))
    return "other" if is_act or isinstance(module, nn.Identity) else None


def layer_name(name: str) -> str:
    """The record's layer for a module name; the root module is ``"root"``."""
    return name or "root"


# A step's tensors, by prefix: "act" and "preact" record mean, std and histogram;
# gradients and weights record norm, std and histogram; "_spread" (W - w_bar) and "_diff"
# (W_after - W_before) only give norms, for unit_distance and update_ratio.
_WITH_MEAN = ("act", "preact")
_SATURATING_KINDS = ("tanh", "sigmoid")  # act_saturated; "relu" gives act_dead


def _as_float32(t: Tensor) -> Tensor:
    """``t`` detached, as float32 (a copy only when it is another dtype)."""
    t = t.detach()
    return t if t.dtype == torch.float32 else t.float()


class Probe:
    """Records per-layer statistics of ``model`` every ``every`` steps; see the module doc.

    ``records`` is a list of ``{"step": int, "layer": str, "quantity": str, "value":
    float | {"edges": [...], "counts": [...]}}`` dicts; histograms use ``bins`` bins
    (:func:`fitscope.probe.stats.histogram_edges`). A sampled step keeps copies of the
    outputs and weights, and the outputs' gradients, until :meth:`step`, which computes
    all their statistics at once (:func:`fitscope.probe.stats.summarize`) and appends
    the step's records.
    """

    def __init__(self, model: nn.Module, every: int = 10, bins: int = 30):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Argument `model` must be an nn.Module. Received: "
                            f"model={type(model).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"Argument `every` must be an int >= 1. Received: every={every!r}")
        self.edges = list(stats.histogram_edges(bins))
        self.model, self.every, self.bins = model, every, bins
        self.records: list[dict[str, Any]] = []
        self.current = 0  # the step in progress = optimizer updates done so far
        self._info: dict[nn.Module, tuple[str, str, str]] = {}  # module -> (layer, role, kind)
        self._weights = {layer_name(n): m.weight for n, m in model.named_modules()
                         if isinstance(getattr(m, "weight", None), nn.Parameter)
                         and m.weight.requires_grad and m.weight.numel() > 0}
        self._sizes = [w.numel() for w in self._weights.values()]
        # W - w_bar per unit: (layer, units) of the weights with 2+ dims and 2+ units
        self._units = [(layer, w.shape[0]) if w.dim() >= 2 and w.shape[0] >= 2 else None
                       for layer, w in self._weights.items()]
        self._handles: list[Any] = []  # hooks of the sampled step in progress
        # the step's outputs: (layer, role, kind, float32 copy, output whose .grad we read)
        self._outs: list[tuple[str, str, str, Tensor, Tensor | None]] = []
        self._retained: list[Tensor] = []  # outputs whose .grad we asked autograd to keep
        self._grads: dict[int, Tensor] = {}  # index in _outs -> dL/d(output) (leaf outputs)
        self._before: Tensor | None = None  # all weights at the step's start, a flat block
        self._calls: dict[str, int] = {}
        self._sampled = self._active = False
        self._passes = 0

    # -- context --------------------------------------------------------------------
    def __enter__(self) -> Probe:
        for name, module in self.model.named_modules():
            kind = activation_kind(module)
            if kind is not None or isinstance(getattr(module, "weight", None), nn.Parameter):
                role = "preact" if kind is None else "act"
                self._info[module] = (layer_name(name), role, kind or "")
        self._begin_step()
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        try:
            if self._sampled and self._outs and exc_type is None:
                self._end_step(updated=False)  # a step with no p.step() after it
        finally:
            self._release()
            self._remove_hooks()
            self._sampled = self._active = False

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
        self._sampled = self._active = self.current % self.every == 0
        if not self._sampled:
            return
        self._passes, self._calls, self._outs, self._grads = 0, {}, [], {}
        self._before = self._weight_block()
        if not self._handles:  # still there when the previous step was sampled too
            self._handles = [m.register_forward_hook(self._on_forward) for m in self._info]
            self._handles.append(self.model.register_forward_pre_hook(self._on_root_call))

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _release(self) -> None:
        """Drop the step's tensors; the outputs' gradients kept for us go too."""
        for out in self._retained:
            out.grad = None
        self._retained, self._outs, self._grads, self._before = [], [], {}, None

    def _weight_block(self) -> Tensor | None:
        """All weights, each padded (:func:`fitscope.probe.stats.padded`), end to end in
        a new float32 tensor; None for a model without weights."""
        if not self._weights:
            return None
        return stats.flatten(stats.padded([_as_float32(w) for w in self._weights.values()]))

    def _end_step(self, updated: bool) -> None:
        """Summarize the step's tensors in one batch and append its records.

        The batch (:func:`fitscope.probe.stats.summarize`): histogrammed first, the
        outputs, their gradients, the weights (one block), the weight gradients; then,
        only for their norms, W - w_bar of each weight (unit distance) and W_after -
        W_before (update ratio, one block)."""
        outs, before, weights = self._outs, self._before, self._weights
        tensors = [t for _, _, _, t, _ in outs]
        keys = [(layer, role) for layer, role, _, _, _ in outs]
        for i in range(len(outs) - 1, -1, -1):  # gradients in backward order
            layer, role, _, _, out = outs[i]
            grad = self._grads.get(i) if out is None else out.grad
            if grad is not None:
                keys.append((layer, role + "_grad"))
                tensors.append(_as_float32(grad))
        n_acts = len(keys)
        pieces = stats.padded(tensors)
        sizes = [t.numel() for t in tensors]
        if before is not None:
            keys += [(layer, "weight") for layer in weights]
            pieces.append(before)
            sizes += self._sizes
            wgrads = [(layer, _as_float32(w.grad)) for layer, w in weights.items()
                      if w.grad is not None]
            keys += [(layer, "weight_grad") for layer, _ in wgrads]
            pieces += stats.padded([g for _, g in wgrads])
            sizes += [g.numel() for _, g in wgrads]
        hist = len(keys)
        if before is not None:
            blocks = torch.split_with_sizes(before, [n + (-n % stats.CHUNK) for n in self._sizes])
            spreads = []
            for unit, w, n in zip(self._units, blocks, self._sizes):
                if unit is not None:
                    keys.append((unit[0], "_spread"))
                    spreads.append(stats.unit_offsets(w[:n].view(unit[1], -1)))
            pieces += stats.padded(spreads)
            sizes += [t.numel() for t in spreads]
            if updated:
                keys += [(layer, "_diff") for layer in weights]
                pieces.append(self._weight_block() - before)
                sizes += self._sizes
        relu = [(layer, stats.unit_maxima(t)) for layer, _, kind, t, _ in outs if kind == "relu"]
        saturating = [(layer, t.numel(), stats.saturated_count(t, kind))
                      for layer, _, kind, t, _ in outs if kind in _SATURATING_KINDS]
        self._release()
        if keys:
            sums, squares, hists = stats.summarize(pieces, tuple(sizes), hist, self.bins)
        maxima = torch.cat([m for _, m in relu]).tolist() if relu else []
        counts = torch.stack([c for _, _, c in saturating]).tolist() if saturating else []

        step, add, edges, std = self.current, self.records.append, self.edges, stats.std_from
        for i in range(n_acts):  # outputs (forward order), then their gradients
            (layer, prefix), n = keys[i], sizes[i]
            if prefix in _WITH_MEAN:
                add({"step": step, "layer": layer, "quantity": prefix + "_mean",
                     "value": sums[i] / n})
            else:
                add({"step": step, "layer": layer, "quantity": prefix + "_norm",
                     "value": math.sqrt(squares[i])})
            add({"step": step, "layer": layer, "quantity": prefix + "_std",
                 "value": std(sums[i], squares[i], n)})
            add({"step": step, "layer": layer, "quantity": prefix + "_hist",
                 "value": {"edges": list(edges), "counts": hists[i]}})
        at = {key: i for i, key in enumerate(keys[n_acts:], n_acts)}
        for layer, unit in zip(weights, self._units):
            i = at.get((layer, "weight"))
            if i is None:
                break
            norm = math.sqrt(squares[i])
            for j in (i, at.get((layer, "weight_grad"))):
                if j is not None:
                    prefix = keys[j][1]
                    add({"step": step, "layer": layer, "quantity": prefix + "_norm",
                         "value": math.sqrt(squares[j])})
                    add({"step": step, "layer": layer, "quantity": prefix + "_std",
                         "value": std(sums[j], squares[j], sizes[j])})
                    add({"step": step, "layer": layer, "quantity": prefix + "_hist",
                         "value": {"edges": list(edges), "counts": hists[j]}})
            if unit is not None:
                add({"step": step, "layer": layer, "quantity": "unit_distance",
                     "value": stats.unit_distance(math.sqrt(squares[at[(layer, "_spread")]]),
                                                  norm, unit[1])})
            j = at.get((layer, "_diff"))
            if j is not None and norm > 0:  # the update ratio is undefined when W = 0
                add({"step": step, "layer": layer, "quantity": "update_ratio",
                     "value": math.sqrt(squares[j]) / norm})
        start = 0
        for layer, m in relu:
            units = m.numel()
            add({"step": step, "layer": layer, "quantity": "act_dead",
                 "value": stats.dead_fraction(maxima[start:start + units])})
            start += units
        for (layer, n, _), c in zip(saturating, counts):
            add({"step": step, "layer": layer, "quantity": "act_saturated", "value": c / n})

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
                output.register_hook(partial(self._grads.__setitem__, len(self._outs)))
        self._outs.append((layer, role, kind, copy, keep))


def probe(model: nn.Module, every: int = 10, bins: int = 30) -> Probe:
    """A :class:`Probe` on any ``nn.Module``, to use as ``with probe(model) as p:``.

    Call ``p.step()`` after each optimizer step; ``p.records`` holds the tidy records.
    See :mod:`fitscope.probe.hooks` for what is recorded and a five-line loop.
    """
    return Probe(model, every, bins)
