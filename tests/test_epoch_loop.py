"""The one epoch loop (fitscope.epoch_loop): its order within a step, divergence, the
epoch's sums, and that both engines train through it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from fitscope import epoch_loop
from fitscope.config import RunConfig
from fitscope.engine import Trainer
from fitscope.engine import train as train_sequential
from fitscope.epoch_loop import EpochSums, end_epoch, run_epochs
from fitscope.population import train as train_population
from fitscope.population.engine import Population
from fitscope.run_state import RunState


def cfg(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 200},
        "model": {"depth": 1, "width": 8}, "budget": {"epochs": 2, "batch_size": 32},
    })
    return base.with_overrides(overrides) if overrides else base


class Scripted:
    """A program of N runs whose step losses are given: ``losses[step][i]`` for run i
    (by its original index); it records the loop's calls to it."""

    classify = True

    def __init__(self, losses: list[list[float]], batches: int = 3, every: int = 1):
        self.script, self.n_batches = losses, batches
        self.runs = [RunState(cfg(**{"budget.seed": i})) for i in range(len(losses[0]))]
        self.alive, self.rows = list(self.runs), list(range(len(self.runs)))
        self.step = self.epoch = 0
        self.stop, self.total_steps, self.baseline_loss = False, math.inf, 1.0
        self.snapshot_every, self.splits = every, SimpleNamespace(x_val=None, y_val=None)
        self.callbacks: list = []
        self.updater = SimpleNamespace(lrs=[0.1] * len(self.runs))
        self.calls: list[tuple] = []
        self.params = torch.arange(len(self.runs), dtype=torch.float32).view(-1, 1).repeat(1, 2)

    flat = property(lambda self: [self.params[self.rows]])
    grads = property(lambda self: [torch.ones(len(self.rows), 2)])
    masks = property(lambda self: [torch.ones(1, 2, dtype=torch.bool)])

    def batches(self):
        for _ in range(self.n_batches):
            yield SimpleNamespace(y=torch.zeros(len(self.rows), 4, dtype=torch.long))

    def train_step(self, batch):
        losses = torch.tensor([self.script[self.step][r] for r in self.rows])
        out = torch.zeros(len(self.rows), 2, 4)
        out[:, 0] = 1.0  # every prediction is class 0: all hits
        return losses, out

    def step_end(self, losses, gone):
        self.calls.append(("step_end", self.step, list(losses), list(gone)))

    def leave(self, rows):
        self.calls.append(("leave", self.step, [self.rows[i] for i in rows]))
        keep = [i for i in range(len(self.rows)) if i not in rows]
        self.alive = [self.alive[i] for i in keep]
        self.rows = [self.rows[i] for i in keep]
        self.updater.lrs = [self.updater.lrs[i] for i in keep]
        return torch.tensor(keep, dtype=torch.long)

    def parameter_rows(self):
        return self.params[self.rows]

    def evaluate_runs(self, x, y):
        return [0.5] * len(self.rows), [0.5] * len(self.rows)

    def host(self, i):
        return None


def test_a_diverging_run_leaves_at_its_step_uncounted_and_the_others_go_on():
    # run 1 diverges at its third step (step index 2); runs 0 and 2 train on
    p = Scripted([[0.5, 0.25, 0.75], [0.5, 0.25, 0.75], [0.5, math.nan, 0.75]]
                 + [[0.5] * 3] * 3)
    run_epochs(p, 2)
    one = p.runs[1]
    assert (one.status, one.diverged_step, one.step) == ("diverged", 2, 2)
    assert one.reason == "non-finite loss (nan) at step 2"
    # step_end sees the step counted and the row gone, before that row leaves
    name, step, losses, gone = p.calls[2]
    assert (name, step, losses[0], losses[2], gone) == ("step_end", 3, 0.5, 0.75, [1])
    assert math.isnan(losses[1]) and p.calls[3] == ("leave", 3, [1])
    # no snapshot of the run at the step it diverged; the others have one per step
    assert [s["step"] for s in one.snapshots] == [1, 2]
    assert [s["step"] for s in p.runs[0].snapshots] == list(range(1, 7))
    assert [r.step for r in (p.runs[0], p.runs[2])] == [6, 6]
    assert [len(r.history) for r in p.runs] == [2, 0, 2]


def test_the_epoch_means_weigh_batches_by_size_and_follow_runs_that_leave():
    p = Scripted([[1.0, 2.0, 3.0], [3.0, 1e9, 5.0], [5.0, 0.0, 7.0]])
    run_epochs(p, 1)
    assert p.runs[1].status == "diverged"  # 1e9 is over 1000 x the baseline 1.0
    assert [r.history[0]["train_loss"] for r in (p.runs[0], p.runs[2])] == [3.0, 5.0]
    assert [r.history[0]["train_acc"] for r in (p.runs[0], p.runs[2])] == [1.0, 1.0]


@pytest.mark.parametrize("fold", [1, 10_000])
def test_epoch_sums_count_hits_the_same_when_they_fold_early(monkeypatch, fold):
    monkeypatch.setattr(epoch_loop, "FOLD_ELEMENTS", fold)
    g = torch.Generator().manual_seed(0)
    outs = [torch.randn(3, 4, 5, generator=g) for _ in range(4)]
    ys = [torch.randint(0, 4, (3, 5), generator=g) for _ in range(4)]
    sums = EpochSums(True, 3)
    for k, (o, y) in enumerate(zip(outs, ys)):
        if k < 2:
            sums.add([1.0 * k, 2.0, 3.0], o, y)
        else:  # run 1 left after two steps
            sums.add([1.0 * k, 3.0], o[[0, 2]], y[[0, 2]])
        if k == 1:
            sums.keep(torch.tensor([0, 2]))
    hits = sum((o.argmax(1) == y).sum(1) for o, y in zip(outs, ys))
    losses, accs = sums.means()
    assert losses == [(0 + 1 + 2 + 3) * 5 / 20, 3.0]
    assert accs == [float(hits[0]) / 20, float(hits[2]) / 20]


def test_one_runs_outputs_count_in_their_own_layout():
    out = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])  # (B, k): classes 0, 1, 0
    sums = EpochSums(True, 1)
    sums.add([0.25], out, torch.tensor([0, 1, 1]))
    assert sums.means() == ([0.25], [2 / 3])


def test_both_engines_train_through_the_one_loop(monkeypatch):
    seen = []
    shared = epoch_loop.end_epoch

    def spy(program, *args):
        seen.append(type(program).__name__)
        shared(program, *args)

    monkeypatch.setattr(epoch_loop, "end_epoch", spy)
    train_sequential(cfg())
    train_population([cfg(), cfg(**{"budget.seed": 1})])
    assert seen == ["Trainer", "Trainer", "Population", "Population"]


def test_per_step_callbacks_see_each_counted_step_of_a_sequential_run():
    steps = []

    class Spy:
        def on_train_start(self, trainer): ...
        def on_epoch_end(self, trainer, row): ...
        def on_train_end(self, trainer, run): ...

        def on_step_end(self, trainer, step, loss):
            steps.append((step, trainer.step, loss))

    run = train_sequential(cfg(), callbacks=[Spy()])
    assert [s for s, _, _ in steps] == list(range(1, run.metrics["steps"] + 1))
    assert all(s == t and math.isfinite(loss) for s, t, loss in steps)


def test_the_end_of_an_epoch_rows_a_run_of_either_engine_alike():
    trainer, pop = Trainer(cfg(**{"regularization.l2": 0.1})), Population(
        [cfg(**{"regularization.l2": 0.1})])
    for program in (trainer, pop):
        end_epoch(program, [0.5], [0.75], 1.0)
    rt, rp = trainer.history[0], pop.members[0].history[0]
    assert rt.keys() == rp.keys()
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "penalty"):
        assert rt[key] == pytest.approx(rp[key], rel=1e-6), key
    w = torch.cat([p.detach().reshape(-1) for p in trainer.weights])
    assert rt["penalty"] == pytest.approx(0.1 / 2 * float(w.square().sum()), rel=1e-6)
