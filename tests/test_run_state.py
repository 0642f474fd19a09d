"""One run's bookkeeping (fitscope.run_state), shared by both engines: the end-of-epoch
decision in its order, the history row, the end of a run, and that both engines keep it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fitscope.config import RunConfig
from fitscope.engine import Trainer
from fitscope.population.engine import Population
from fitscope.run_state import RunState, end_of_epoch, finish, history_row, restore_best


def cfg(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 200},
        "model": {"depth": 1, "width": 8}, "budget": {"epochs": 3, "batch_size": 32},
    })
    return base.with_overrides(overrides) if overrides else base


EARLY = {"regularization.early_stopping": {"enabled": True, "patience": 1,
                                           "monitor": "val_loss"}}


def row(epoch: int, step: int, val_loss: float = 1.0) -> dict:
    return history_row(epoch=epoch, step=step, train_loss=1.0, train_acc=0.5,
                       val_loss=val_loss, val_acc=0.5, lr=0.1, grad_norm=1.0, penalty=0.0,
                       seconds=0.01)


def test_history_row_has_the_columns_run_history_documents():
    assert list(row(2, 7)) == ["epoch", "step", "train_loss", "train_acc", "val_loss",
                               "val_acc", "lr", "grad_norm", "penalty", "seconds"]
    assert row(2, 7)["epoch"] == 2 and row(2, 7)["step"] == 7


def test_non_finite_parameters_end_the_run_as_diverged_before_early_stopping_decides():
    state = RunState(cfg(**EARLY))
    host = SimpleNamespace(model=nn.Linear(2, 1))
    state.epoch, state.step = 1, 5
    assert not end_of_epoch(state, row(1, 5, 1.0), True, math.inf, host)
    state.epoch, state.step = 2, 10
    # early stopping would stop here (no improvement, patience 1), but the parameters
    # are not finite: the run diverged
    assert end_of_epoch(state, row(2, 10, 2.0), False, math.inf, host)
    assert state.status == "diverged" and state.diverged_step == 10
    assert state.reason == "non-finite parameters after step 10"
    assert state.stop_epoch is None and len(state.history) == 2


def test_early_stopping_ends_the_run_and_the_best_weights_come_back():
    state = RunState(cfg(**EARLY))
    model = nn.Linear(2, 1)
    host = SimpleNamespace(model=model)
    best = model.weight.detach().clone()
    state.epoch, state.step = 1, 5
    assert not end_of_epoch(state, row(1, 5, 1.0), True, math.inf, host)
    with torch.no_grad():
        model.weight.add_(1.0)
    state.epoch, state.step = 2, 10
    assert end_of_epoch(state, row(2, 10, 2.0), True, math.inf, host)
    assert (state.status, state.stop_epoch) == ("early_stopped", 2)
    restore_best(state, model)
    assert torch.equal(model.weight, best)
    assert state.base_metrics() == {"epochs_run": 2, "steps": 10, "best_epoch": 1}


def test_a_diverged_run_keeps_its_last_weights():
    state = RunState(cfg(**EARLY))
    model = nn.Linear(2, 1)
    end_of_epoch(state, row(1, 5, 1.0), True, math.inf, SimpleNamespace(model=model))
    with torch.no_grad():
        model.weight.fill_(7.0)
    state.diverge("non-finite loss (nan) at step 6")
    restore_best(state, model)
    assert bool((model.weight == 7.0).all())


@pytest.mark.parametrize(("stop", "step", "ends"), [(False, 9, False), (False, 10, True),
                                                   (True, 3, True)])
def test_the_budget_or_a_callbacks_stop_ends_a_completed_run(stop, step, ends):
    state = RunState(cfg())
    state.step = step
    assert end_of_epoch(state, row(1, step), True, 10, SimpleNamespace(stop=stop)) is ends
    assert state.status == "completed"


def test_callbacks_see_the_row_recorded_and_run_before_early_stopping():
    seen = []

    class Spy:
        def on_epoch_end(self, trainer, r):
            seen.append((len(state.history), state.early.best_epoch))

    state = RunState(cfg(**EARLY))
    state.epoch = 1
    end_of_epoch(state, row(1, 5), True, math.inf, SimpleNamespace(model=nn.Linear(2, 1)),
                 [Spy()])
    assert seen == [(1, 0)]  # the row is in; early stopping has not yet seen epoch 1
    assert state.early.best_epoch == 1


def test_finish_assembles_the_run_record():
    state = RunState(cfg())
    state.epoch, state.step = 3, 12
    model = nn.Linear(2, 1)
    splits = SimpleNamespace(label_names=("a", "b"))
    run = finish(state, model, {"val_loss": 0.5}, model_spec={"builtin": True},
                 splits=splits, seconds=6.0, timings={"population_size": 4},
                 engine="population")
    assert run.metrics == {"epochs_run": 3, "steps": 12, "best_epoch": 3, "val_loss": 0.5}
    assert run.timings == {"train_seconds": 6.0, "seconds_per_step": 0.5,
                           "population_size": 4}
    assert run.label_names == ["a", "b"] and run.engine == "population"
    assert run.model is model and run.history is state.history and run.probes == []


def test_both_engines_keep_the_same_bookkeeping_and_data_order():
    """The sequential Trainer is a RunState, and so is each population member: the same
    seed draws the same epoch orders."""
    c = cfg(**{"budget.seed": 4})
    trainer, member = Trainer(c), Population([c]).members[0]
    assert isinstance(trainer, RunState) and isinstance(member, RunState)
    for _ in range(2):
        assert torch.equal(trainer.order(50), member.order(50))


def test_the_old_homes_still_import():
    from fitscope import core, engine, run_state

    assert engine.EarlyStopping is core.loop.EarlyStopping
    assert engine.label_names is run_state.label_names
    assert engine.regression_metrics is run_state.regression_metrics
