"""The endpoints every page asks: the server's state (``/api/health``) and what the
training forms offer (``/api/form``: choices, limits, defaults)."""

from __future__ import annotations

import typing
from typing import Any

from fastapi import FastAPI

from fitscope.config import RunConfig
from fitscope.landscape import toy

from .landscape_api import quadratic_json
from .messages import LAB_DATA, LIMITS
from .optimizers_api import race_json

FORM_FIELDS = ("model.activation", "init.scheme", "optimizer.name")  # the pages' selects


def field_choices(dotted: str) -> list[str]:
    """The allowed values of a ``Literal`` config field, e.g. ``"init.scheme"``."""
    model: Any = RunConfig
    *parts, last = dotted.split(".")
    for part in parts:
        model = model.model_fields[part].annotation
    return list(typing.get_args(model.model_fields[last].annotation))


def form_choices() -> dict[str, list[str]]:
    """The choices of the forms' selects: :data:`FORM_FIELDS`, the lab's data sets, the
    toy surfaces and optimizers."""
    choices = {f: field_choices(f) for f in FORM_FIELDS}
    choices["data.name"] = list(LAB_DATA)
    choices["surface"], choices["optimizer"] = list(toy.SURFACES), list(toy.OPTIMIZERS)
    return choices


def add_server_routes(app: FastAPI) -> None:
    """``GET /api/health`` and ``GET /api/form``."""
    @app.get("/api/health")
    async def health() -> dict:
        """``computing``: the costly GETs' jobs computing or waiting, both queues (a job
        whose request was answered 202 goes on); ``cached_bytes``: what each in-memory
        cache of answers holds (:class:`~fitscope.lab.work.LRU`), in bytes."""
        s = app.state.sessions
        return {"trainings": s.count, "max_sessions": s.max_sessions,
                "computing": app.state.work.admitted + app.state.trajectory_work.admitted,
                "cached_bytes": {"race": race_json.cache.bytes,
                                 "quadratic": quadratic_json.cache.bytes},
                "warm": app.state.ready.is_set()}

    @app.get("/api/form")
    async def form() -> dict:
        """``limits``: the config limits of :data:`~fitscope.lab.messages.LIMITS` (dotted
        names) and the server's session budget (``max_run_seconds``, ``max_probe_mb``,
        ``max_histogram_bins``, ``max_steps``, ``max_sessions``)."""
        limits = {**LIMITS, **app.state.budget.to_dict(),
                  "max_sessions": app.state.sessions.max_sessions}
        return {"choices": form_choices(), "limits": limits,
                "defaults": RunConfig().to_dict()}
