"""The record of one training run, and how it is saved and loaded.

A saved run is a directory: ``config.json`` (the :class:`RunConfig`), ``run.json``
(status, history, metrics, timings, probe records, versions), ``model.pt`` (the
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

if TYPE_CHECKING:  # torch is imported where it is used: reading records needs none
    from torch import nn

Status = Literal["completed", "early_stopped", "diverged", "failed"]


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
    epoch's minibatch losses, in probed runs of the sequential engine); ``metrics`` holds the final train, val
    and test loss and accuracy at the restored best weights plus ``best_epoch``,
    ``epochs_run`` and ``steps``. ``probes`` are tidy records ``{step, layer, quantity,
    value}``. ``stop_epoch`` is set when early stopping ended the run; ``diverged_step``
    and ``reason`` when it diverged.
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

    @property
    def run_id(self) -> str:
        return self.config.run_id

    def column(self, key: str) -> list[float]:
        """One history column, e.g. ``run.column("val_loss")``."""
        return [row[key] for row in self.history]

    def record(self) -> dict[str, Any]:
        """Everything but the model and the parameter snapshots, as plain JSON data."""
        body = asdict(self) if self.model is None else asdict(_without_model(self))
        body.pop("model", None)
        body.pop("snapshots", None)
        body["config"] = self.config.to_dict()
        body["run_id"] = self.run_id
        return body

    def save(self, directory: str | Path) -> Path:
        """Write the run to ``directory`` (created); files are replaced atomically."""
        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / "config.json", self.config.to_json().encode())
        _atomic_write(directory / "run.json", json.dumps(self.record(), indent=1).encode())
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
        body = dict(body)
        body.pop("run_id", None)
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
