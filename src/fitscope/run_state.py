"""One run's bookkeeping, written once for both engines.

The sequential engine's :class:`fitscope.engine.Trainer` is a :class:`RunState`, and so
is each member (:class:`fitscope.population.engine.Member`) of the population engine's
:class:`~fitscope.population.engine.Population`: the sequential run is one member
through the same code for what a run records and decides between its gradient steps
(only the gradients differ: autograd of any ``nn.Module`` there, the stacked program of
N members here). The one epoch loop (:mod:`fitscope.epoch_loop`) calls these for
both engines:

- :meth:`RunState.order`: an epoch's data order, from the run's own generator;
- :meth:`RunState.snapshot`: a parameter snapshot for the run's trajectory;
- :meth:`RunState.diverge`: the run ends as ``diverged`` (the rule is
  :func:`fitscope.core.loop.divergence`);
- :func:`history_row`: the columns of one epoch's row of ``Run.history``;
- :func:`end_of_epoch`: record the row, run the epoch-end callbacks and early
  stopping, and decide whether the run ends;
- :func:`split_metrics`, :func:`restore_best` and :func:`finish`: the end of a run (best
  weights back unless it diverged, final metrics, the :class:`~fitscope.run.Run`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .config import RunConfig
from .core.loop import Callback, EarlyStopping, nonfinite_parameters
from .data import DataSplits
from .run import Run, Status


@dataclass(eq=False, repr=False)
class RunState:
    """What one run of ``config`` has done so far: its epochs and steps, history rows and
    parameter snapshots, how it ended (``status``, ``reason``, ``diverged_step``,
    ``stop_epoch``), its early stopping (:meth:`EarlyStopping.from_config`: a callback,
    or None) and its data order's generator (seeded with ``budget.seed``)."""

    config: RunConfig
    early: EarlyStopping | None = field(init=False)
    shuffle_gen: torch.Generator = field(init=False)  # the data order: a randperm per epoch
    history: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    status: Status = "completed"
    reason: str = ""
    diverged_step: int | None = None
    stop_epoch: int | None = None
    epoch: int = 0
    step: int = 0

    def __post_init__(self) -> None:
        self.early = EarlyStopping.from_config(self.config.regularization.early_stopping)
        self.shuffle_gen = torch.Generator().manual_seed(self.config.budget.seed)

    def order(self, n: int) -> Tensor:
        """This epoch's order of ``n`` training rows: a permutation drawn from the run's
        own generator (the same for a run on either engine)."""
        return torch.randperm(n, generator=self.shuffle_gen)

    def snapshot(self, step: int, params: Tensor) -> None:
        """Keep ``params`` (the run's parameters as one flat CPU vector, in
        ``parameters()`` order) as the snapshot after ``step`` steps (0: the init)."""
        self.snapshots.append({"step": step, "params": params})

    def diverge(self, reason: str) -> None:
        """End the run as ``diverged`` at the current step, for ``reason``."""
        self.status, self.reason, self.diverged_step = "diverged", reason, self.step

    def base_metrics(self) -> dict:
        """The metrics every run has, diverged or not: ``epochs_run``, ``steps`` and
        ``best_epoch`` (early stopping's, else the last epoch)."""
        return {"epochs_run": self.epoch, "steps": self.step,
                "best_epoch": self.early.best_epoch if self.early else self.epoch}


def history_row(*, epoch: int, step: int, train_loss: float, train_acc: float | None,
                val_loss: float, val_acc: float | None, lr: float, grad_norm: float,
                penalty: float, seconds: float) -> dict:
    """One epoch's row of ``Run.history``: the epoch and the step count at its end, the
    mean minibatch loss and the accuracy over its batches, the validation loss and
    accuracy, the learning rate, the global gradient norm of the last step, the penalty
    lambda_2 / 2 ||w||^2 + lambda_1 ||w||_1 and the epoch's seconds."""
    return {"epoch": epoch, "step": step, "train_loss": train_loss, "train_acc": train_acc,
            "val_loss": val_loss, "val_acc": val_acc, "lr": lr, "grad_norm": grad_norm,
            "penalty": penalty, "seconds": seconds}


def end_of_epoch(state: RunState, row: dict, params_finite: bool, total_steps: float,
                 host: Any, callbacks: Sequence[Callback] = ()) -> bool:
    """Record ``row`` in the history, run ``callbacks`` and then early stopping (each
    ``on_epoch_end(host, row)``: ``host`` is what a callback sees as the trainer, its
    ``.model`` the run's weights), then decide; True when the run ends:

    - non-finite parameters end it as ``diverged``;
    - early stopping that stopped at this epoch ends it as ``early_stopped``;
    - else it ends (status ``completed``) when a callback set ``host.stop`` or the run
      has taken ``total_steps`` steps."""
    state.history.append(row)
    for cb in callbacks:
        cb.on_epoch_end(host, row)
    if state.early:
        state.early.on_epoch_end(host, row)
    if not params_finite:
        state.diverge(nonfinite_parameters(state.step))
        return True
    if state.early and state.early.stopped_epoch == state.epoch:
        state.status, state.stop_epoch = "early_stopped", state.epoch
        return True
    return bool(getattr(host, "stop", False)) or state.step >= total_steps


def restore_best(state: RunState, model: nn.Module) -> None:
    """Early stopping's best weights back into ``model``, unless the run diverged."""
    if state.early and state.status != "diverged":
        state.early.restore(model)


Evaluate = Callable[[Tensor, Tensor], tuple[Sequence[float], Sequence[float | None]]]


def split_metrics(splits: DataSplits, classify: bool, evaluate: Evaluate, n: int
                  ) -> list[dict]:
    """The final metrics of ``n`` runs: ``{split}_loss`` and ``{split}_acc`` for the
    train, val and test splits, and for regression ``{split}_rmse`` and ``{split}_r2``
    (:func:`regression_metrics`). ``evaluate(x, y)`` gives the n runs' (losses,
    accuracies) on a split."""
    metrics: list[dict] = [{} for _ in range(n)]
    for split, x, y in (("train", splits.x_train, splits.y_train),
                        ("val", splits.x_val, splits.y_val),
                        ("test", splits.x_test, splits.y_test)):
        losses, accs = evaluate(x, y)
        for m, loss, acc in zip(metrics, losses, accs):
            m[f"{split}_loss"], m[f"{split}_acc"] = loss, acc
            if not classify:
                m.update(regression_metrics(split, loss, y, splits.target_std))
    return metrics


def regression_metrics(split: str, mse: float, y: torch.Tensor, target_std: float) -> dict:
    """``{split}_rmse`` and ``{split}_r2`` from the split's mean squared error ``mse`` on
    targets ``y`` as trained on (standardized when ``target_std != 1``).

    RMSE is in the target's own units: ``sqrt(mse) * target_std``. R2 is
    ``1 - mse / Var(y)`` (Var with ddof 0 over the split: the share of the split's
    variance the model explains; 0 for predicting the split's mean), unit-free; NaN when
    the split is empty or its targets are constant.
    """
    var = float(y.double().var(unbiased=False)) if len(y) else math.nan
    r2 = 1.0 - mse / var if var > 0 else math.nan
    return {f"{split}_rmse": math.sqrt(mse) * target_std if mse >= 0 else math.nan,
            f"{split}_r2": r2}


def label_names(splits: DataSplits) -> list[str] | None:
    """The data file's class names, in class-id order, for the run record."""
    return list(splits.label_names) if splits.label_names is not None else None


def finish(state: RunState, model: nn.Module, metrics: dict, *, model_spec: dict,
           splits: DataSplits, seconds: float, timings: dict | None = None,
           probes: list[dict] | None = None, engine: str = "sequential") -> Run:
    """The :class:`Run` of ``state``: its status, history and snapshots, metrics
    (:meth:`RunState.base_metrics` and ``metrics``, the evaluated ones: none for a
    diverged run), the data's label names, and the timings ``train_seconds``
    (``seconds``) and ``seconds_per_step`` plus ``timings``."""
    return Run(config=state.config, status=state.status, history=state.history,
               metrics={**state.base_metrics(), **metrics}, stop_epoch=state.stop_epoch,
               diverged_step=state.diverged_step, reason=state.reason,
               model_spec=model_spec, model=model, snapshots=state.snapshots,
               label_names=label_names(splits), probes=probes or [],
               timings={"train_seconds": seconds,
                        "seconds_per_step": seconds / max(state.step, 1), **(timings or {})},
               engine=engine)
