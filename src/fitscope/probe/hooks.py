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
- each ``weight`` parameter W (the weights this step's forward pass used), and dL/dW as
  backward computes it (before any clipping or penalty): ``weight_norm|std|hist``,
  ``weight_grad_norm|std|hist``, ``unit_distance`` (weights of 2+ dims with 2+ units)
  and ``update_ratio`` = ||W_after - W_before|| / ||W_before||, the relative size of the
  step's update (recorded at the next :meth:`Probe.step`; not when W is all zero).

Only the first forward pass of the root module with gradients enabled is recorded on a
sampled step (evaluation under ``torch.no_grad()`` is not); a module called several
times in that pass (a shared ``nn.ReLU``) gets layers ``name``, ``name#2``, ...
Activations computed by functions (``F.relu``) are not modules and are not seen; the
pre-activations and gradients of the layers around them still are. On steps that are
not sampled every hook returns at once. Hooks are removed when the ``with`` block ends,
also on an exception.
"""

from __future__ import annotations

from collections.abc import Callable
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


class Probe:
    """Records per-layer statistics of ``model`` every ``every`` steps; see the module doc.

    ``records`` is a list of ``{"step": int, "layer": str, "quantity": str, "value":
    float | {"edges": [...], "counts": [...]}}`` dicts; histograms use ``bins`` bins
    (:func:`fitscope.probe.stats.histogram_edges`).
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
        self._handles: list[Any] = []
        self._step_handles: list[Any] = []
        self._scalars: list[tuple[str, str, tuple[Tensor, ...], Finish]] = []
        self._moment_keys: list[tuple[str, str, int, bool]] = []  # layer, prefix, numel, mean?
        self._moment_values: list[Tensor] = []  # sum, norm, sum, norm, ...
        self._codes: list[Tensor] = []  # for the histograms, one per moment key
        self._before: dict[str, Tensor] = {}
        self._calls: dict[str, int] = {}
        self._grads_seen: set[str] = set()
        self._sampled = self._active = False
        self._passes = 0

    # -- context --------------------------------------------------------------------
    def __enter__(self) -> Probe:
        for name, module in self.model.named_modules():
            kind = activation_kind(module)
            if kind is None and not isinstance(getattr(module, "weight", None), nn.Parameter):
                continue
            role = "preact" if kind is None else "act"
            self._info[module] = (layer_name(name), role, kind or "")
            self._handles.append(module.register_forward_hook(self._on_forward))
        self._handles.append(self.model.register_forward_pre_hook(self._on_root_call))
        self._begin_step()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._sampled and self._moment_keys:
                self._end_step(updated=False)
        finally:
            for handle in self._handles + self._step_handles:
                handle.remove()
            self._handles, self._step_handles = [], []
            self._sampled = self._active = False

    def step(self) -> None:
        """End the current step (call it after ``optimizer.step()``) and start the next."""
        if self._sampled:
            self._end_step(updated=True)
        self.current += 1
        self._begin_step()

    # -- step bookkeeping -----------------------------------------------------------
    def _begin_step(self) -> None:
        self._sampled = self._active = self.current % self.every == 0
        if not self._sampled:
            return
        self._passes, self._calls, self._grads_seen = 0, {}, set()
        self._before = {k: w.detach().clone() for k, w in self._weights.items()}
        self._step_handles = [w.register_hook(self._weight_grad_hook(k))
                              for k, w in self._weights.items()]

    def _end_step(self, updated: bool) -> None:
        for handle in self._step_handles:
            handle.remove()
        self._step_handles = []
        for layer, before in self._before.items():
            self._weight_stats(layer, before, self._weights[layer].detach() if updated else None)
        self._flush()
        self._before = {}

    def _weight_stats(self, layer: str, w: Tensor, after: Tensor | None) -> None:
        m = w.shape[0]
        norm = self._moments(layer, "weight", w, mean=False)
        if w.dim() >= 2 and m >= 2:
            self._add(layer, "unit_distance", (stats.unit_spread(w), norm),
                      lambda s, q: stats.unit_distance(s, q, m))
        if after is not None:
            self._add(layer, "update_ratio", (torch.linalg.vector_norm(after - w), norm),
                      lambda d, q: d / q if q > 0 else None)  # undefined when W = 0

    def _add(self, layer: str, quantity: str, tensors: tuple[Tensor, ...],
             finish: Finish = float) -> None:
        self._scalars.append((layer, quantity, tensors, finish))

    def _moments(self, layer: str, prefix: str, t: Tensor, mean: bool) -> Tensor:
        """Queue ``{prefix}_mean`` (if ``mean``, else ``_norm``), ``_std`` and ``_hist``
        of ``t``; return its norm (a tensor)."""
        total, l2 = stats.moments(t)
        self._moment_keys.append((layer, prefix, t.numel(), mean))
        self._moment_values += (total, l2)
        self._codes.append(stats.codes(t))
        return l2

    def _flush(self) -> None:
        """Turn the step's tensors into plain records (one conversion per step)."""
        step, records, add = self.current, self.records, self.records.append
        raw = stats.to_python(self._moment_values + [t for *_, ts, _ in self._scalars for t in ts])
        for i, (layer, prefix, n, mean) in enumerate(self._moment_keys):
            total, l2 = raw[2 * i], raw[2 * i + 1]
            first = (f"{prefix}_mean", total / n) if mean else (f"{prefix}_norm", l2)
            add({"step": step, "layer": layer, "quantity": first[0], "value": first[1]})
            add({"step": step, "layer": layer, "quantity": f"{prefix}_std",
                 "value": stats.std_from(total, l2, n)})
        k = 2 * len(self._moment_keys)
        for layer, quantity, ts, finish in self._scalars:
            value = finish(*raw[k:k + len(ts)])
            k += len(ts)
            if value is not None:
                add({"step": step, "layer": layer, "quantity": quantity, "value": value})
        if self._codes:
            counts = stats.histograms(self._codes, self.bins).tolist()
            for (layer, prefix, _, _), c in zip(self._moment_keys, counts):
                add({"step": step, "layer": layer, "quantity": f"{prefix}_hist",
                     "value": {"edges": list(self.edges), "counts": c}})
        self._scalars, self._moment_keys, self._moment_values, self._codes = [], [], [], []

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
        self._moments(layer, role, out, mean=True)
        n = out.numel()
        if kind == "relu":
            self._add(layer, "act_dead", (stats.unit_maxima(out),), stats.dead_fraction)
        elif kind in ("tanh", "sigmoid"):
            self._add(layer, "act_saturated", (stats.saturated_count(out, kind),),
                      lambda c: c / max(n, 1))
        if output.requires_grad:
            output.register_hook(self._output_grad_hook(layer, f"{role}_grad"))

    def _output_grad_hook(self, layer: str, prefix: str) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            self._moments(layer, prefix, grad, mean=False)
        return hook

    def _weight_grad_hook(self, layer: str) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            if layer not in self._grads_seen:  # the first backward of the step
                self._grads_seen.add(layer)
                self._moments(layer, "weight_grad", grad, mean=False)
        return hook


def probe(model: nn.Module, every: int = 10, bins: int = 30) -> Probe:
    """A :class:`Probe` on any ``nn.Module``, to use as ``with probe(model) as p:``.

    Call ``p.step()`` after each optimizer step; ``p.records`` holds the tidy records.
    See :mod:`fitscope.probe.hooks` for what is recorded and a five-line loop.
    """
    return Probe(model, every, bins)
