"""Per-member probe records, in the sequential engine's format.

:class:`fitscope.probe.hooks.Probe` records, every ``probe_every`` steps, tidy
``{"step", "layer", "quantity", "value"}`` dicts for one model; this module records the
same quantities, under the same layer names and at the same steps, for every member of
a population, computing each statistic for all members at once (histograms with
:func:`fitscope.probe.stats.histogram`, member by member, so their bins are the probe's):

- per pre-activation output (``hidden.i.linear``, ``hidden.i.bn``, ``out``) and
  activation output (``hidden.i.act``): ``preact_|act_`` ``mean``, ``std``, ``hist``,
  ``act_dead`` (ReLU) or ``act_saturated`` (tanh, sigmoid), and the gradient of the
  member's loss with respect to that output: ``..._grad_norm``, ``_grad_std``,
  ``_grad_hist``;
- per weight (the weights the step's forward pass used, before weight noise):
  ``weight_norm``, ``weight_std``, ``weight_hist``, ``unit_distance`` (2+ units),
  ``update_ratio`` (not on the step a member diverged, nor for an all-zero weight), and
  the raw gradient (before penalties and clipping): ``weight_grad_norm``,
  ``weight_grad_std``, ``weight_grad_hist``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..probe import stats
from .stacked import StackedMLP



def mean_std_norm(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per member i, over all values of ``t[i]``: mean, population standard deviation
    (divisor M, the number of values) and Euclidean (Frobenius) norm; each (N,)."""
    v = t.reshape(t.shape[0], -1).float()
    var, mean = torch.var_mean(v, dim=1, correction=0)
    return mean, var.sqrt(), torch.linalg.vector_norm(v, dim=1)


def dead_fraction(a: Tensor) -> Tensor:
    """Per member, the share of units (last dim of (N, B, H)) whose output is 0 for every
    example of the batch: a ReLU unit that passes no gradient."""
    return (a.abs().amax(dim=1) == 0).float().mean(1)


def saturated_fraction(a: Tensor, kind: str) -> Tensor:
    """Per member, the share of values where the non-linearity is flat: |a| >
    ``TANH_SATURATION`` (tanh); a below ``SIGMOID_SATURATION`` or above 1 minus it
    (sigmoid); thresholds of :mod:`fitscope.probe.stats`."""
    centered = a if kind == "tanh" else a - 0.5
    limit = stats.TANH_SATURATION if kind == "tanh" else 0.5 - stats.SIGMOID_SATURATION
    return (centered.abs() > limit).flatten(1).float().mean(1)


def unit_distance(w: Tensor) -> Tensor:
    """Per member, how far apart the m >= 2 units' incoming weight vectors are:
    d = sqrt(2m / (m - 1)) ||W - w_bar|| / ||W|| (w_bar the mean unit; 0 for W = 0), the
    RMS distance over pairs of units relative to a unit's RMS norm. ``w``: (N, m, in)."""
    m = w.shape[1]
    spread = torch.linalg.vector_norm((w - w.mean(dim=1, keepdim=True)).flatten(1), dim=1)
    total = torch.linalg.vector_norm(w.flatten(1), dim=1)
    return torch.where(total > 0, (2 * m / (m - 1)) ** 0.5 * spread / total.clamp_min(1e-30),
                       torch.zeros_like(total))


def batched_histogram(t: Tensor, bins: int) -> list[list[int]]:
    """:func:`fitscope.probe.stats.histogram` of each member's slice ``t[i]`` (one call per
    member: the histogram's bit-level binning has no batched form)."""
    return torch.stack([stats.histogram(m, bins) for m in t]).tolist()


class PopulationProbe:
    """Probe records for each member of ``net``; ``records[j]`` belongs to the j-th
    member the population started with."""

    def __init__(self, net: StackedMLP, every: int, bins: int, activation: str):
        self.net, self.every, self.bins = net, every, bins
        self.kind = activation if activation in ("relu", "tanh", "sigmoid") else ""
        self.edges = list(stats.histogram_edges(bins))
        self.records: list[list[dict[str, Any]]] = [[] for _ in range(net.n)]
        self.rows = list(range(net.n))  # member index of each row still training
        self.weights = [name for name in net.names if name.endswith(".weight")]
        self.pending: list[tuple] = []  # (layer, quantity, (N, ...) values[, (N,) mask])
        self.taps: list[tuple[str, str, Tensor]] = []
        self.before: Tensor | None = None
        self.step = 0

    def sampled(self, step: int) -> bool:
        return step % self.every == 0

    def begin(self, flat: Tensor, step: int) -> list[tuple[str, str, Tensor]]:
        """Start probing step ``step``: keep the weights; return the list the forward pass
        fills with ``(layer, role, output)`` taps."""
        self.step, self.before = step, flat.detach().clone()
        self.pending, self.taps = [], []
        return self.taps

    def gradients(self, g: Tensor) -> None:
        """After backward: statistics of the taps, their gradients and the raw weight
        gradients (rows of ``g``)."""
        with torch.no_grad():
            for layer, role, out in self.taps:
                self._tensor_stats(layer, role, out.detach())
                if role == "act" and self.kind == "relu":
                    self.pending.append((layer, "act_dead", dead_fraction(out.detach())))
                elif role == "act" and self.kind:
                    self.pending.append((layer, "act_saturated",
                                         saturated_fraction(out.detach(), self.kind)))
                if out.grad is not None:
                    self._tensor_stats(layer, f"{role}_grad", out.grad, norm=True)
            grads = self._per_layer(g)
            for name in self.weights:
                self._tensor_stats(name[:-7], "weight_grad", grads[name], norm=True)
        self.taps = []

    def end(self, flat: Tensor, diverged: list[int]) -> None:
        """After the update: weight statistics and update ratios, then the records."""
        if self.before is None:
            return
        with torch.no_grad():
            before, after = self._per_layer(self.before), self._per_layer(flat.detach())
            updated = torch.ones(len(self.rows), dtype=torch.bool)
            updated[diverged] = False
            for name in self.weights:
                self._weight_stats(name[:-7], before[name], after[name], updated)
        self._flush()
        self.before = None

    def keep(self, rows: list[int]) -> None:
        """Keep the rows ``rows`` (the members still training), in that order."""
        self.rows = [self.rows[i] for i in rows]

    # -- statistics -------------------------------------------------------------------
    def _per_layer(self, flat: Tensor) -> dict[str, Tensor]:
        parts = flat.split(self.net.sizes, dim=1)
        return {name: part.view(flat.shape[0], *shape)
                for name, part, shape in zip(self.net.names, parts, self.net.shapes)}

    def _tensor_stats(self, layer: str, prefix: str, t: Tensor, norm: bool = False) -> None:
        mean, std, l2 = mean_std_norm(t)
        self.pending.append((layer, f"{prefix}_norm" if norm else f"{prefix}_mean",
                             l2 if norm else mean))
        self.pending.append((layer, f"{prefix}_std", std))
        self.pending.append((layer, f"{prefix}_hist", batched_histogram(t, self.bins)))

    def _weight_stats(self, layer: str, w: Tensor, after: Tensor, updated: Tensor) -> None:
        _, std, norm = mean_std_norm(w)
        self.pending += [(layer, "weight_norm", norm), (layer, "weight_std", std),
                         (layer, "weight_hist", batched_histogram(w, self.bins))]
        if w.dim() >= 3 and w.shape[1] >= 2:
            self.pending.append((layer, "unit_distance", unit_distance(w)))
        ratio = torch.linalg.vector_norm((after - w).flatten(1), dim=1) / norm
        self.pending.append((layer, "update_ratio", ratio, updated.to(norm.device) & (norm > 0)))

    def _flush(self) -> None:
        """Plain records per member; one conversion per quantity. An entry's optional
        fourth item says which members have a value."""
        for layer, quantity, value, *has in self.pending:
            present = has[0].tolist() if has else [True] * len(self.rows)
            values = value if isinstance(value, list) else value.tolist()
            for row, v, ok in zip(self.rows, values, present):
                if quantity.endswith("_hist"):
                    v = {"edges": list(self.edges), "counts": v}
                if ok:
                    self.records[row].append({"step": self.step, "layer": layer,
                                              "quantity": quantity, "value": v})
        self.pending = []
