"""The probe inside the engine: ``train(config)`` uses it when ``observe.probe_every > 0``.

This module sits below the engine (the engine imports it; it imports only the probe's
hooks and the core's :class:`fitscope.core.loop.Callback`); the engine's classes are named
here for the type checker only."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..core.loop import Callback
from .hooks import Probe, probe

if TYPE_CHECKING:
    from ..engine import Trainer
    from ..run import Run


class ProbeStepper(Callback):
    """Advances a :class:`~fitscope.probe.hooks.Probe` after every optimizer step, and
    adds ``train_loss_std`` to each history row: the standard deviation of the epoch's
    minibatch losses (by n, over its steps), the noise the diagnosis judges the loss
    curve against (:func:`fitscope.probe.findings.epoch_noise`). A
    :class:`fitscope.core.loop.Callback` (the engine calls its four methods)."""

    def __init__(self, p: Probe):
        self.probe = p
        self.losses: list[float] = []

    def on_train_start(self, trainer: Trainer) -> None:
        pass

    def on_train_end(self, trainer: Trainer, run: Run) -> None:
        pass

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.probe.step()
        self.losses.append(loss)

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        n = max(len(self.losses), 1)
        mean = sum(self.losses) / n
        row["train_loss_std"] = math.sqrt(max(sum(v * v for v in self.losses) / n
                                              - mean * mean, 0.0))
        self.losses = []


def fit_with_probe(trainer: Trainer) -> Run:
    """``trainer.fit()`` under a probe every ``observe.probe_every`` steps with
    ``observe.histogram_bins`` bins; the records go to ``Run.probes``. Probe steps
    count every optimizer step of the run, also those after early stopping's
    ``retrain_all`` restarts the engine's own step count."""
    obs = trainer.config.observe
    with probe(trainer.model, every=obs.probe_every, bins=obs.histogram_bins) as p:
        trainer.callbacks.append(ProbeStepper(p))
        run = trainer.fit()
    run.probes = p.records
    return run
