"""The trained-network landscape page's endpoints: two runs compared, with progress.

``GET /api/trajectories`` trains two runs A and B
(:mod:`fitscope.landscape.trajectory_records`: each run's path slice, sharpness and
metrics, cached by run id) and adds the two runs'
optimizers racing on a toy surface (:func:`fitscope.lab.optimizers_api.race_json`, cached).
``GET /api/trajectories/progress`` with the same query says what that computation is
doing (``{"stage": null}`` when it is not running), for the page to show while it waits.

The work runs on a :class:`~fitscope.lab.work.WorkQueue` of its own
(``app.state.trajectory_work``: two workers, four waiting, 503 when full), so that
comparisons, which take seconds, never hold up the other pages' requests; one
comparison computes at a time (the machine has few cores and a second comparison
would only slow the first), and records already cached are read beside it. A
comparison not done within :data:`~fitscope.lab.work.ANSWER_WITHIN` seconds is
answered 202 and goes on; the same query again waits for it
(:meth:`~fitscope.lab.work.WorkQueue.answer`).
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from fitscope.config import SEED_MAX
from fitscope.landscape.trajectory_records import (
    ALPHAS,
    POINTS,
    Report,
    cached_record,
    compared_config,
    run_record,
    steps_of,
)

from .convergence import convergence
from .messages import describe
from .optimizers_api import OptimizerName, Race, SurfaceName, race_json
from .work import WorkQueue, encoded, json_body

MAX_STEPS = 3000  # optimizer steps per run: a run trains in a few seconds at most
SIDES = ("a", "b")


class Comparison(BaseModel):
    """Two runs, A and B: each its optimizer, learning rate, batch size (0: the full
    training set) and weight noise (std of the Gaussian noise added to the weights at
    each step); both the same epochs and seed. ``surface`` is the toy surface the two
    optimizers also race on. The defaults compare without and with weight noise."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    epochs: int = Field(30, ge=1, le=200)
    seed: int = Field(0, ge=0, le=SEED_MAX)
    a_optimizer: OptimizerName = "adam"
    a_lr: float = Field(0.01, gt=0.0, le=10.0)
    a_batch: int = Field(64, ge=0, le=1000)
    a_noise: float = Field(0.0, ge=0.0, le=1.0)
    b_optimizer: OptimizerName = "adam"
    b_lr: float = Field(0.01, gt=0.0, le=10.0)
    b_batch: int = Field(64, ge=0, le=1000)
    b_noise: float = Field(0.05, ge=0.0, le=1.0)
    surface: SurfaceName = "ravine"

    @field_validator("a_batch", "b_batch")
    @classmethod
    def _few_steps(cls, batch: int, info: ValidationInfo) -> int:
        epochs = info.data.get("epochs")
        if epochs is not None and (steps := steps_of(epochs, batch)) > MAX_STEPS:
            raise ValueError(f"batch {batch} for {epochs} epochs makes {steps} optimizer "
                             f"steps; this page trains at most {MAX_STEPS} per run (raise "
                             f"the batch size or lower the epochs)")
        return batch

    def side(self, side: str) -> dict[str, Any]:
        """One run's settings: ``optimizer, lr, batch_size, weight_noise``."""
        return {"optimizer": getattr(self, f"{side}_optimizer"), "lr": getattr(self, f"{side}_lr"),
                "batch_size": getattr(self, f"{side}_batch"),
                "weight_noise": getattr(self, f"{side}_noise")}


def describe_settings(s: dict[str, Any]) -> list[str]:
    """A run's settings as short phrases."""
    return [s["optimizer"], f"lr {s['lr']:g}",
            "full batch" if s["batch_size"] == 0 else f"batch {s['batch_size']}",
            f"weight noise {s['weight_noise']:g}" if s["weight_noise"] else "no weight noise"]


def labels(q: Comparison) -> dict[str, str]:
    """Each run named by what sets it apart from the other (all settings when equal)."""
    a, b = (describe_settings(q.side(s)) for s in SIDES)
    differ = [i for i in range(len(a)) if a[i] != b[i]] or range(len(a))
    return {"a": ", ".join(a[i] for i in differ), "b": ", ".join(b[i] for i in differ)}


class Progress:
    """What each comparison being computed is doing: ``{key: {stage, fraction}}``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}

    def set(self, key: str, stage: str, fraction: float) -> None:
        with self._lock:
            self._state[key] = {"stage": stage, "fraction": round(fraction, 3)}

    def get(self, key: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._state.get(key, {"stage": None, "fraction": None}))

    def clear(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)


def comparison_view(q: Comparison, report: Report, compute: threading.Lock) -> dict[str, Any]:
    """Both runs' records (cached, or computed holding ``compute``), their labels,
    settings and whether each converged (:func:`~fitscope.lab.convergence.convergence`:
    the page warns that a sharpness off a minimum compares nothing), and their
    optimizers on the toy surface ``q.surface``. ``report`` hears
    the stage and the share of the whole comparison done."""
    names = labels(q)
    runs = []
    for k, side in enumerate(SIDES):
        settings = q.side(side)
        cfg = compared_config(**settings, epochs=q.epochs, seed=q.seed)

        def side_report(stage: str, share: float, k: int = k, side: str = side) -> None:
            report(f"run {side.upper()}: {stage}", (k + share) / len(SIDES))

        record = cached_record(cfg)
        if record is None:
            if compute.locked():
                side_report("waiting for another comparison to finish", 0.0)
            with compute:
                record = run_record(cfg, side_report)
        runs.append({**record, "side": side.upper(), "label": names[side],
                     "settings": settings, "description": ", ".join(describe_settings(settings)),
                     "convergence": convergence(record["history"]["train_loss"],
                                                record["status"])})
    optimizers = tuple(dict.fromkeys(q.side(s)["optimizer"] for s in SIDES))
    return {"runs": runs, "grid": POINTS, "alphas": list(ALPHAS),
            "toy": json.loads(race_json(Race(surface=q.surface, run=optimizers)))}


def add_trajectory_routes(app: FastAPI) -> None:
    progress = Progress()
    compute = threading.Lock()
    app.state.trajectory_work = WorkQueue(workers=2, waiting=4)

    @app.get("/api/trajectories")
    async def trajectories(q: Annotated[Comparison, Query()]) -> Response:
        key = q.model_dump_json()

        def compare() -> bytes:
            try:
                return encoded(comparison_view(
                    q, lambda stage, share: progress.set(key, stage, share), compute))
            finally:
                progress.clear(key)

        try:
            body = await app.state.trajectory_work.answer(("trajectories", key), compare)
        except ValidationError as exc:  # settings that make no valid RunConfig
            raise HTTPException(422, describe(exc)) from None
        return json_body(body)

    @app.get("/api/trajectories/progress")
    async def trajectories_progress(q: Annotated[Comparison, Query()]) -> dict:
        return progress.get(q.model_dump_json())
