"""The regularization landscape page's endpoints: the L1/L2 optimum of a 2-D quadratic
and the L1/L2 paths of logistic regression, both computed by
:mod:`fitscope.regularization_paths` on the app's work queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from fitscope.jsontext import finite
from fitscope.regularization_paths import Quadratic, logistic_path, quadratic_view

from .work import lru

cached_quadratic_view = lru(entries=256, max_bytes=4_000_000)(quadratic_view)


def add_landscape_routes(app: FastAPI) -> None:
    """``GET /api/landscape/quadratic`` (:class:`~fitscope.regularization_paths.Quadratic`
    fields) and ``GET /api/landscape/logistic``."""
    @app.get("/api/landscape/quadratic")
    async def quadratic(q: Annotated[Quadratic, Query()]) -> JSONResponse:
        return JSONResponse(finite(await app.state.work.run(cached_quadratic_view, q)))

    @app.get("/api/landscape/logistic")
    async def logistic() -> JSONResponse:
        return JSONResponse(finite(await app.state.work.run(logistic_path)))
