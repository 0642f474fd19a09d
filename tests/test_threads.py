"""The thread policy (:mod:`fitscope.threads`): what it picks, its overrides, and that
every command goes through it."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from fitscope import threads
from fitscope.cli import app
from fitscope.config import RunConfig
from fitscope.data import load_data
from fitscope.models import build_model

runner = CliRunner()
SMALL = {"data.n_samples": 60, "budget.epochs": 1, "budget.max_steps": 1}


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    """No override from the environment; flag and torch threads restored after."""
    monkeypatch.delenv(threads.ENV, raising=False)
    before = torch.get_num_threads()
    yield
    threads.set_flag(None)
    torch.set_num_threads(before)


def test_small_work_gets_one_thread_large_work_one_per_share(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 16)
    assert threads.pick(7e4).threads == 1
    assert threads.pick(threads.MACS_PER_THREAD - 1).threads == 1
    assert threads.pick(5 * threads.MACS_PER_THREAD).threads == 5
    assert threads.pick(1e15).threads == 15  # one core left for the rest of the machine
    assert threads.pick(1e15, cap=4).threads == 4  # a study worker's share
    assert threads.pick(None).threads == 1
    monkeypatch.setattr(threads, "cores", lambda: 2)
    assert threads.pick(1e15).threads == 1  # two cores: the other is the machine's


def test_step_macs_are_the_forward_multiply_adds_torch_counts():
    cfg = RunConfig().with_overrides({"model.depth": 3, "model.width": 48,
                                      "data.name": "digits"})
    splits = load_data(cfg.data, cfg.task.kind)
    model = build_model(cfg, splits.n_features, splits.n_classes, splits.input_shape)
    with FlopCounterMode(display=False) as counter:
        model(splits.x_train[:64])
    assert threads.step_macs(cfg) == counter.get_total_flops() / 2
    assert threads.step_macs(cfg, members=4) == 4 * threads.step_macs(cfg)


def test_cnn_step_macs_count_the_convolutions():
    cfg = RunConfig().with_overrides({"model.kind": "cnn", "data.name": "digits"})
    splits = load_data(cfg.data, cfg.task.kind)
    model = build_model(cfg, splits.n_features, splits.n_classes, splits.input_shape)
    with FlopCounterMode(display=False) as counter:
        model(splits.x_train[:64])
    assert threads.step_macs(cfg) == counter.get_total_flops() / 2


def test_env_and_flag_override_the_policy_flag_first(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.pick(1.0) == threads.Choice(3, "FITSCOPE_THREADS=3")
    threads.set_flag(2)
    assert threads.pick(1.0) == threads.Choice(2, "--threads")
    assert threads.for_config(RunConfig()).threads == 2
    override = threads.Choice(5, "FITSCOPE_THREADS=5")  # a study driver's, sent to a worker
    assert threads.for_config(RunConfig(), override=override) is override


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "1025"])
def test_invalid_env_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(threads.ENV, value)
    with pytest.raises(threads.ThreadsError, match=f"FITSCOPE_THREADS .* got '{value}'"):
        threads.requested()


def test_invalid_flag_is_refused():
    with pytest.raises(threads.ThreadsError, match="--threads"):
        threads.set_flag(0)


def test_verbose_train_shows_the_choice_and_the_flag_sets_it():
    args = ["train", "-q", *(f"--set={k}={v}" for k, v in SMALL.items())]
    result = runner.invoke(app, ["--verbose", *args])
    assert result.exit_code == 0, result.output
    assert "threads: 1 (" in result.output and "multiply-adds per step" in result.output
    result = runner.invoke(app, ["--threads", "2", "-v", *args])
    assert result.exit_code == 0, result.output
    assert "threads: 2 (--threads)" in result.output
    assert torch.get_num_threads() == 2
    result = runner.invoke(app, args, env={threads.ENV: "3"})
    assert result.exit_code == 0 and "threads:" not in result.output  # quiet without -v
    assert torch.get_num_threads() == 3


@pytest.mark.parametrize("command", [["diagnose"], ["theory"], ["landscape", "--points", "3",
                                                                "--kind", "line"]])
def test_every_training_command_uses_the_policy(tmp_path, monkeypatch, command):
    cfg = tmp_path / "c.toml"
    RunConfig().with_overrides(SMALL).save(cfg)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["--threads", "2", "-v", command[0], str(cfg), "-q"
                                 if command[0] != "theory" else "--regime=gaussian",
                                 *command[1:]])
    assert result.exit_code == 0, result.output
    assert "threads: 2 (--threads)" in result.output
    assert torch.get_num_threads() == 2


def test_study_workers_pick_per_task_within_their_share(monkeypatch):
    from fitscope.study import runner as study_runner

    seen = []
    monkeypatch.setattr("fitscope.many.use_threads", seen.append)
    monkeypatch.setattr(threads, "cores", lambda: 8)
    cfg = RunConfig().with_overrides(SMALL)
    study_runner.train_task([cfg.model_dump_json()], "sequential", 4)
    assert seen[-1].threads == 1  # a tiny run: one thread, though four were allowed
    study_runner.train_task([cfg.model_dump_json()], "sequential", 4,
                            threads.Choice(3, "--threads"))
    assert seen[-1] == threads.Choice(3, "--threads")


def test_demo_and_lab_go_through_the_policy(monkeypatch):
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: None)
    monkeypatch.setattr("torch.set_num_threads", calls.append)
    monkeypatch.setattr("sys.setswitchinterval", lambda s: None)
    result = runner.invoke(app, ["lab", "--no-browser"], env={threads.ENV: "3"})
    assert result.exit_code == 0, result.output
    assert calls == [3]
    from fitscope.claims.training import train_batched

    seen = []  # the demo's trainer: each task picks for its own runs
    monkeypatch.setattr("fitscope.many.use_threads", seen.append)
    train_batched([RunConfig().with_overrides(SMALL)])
    assert seen[0].threads == 1 and "multiply-adds per step" in seen[0].why
    monkeypatch.setenv(threads.ENV, "3")
    train_batched([RunConfig().with_overrides(SMALL)])
    assert seen[1] == threads.Choice(3, "FITSCOPE_THREADS=3")
