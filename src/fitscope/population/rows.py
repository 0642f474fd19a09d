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

import torch
from torch import Tensor, nn


class MemberRows:
    """The row layout; a subclass sets ``flat`` (N, D), ``names``, ``shapes`` and
    ``sizes`` (of the parameters, in order), ``buffer_names`` and ``buffers``."""

    flat: Tensor
    names: list[str]
    shapes: list[torch.Size]
    sizes: list[int]
    buffer_names: list[str]
    buffers: dict[str, Tensor]

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
