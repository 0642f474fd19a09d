"""Model builders: MLP (depth 0 is a linear / logistic model), small CNN, multi-task net.

Every builder returns a plain ``nn.Module`` with named layers, so probes, init and
checkpoints treat them like any user model. Outputs: one logit for two classes (so a
depth-0 MLP *is* logistic regression), ``k`` logits for ``k > 2`` classes, one value
for regression.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict

import torch
from torch import nn

from .config import ModelConfig, RunConfig
from .core.activations import MODULES as ACTIVATIONS  # name -> nn.Module class


def output_size(n_classes: int) -> int:
    """Units of the output layer: 1 logit for binary tasks and regression, else ``n_classes``."""
    return 1 if n_classes <= 2 else n_classes


def hidden_block(n_in: int, n_out: int, cfg: ModelConfig) -> list[tuple[str, nn.Module]]:
    """Linear -> [BatchNorm1d] -> activation -> [Dropout]: one hidden layer, named parts.

    Batch norm sits between the affine map and the non-linearity (Ioffe and Szegedy 2015).
    """
    parts: list[tuple[str, nn.Module]] = [("linear", nn.Linear(n_in, n_out, bias=cfg.bias))]
    if cfg.batch_norm:
        parts.append(("bn", nn.BatchNorm1d(n_out)))
    parts.append(("act", ACTIVATIONS[cfg.activation]()))
    if cfg.dropout > 0:
        parts.append(("dropout", nn.Dropout(cfg.dropout)))
    return parts


class MLP(nn.Module):
    """``input -> [input dropout] -> depth x hidden_block -> Linear -> output``.

    Hidden layers are ``self.hidden[i]`` (each an ``nn.Sequential`` of named parts), the
    output layer is ``self.out``; with ``include_head=False`` the module ends at the last
    hidden layer (the shared trunk of a multi-task net).
    """

    def __init__(self, n_in: int, n_out: int, cfg: ModelConfig, include_head: bool = True):
        super().__init__()
        self.input_dropout = nn.Dropout(cfg.input_dropout) if cfg.input_dropout > 0 else None
        sizes = (n_in, *cfg.widths)
        self.hidden = nn.ModuleList(nn.Sequential(OrderedDict(hidden_block(a, b, cfg)))
                                    for a, b in itertools.pairwise(sizes))
        self.out_features = sizes[-1]
        self.out = nn.Linear(sizes[-1], n_out, bias=cfg.bias) if include_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n_in) -> (B, n_out)
        if self.input_dropout is not None:
            x = self.input_dropout(x)
        for layer in self.hidden:
            x = layer(x)
        return self.out(x) if self.out is not None else x


class CNN(nn.Module):
    """Conv blocks (conv -> [BN] -> activation -> 2x max-pool) then a linear head.

    ``input_shape`` is ``(C, H, W)`` for images (Conv2d) or ``(C, L)`` for signals
    (Conv1d). Pooling is skipped once a spatial side would drop below 2.
    """

    def __init__(self, input_shape: tuple[int, ...], n_out: int, cfg: ModelConfig):
        super().__init__()
        self.input_shape = tuple(input_shape)
        dims = len(input_shape) - 1
        conv, bn, pool = (
            (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2
            else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
        )
        blocks, channels, side = [], input_shape[0], list(input_shape[1:])
        for c in cfg.channels:
            parts: list[tuple[str, nn.Module]] = [
                ("conv", conv(channels, c, cfg.kernel_size, padding=cfg.kernel_size // 2,
                              bias=cfg.bias))]
            if cfg.batch_norm:
                parts.append(("bn", bn(c)))
            parts.append(("act", ACTIVATIONS[cfg.activation]()))
            if min(side) >= 4:
                parts.append(("pool", pool(2)))
                side = [s // 2 for s in side]
            blocks.append(nn.Sequential(OrderedDict(parts)))
            channels = c
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None
        self.out = nn.Linear(channels * math.prod(side), n_out, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, prod(input_shape)) -> (B, n_out)
        h = self.features(x.view(x.shape[0], *self.input_shape)).flatten(1)
        if self.dropout is not None:
            h = self.dropout(h)
        return self.out(h)


class MultiTaskNet(nn.Module):
    """A shared trunk with one linear head per task (Caruana 1997; the notes' MTL figure).

    ``forward`` returns the main task's output so the net evaluates like any classifier;
    ``forward_tasks`` returns every head's output, main first.
    """

    def __init__(self, trunk: MLP, heads: dict[str, int]):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(
            {name: nn.Linear(trunk.out_features, n) for name, n in heads.items()}
        )
        self.main = next(iter(heads))

    def forward_tasks(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads[self.main](self.trunk(x))


def build_model(cfg: RunConfig, n_features: int, n_classes: int,
                input_shape: tuple[int, ...]) -> nn.Module:
    """The network ``cfg.model`` describes, sized for the data (weights still PyTorch's)."""
    n_out = output_size(n_classes)
    if cfg.task.aux:
        if cfg.model.kind != "mlp" or cfg.model.depth < 1:
            raise ValueError("task.aux (multi-task) needs model.kind='mlp' and model.depth >= 1")
        heads: dict[str, int] = {"main": n_out, **{a.kind: 1 for a in cfg.task.aux}}
        return MultiTaskNet(MLP(n_features, n_out, cfg.model, include_head=False), heads)
    if cfg.model.kind == "cnn":
        return CNN(input_shape, n_out, cfg.model)
    return MLP(n_features, n_out, cfg.model)


def clone_module(module: nn.Module) -> nn.Module:
    """An independent copy of ``module``: its own parameters (values copied, same
    ``requires_grad``), buffers, submodules and hook dictionaries; other attributes are
    shared, as the module's constructor arguments would be.

    What ``copy.deepcopy`` gives for the modules :func:`build_model` makes, faster than
    building one: 128 nine-layer width-16 MLPs (batch norm, dropout) took 65 ms against
    152 ms built and 381 ms deep-copied (garbage collection paused, one thread, medians,
    2026-12-07). The population engine makes its members' modules this way.
    """
    clone = object.__new__(type(module))
    state = module.__dict__.copy()
    for key, value in state.items():
        if isinstance(value, (dict, set)):  # hooks, the non-persistent buffer names
            state[key] = value.copy()
    state["_parameters"] = {
        name: None if p is None else nn.Parameter(p.detach().clone(), p.requires_grad)
        for name, p in module._parameters.items()}
    state["_buffers"] = {name: None if b is None else b.clone()
                         for name, b in module._buffers.items()}
    state["_modules"] = {name: None if m is None else clone_module(m)
                         for name, m in module._modules.items()}
    clone.__dict__ = state
    return clone
