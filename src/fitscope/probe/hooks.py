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

from collections.abc import Callable
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


Finish = Callable[..., "float | None"]  # the tensors' Python values -> the record's value

# Tensors queued on a sampled step, by prefix: "act" and "preact" record mean, std and
# histogram; gradients and weights record norm, std and histogram; "_spread" (W - w_bar)
# and "_diff" (W_after - W_before) only give norms, for unit_distance and update_ratio.
_WITH_MEAN = ("act", "preact")


class Probe:
    """Records per-layer statistics of ``model`` every ``every`` steps; see the module doc.

    ``records`` is a list of ``{"step": int, "layer": str, "quantity": str, "value":
    float | {"edges": [...], "counts": [...]}}`` dicts; histograms use ``bins`` bins
    (:func:`fitscope.probe.stats.histogram_edges`). A sampled step's tensors are kept
    (flat, detached) until :meth:`step`, which computes all their statistics at once.
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
                         and m.weight.requires_grad}
        self._handles: list[Any] = []  # hooks of the sampled step in progress
        self._queued: list[tuple[str, str, Tensor]] = []  # (layer, prefix, flat float tensor)
        self._scalars: list[tuple[str, str, Tensor, Finish]] = []  # one tensor, then finish()
        self._before: dict[str, Tensor] = {}
        self._calls: dict[str, int] = {}
        self._grads: dict[tuple[str, str], Tensor] = {}  # (layer, prefix) -> dL/d(output)
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
            if self._sampled and self._queued and exc_type is None:
                self._end_step(updated=False)  # a step with no p.step() after it
        finally:
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
        self._passes, self._calls, self._grads = 0, {}, {}
        self._before = {k: w.detach().clone() for k, w in self._weights.items()}
        if not self._handles:  # still there when the previous step was sampled too
            self._handles = [m.register_forward_hook(self._on_forward) for m in self._info]
            self._handles.append(self.model.register_forward_pre_hook(self._on_root_call))

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _end_step(self, updated: bool) -> None:
        for (layer, prefix), grad in self._grads.items():
            self._queue(layer, prefix, grad.detach())
        for layer, w in self._before.items():
            self._queue(layer, "weight", w)
            if self._weights[layer].grad is not None:
                self._queue(layer, "weight_grad", self._weights[layer].grad.detach())
            if w.dim() >= 2 and w.shape[0] >= 2:
                self._queue(layer, "_spread", stats.unit_offsets(w))
            if updated:
                self._queue(layer, "_diff", self._weights[layer].detach() - w)
        self._flush()
        self._before, self._grads = {}, {}

    def _queue(self, layer: str, prefix: str, t: Tensor) -> None:
        flat = t.reshape(-1)
        self._queued.append((layer, prefix, flat if flat.dtype == torch.float32 else flat.float()))

    def _add(self, layer: str, quantity: str, t: Tensor, finish: Finish) -> None:
        self._scalars.append((layer, quantity, t, finish))

    def _flush(self) -> None:
        """Turn the step's tensors into plain records, with a few batched operations."""
        step, add = self.current, self.records.append
        queued = self._queued
        sums, norms, hists = stats.summarize([t for *_, t in queued],
                                             [prefix[0] != "_" for _, prefix, _ in queued],
                                             self.bins)
        weight_norms = {layer: q for (layer, prefix, _), q in zip(queued, norms)
                        if prefix == "weight"}
        for (layer, prefix, t), total, l2, counts in zip(queued, sums, norms, hists):
            if counts is not None:  # a recorded tensor: mean or norm, std, histogram
                n = t.numel()
                first = (prefix + "_mean", total / n) if prefix in _WITH_MEAN \
                    else (prefix + "_norm", l2)
                add({"step": step, "layer": layer, "quantity": first[0], "value": first[1]})
                add({"step": step, "layer": layer, "quantity": prefix + "_std",
                     "value": stats.std_from(total, l2, n)})
                add({"step": step, "layer": layer, "quantity": prefix + "_hist",
                     "value": {"edges": list(self.edges), "counts": counts}})
            elif prefix == "_spread":
                add({"step": step, "layer": layer, "quantity": "unit_distance",
                     "value": stats.unit_distance(l2, weight_norms[layer],
                                                  self._before[layer].shape[0])})
            elif weight_norms[layer] > 0:  # "_diff"; the update ratio is undefined when W = 0
                add({"step": step, "layer": layer, "quantity": "update_ratio",
                     "value": l2 / weight_norms[layer]})
        values = stats.to_python([t for *_, t, _ in self._scalars])
        for (layer, quantity, _, finish), v in zip(self._scalars, values):
            add({"step": step, "layer": layer, "quantity": quantity, "value": finish(v)})
        self._queued, self._scalars = [], []

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
        layer = name if calls == 0 else f"{name}#{calls + 1}"
        out = output.detach()  # statistics of a detached tensor build no graph
        self._queue(layer, role, out.clone())  # a copy: a later in-place op may change out
        if kind == "relu":
            self._add(layer, "act_dead", stats.unit_maxima(out), stats.dead_fraction)
        elif kind in ("tanh", "sigmoid"):
            n = out.numel()
            self._add(layer, "act_saturated", stats.saturated_count(out, kind),
                      lambda c: c / max(n, 1))
        if output.requires_grad:  # keep dL/d(output) when backward computes it (a C call)
            output.register_hook(partial(self._grads.__setitem__, (layer, f"{role}_grad")))


def probe(model: nn.Module, every: int = 10, bins: int = 30) -> Probe:
    """A :class:`Probe` on any ``nn.Module``, to use as ``with probe(model) as p:``.

    Call ``p.step()`` after each optimizer step; ``p.records`` holds the tidy records.
    See :mod:`fitscope.probe.hooks` for what is recorded and a five-line loop.
    """
    return Probe(model, every, bins)
