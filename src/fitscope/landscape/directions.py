"""Directions in parameter space, flat in ``model.parameters()`` order.

Filter-wise normalization (Li, Xu, Taylor, Studer and Goldstein 2018, "Visualizing the
Loss Landscape of Neural Nets", sec. 4): a random direction d ~ N(0, I) is rescaled
filter by filter to the norm of the weights it moves,

    d_i <- d_i / ||d_i|| * ||theta_i||

where a filter i is one output unit of a layer: a row of a Linear weight, one output
channel of a convolution (index 0 of any weight of 2 or more dimensions). The landscape
then does not depend on the scale of the weights (which ReLU networks can change without
changing the function), so slices of different networks are comparable. Biases and
normalization-layer parameters get a zero direction: the paper's ``ignore="biasbn"``
option, which this module always applies; which tensors are weights is decided by
:func:`fitscope.regularize.weights_and_others`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fitscope import regularize as reg

FILTER_EPS = 1e-10  # guards the division for a zero random filter (Li et al.'s code does too)


def weight_mask(model: nn.Module) -> list[bool]:
    """For each tensor of ``model.parameters()``: True if it is a layer weight."""
    weights, _ = reg.weights_and_others(model)
    ids = {id(w) for w in weights}
    return [id(p) in ids for p in model.parameters()]


def filter_normalize(direction: Tensor, model: nn.Module) -> Tensor:
    """Filter-wise normalization of a flat ``direction`` against ``model``'s weights (see
    the module docstring): each weight filter of the result has the norm of the
    model's filter; biases and normalization parameters are set to zero."""
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    if direction.shape != (n,):
        raise ValueError(f"direction must be flat with {n} entries (the model's parameters), "
                         f"got shape {tuple(direction.shape)}")
    pieces = direction.split([p.numel() for p in params])
    out = []
    for d, p, is_weight in zip(pieces, params, weight_mask(model)):
        if not is_weight:
            out.append(torch.zeros_like(d))
            continue
        rows = d.reshape(p.shape[0], -1)
        w = p.detach().reshape(p.shape[0], -1).to(rows)
        scale = w.norm(dim=1, keepdim=True) / (rows.norm(dim=1, keepdim=True) + FILTER_EPS)
        out.append((rows * scale).reshape(-1))
    return torch.cat(out)


def random_direction(model: nn.Module, generator: torch.Generator | None = None) -> Tensor:
    """A Gaussian direction, filter-normalized against ``model`` (drawn on the CPU with
    ``generator``, returned on the model's device)."""
    first = next(model.parameters())
    n = sum(p.numel() for p in model.parameters())
    d = torch.randn(n, generator=generator, dtype=first.dtype)
    return filter_normalize(d.to(first.device), model)


def random_directions(model: nn.Module, k: int = 2, seed: int = 0) -> Tensor:
    """``k`` filter-normalized random directions, ``(k, n_params)``, from one seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([random_direction(model, g) for _ in range(k)])
