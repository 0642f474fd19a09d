"""Per-member probe records, in the sequential engine's format.

:class:`fitscope.probe.hooks.Probe` records, every ``probe_every`` steps, tidy
``{"step", "layer", "quantity", "value"}`` dicts for one model. This module records the
same quantities under the same layer names at the same steps for every member of a
population, with the probe's own statistics (:mod:`fitscope.probe.stats`): its tensor
functions run for all members at once under ``torch.vmap``, its Python finishing
functions (standard deviation, dead fraction, unit distance) per member, and its
histograms count every member's values in one pass. What is recorded on a sampled step:

- each pre-activation output (``hidden.i.linear``, ``hidden.i.bn``, ``out``) and
  activation output (``hidden.i.act``): ``preact_|act_`` ``mean``, ``std``, ``hist``,
  ``act_dead`` (ReLU) or ``act_saturated`` (tanh, sigmoid), and the gradient of the
  member's loss with respect to it: ``..._grad_norm``, ``_grad_std``, ``_grad_hist``;
- each weight (the weights the step's forward pass used, before weight noise):
  ``weight_norm``, ``weight_std``, ``weight_hist``, ``unit_distance`` (2+ units),
  ``update_ratio`` (not on the step a member diverged, nor for an all-zero weight), and
  the raw gradient (before penalties and clipping): ``weight_grad_norm``,
  ``weight_grad_std``, ``weight_grad_hist``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..probe import stats
from .stacked import StackedMLP

_moments = torch.vmap(stats.moments)  # (N, ...) -> sums (N,), norms (N,)
_unit_spread = torch.vmap(stats.unit_spread)
_unit_maxima = torch.vmap(stats.unit_maxima)
_saturated_count = torch.vmap(stats.saturated_count, in_dims=(0, None))

Tap = tuple[str, str, Tensor]  # (layer, "preact" | "act", output (N, B, units))


class PopulationProbe:
    """Probe records for each member of ``net``; ``records[j]`` belongs to the j-th
    member the population started with."""

    def __init__(self, net: StackedMLP, every: int, bins: int, activation: str):
        self.net, self.every, self.bins = net, every, bins
        self.kind = activation if activation in ("relu", "tanh", "sigmoid") else ""
        self.edges = list(stats.histogram_edges(bins))
        self.records: list[list[dict[str, Any]]] = [[] for _ in range(net.n)]
        self.rows = list(range(net.n))  # member index of each row still training
        self.weights = [name[:-len(".weight")] for name in net.names if name.endswith(".weight")]
        self.taps: list[Tap] = []
        self.before: Tensor | None = None
        self.step = 0
        self._clear()

    def _clear(self) -> None:
        self.moment_keys: list[tuple[str, str, int, bool]] = []  # layer, prefix, numel, mean?
        self.moment_values: list[Tensor] = []  # sums (N,), norms (N,), ...
        self.codes: list[Tensor] = []  # (N, numel) histogram codes, one per moment key
        self.scalars: list[tuple[str, str, tuple[Tensor, ...], Callable]] = []

    def sampled(self, step: int) -> bool:
        return step % self.every == 0

    def begin(self, flat: Tensor, step: int) -> list[Tap]:
        """Start probing step ``step`` (before weight noise): keep the weights; return the
        list the forward pass fills with its taps."""
        self.step, self.before, self.taps = step, flat.detach().clone(), []
        return self.taps

    def gradients(self, g: Tensor) -> None:
        """After backward: the taps' outputs and gradients, and the raw weight gradients
        (the rows of ``g``)."""
        with torch.no_grad():
            for layer, role, out in self.taps:
                self._outputs(layer, role, out.detach())
            grads = self.net.split(g)
            for layer, role, out in reversed(self.taps):
                if out.grad is not None:
                    self._moments(layer, f"{role}_grad", out.grad, mean=False)
                if f"{layer}.weight" in grads:
                    self._moments(layer, "weight_grad", grads[f"{layer}.weight"], mean=False)
        self.taps = []

    def end(self, flat: Tensor, diverged: list[int]) -> None:
        """After the update: weight statistics and update ratios, then the records."""
        if self.before is None:
            return
        updated = torch.ones(len(self.rows))
        updated[diverged] = 0.0
        with torch.no_grad():
            before, after = self.net.split(self.before), self.net.split(flat.detach())
            for layer in self.weights:
                self._weights(layer, before[f"{layer}.weight"], after[f"{layer}.weight"],
                              updated)
        self._flush()
        self.before = None

    def keep(self, rows: list[int]) -> None:
        """Keep the rows ``rows`` (the members still training), in that order."""
        self.rows = [self.rows[i] for i in rows]

    # -- statistics, queued as tensors --------------------------------------------------
    def _outputs(self, layer: str, role: str, out: Tensor) -> None:
        self._moments(layer, role, out, mean=True)
        if role == "act" and self.kind == "relu":
            self.scalars.append((layer, "act_dead", (_unit_maxima(out),), stats.dead_fraction))
        elif role == "act" and self.kind:
            n = out[0].numel()
            self.scalars.append((layer, "act_saturated", (_saturated_count(out, self.kind),),
                                 lambda c: c / max(n, 1)))

    def _weights(self, layer: str, w: Tensor, after: Tensor, updated: Tensor) -> None:
        norm = self._moments(layer, "weight", w, mean=False)
        m = w.shape[1]
        if w.dim() >= 3 and m >= 2:
            self.scalars.append((layer, "unit_distance", (_unit_spread(w), norm),
                                 lambda s, q: stats.unit_distance(s, q, m)))
        change = torch.linalg.vector_norm((after - w).flatten(1), dim=1)
        self.scalars.append((layer, "update_ratio", (change, norm, updated),
                             lambda d, q, u: d / q if u and q > 0 else None))

    def _moments(self, layer: str, prefix: str, t: Tensor, mean: bool) -> Tensor:
        """Queue ``{prefix}_mean`` (if ``mean``, else ``_norm``), ``_std`` and ``_hist`` of
        each member's ``t[i]``; return the norms (N,)."""
        total, l2 = _moments(t)
        self.moment_keys.append((layer, prefix, t[0].numel(), mean))
        self.moment_values += (total, l2)
        self.codes.append(stats.codes(t).view(t.shape[0], -1))
        return l2

    def _flush(self) -> None:
        """Turn the step's tensors into plain records, member by member, in the order
        :class:`~fitscope.probe.hooks.Probe` writes them."""
        moments = [v.tolist() for v in self.moment_values]
        scalars = [[t.tolist() for t in ts] for _, _, ts, _ in self.scalars]
        hists = stats.histograms([row for c in self.codes for row in c.unbind(0)], self.bins)
        hists = hists.view(len(self.codes), len(self.rows), self.bins).tolist()
        for j, member in enumerate(self.rows):
            add = self.records[member].append
            for i, (layer, prefix, n, mean) in enumerate(self.moment_keys):
                total, l2 = moments[2 * i][j], moments[2 * i + 1][j]
                first = (f"{prefix}_mean", total / n) if mean else (f"{prefix}_norm", l2)
                add(self._record(layer, first[0], first[1]))
                add(self._record(layer, f"{prefix}_std", stats.std_from(total, l2, n)))
            for (layer, quantity, _, finish), values in zip(self.scalars, scalars):
                value = finish(*(v[j] for v in values))
                if value is not None:
                    add(self._record(layer, quantity, value))
            for (layer, prefix, _, _), counts in zip(self.moment_keys, hists):
                add(self._record(layer, f"{prefix}_hist",
                                 {"edges": list(self.edges), "counts": counts[j]}))
        self._clear()

    def _record(self, layer: str, quantity: str, value: Any) -> dict[str, Any]:
        return {"step": self.step, "layer": layer, "quantity": quantity, "value": value}
