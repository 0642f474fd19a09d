"""The optimizers page's endpoint: optimizers racing on the notes' toy surfaces.

Surfaces, optimizers, paths and the figure all come from :mod:`fitscope.landscape`
(:func:`~fitscope.landscape.toy.optimize`, :func:`~fitscope.landscape.figures.toy_figure`);
this module only validates the page's settings and packs the result. The inputs are
bounded (at most 2000 steps, each optimizer at most once); a race not done within
:data:`~fitscope.lab.work.ANSWER_WITHIN` seconds is answered 202 and goes on
(:meth:`~fitscope.lab.work.WorkQueue.answer`: the same request again gets it). Answers
are kept as the JSON sent, in an LRU cache bounded in bytes (:func:`race_json`), read
without queueing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

import numpy as np
from fastapi import FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fitscope.landscape import toy
from fitscope.landscape.figures import toy_figure

from .work import json_body, lru

# the names of toy.SURFACES and toy.OPTIMIZERS, spelled out for the type checker
# (tests/test_lab_api.py checks that they are the same)
SurfaceName = Literal["ravine", "saddle", "rosenbrock", "cliff"]
OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
ALL_OPTIMIZERS: tuple[OptimizerName, ...] = get_args(OptimizerName)
LearningRate = Annotated[float | None, Field(gt=0.0, le=10.0)]


class Race(BaseModel):
    """Which surface, from where, for how long, with which optimizers; ``clip_norm``
    clips every optimizer's gradient norm. ``lr_<name>`` is that optimizer's learning
    rate (the surface's own when left out)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    surface: SurfaceName = "ravine"
    x0: float | None = Field(None, ge=-50.0, le=50.0)
    y0: float | None = Field(None, ge=-50.0, le=50.0)
    steps: int = Field(200, ge=1, le=2000)
    clip_norm: float | None = Field(None, gt=0.0, le=1000.0)
    run: tuple[OptimizerName, ...] = Field(ALL_OPTIMIZERS, min_length=1,
                                           max_length=len(ALL_OPTIMIZERS))

    @field_validator("run")
    @classmethod
    def _each_once(cls, run: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(run)) != len(run):
            raise ValueError(f"each optimizer at most once, got {list(run)}")
        return run

    lr_sgd: LearningRate = None
    lr_momentum: LearningRate = None
    lr_nesterov: LearningRate = None
    lr_adagrad: LearningRate = None
    lr_rmsprop: LearningRate = None
    lr_adam: LearningRate = None


def race_view(q: Race) -> dict:
    """The surface's figure with every chosen optimizer's path, and the paths' numbers."""
    surf = toy.surface(q.surface)
    start = (q.x0 if q.x0 is not None else surf.start[0],
             q.y0 if q.y0 is not None else surf.start[1])
    paths: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for name in q.run:
        lr = getattr(q, f"lr_{name}") or surf.lr.get(name, 0.01)
        path = toy.optimize(surf, name, steps=q.steps, start=start, lr=lr,
                            clip_norm=q.clip_norm)
        paths[name] = path
        loss = toy.losses(surf, path)
        info[name] = {"lr": lr, "x": path[:, 0].tolist(), "y": path[:, 1].tolist(),
                      "loss": loss.tolist(), "final_gap": float(loss[-1] - surf.f_min)}
    figure = json.loads(toy_figure(surf, paths).to_json())
    return {"surface": q.surface, "formula": surf.formula, "start": list(start),
            "bounds": surf.bounds, "f_min": surf.f_min, "paths": info, "figure": figure,
            "default_lr": {name: surf.lr.get(name, 0.01) for name in toy.OPTIMIZERS}}


race_json = lru(entries=64, max_bytes=8_000_000)(race_view)
""":func:`race_view` as the JSON the endpoint sends (encoded in the calling worker),
cached: at most 64 races and 8 MB of JSON (a 2000-step race of the six optimizers is
about 1.45 MB)."""


def add_optimizer_routes(app: FastAPI) -> None:
    @app.get("/api/optimizers/race")
    async def race(q: Annotated[Race, Query()]) -> Response:
        cached = race_json.cache.get((q,))
        if cached is not None:  # already encoded: not queued behind races
            return json_body(cached)
        # at the step bound this takes seconds while pages train
        return json_body(await app.state.work.answer(("race", q), race_json, q))
