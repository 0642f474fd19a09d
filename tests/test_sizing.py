"""The memory estimate before training, the guard that refuses a run that would not fit,
and ``budget.device = "cuda"`` where CUDA exists."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from fitscope import sizing
from fitscope.config import RunConfig
from fitscope.data import load_data
from fitscope.engine import train
from fitscope.models import build_model

HUGE = {"model.depth": 64, "model.width": 8192}  # about 4.2e9 parameters


def test_training_bytes_is_the_documented_formula():
    fp = sizing.Footprint(params=1000, units=70, widest=40, macs=0)
    # 4 (n (10 D + 5 U B + 2 R) + 2 min(EVAL_FLOATS, n W min(R, EVAL_BATCH)))
    assert sizing.training_bytes(fp, rows=500, batch_size=32, n=3) == \
        4 * (3 * (10 * 1000 + 5 * 70 * 32 + 2 * 500) + 2 * 3 * 40 * 500)
    assert sizing.training_bytes(fp, rows=10**6, batch_size=1, n=10**4) == \
        4 * (10**4 * (10 * 1000 + 5 * 70 + 2 * 10**6) + 2 * sizing.EVAL_FLOATS)
    assert sizing.training_bytes(fp, rows=500, batch_size=32, n=1, snapshots=7) == \
        4 * (1 * (17 * 1000 + 5 * 70 * 32 + 2 * 500) + 2 * 1 * 40 * 500)


def test_snapshots_kept_are_the_ones_the_engine_keeps():
    cfg = RunConfig().with_overrides({"data.n_samples": 100, "budget.epochs": 3,
                                      "observe.snapshot_every": 2})
    run = train(cfg)  # 60 train rows, batch 60: 3 steps, snapshots at 0 and 2
    assert sizing.snapshots_kept(cfg, 60, 60) == len(run.snapshots) == 2
    limited = cfg.with_overrides({"budget.max_steps": 1, "observe.snapshot_every": 1})
    assert sizing.snapshots_kept(limited, 60, 16) == len(train(limited).snapshots) == 2
    assert sizing.snapshots_kept(RunConfig(), 600, 64) == 0


def test_snapshots_count_in_the_guard(monkeypatch):
    cfg = RunConfig().with_overrides({"model.width": 2048, "observe.snapshot_every": 1})
    monkeypatch.setattr(sizing, "available_bytes", lambda device="cpu": 2 * sizing.GIB)
    splits = load_data(cfg.data, cfg.task.kind)
    plain = cfg.with_overrides({"observe.snapshot_every": 0})
    assert sizing.check_fits(plain, splits, 64) < 0.2 * sizing.GIB
    with pytest.raises(sizing.NotEnoughMemory, match="301 snapshots"):
        train(cfg)  # 4.2e6 parameters kept at 301 of its steps: about 4.7 GiB more


def test_a_meta_model_is_sized_like_the_built_one():
    for over in ({}, {"model.kind": "cnn", "data.name": "digits"},
                 {"task.aux": [{"kind": "parity"}], "data.name": "digits"}):
        cfg = RunConfig().with_overrides(over)
        splits = load_data(cfg.data, cfg.task.kind)
        built = build_model(cfg, splits.n_features, splits.n_classes, splits.input_shape)
        assert sizing.config_footprint(cfg, splits) == sizing.footprint(built,
                                                                        splits.input_shape)


def test_available_memory_is_known_and_below_the_total():
    have = sizing.available_bytes()
    text = Path("/proc/meminfo").read_text()
    total = int(text.split("MemTotal:")[1].split()[0]) * 1024
    assert have is not None and 0 < have <= total


def test_a_run_that_does_not_fit_is_refused_before_its_model_is_built(monkeypatch):
    monkeypatch.setattr(sizing, "available_bytes", lambda device="cpu": 8 * sizing.GIB)
    monkeypatch.setattr("fitscope.engine.build_model",
                        lambda *a, **k: pytest.fail("the model was built"))
    t0 = time.perf_counter()
    with pytest.raises(sizing.NotEnoughMemory, match=r"about 15\d GiB .* 8 GiB of cpu"):
        train(RunConfig().with_overrides(HUGE))
    assert time.perf_counter() - t0 < 1.0


def test_a_run_that_fits_is_estimated_and_trains(monkeypatch):
    cfg = RunConfig().with_overrides({"budget.epochs": 1, "data.n_samples": 60})
    splits = load_data(cfg.data, cfg.task.kind)
    need = sizing.check_fits(cfg, splits, 36)
    monkeypatch.setattr(sizing, "available_bytes", lambda device="cpu": need)
    assert train(cfg).status == "completed"  # exactly the estimate fits
    monkeypatch.setattr(sizing, "available_bytes", lambda device="cpu": need - 1)
    with pytest.raises(sizing.NotEnoughMemory):
        train(cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_where_cuda_exists():
    cfg = RunConfig().with_overrides({"budget.device": "cuda", "budget.epochs": 2,
                                      "data.n_samples": 200})
    run = train(cfg)
    assert run.status == "completed" and run.metrics["test_acc"] > 0.5
    assert next(run.model.parameters()).device.type == "cuda"
