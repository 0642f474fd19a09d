"""Members' parameters as the rows of one (N, D) tensor, and their buffers stacked.

Member i's parameters are row i of ``flat``, in ``module.parameters()`` order: the row
is the member's flat parameter vector, as in the sequential engine's snapshots.
Per-parameter views split the rows: ``split(rows)[name]`` is (N, *shape). Buffers (batch
norm's running statistics) are stacked per name, (N, *shape). Both stacked programs,
:class:`~fitscope.population.stacked.StackedMLP` and
:class:`~fitscope.population.functional.FunctionalStack`, keep their members this way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from ..regularize import weights_and_others


class MemberRows:
    """The row layout: ``flat`` (N, D) and its gradient ``grad``, ``names``, ``shapes``
    and ``sizes`` of the parameters (in order), ``weight_mask`` (1, D) (True on the
    weights the penalties and decay act on), ``buffer_names`` and ``buffers``; a
    subclass calls :meth:`_lay_out` first."""

    flat: Tensor
    grad: Tensor
    weight_mask: Tensor
    names: list[str]
    shapes: list[torch.Size]
    sizes: list[int]
    buffer_names: list[str]
    buffers: dict[str, Tensor]

    def _lay_out(self, models: Sequence[nn.Module], rows: Tensor | None) -> None:
        """Copy the members' parameters (or take ``rows``, already stacked) and buffers
        in; the layout follows ``models[0]``."""
        template = models[0]
        named = list(template.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        if rows is None:
            rows = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()])
                                for m in models])
        self.flat = rows  # (N, D)
        self.grad = torch.zeros_like(self.flat)
        weight_ids = {id(w) for w in weights_and_others(template)[0]}
        self.weight_mask = torch.cat([torch.full((p.numel(),), id(p) in weight_ids)
                                      for _, p in named]).unsqueeze(0).to(self.flat.device)
        self.buffer_names = [name for name, _ in template.named_buffers()]
        self.buffers = {name: torch.stack([m.get_buffer(name).detach().clone() for m in models])
                        for name in self.buffer_names}

    def keep(self, index: Tensor) -> None:
        """Keep only the members at ``index`` (a 1-D long tensor), in that order."""
        self.flat, self.grad = self.flat[index], self.grad[index]
        self.buffers = {k: v[index] for k, v in self.buffers.items()}

    @property
    def n(self) -> int:
        return self.flat.shape[0]

    def params(self) -> dict[str, Tensor]:
        """Per-layer views of ``flat``: (N, *shape) each, in ``model.parameters()`` order."""
        return self.split(self.flat)

    def split(self, rows: Tensor) -> dict[str, Tensor]:
        """Per-parameter views of (N, D) ``rows`` laid out like ``flat`` (such as its
        gradient): name -> (N, *shape)."""
        parts = rows.split(self.sizes, dim=1)
        return {name: part.view(rows.shape[0], *shape)
                for name, part, shape in zip(self.names, parts, self.shapes)}

    @torch.no_grad()
    def copy_to(self, i: int, module: nn.Module, params: Sequence[Tensor] | None = None) -> None:
        """Write member ``i``'s parameters and buffers into ``module`` (a model of the
        members' shape), in place; ``params``: ``list(module.parameters())``, if known."""
        for p, row in zip(params or module.parameters(), self.flat[i].split(self.sizes)):
            p.copy_(row.view_as(p))
        for name in self.buffer_names:
            module.get_buffer(name).copy_(self.buffers[name][i])

    def state_dict(self, i: int) -> OrderedDict[str, Tensor]:
        """Member ``i``'s ``state_dict`` (views, not copies), keyed like its ``nn.Module``."""
        state = OrderedDict((name, t[i]) for name, t in self.params().items())
        state.update((name, self.buffers[name][i]) for name in self.buffer_names)
        return OrderedDict((k, v.detach()) for k, v in state.items())


class Program(Protocol):
    """What the population engine trains: the members' rows (:class:`MemberRows`) and
    the passes. ``forward_train`` returns the outputs (N, k, B) and a tape that
    ``backward`` reads to write the gradient of the members' summed loss into ``grad``,
    given that sum's gradient with respect to the outputs."""

    flat: Tensor
    grad: Tensor
    weight_mask: Tensor

    @property
    def n(self) -> int: ...
    @property
    def widest(self) -> int: ...
    def forward_train(self, x: Tensor, gen: torch.Generator | None) -> tuple[Tensor, Any]: ...
    def backward(self, tape: Any, grad_out: Tensor) -> None: ...
    def forward_eval(self, x: Tensor) -> Tensor: ...
    def keep(self, index: Tensor) -> None: ...
    def copy_to(self, i: int, module: nn.Module,
                params: Sequence[Tensor] | None = None) -> None: ...
    def state_dict(self, i: int) -> OrderedDict[str, Tensor]: ...
