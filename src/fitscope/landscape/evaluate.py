"""Batched evaluation of a model's loss at many points of parameter space.

A *point* is a flat parameter vector in ``model.parameters()`` order: the layout of
:func:`torch.nn.utils.parameters_to_vector` and of the engine's snapshots. A
:class:`Problem` (model, loss, data) evaluates points in chunks: each chunk of P points
is split into per-parameter tensors of shape ``(P, *param.shape)`` and the model runs
once on all of them, ``torch.func.functional_call`` vectorized over the stack with
``torch.vmap`` (a population of P networks as one program), instead of P sequential
forward passes. That removes per-pass overhead (Python, dispatch, kernel launches), not
arithmetic. A plain MLP (fitscope's own, or an ``nn.Sequential`` of linear layers,
batch norm and activations) takes a faster path, :mod:`fitscope.landscape.batched_mlp`:
the points are the members of a stacked MLP, evaluated by the population's own pass
(:func:`fitscope.population.stacked.forward_layers`) in cache-sized chunks, a loss
reduced over the classes across rows, and on a slice the first layer's products with
the data computed once
(``benchmarks/landscape.py`` measures both against a point-by-point loop). The model is
evaluated in eval mode (dropout off, batch norm on its running statistics, which are
shared by every point).

Losses are means over the data: with the data in batches of sizes n_b (N rows in all),
L(theta) = sum_b n_b L_b(theta) / N, exact for any loss that is a mean over examples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import torch
from rich.progress import track
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .batched_mlp import BatchedMLP
from .losses import accuracy  # noqa: F401  (re-exported)

LossFn = Callable[[Tensor, Tensor], Tensor]  # (outputs, targets) -> mean loss, a scalar
CHUNK_ROWS = 16_384  # points per chunk x rows per data batch (benchmarks/landscape.py)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block, its previous mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@dataclass(eq=False)
class Problem:
    """A loss landscape's ingredients: ``model``, ``loss_fn(outputs, targets)`` (a mean
    over the batch), data ``x``, ``y``, and optionally ``metric_fn`` (e.g. :func:`accuracy`)
    evaluated alongside. ``batch_size`` rows of data go through the model at a time.
    """

    model: nn.Module
    loss_fn: LossFn
    x: Tensor
    y: Tensor
    metric_fn: LossFn | None = None
    batch_size: int = 4096

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) == 0:
            raise ValueError(f"x and y must have the same, non-zero number of rows, "
                             f"got x: {tuple(self.x.shape)}, y: {tuple(self.y.shape)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        named = list(self.model.named_parameters())
        if not named:
            raise ValueError(f"model has no parameters to move: {type(self.model).__name__}")
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.n_params = sum(self.numels)
        first = named[0][1]
        self.device, self.dtype = first.device, first.dtype
        self.x, self.y = self.x.to(self.device), self.y.to(self.device)

    # -- layout -------------------------------------------------------------------------
    def center(self) -> Tensor:
        """The model's current parameters as one flat vector (a copy)."""
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).clone()

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """``(..., n_params)`` -> ``{name: (..., *shape)}``, views into ``flat``."""
        lead = flat.shape[:-1]
        pieces = flat.split(self.numels, dim=-1)
        return {n: t.reshape(*lead, *s) for n, t, s in zip(self.names, pieces, self.shapes)}

    def _batches(self) -> Iterator[tuple[Tensor, Tensor, float]]:
        """(x_b, y_b, n_b / N) for each data batch."""
        n = len(self.x)
        for s in range(0, n, self.batch_size):
            xb, yb = self.x[s:s + self.batch_size], self.y[s:s + self.batch_size]
            yield xb, yb, len(xb) / n

    def as_point(self, theta: Tensor, name: str = "theta") -> Tensor:
        """``theta`` on the model's device and dtype; its last axis must be n_params."""
        if theta.shape[-1] != self.n_params:
            raise ValueError(f"{name} must have {self.n_params} entries (the model's "
                             f"parameters), got shape {tuple(theta.shape)}")
        return theta.to(self.device, self.dtype)

    # -- one point, differentiable ----------------------------------------------------------
    def _batch_loss(self, theta: Tensor, xb: Tensor, yb: Tensor) -> Tensor:
        buffers = dict(self.model.named_buffers())
        out = functional_call(self.model, (self.unflatten(theta), buffers), (xb,))
        return self.loss_fn(out, yb)

    def loss_at(self, theta: Tensor) -> Tensor:
        """L(theta) over all the data, differentiable in ``theta`` (eval mode)."""
        theta = self.as_point(theta)
        with eval_mode(self.model):
            return cast(Tensor, sum(w * self._batch_loss(theta, xb, yb)
                                    for xb, yb, w in self._batches()))

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor:
        """Hessian-vector product H(theta) v by double backward (Pearlmutter 1994):
        H v = grad_theta (grad_theta L . v), accumulated over the data batches as
        H v = sum_b (n_b / N) H_b v."""
        theta, v = self.as_point(theta).detach().requires_grad_(True), self.as_point(v, "v")
        out = torch.zeros_like(v)
        with eval_mode(self.model):
            for xb, yb, w in self._batches():
                (g,) = torch.autograd.grad(self._batch_loss(theta, xb, yb), theta,
                                           create_graph=True)
                (hv,) = torch.autograd.grad(g @ v, theta)
                out += w * hv
        return out

    # -- many points, batched ---------------------------------------------------------------
    def default_chunk(self) -> int:
        """Points per chunk: for a plain MLP :meth:`BatchedMLP.chunk_size`, else
        ``CHUNK_ROWS`` // rows per data batch; at least 1."""
        mlp = self._batched_mlp()
        return mlp.chunk_size(self._rows()) if mlp else max(1, CHUNK_ROWS // self._rows())

    def _chunk_values(self, points: Tensor) -> tuple[Tensor, Tensor | None]:
        """(loss (P,), metric (P,) or None) for one chunk of points (P, n_params)."""
        stacked = self.unflatten(points)
        buffers = dict(self.model.named_buffers())
        loss = torch.zeros(len(points), device=self.device, dtype=torch.float64)
        metric = torch.zeros_like(loss) if self.metric_fn is not None else None
        for xb, yb, w in self._batches():
            def one(params: dict[str, Tensor], xb=xb, yb=yb) -> tuple[Tensor, Tensor]:
                out = functional_call(self.model, (params, buffers), (xb,))
                m = self.metric_fn(out, yb) if self.metric_fn is not None else out.new_zeros(())
                return self.loss_fn(out, yb), m
            chunk_loss, chunk_metric = vmap(one)(stacked)
            loss += w * chunk_loss.double()
            if metric is not None:
                metric += w * chunk_metric.double()
        return loss, metric

    def _batched_mlp(self) -> BatchedMLP | None:
        """The fast evaluator when the model is a plain MLP (else None: ``vmap``)."""
        return BatchedMLP.of(self.model, self.loss_fn, self.metric_fn)

    @torch.no_grad()
    def _evaluate(self, n_points: int, size: int,
                  chunk_values: Callable[[int, int], tuple[Tensor, Tensor | None]],
                  progress: bool, description: str) -> tuple[Tensor, Tensor | None]:
        """Concatenated ``chunk_values(start, end)`` over chunks of ``size`` points."""
        starts = range(0, n_points, size)
        losses, metrics = [], []
        with eval_mode(self.model):
            for s in track(starts, description=description, disable=not progress,
                           total=len(starts)):
                loss, metric = chunk_values(s, min(s + size, n_points))
                losses.append(loss.cpu())
                if metric is not None:
                    metrics.append(metric.cpu())
        return torch.cat(losses), (torch.cat(metrics) if metrics else None)

    def _mlp_values(self, mlp: BatchedMLP, params: dict[str, Tensor],
                    coords: Tensor | None = None, products: list[Tensor] | None = None
                    ) -> tuple[Tensor, Tensor | None]:
        """Like :meth:`_chunk_values` through the fast evaluator: ``params`` name ->
        (P, *shape); on a slice, ``coords`` and each data batch's first-layer
        ``products`` (:meth:`BatchedMLP.values`)."""
        loss = metric = None
        for b, (xb, yb, w) in enumerate(self._batches()):
            chunk_loss, chunk_metric = mlp.values(
                params, xb, yb, coords, None if products is None else products[b])
            loss = w * chunk_loss.double() + (0 if loss is None else loss)
            if chunk_metric is not None:
                metric = w * chunk_metric.double() + (0 if metric is None else metric)
        assert loss is not None  # the data has at least one batch
        return loss, metric

    def evaluate(self, points: Tensor, *, chunk: int | None = None, progress: bool = False,
                 description: str = "landscape") -> tuple[Tensor, Tensor | None]:
        """Loss (and metric) at each row of ``points`` ``(P, n_params)``, ``chunk`` points
        at a time (default :meth:`default_chunk`), with a progress bar if ``progress``.
        Returns float64 tensors of shape ``(P,)`` on the CPU; the metric is None without
        ``metric_fn``."""
        points = self.as_point(points, "points")
        mlp = self._batched_mlp()
        if mlp is None:
            return self._evaluate(len(points), chunk or self.default_chunk(),
                                  lambda s, e: self._chunk_values(points[s:e]), progress,
                                  description)

        def values(s: int, e: int) -> tuple[Tensor, Tensor | None]:
            return self._mlp_values(mlp, self.unflatten(points[s:e]))
        return self._evaluate(len(points), chunk or self.default_chunk(), values,
                              progress, description)

    def evaluate_affine(self, origin: Tensor, basis: Tensor, coords: Tensor, *,
                        chunk: int | None = None, progress: bool = False,
                        description: str = "landscape") -> tuple[Tensor, Tensor | None]:
        """Like :meth:`evaluate` at the points ``origin + coords @ basis``: ``origin`` is
        ``(n_params,)``, ``basis`` ``(k, n_params)`` (k directions), ``coords`` ``(P, k)``.
        Points are built one chunk at a time, so P x n_params is never held in memory.
        For a plain MLP the first layer's products with the data are computed once for
        the whole slice (:mod:`fitscope.landscape.batched_mlp`)."""
        origin = self.as_point(origin, "origin")
        basis = self.as_point(basis, "basis")
        coords = coords.to(self.device, self.dtype)
        if coords.dim() != 2 or basis.dim() != 2 or coords.shape[1] != basis.shape[0]:
            raise ValueError(f"coords must have shape (P, k) for a basis of k directions, "
                             f"got coords {tuple(coords.shape)}, basis {tuple(basis.shape)}")
        mlp = self._batched_mlp()
        if mlp is None:
            return self._evaluate(len(coords), chunk or self.default_chunk(),
                                  lambda s, e: self._chunk_values(origin + coords[s:e] @ basis),
                                  progress, description)
        rows = torch.cat([origin[None], basis])  # (k + 1, n_params)
        with torch.no_grad():
            pieces = [mlp.products(self.unflatten(rows), xb)
                      for xb, _, _ in self._batches()]  # (k + 1, out * N_b) per batch
        weights = torch.cat([torch.ones_like(coords[:, :1]), coords], dim=1)  # (P, k + 1)

        def values(s: int, e: int) -> tuple[Tensor, Tensor | None]:
            c = weights[s:e]
            return self._mlp_values(mlp, self.unflatten(c @ rows), c, pieces)
        return self._evaluate(len(coords), chunk or self.default_chunk(), values,
                              progress, description)

    def _rows(self) -> int:
        """Rows of data in the largest batch."""
        return min(len(self.x), self.batch_size)
