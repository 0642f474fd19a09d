"""What the browser may send to a live training, validated with pydantic.

Training settings are a :class:`~fitscope.config.RunConfig` (the one config) with the
lab's size limits on top (:func:`check_lab_limits`), so a page can never ask for a
model, data set or run longer than the lab allows, nor for a file on disk. Every
problem becomes a message naming the field and the value received.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from fitscope.config import TOY_2D, RunConfig
from fitscope.validation_text import describe_problems

MAX_MESSAGE_CHARS = 65_536
LAB_DATA = (*TOY_2D, "digits", "breast_cancer")
LIMITS = {"model.depth": 20, "model.width": 256, "data.n_samples": 5000, "budget.epochs": 500}


def check_lab_limits(cfg: RunConfig) -> RunConfig:
    """``cfg`` if the lab may train it; else ``ValueError`` naming the field and value.

    Limits: ``model.depth`` <= 20, every width <= 256, ``data.n_samples`` <= 5000,
    ``budget.epochs`` <= 500; data from :data:`LAB_DATA` only (no files), polynomial
    features only on 2-D data, an MLP on the CPU, no parameter snapshots.
    """
    m, d = cfg.model, cfg.data
    values = {"model.depth": m.depth, "model.width": max(m.widths, default=0),
              "data.n_samples": d.samples, "budget.epochs": cfg.budget.epochs}
    for field, value in values.items():
        if value > LIMITS[field]:
            raise ValueError(f"{field} must be at most {LIMITS[field]} in the lab, got {value}")
    rules = (
        ("data.name", d.name, d.name in LAB_DATA, f"one of {list(LAB_DATA)}"),
        ("data.poly_degree", d.poly_degree, d.poly_degree == 1 or d.name in TOY_2D,
         "1 unless the data is 2-D"),
        ("model.kind", m.kind, m.kind == "mlp", "'mlp'"),
        ("budget.device", cfg.budget.device, cfg.budget.device == "cpu", "'cpu'"),
        ("observe.snapshot_every", cfg.observe.snapshot_every, cfg.observe.snapshot_every == 0,
         "0"),
    )
    for field, got, ok, allowed in rules:
        if not ok:
            raise ValueError(f"{field} must be {allowed} in the lab, got {got!r}")
    return cfg


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Message):
    """Start a new training (replacing the current one); ``paused`` starts it paused,
    ``probe`` records per-layer probes for the page (the lab sets how often),
    ``weights`` sends histograms of each layer's weights with every view."""

    type: Literal["start"]
    config: RunConfig = RunConfig()
    paused: bool = False
    probe: bool = False
    weights: bool = False

    @field_validator("config")
    @classmethod
    def _limits(cls, cfg: RunConfig) -> RunConfig:
        return check_lab_limits(cfg)


class Control(_Message):
    """Pause, resume, train one more epoch, or stop and forget the current training."""

    type: Literal["pause", "resume", "step", "reset"]


Message = Annotated[Start | Control, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Start | Control] = TypeAdapter(Message)


class BadMessage(ValueError):
    """A message the lab refuses; its text is shown on the page."""


def parse_message(text: Any) -> Start | Control:
    """Validate one websocket message (JSON text); :class:`BadMessage` says what is wrong."""
    if not isinstance(text, str):
        raise BadMessage("messages must be JSON text, got binary data")
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadMessage(f"message too long: {len(text)} characters (at most "
                         f"{MAX_MESSAGE_CHARS})")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadMessage(f"message is not valid JSON: {exc}") from None
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise BadMessage(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """The problems in a message, one a line (:func:`fitscope.validation_text.describe_problems`),
    the message type left out of each field's path (``config.model.depth``, not
    ``start.config.model.depth``)."""
    return describe_problems(exc, drop_leading=_TYPES, whole="message")


_TYPES = ("start", "pause", "resume", "step", "reset")
