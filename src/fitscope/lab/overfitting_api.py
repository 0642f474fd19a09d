"""The overfitting page's endpoint: the 1-nearest-neighbour reference on the page's data
(:func:`fitscope.baselines.nearest_neighbour_accuracy`), on the app's work queue."""

from __future__ import annotations

import typing
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from fitscope.config import SEED_MAX

from .messages import LAB_DATA, LIMITS


class NeighbourQuery(BaseModel):
    """The data of the overfitting page, for its 1-nearest-neighbour reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # LAB_DATA is a tuple built at import: no static Literal, pydantic checks the names
    name: typing.Literal[LAB_DATA] = "moons"  # type: ignore[valid-type]
    n_samples: int = Field(1000, ge=10, le=LIMITS["data.n_samples"])
    noise: float = Field(0.2, ge=0.0, le=10.0)
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    train_size: int | None = Field(None, ge=2, le=LIMITS["data.n_samples"])
    split_seed: int = Field(0, ge=0, le=SEED_MAX)


def nearest_neighbour(q: NeighbourQuery) -> dict:
    """The page's 1-nearest-neighbour reference on ``q``'s data
    (:func:`fitscope.baselines.nearest_neighbour_accuracy`)."""
    from fitscope.baselines import nearest_neighbour_accuracy
    from fitscope.config import DataConfig

    return nearest_neighbour_accuracy(DataConfig(**q.model_dump()))


def add_overfitting_routes(app: FastAPI) -> None:
    """``GET /api/overfitting/nearest-neighbour`` (:class:`NeighbourQuery` fields; 422
    with the reason when the data cannot be split so)."""
    @app.get("/api/overfitting/nearest-neighbour")
    async def neighbour(q: Annotated[NeighbourQuery, Query()]) -> dict:
        try:
            return await app.state.work.run(nearest_neighbour, q)
        except ValueError as exc:  # e.g. train_size above the rows left for training
            raise HTTPException(422, str(exc)) from None
