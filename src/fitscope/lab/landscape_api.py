"""The regularization landscape page's endpoints: the L1/L2 optimum of a 2-D quadratic
and the L1/L2 paths of logistic regression, both computed by
:mod:`fitscope.regularization_paths` on the app's work queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response

from fitscope.jsontext import finite
from fitscope.regularization_paths import Quadratic, logistic_path, quadratic_view

from .work import json_body, lru

quadratic_json = lru(entries=256, max_bytes=4_000_000)(quadratic_view)
""":func:`~fitscope.regularization_paths.quadratic_view` as the JSON sent, cached (at most
256 answers and 4 MB of JSON)."""


def add_landscape_routes(app: FastAPI) -> None:
    """``GET /api/landscape/quadratic`` (:class:`~fitscope.regularization_paths.Quadratic`
    fields) and ``GET /api/landscape/logistic``."""
    @app.get("/api/landscape/quadratic")
    async def quadratic(q: Annotated[Quadratic, Query()]) -> Response:
        return json_body(await app.state.work.run(quadratic_json, q))

    @app.get("/api/landscape/logistic")
    async def logistic() -> JSONResponse:
        return JSONResponse(finite(await app.state.work.run(logistic_path)))
