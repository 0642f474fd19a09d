"""One compared run of the lab's trained-network landscape page: trained, sliced along
its path, measured, cached (formerly ``fitscope.lab.trajectory_runs``).

A compared run is the default :class:`~fitscope.config.RunConfig` (two moons, 1000
points of which 600 train, an MLP 2-32-32-1 with ReLU) with the page's optimizer,
learning rate, batch size, weight noise, epochs and seed, and parameter snapshots at
about :data:`SNAPSHOTS` points of the path. Its record holds the training path's slice
(:func:`fitscope.landscape.run_landscape`, kind ``"trajectory"``: the path on the plane
of its first two principal components, on a :data:`POINTS` x :data:`POINTS` grid), the
sharpness at the trained weights (:mod:`fitscope.landscape.sharpness`: the top Hessian
eigenvalue and the expected loss increase under relative weight noise of each size in
:data:`ALPHAS`), the final metrics and the loss curve.

Records are stored in the landscape cache (:mod:`fitscope.landscape.cache`) under the
run's id, so a page reloaded, or a run that appears in two comparisons, is read back
instead of trained again; the id is a hash of the whole config and a run on the CPU is
deterministic, so the run id fixes the numbers. The cache keeps at most
:data:`MAX_RECORDS` of these records: a record read is touched, and storing one more
deletes the least recently used (:func:`prune_records`), so a new seed on every
request cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable
from typing import Any

from fitscope.config import RunConfig
from fitscope.data import load_data
from fitscope.engine import Callback, Trainer, train

from . import cache
from .runs import problem_for_run, run_landscape
from .sharpness import expected_sharpness, top_hessian_eigenvalue

POINTS = 25  # the slice's grid: 25 x 25 = 625 loss evaluations over the training set
MARGIN = 0.25  # the slice extends a quarter of the path's range beyond it on each side
SNAPSHOTS = 100  # about this many snapshots along each path
ALPHAS = (0.05, 0.2)  # relative noise sizes of the expected sharpness
SAMPLES = 32  # noise draws per expected sharpness
RECORD_KIND = "lab-trajectory"
RECORD_VERSION = 1  # bump when a record's content changes
MAX_RECORDS = 200  # records kept in the cache (31 to 37 kB each, measured)

Report = Callable[[str, float], None]  # (what is being done, share of the run done in [0, 1])
SHARE = {"train": 0.55, "landscape": 0.35}  # of a run's time; sharpness takes the rest


@functools.lru_cache(maxsize=1)
def train_rows() -> int:
    """Training rows of the page's data (the default data config's train split)."""
    cfg = RunConfig()
    return len(load_data(cfg.data, cfg.task.kind).x_train)


def steps_of(epochs: int, batch_size: int) -> int:
    """Optimizer steps of a run: ``epochs`` times the batches per epoch, as the engine
    counts them (batch size 0, or at least the training rows, is one full batch)."""
    n = train_rows()
    batch = n if batch_size == 0 or batch_size >= n else batch_size
    return epochs * math.ceil(n / batch)


def compared_config(optimizer: str, lr: float, batch_size: int, weight_noise: float,
                    epochs: int, seed: int) -> RunConfig:
    """The config of one compared run (see the module docstring); a
    ``pydantic.ValidationError`` when the settings do not make a valid config."""
    every = max(1, steps_of(epochs, batch_size) // SNAPSHOTS)
    return RunConfig().with_overrides({
        "optimizer.name": optimizer, "optimizer.lr": lr, "budget.batch_size": batch_size,
        "regularization.weight_noise": weight_noise, "budget.epochs": epochs,
        "budget.seed": seed, "observe.snapshot_every": every})


def record_key(cfg: RunConfig) -> str:
    """The cache key of a run's record: its run id and the page's settings."""
    settings = {"version": RECORD_VERSION, "points": POINTS, "margin": MARGIN,
                "alphas": list(ALPHAS), "samples": SAMPLES, "split": "train"}
    return cache.cache_key(cfg.run_id, RECORD_KIND, settings, [])


class _EpochReport(Callback):
    """Reports each finished epoch of the training."""

    def __init__(self, report: Report, epochs: int):
        self.report, self.epochs = report, epochs

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        done = row["epoch"] / self.epochs
        self.report(f"training, epoch {row['epoch']} of {self.epochs}", SHARE["train"] * done)


def cached_record(cfg: RunConfig) -> dict[str, Any] | None:
    """The cached record of ``cfg`` (with ``cached: True``), or None; a hit is touched
    (its file's modification time is the last use, for :func:`prune_records`)."""
    key = record_key(cfg)
    hit = cache.load(key)
    if hit is None:
        return None
    with contextlib.suppress(OSError):  # pruned meanwhile: the record read is still good
        os.utime(cache.cache_dir() / f"{key}.json")
    return {**hit, "cached": True}


def prune_records(keep: int | None = None) -> int:
    """Delete all but the ``keep`` (default :data:`MAX_RECORDS`) most recently used
    records of this page from the cache; the number deleted."""
    keep = MAX_RECORDS if keep is None else keep
    files = []
    for path in cache.cache_dir().glob(f"*-{RECORD_KIND}-*.json"):
        with contextlib.suppress(OSError):
            files.append((path.stat().st_mtime, path))
    files.sort(reverse=True)
    for _, path in files[keep:]:
        path.unlink(missing_ok=True)
    return max(0, len(files) - keep)


def run_record(cfg: RunConfig, report: Report | None = None) -> dict[str, Any]:
    """The record of ``cfg`` (see the module docstring), from the cache when it is there;
    ``cached`` says which. ``report`` hears what is being done while it is computed."""
    if (hit := cached_record(cfg)) is not None:
        return hit
    record = compute_record(cfg, report or (lambda stage, share: None))
    cache.store(record_key(cfg), record)
    prune_records()
    return {**record, "cached": False}


def compute_record(cfg: RunConfig, report: Report) -> dict[str, Any]:
    """Train ``cfg``, slice the loss along its path and measure its sharpness."""
    t0 = time.perf_counter()
    report("training", 0.0)
    run = train(cfg, callbacks=[_EpochReport(report, cfg.budget.epochs)])
    t1 = time.perf_counter()
    report(f"loss on the path's plane ({POINTS} x {POINTS} grid)", SHARE["train"])
    trajectory, problem_text = None, ""
    try:
        surface = run_landscape(run, "trajectory", points=POINTS, margin=MARGIN,
                                use_cache=False)
        trajectory = surface.to_dict()
    except (ValueError, RuntimeError) as exc:  # e.g. a path of non-finite weights
        problem_text = f"no landscape for this run: {exc}"
    t2 = time.perf_counter()
    report("sharpness", SHARE["train"] + SHARE["landscape"])
    sharpness = measure_sharpness(run) if run.status != "diverged" else None
    t3 = time.perf_counter()
    report("done", 1.0)
    return {
        "run_id": run.run_id, "config": cfg.to_dict(), "status": run.status,
        "reason": run.reason, "metrics": run.metrics,
        "history": {k: run.column(k) for k in ("epoch", "step", "train_loss", "val_loss")},
        "trajectory": trajectory, "problem": problem_text, "sharpness": sharpness,
        "grid": POINTS, "seconds": {"train": t1 - t0, "landscape": t2 - t1,
                                    "sharpness": t3 - t2},
    }


def measure_sharpness(run) -> dict[str, Any]:
    """The top Hessian eigenvalue and the expected increases at the run's weights, on
    the training split (measurement seed 0)."""
    problem = problem_for_run(run, "train")
    return {"hessian": top_hessian_eigenvalue(problem),
            "expected": [expected_sharpness(problem, alpha=a, samples=SAMPLES)
                         for a in ALPHAS]}
