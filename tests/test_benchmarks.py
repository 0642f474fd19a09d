"""The benchmarks' own arithmetic. The benchmarks are run by hand (``make bench``), not by
the suite; what they count, rather than time, is checked here."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fitscope.engine import Trainer

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_population_floor_counts_the_multiply_adds_autograd_counts():
    """The floor's multiply-add count is N members times what torch's flop counter sees in
    one sequential member's forward and backward pass, per row, times the rows the 200
    steps see; every part of the floor is a positive time."""
    bench = _load("population")
    n = 3
    parts = bench.floor_child(None, "toy", n)
    trainer = Trainer(bench.configs("toy", 1)[0])
    b = trainer.batch_size
    x = torch.randn(b, trainer.x_train.shape[1])
    with FlopCounterMode(display=False) as counter:
        trainer.model(x).sum().backward()  # the input needs no gradient, as in training
    macs_per_row = counter.get_total_flops() / 2 / b
    epochs, last = divmod(trainer.total_steps, trainer.steps_per_epoch)
    rows = epochs * len(trainer.x_train) + min(last * b, len(trainer.x_train))
    assert rows == 12000  # the docstring's 20 epochs of 600 rows
    assert parts["train_macs"] == n * macs_per_row * rows
    assert all(parts[k] > 0 and math.isfinite(parts[k]) for k in ("train", "adam", "eval"))
    assert bench._floor(parts) == parts["train"] + parts["adam"] + parts["eval"]


@pytest.mark.parametrize("setting", ["mnist1d-cnn", "digits-residual"])
def test_functional_floor_counts_n_members_passes(setting):
    """On the functional stack the floor's training part is one member's forward and
    backward pass over the N members' rows: N times one member's multiply-adds per row
    (torch's flop counter on a batch of one member's own), times the rows the steps see."""
    bench = _load("population")
    n = 2
    parts = bench.floor_child(None, setting, n)
    model = (bench.user_models(setting, 1) or [None])[0]
    trainer = Trainer(bench.configs(setting, 1)[0], model)
    b = trainer.batch_size
    with FlopCounterMode(display=False) as counter:
        trainer.model(trainer.x_train[:b]).sum().backward()
    macs_per_row = counter.get_total_flops() // 2 / b
    epochs, last = divmod(trainer.total_steps, trainer.steps_per_epoch)
    rows = epochs * len(trainer.x_train) + min(last * b, len(trainer.x_train))
    assert parts["train_macs"] == pytest.approx(n * macs_per_row * rows, rel=1e-6)
    assert all(parts[k] > 0 and math.isfinite(parts[k]) for k in ("train", "adam", "eval"))


def test_diagnosis_benchmark_prints_the_lines_the_checks_read(capsys):
    """Two cases, one seed for the fix: a finding line per code, then the last line."""
    import re

    bench = _load("diagnosis")
    assert bench.main(["--ids", "moons_easy_flat,moons_tanh_constant", "--seeds", "1",
                       "--workers", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "finding symmetric_units precision=1.00 recall=1.00" in lines
    assert "split_finding development symmetric_units precision=1.00 recall=1.00" in lines
    assert "split_finding heldback symmetric_units precision=1.00 recall=1.00" in lines
    assert re.fullmatch(r"overall precision=1\.000 recall=1\.000 fix_rate=1\.00 cases=2 "
                        r"healthy=1 heldback_precision=1\.000 heldback_recall=1\.000",
                        lines[-1]), lines[-1]



def test_diagnosis_benchmark_scores_each_held_back_file_alone(capsys):
    """Held-back cases from two case files (one needing a finding): the pooled held-back
    split, then each file as its own split, each with a line per finding and its lowest
    per-finding score."""
    bench = _load("diagnosis")
    healthy_8, healthy_9 = ("circles_momentum02_rough_start_w32to40_seed365",
                            "moons_tanh_batch2_sgd_batch2to4_seed906")
    assert bench.main(["--ids", f"{healthy_8},{healthy_9}", "--seeds", "1",
                       "--workers", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    splits = [line.split()[1] for line in lines if line.startswith("split ")]
    assert splits == ["development", "heldback", "heldback:08_split_eighth",
                      "heldback:09_split_ninth"]
    ninth = next(line for line in lines if line.startswith("split heldback:09_split_ninth "))
    assert ninth.startswith("split heldback:09_split_ninth cases=1 healthy=1 "), ninth
    assert ninth.endswith(" lowest_finding=1.00"), ninth
