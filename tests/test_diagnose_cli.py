"""``fitscope diagnose`` and ``fitscope theory`` through typer's test runner."""

import json

import pytest
import typer
from typer.testing import CliRunner

from fitscope import RunConfig, train
from fitscope.probe.commands import register
from tests.fuzz.harness import expect_rejected

runner = CliRunner(env={"COLUMNS": "240"})  # wide enough that table cells do not wrap


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


def write_config(tmp_path, **overrides):
    cfg = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                    "model": {"depth": 2, "width": 8},
                                    "budget": {"epochs": 2, "batch_size": 50}})
    path = tmp_path / "run.toml"
    cfg.with_overrides(overrides).save(path)
    return path


def test_diagnose_trains_with_probes_and_prints_findings(app, tmp_path):
    config = write_config(tmp_path)
    out = tmp_path / "findings.json"
    result = runner.invoke(app, ["diagnose", str(config), "--set", "init.scheme=zeros",
                                 "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "symmetric_units" in result.output
    findings = json.loads(out.read_text())
    assert "symmetric_units" in [f["code"] for f in findings]
    assert all(set(f) == {"code", "severity", "layer", "evidence", "explanation", "fix",
                          "confidence", "change"} for f in findings)
    sym = next(f for f in findings if f["code"] == "symmetric_units")
    assert sym["confidence"] == 1.0 and sym["change"] == {"init.scheme": "kaiming_normal"}
    assert "confidence" in result.output


def test_diagnose_fix_retrains_and_reports_before_and_after(app, tmp_path):
    config = write_config(tmp_path, **{"budget.epochs": 6, "budget.batch_size": 32})
    result = runner.invoke(app, ["diagnose", str(config), "--set", "init.scheme=zeros",
                                 "--quiet", "--fix", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "fix: init.scheme='kaiming_normal'" in result.output
    assert "validation loss over seeds [0, 1]" in result.output
    assert "symmetric_units: gone" in result.output


def test_diagnose_reads_a_saved_run_and_writes_tensorboard(app, tmp_path):
    pytest.importorskip("tensorboard")
    run = train(RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                          "budget": {"epochs": 2},
                                          "observe": {"probe_every": 5}}))
    run.save(tmp_path / "run")
    result = runner.invoke(app, ["diagnose", str(tmp_path / "run"),
                                 "--tensorboard", str(tmp_path / "tb")])
    assert result.exit_code == 0, result.output
    assert f"probe records: {len(run.probes)}" in result.output
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_bad_input_exits_2_naming_the_field(app, tmp_path):
    config = write_config(tmp_path)
    result = runner.invoke(app, ["diagnose", str(config), "--set", "model.depth=-1"])
    assert result.exit_code == 2 and "model.depth" in result.output
    result = runner.invoke(app, ["diagnose", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "CONFIG_OR_RUN" in result.output
    expect_rejected(["diagnose", str(config), "--fix", "--seeds", "0"], "--seeds")
    expect_rejected(["diagnose", str(config), "--fix", "--seeds", "11"], "--seeds")
    result = runner.invoke(app, ["theory", str(config), "--regime", "exact"])
    assert result.exit_code == 2 and "--regime" in result.output
    result = runner.invoke(app, ["theory", str(config), "--set", "model.batch_norm=true"])
    assert result.exit_code == 2 and "batch_norm" in result.output


def test_theory_prints_one_row_per_layer(app, tmp_path):
    config = write_config(tmp_path, **{"model.activation": "tanh",
                                       "init.scheme": "xavier_normal"})
    result = runner.invoke(app, ["theory", str(config), "--regime", "linear"])
    assert result.exit_code == 0, result.output
    for layer in ("hidden.0.linear", "hidden.1.linear", "out"):
        assert layer in result.output
    assert "linear regime" in result.output
