"""Landscapes of fitscope runs: the run's model, its data loss and its data, cached.

The loss is the run's data loss without penalties or label smoothing: cross-entropy
(binary with one logit) for classification, mean squared error for regression, on the
chosen split, with accuracy alongside for classification. Multi-task nets are seen
through their main head.
"""

from __future__ import annotations

from typing import Literal, TypeGuard, cast

import torch
from torch import Tensor

from fitscope.config import RunConfig
from fitscope.data import load_data
from fitscope.engine import Callback, Trainer, train
from fitscope.run import Run

from . import cache
from .evaluate import LossFn, Problem
from .line import interpolate
from .losses import CrossEntropy, SquaredError, accuracy
from .plane import plane
from .results import Line, Surface, from_dict
from .trajectory import trajectory

KINDS = ("line", "plane", "trajectory")
SPLITS = ("train", "val", "test")
Kind = Literal["line", "plane", "trajectory"]


def is_kind(kind: str) -> TypeGuard[Kind]:
    """Whether ``kind`` names one of :data:`KINDS`."""
    return kind in KINDS


def data_loss_fn(task_kind: str, n_classes: int) -> LossFn:
    """The engine's data loss for a task, as a function of (outputs, targets)."""
    return CrossEntropy(n_classes) if task_kind == "classification" else SquaredError()


def problem_for_run(run: Run, split: str = "train") -> Problem:
    """The :class:`Problem` of a trained run on one data split."""
    if run.model is None:
        raise ValueError(f"run {run.run_id} has no model (was it saved with model.pt?)")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    cfg = run.config
    s = load_data(cfg.data, cfg.task.kind)
    x, y = getattr(s, f"x_{split}"), getattr(s, f"y_{split}")
    if len(x) == 0:
        raise ValueError(f"split {split!r} of run {run.run_id} is empty "
                         f"(data.val_fraction={cfg.data.val_fraction})")
    classify = cfg.task.kind == "classification"
    return Problem(run.model, data_loss_fn(cfg.task.kind, s.n_classes), x, y,
                   metric_fn=accuracy if classify else None)


def _needs_snapshots(run: Run, what: str) -> ValueError:
    return ValueError(f"{what} needs the run's parameter snapshots from step 0: train with "
                      f"observe.snapshot_every > 0 (run {run.run_id} has "
                      f"observe.snapshot_every={run.config.observe.snapshot_every})")


def run_init(run: Run) -> Tensor:
    """The run's initial parameters: its step-0 snapshot."""
    if not run.snapshots or run.snapshots[0]["step"] != 0:
        raise _needs_snapshots(run, "the line from the init")
    return run.snapshots[0]["params"]


def run_path(run: Run, final: Tensor) -> tuple[list[int], Tensor]:
    """(steps, parameters ``(K, n)``) of the training path: the snapshots, from the init,
    then ``final`` (the run's weights) when the last snapshot is not already them."""
    if not run.snapshots or run.snapshots[0]["step"] != 0:
        raise _needs_snapshots(run, "the trajectory")
    steps = [int(s["step"]) for s in run.snapshots]
    path = torch.stack([s["params"] for s in run.snapshots]).to(final)
    if not torch.equal(path[-1], final):
        best = run.metrics.get("best_epoch")
        final_step = next((r["step"] for r in run.history if r["epoch"] == best), steps[-1])
        steps.append(int(final_step))
        path = torch.cat([path, final[None]])
    return steps, path


class InitRecorder(Callback):
    """Keeps the model's parameters at the start of training (the init), flat."""

    params: Tensor | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self.params = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
        self.params = self.params.cpu().clone()


def train_with_init(config: RunConfig, callbacks: tuple[Callback, ...] = ()) -> tuple[Run, Tensor]:
    """Train ``config`` (:func:`fitscope.train`) and return the run with its initial
    parameters, for a line from the init when the config keeps no snapshots."""
    recorder = InitRecorder()
    run = train(config, callbacks=[recorder, *callbacks])
    assert recorder.params is not None  # set when training starts
    return run, recorder.params


def run_landscape(run: Run, kind: Kind = "plane", *, points: int = 41,
                  span: float | tuple[float, float] | None = None, seed: int = 0,
                  split: str = "train", other: Run | None = None, init: Tensor | None = None,
                  margin: float = 0.25, use_cache: bool = True,
                  progress: bool = False) -> Line | Surface:
    """One landscape of a trained run, from the cache when it was computed before.

    ``kind``: ``"line"`` from the init (``init``, or the run's step-0 snapshot) to the
    trained weights, or from the run's weights to ``other``'s when given; ``"plane"``,
    a slice along two random filter-normalized directions (from ``seed``) around the
    trained weights; ``"trajectory"``, the training path on its PCA plane (needs
    snapshots). ``span`` defaults to (-0.5, 1.5) for a line and 1.0 for a plane;
    ``margin`` pads the trajectory's plane.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    problem = problem_for_run(run, split)
    center = problem.center()
    settings = {"points": points, "split": split}
    if kind == "line":
        span = (-0.5, 1.5) if span is None else cast(tuple[float, float], span)
        if other is not None:
            ends, a, b = f"{run.run_id} -> {other.run_id}", center, problem_for_run(other).center()
        else:
            ends, a, b = "init -> trained", (run_init(run) if init is None else init), center
        settings.update(span=list(span), ends=ends)
        tensors = [a, b]
    elif kind == "plane":
        span = 1.0 if span is None else span
        settings.update(span=span if isinstance(span, (int, float)) else list(span), seed=seed)
        tensors = [center]
    else:
        steps, path = run_path(run, center)
        settings.update(margin=margin, steps=steps)
        tensors = [path]
    key = cache.cache_key(run.run_id, kind, settings, tensors)
    if use_cache and (hit := cache.load(key)) is not None:
        return from_dict(hit)
    result: Line | Surface
    if kind == "line":
        result = interpolate(problem, a, b, points=points, span=cast(tuple[float, float], span),
                             progress=progress)
    elif kind == "plane":
        result = plane(problem, center, points=points, span=cast(float | tuple[float, float], span),
                       seed=seed, progress=progress)
    else:
        result = trajectory(problem, path, steps, final=center, points=points, margin=margin,
                            progress=progress)
    result.meta.update(run_id=run.run_id, **settings)
    if use_cache:
        cache.store(key, result.to_dict())
    return result
