"""The study runner's progress bar: runs done, running, failed and diverged, and ETA."""

from __future__ import annotations

from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StudyProgress:
    """A rich progress bar over a study's runs; runs already in the store count as done."""

    def __init__(self, title: str = "study", disable: bool = False,
                 console: Console | None = None):
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}  failed {task.fields[failed]}  "
                       "diverged {task.fields[diverged]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            disable=disable, console=console)
        self.title, self.task = title, TaskID(-1)  # begin() adds the task
        self.running = 0
        self.counts: dict[str, Any] = {"failed": 0, "diverged": 0}

    def begin(self, total: int, done: list[str]) -> None:
        """Start counting; ``done`` holds the statuses of the runs already stored."""
        for status in done:
            if status in self.counts:
                self.counts[status] += 1
        self.task = self.bar.add_task(self.title, total=total, completed=len(done), running=0,
                                      **self.counts)

    def __enter__(self) -> Self:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def started(self, n: int) -> None:
        self.running += n
        self.bar.update(self.task, running=self.running)

    def stopped(self, n: int) -> None:
        self.running -= n
        self.bar.update(self.task, running=self.running)

    def finished(self, status: str) -> None:
        if status in self.counts:
            self.counts[status] += 1
        self.bar.update(self.task, advance=1, **self.counts)
