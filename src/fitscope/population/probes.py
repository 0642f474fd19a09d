"""Per-member probe records, in the sequential engine's format.

:class:`fitscope.probe.hooks.Probe` records, every ``probe_every`` steps, tidy
``{"step", "layer", "quantity", "value"}`` dicts for one model. This module records the
same quantities under the same layer names at the same steps for every member of a
population, computing each statistic for all members at once (the histograms member by
member with :func:`fitscope.probe.stats.histogram`, so that their bins are the probe's;
every quantity is defined once, in :mod:`fitscope.probe.stats`).
What is recorded on a sampled step:

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

from typing import Any

import torch
from torch import Tensor

from ..core.activations import COUNTED
from ..probe import stats
from .stacked import StackedMLP, Tap


class PopulationProbe:
    """Probe records for each member of ``net``; ``records[j]`` belongs to the j-th
    member the population started with."""

    def __init__(self, net: StackedMLP, every: int, bins: int, activation: str):
        self.net, self.every, self.bins = net, every, bins
        self.kind = activation if activation in COUNTED else ""
        self.edges = list(stats.histogram_edges(bins))
        self.records: list[list[dict[str, Any]]] = [[] for _ in range(net.n)]
        self.rows = list(range(net.n))  # member index of each row still training
        self.weights = [name[:-len(".weight")] for name in net.names if name.endswith(".weight")]
        self.taps: list[Tap] = []
        self.before: Tensor | None = None
        self.step = 0
        self._clear()

    def _clear(self) -> None:
        self.moment_keys: list[tuple[str, str]] = []  # (layer, "{prefix}_mean|_norm") each
        self.moment_values: list[Tensor] = []  # (N,) first value (mean or norm), (N,) std, ...
        self.hists: list[Tensor] = []  # (N, bins) counts, one per moment entry
        self.scalars: list[tuple[str, str, Tensor, Tensor]] = []  # layer, quantity, (N,), kept?

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
        updated = torch.ones(len(self.rows), dtype=torch.bool)
        updated[diverged] = False
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
        every = torch.ones(out.shape[0], dtype=torch.bool)
        if role == "act" and self.kind == "relu":  # out: (N, units, B)
            self.scalars.append((layer, "act_dead", stats.dead_fraction(out.amax(dim=2)),
                                 every))
        elif role == "act" and self.kind:
            share = stats.saturated(out, self.kind).flatten(1).float().mean(1)
            self.scalars.append((layer, "act_saturated", share, every))

    def _weights(self, layer: str, w: Tensor, after: Tensor, updated: Tensor) -> None:
        norm = self._moments(layer, "weight", w, mean=False)
        if w.dim() >= 3 and w.shape[1] >= 2:
            spread = stats.unit_spreads(w.flatten(2).float())
            distance = stats.unit_distance(spread, norm, w.shape[1])
            self.scalars.append((layer, "unit_distance", distance, torch.ones_like(updated)))
        change = torch.linalg.vector_norm((after - w).flatten(1), dim=1)
        self.scalars.append((layer, "update_ratio", change / norm, updated & (norm > 0)))

    def _moments(self, layer: str, prefix: str, t: Tensor, mean: bool) -> Tensor:
        """Queue ``{prefix}_mean`` (if ``mean``, else ``_norm``), ``_std`` and ``_hist`` of
        each member's ``t[i]``; return the norms (N,)."""
        mu, std, l2 = stats.moments(t)
        self.moment_keys.append((layer, f"{prefix}_mean" if mean else f"{prefix}_norm"))
        self.moment_values += (mu if mean else l2, std)
        self.hists.append(torch.stack([stats.histogram(member, self.bins) for member in t]))
        return l2

    def _flush(self) -> None:
        """Turn the step's tensors into plain records, member by member, in the order
        :class:`~fitscope.probe.hooks.Probe` writes them: moments, other scalars, histograms."""
        firsts = [v.tolist() for v in self.moment_values]
        scalars = [(v.tolist(), kept.tolist()) for *_, v, kept in self.scalars]
        hists = [h.tolist() for h in self.hists]
        for j, member in enumerate(self.rows):
            add = self.records[member].append
            for i, (layer, first) in enumerate(self.moment_keys):
                prefix = first.rsplit("_", 1)[0]
                add(self._record(layer, first, firsts[2 * i][j]))
                add(self._record(layer, f"{prefix}_std", firsts[2 * i + 1][j]))
            for (layer, quantity, *_), (values, kept) in zip(self.scalars, scalars):
                if kept[j]:
                    add(self._record(layer, quantity, values[j]))
            for (layer, first), counts in zip(self.moment_keys, hists):
                add(self._record(layer, first.rsplit("_", 1)[0] + "_hist",
                                 {"edges": list(self.edges), "counts": counts[j]}))
        self._clear()

    def _record(self, layer: str, quantity: str, value: Any) -> dict[str, Any]:
        return {"step": self.step, "layer": layer, "quantity": quantity, "value": value}
