"""Landscapes of fitscope runs: snapshots from the init, the cache, the CLI, and the
sharpness comparison between groups of runs."""

import json
import math
import re

import numpy as np
import pytest
import torch
import typer
from scipy import stats
from typer.testing import CliRunner

from fitscope import RunConfig, load_run, train
from fitscope.landscape import compare_sharpness, pca_directions, run_landscape
from fitscope.landscape import runs as landscape_runs
from fitscope.landscape.commands import register
from fitscope.landscape.runs import problem_for_run, run_path, train_with_init


def tiny(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 200},
        "model": {"depth": 1, "width": 8},
        "budget": {"epochs": 3, "batch_size": 32},
        "observe": {"snapshot_every": 4},
    })
    return base.with_overrides(overrides) if overrides else base


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("FITSCOPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "landscape"


@pytest.fixture(scope="module")
def run_and_init():
    return train_with_init(tiny())


def test_snapshots_start_at_the_init_and_survive_save_and_load(run_and_init, tmp_path):
    run, init = run_and_init
    assert run.snapshots[0]["step"] == 0
    assert torch.equal(run.snapshots[0]["params"], init)  # the init, recorded independently
    assert [s["step"] for s in run.snapshots[1:4]] == [4, 8, 12]
    loaded = load_run(run.save(tmp_path / "saved"))
    assert len(loaded.snapshots) == len(run.snapshots)
    assert torch.equal(loaded.snapshots[-1]["params"], run.snapshots[-1]["params"])


def test_run_trajectory_starts_at_the_init_and_reports_explained_variance(run_and_init):
    run, _ = run_and_init
    surface = run_landscape(run, "trajectory", points=5)
    final = problem_for_run(run).center()
    steps, path = run_path(run, final)
    assert surface.path_steps == steps and steps[0] == 0
    directions, _coords, ratio = pca_directions(path, final)
    np.testing.assert_allclose(surface.path[0], ((path[0] - final) @ directions.T).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surface.explained_variance, ratio.numpy(), rtol=1e-6)
    assert 0 < surface.explained_variance[1] <= surface.explained_variance[0] <= 1
    assert sum(surface.explained_variance) <= 1 + 1e-9
    assert surface.meta["run_id"] == run.run_id


def test_run_line_from_init_to_trained(run_and_init):
    run, init = run_and_init
    line = run_landscape(run, "line", points=5, span=(0.0, 1.0))
    problem = problem_for_run(run)
    loss_init = float(problem.loss_at(init))
    loss_final = float(problem.loss_at(problem.center()))
    assert line.loss[0] == pytest.approx(loss_init, rel=1e-5)
    assert line.loss[-1] == pytest.approx(loss_final, rel=1e-5)
    assert line.loss[-1] < line.loss[0] and line.accuracy[-1] > line.accuracy[0]


def test_the_cache_answers_a_second_call_and_misses_on_new_weights(run_and_init, monkeypatch,
                                                                   cache_in_tmp):
    run, _ = run_and_init
    first = run_landscape(run, "plane", points=4, span=0.5)
    assert len(list(cache_in_tmp.glob(f"{run.run_id}-plane-*.json"))) == 1

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(landscape_runs, "plane", no_compute)
    again = run_landscape(run, "plane", points=4, span=0.5)
    np.testing.assert_array_equal(again.loss, first.loss)
    with pytest.raises(AssertionError, match="recomputed"):
        run_landscape(run, "plane", points=4, span=0.5, seed=1)  # other settings: a miss
    other = train(tiny(**{"budget.epochs": 1}))
    other.config = run.config  # same run id, other weights: a miss, never a stale hit
    with pytest.raises(AssertionError, match="recomputed"):
        run_landscape(other, "plane", points=4, span=0.5)


def test_run_landscape_names_what_is_missing():
    run = train(tiny(**{"observe.snapshot_every": 0, "budget.epochs": 1}))
    with pytest.raises(ValueError, match=re.escape("observe.snapshot_every > 0")):
        run_landscape(run, "trajectory")
    with pytest.raises(ValueError, match=re.escape("observe.snapshot_every > 0")):
        run_landscape(run, "line")
    with pytest.raises(ValueError, match="kind must be one of"):
        run_landscape(run, "cube")
    with pytest.raises(ValueError, match="split must be one of"):
        run_landscape(run, "plane", split="dev")


# -- the command line ---------------------------------------------------------------------------
def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None: ...

    return app


runner = CliRunner()


def test_cli_trains_a_config_and_writes_html_and_json(tmp_path):
    cfg = tmp_path / "c.toml"
    tiny().save(cfg)
    out = tmp_path / "fig" / "t.html"
    result = runner.invoke(cli_app(), ["landscape", str(cfg), "--kind", "trajectory",
                                       "--points", "5", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert numbers["kind"] == "trajectory" and numbers["path_steps"][0] == 0
    assert np.array(numbers["loss"]).shape == (5, 5) and len(numbers["explained_variance"]) == 2
    html = out.read_text()
    assert "Plotly" in html and 'src="http' not in html


def test_cli_line_between_two_saved_runs(tmp_path):
    a = train(tiny()).save(tmp_path / "a")
    b = train(tiny(**{"budget.seed": 1})).save(tmp_path / "b")
    out = tmp_path / "line.html"
    result = runner.invoke(cli_app(), ["landscape", str(a), "--kind", "line", "--to", str(b),
                                       "--points", "5", "--span", "0.25", "--out", str(out)])
    assert result.exit_code == 0, result.output
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert numbers["t"][0] == -0.25 and numbers["t"][-1] == 1.25
    assert "->" in numbers["meta"]["ends"] and "wrote" in result.output


@pytest.mark.parametrize("args, message", [
    (["--kind", "cube"], "--kind must be one of line, plane, trajectory"),
    (["--split", "dev"], "--split must be one of"),
    (["--points", "1"], "--points must be in [2, 401]"),
    (["--kind", "trajectory", "--set", "observe.snapshot_every=0"], "observe.snapshot_every"),
    (["--set", "model.depht=2"], "model.depht"),
])
def test_cli_bad_input_exits_2_naming_the_option(tmp_path, args, message):
    cfg = tmp_path / "c.toml"
    tiny().save(cfg)
    result = runner.invoke(cli_app(), ["landscape", str(cfg), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")


def test_cli_missing_target_and_saved_run_without_snapshots_exit_2(tmp_path):
    result = runner.invoke(cli_app(), ["landscape", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "RUN_OR_CONFIG" in result.output
    saved = train(tiny(**{"observe.snapshot_every": 0, "budget.epochs": 1})).save(tmp_path / "r")
    result = runner.invoke(cli_app(), ["landscape", str(saved), "--kind", "line"])
    assert result.exit_code == 2 and "observe.snapshot_every" in result.output


# -- the sharpness comparison -----------------------------------------------------------------
def test_compare_sharpness_reports_values_means_and_the_named_test():
    a = [train(tiny(**{"budget.seed": s, "observe.snapshot_every": 0})) for s in range(3)]
    b = [tiny(**{"budget.seed": s, "observe.snapshot_every": 0, "budget.batch_size": 0})
         for s in range(3)]
    result = compare_sharpness(a, b, labels=("small batch", "full batch"))
    assert result["test"].startswith("paired t-test")
    va, vb = result["small batch"]["values"], result["full batch"]["values"]
    assert len(va) == len(vb) == 3 and all(v > 0 for v in va + vb)
    assert result["p_value"] == pytest.approx(stats.ttest_rel(va, vb).pvalue)
    assert result["mean_difference"] == pytest.approx(np.mean(va) - np.mean(vb))
    welch = compare_sharpness(a, a[::-1], measure="perturbation", paired=False, samples=8)
    assert welch["test"].startswith("Welch") and math.isfinite(welch["statistic"])
