"""Data sets as published (mnist1d), regression metrics and standardized targets, and the
class names of a CSV file kept with the run."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from typer.testing import CliRunner

from fitscope.cli import app
from fitscope.config import MNIST1D_SAMPLES, MNIST1D_SEED, DataConfig, RunConfig
from fitscope.data import load_data
from fitscope.engine import regression_metrics, train


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("FITSCOPE_CACHE", str(tmp_path / "cache"))
    load_data.cache_clear()


# -- mnist1d ---------------------------------------------------------------------------------
def test_mnist1d_constants_are_the_packages_own():
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    assert (args.num_samples, args.seed, args.train_split) == (MNIST1D_SAMPLES, MNIST1D_SEED,
                                                              0.8)


def test_mnist1d_by_default_is_the_papers_data_set_and_split_seed_only_splits():
    from mnist1d.data import get_dataset_args, make_dataset

    made = make_dataset(get_dataset_args())
    d = load_data(DataConfig(name="mnist1d", standardize=False))
    assert DataConfig(name="mnist1d").samples == 5000
    assert (len(d.x_train) + len(d.x_val), len(d.x_test)) == (4000, 1000)
    assert (len(d.x_train), len(d.x_val)) == (3200, 800)  # val_fraction 0.2 of the 4000
    np.testing.assert_array_equal(d.x_test.numpy(), made["x_test"].astype(np.float32))
    np.testing.assert_array_equal(d.y_test.numpy(), made["y_test"])
    other = load_data(DataConfig(name="mnist1d", standardize=False, split_seed=7))
    assert torch.equal(other.x_test, d.x_test)
    assert not torch.equal(other.x_train, d.x_train)
    rows = lambda s: sorted(map(tuple, torch.cat([s.x_train, s.x_val]).tolist()))  # noqa: E731
    assert rows(other) == rows(d)  # the same 4000 signals, split another way


def test_mnist1d_n_samples_still_sets_the_size():
    d = load_data(DataConfig(name="mnist1d", n_samples=200))
    assert (len(d.x_train) + len(d.x_val), len(d.x_test)) == (160, 40)


# -- regression ------------------------------------------------------------------------------
def test_regression_metrics_formula():
    y = torch.tensor([0.0, 2.0])  # Var 1 (ddof 0)
    m = regression_metrics("test", 0.25, y, 1.0)
    assert m == {"test_rmse": 0.5, "test_r2": 0.75}
    assert regression_metrics("test", 0.25, y, 10.0)["test_rmse"] == 5.0
    assert math.isnan(regression_metrics("val", math.nan, y[:0], 1.0)["val_r2"])


def write_regression_csv(path, n=200, scale=1000.0, offset=5000.0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    t = offset + scale * (x[:, 0] - 0.5 * x[:, 1])
    path.write_text("a,b,t\n" + "\n".join(f"{a:.6f},{b:.6f},{v:.6f}" for (a, b), v
                                          in zip(x, t)) + "\n")
    return path


def regression_config(path, standardize_targets: bool) -> RunConfig:
    return RunConfig.model_validate({
        "data": {"name": "csv", "path": str(path), "standardize_targets": standardize_targets},
        "task": {"kind": "regression"}, "model": {"depth": 0},
        "optimizer": {"lr": 0.05}, "budget": {"epochs": 60, "batch_size": 0}})


def test_standardized_targets_train_in_z_units_and_report_original_units(tmp_path):
    path = write_regression_csv(tmp_path / "r.csv")
    cfg = regression_config(path, True)
    d = load_data(cfg.data, "regression")
    assert abs(float(d.y_train.mean())) < 1e-5 and abs(float(d.y_train.std(False)) - 1) < 1e-5
    assert d.target_mean == pytest.approx(5000, abs=200) and d.target_std > 500
    run = train(cfg)
    m = run.metrics
    # RMSE by hand, in the file's units, from the model's predictions on the test rows
    with torch.no_grad():
        pred = run.model.eval()(d.x_test)[:, 0] * d.target_std + d.target_mean
    original = d.y_test * d.target_std + d.target_mean
    assert m["test_rmse"] == pytest.approx(float((pred - original).pow(2).mean().sqrt()),
                                           rel=1e-4)
    assert m["test_r2"] == pytest.approx(
        1 - float((pred - original).pow(2).mean() / original.var(unbiased=False)), abs=1e-4)
    assert m["test_r2"] > 0.99
    assert m["test_loss"] == pytest.approx((m["test_rmse"] / d.target_std) ** 2, rel=1e-4)


def test_raw_targets_report_the_same_units(tmp_path):
    path = write_regression_csv(tmp_path / "r.csv", scale=2.0, offset=1.0)
    run = train(regression_config(path, False))
    assert run.metrics["test_rmse"] == pytest.approx(math.sqrt(run.metrics["test_loss"]))
    assert run.metrics["test_r2"] > 0.9


def test_standardize_targets_needs_regression_and_leaves_old_ids_alone():
    with pytest.raises(ValidationError, match=re.escape("standardize_targets needs task.kind")):
        RunConfig.model_validate({"data": {"standardize_targets": True}})
    base = RunConfig.model_validate({"task": {"kind": "regression"}})
    assert "standardize_targets" not in base.identity(None)["data"]
    assert base.with_overrides({"data.standardize_targets": True}).run_id != base.run_id


def test_population_reports_the_same_regression_metrics(tmp_path):
    from fitscope import population

    path = write_regression_csv(tmp_path / "r.csv", n=100)
    configs = [regression_config(path, True).with_overrides({"budget.epochs": 5,
                                                             "budget.seed": s})
               for s in (0, 1)]
    together = population.train(configs)
    for cfg, run in zip(configs, together):
        alone = train(cfg)
        for key in ("test_rmse", "test_r2", "val_rmse", "train_r2"):
            assert run.metrics[key] == pytest.approx(alone.metrics[key], rel=1e-3, abs=1e-4)


# -- class names -----------------------------------------------------------------------------
def write_labelled_csv(path, labels):
    rng = np.random.default_rng(0)
    names = sorted(set(labels))
    rows = [f"{names.index(lab) + rng.normal() * 0.1:.4f},{rng.normal():.4f},{lab}"
            for lab in labels]
    path.write_text("a,b,kind\n" + "\n".join(rows) + "\n")
    return path


def test_string_labels_are_kept_with_the_run_and_map_predictions_back(tmp_path):
    path = write_labelled_csv(tmp_path / "k.csv", ["virginica", "setosa", "versicolor"] * 30)
    cfg = RunConfig.model_validate({"data": {"name": "csv", "path": str(path)},
                                    "budget": {"epochs": 30}})
    run = train(cfg)
    assert run.label_names == ["setosa", "versicolor", "virginica"]
    assert run.record()["label_names"] == run.label_names
    d = load_data(cfg.data)
    with torch.no_grad():
        predicted = [run.label_names[i] for i in run.model.eval()(d.x_test).argmax(1).tolist()]
    truth = [run.label_names[i] for i in d.y_test.tolist()]
    assert sum(p == t for p, t in zip(predicted, truth)) / len(truth) == pytest.approx(
        run.metrics["test_acc"])


def test_numeric_labels_are_named_as_written_and_built_in_sets_have_none(tmp_path):
    path = write_labelled_csv(tmp_path / "n.csv", ["3", "10", "7"] * 10)
    assert load_data(DataConfig(name="csv", path=str(path))).label_names == ("3", "7", "10")
    assert load_data(DataConfig(name="moons")).label_names is None


def test_train_summary_lists_the_class_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_labelled_csv(tmp_path / "k.csv", ["[b]old", "plain"] * 20)
    result = CliRunner().invoke(app, ["train", "--set", "data.name='csv'", "--set",
                                      "data.path='k.csv'", "--set", "budget.epochs=1"])
    assert result.exit_code == 0, result.output
    assert "0=[b]old, 1=plain" in result.output  # user text printed as text, not markup
    assert "data sha256" in result.output


# -- values near the ends of float64 ---------------------------------------------------------
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_features_near_1e300_or_1e_300_standardize_and_train_above_chance(tmp_path, scale):
    """Squares of such values overflow (underflow) float64: standardization divides by the
    largest magnitude first, so the run learns instead of "completing" at chance."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    rows = [f"{a * scale:.6e},{b * scale:.6e},{int(a > 0)}" for a, b in x]
    path = tmp_path / "huge.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    d = load_data(DataConfig(name="csv", path=str(path)))
    assert abs(float(d.x_train[:, 0].std()) - 1) < 0.05
    run = train(RunConfig.model_validate({"data": {"name": "csv", "path": str(path)},
                                          "budget": {"epochs": 10}}))
    assert run.status == "completed" and run.metrics["test_acc"] > 0.9
