"""Rich progress bars for training runs (a :class:`~fitscope.engine.Callback`)."""

from __future__ import annotations

from typing import Self

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from .config import RunConfig
from .engine import Callback


class EpochProgress(Callback):
    """A bar over epochs showing the latest train and validation loss."""

    def __init__(self, config: RunConfig, disable: bool = False):
        self.config = config
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), disable=disable,
        )
        self.task = TaskID(-1)  # on_train_start adds the task

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def on_train_start(self, trainer) -> None:
        self.task = self.progress.add_task(f"run {self.config.run_id}",
                                           total=self.config.budget.epochs, losses="")

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def on_epoch_end(self, trainer, row: dict) -> None:
        if row["epoch"] > self.config.budget.epochs:  # a phase on all data after early stopping
            self.progress.update(self.task, total=row["epoch"])
        losses = f"train {row['train_loss']:.4f}  val {row['val_loss']:.4f}"
        self.progress.update(self.task, completed=row["epoch"], losses=losses)
