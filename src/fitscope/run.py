"""The record of one training run, and how it is saved and loaded.

A saved run is a directory: ``config.json`` (the :class:`RunConfig`), ``run.json``
(status, history, metrics, timings, probe records, versions; strict JSON, a NaN or
infinite number written as null), ``model.pt`` (the
model's ``state_dict``: an ordinary PyTorch checkpoint) and, when the run kept parameter
snapshots, ``snapshots.pt`` (the list of ``{"step", "params"}``).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .config import RunConfig
from .jsontext import json_text

if TYPE_CHECKING:  # torch is imported where it is used: reading records needs none
    from torch import nn

Status = Literal["completed", "early_stopped", "diverged", "failed"]
# The version of Run.record()'s layout, kept in every record as "schema". Records written
# before it existed (schema 1) have no "schema" key; upgrade_record reads them.
RECORD_SCHEMA = 2


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a :meth:`Run.record`, from a store or ``run.json``) in the current
    layout: a record without ``schema`` is schema 1. A
    record newer than this fitscope reads is a ValueError. Schema 2 added ``data_hash`` and
    ``label_names`` (None for a schema-1 record: it predates content-addressed data)."""
    schema = record.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise ValueError(f"run record {record.get('run_id', '?')}: bad schema {schema!r}")
    if schema > RECORD_SCHEMA:
        raise ValueError(f"run record {record.get('run_id', '?')} has schema {schema}; "
                         f"this fitscope reads up to {RECORD_SCHEMA} (upgrade fitscope)")
    return {"data_hash": None, "label_names": None, **record, "schema": RECORD_SCHEMA}


def versions() -> dict[str, str]:
    import torch

    from . import __version__

    return {"fitscope": __version__, "torch": torch.__version__,
            "python": platform.python_version()}


@dataclass
class Run:
    """What a run produced.

    ``history`` has one dict per epoch (``epoch, step, train_loss, train_acc, val_loss,
    val_acc, lr, grad_norm, penalty, seconds``, and ``train_loss_std``, the spread of the
    epoch's minibatch losses, in probed runs of the sequential engine); ``metrics`` holds the
    final train, val and test loss and accuracy at the restored best weights plus ``best_epoch``,
    ``epochs_run`` and ``steps``. ``probes`` are tidy records ``{step, layer, quantity,
    value}``. ``stop_epoch`` is set when early stopping ended the run; ``diverged_step``
    and ``reason`` when it diverged. Regression runs add ``{split}_rmse`` (in the
    target's own units) and ``{split}_r2`` to ``metrics``.

    ``run_id`` and ``data_hash`` are fixed when the run is made: ``data_hash`` is the
    content hash of the data file(s) it was given (None for built-in sets,
    :func:`fitscope.data.fingerprint.data_hash`) and ``run_id`` is
    ``config.run_id_for(data_hash)``, so a record keeps the id it was trained under after
    its file changes. ``label_names[i]`` is the data file's own name of class ``i``
    (None for built-in sets and regression).
    """

    config: RunConfig
    status: Status = "completed"
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    stop_epoch: int | None = None
    diverged_step: int | None = None
    reason: str = ""
    engine: str = "sequential"
    model_spec: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)
    model: nn.Module | None = field(default=None, repr=False, compare=False)
    label_names: list[str] | None = None
    data_hash: str | None = None
    run_id: str = ""

    def __post_init__(self) -> None:
        if not self.run_id:
            from .data.fingerprint import data_hash

            self.data_hash = data_hash(self.config.data)
            self.run_id = self.config.run_id_for(self.data_hash)

    def __repr__(self) -> str:
        from .display import run_repr

        return run_repr(self)

    def _repr_html_(self) -> str:
        """Status, metrics, the loss curves and the diagnosis (:mod:`fitscope.display`)."""
        from .display import run_html

        return run_html(self)

    @property
    def plot(self):
        """Plotly figures of this run: ``run.plot.loss()``, ``.accuracy()``,
        ``.boundary()``, ``.histograms()``, ``.variance()``, ``.weights()``
        (:class:`fitscope.figures.RunPlots`)."""
        from .figures import RunPlots

        return RunPlots(self)

    def column(self, key: str) -> list[float]:
        """One history column, e.g. ``run.column("val_loss")``."""
        return [row[key] for row in self.history]

    def trained_model(self) -> nn.Module:
        """The trained model; a ValueError when there is none (a run loaded without
        ``model.pt``)."""
        if self.model is None:
            raise ValueError(f"run {self.run_id} has no model (a run loaded without model.pt)")
        return self.model

    def record(self) -> dict[str, Any]:
        """Everything but the model and the parameter snapshots, as plain JSON data."""
        body = asdict(self) if self.model is None else asdict(_without_model(self))
        body.pop("model", None)
        body.pop("snapshots", None)
        body["config"] = self.config.to_dict()
        body["run_id"] = self.run_id
        body["schema"] = RECORD_SCHEMA
        return body

    def save(self, directory: str | Path) -> Path:
        """Write the run to ``directory`` (created); files are replaced atomically."""
        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / "config.json", self.config.to_json().encode())
        _atomic_write(directory / "run.json", json_text(self.record()).encode())
        if self.model is not None:
            with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
                torch.save(self.model.state_dict(), tmp)
            os.replace(tmp.name, directory / "model.pt")
        if self.snapshots:
            with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
                torch.save(self.snapshots, tmp)
            os.replace(tmp.name, directory / "snapshots.pt")
        return directory

    @classmethod
    def from_record(cls, body: dict[str, Any]) -> Run:
        body = upgrade_record(body)
        body.pop("schema")
        body["config"] = RunConfig.model_validate(body["config"])
        return cls(**body)


def _without_model(run: Run) -> Run:
    clone = Run.__new__(Run)
    clone.__dict__.update(run.__dict__)
    clone.model = None
    return clone


def _atomic_write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def load_run(directory: str | Path, model: nn.Module | None = None) -> Run:
    """Load a run saved by :meth:`Run.save`.

    The model is rebuilt from the config (or ``model`` is used, for a user's own
    architecture) and its ``state_dict`` loaded from ``model.pt``.
    """
    import torch

    from .models import build_model

    directory = Path(directory)
    if not (directory / "run.json").exists():
        raise FileNotFoundError(f"no saved run in {directory} (run.json missing)")
    run = Run.from_record(json.loads((directory / "run.json").read_text()))
    if (directory / "snapshots.pt").exists():
        run.snapshots = torch.load(directory / "snapshots.pt", weights_only=True)
    if (directory / "model.pt").exists():
        if model is None and run.model_spec.get("builtin", True):
            spec = run.model_spec
            model = build_model(run.config, spec["n_features"], spec["n_classes"],
                                tuple(spec["input_shape"]))
        if model is not None:
            model.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
            run.model = model
    return run
