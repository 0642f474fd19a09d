"""The lab's trained-network landscape endpoints: two runs trained, their paths on their
PCA planes, their sharpness, their optimizers on a toy surface, the cache, progress, and
bad input."""

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fitscope import train
from fitscope.lab import work
from fitscope.lab.app import create_app
from fitscope.lab.convergence import convergence
from fitscope.lab.trajectories_api import Comparison, comparison_view
from fitscope.landscape import (
    pca_directions,
    problem_for_run,
    top_hessian_eigenvalue,
    toy,
    trajectory_records,
)
from fitscope.landscape.runs import run_path
from fitscope.landscape.trajectory_records import POINTS, compared_config

SGD_VS_ADAM = {"a_optimizer": "sgd", "a_lr": 0.1, "a_noise": 0.0,
               "b_optimizer": "adam", "b_lr": 0.01, "b_noise": 0.0, "epochs": 10}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cache")
        mp.setenv("FITSCOPE_CACHE", str(root))
        yield root / "landscape"


@pytest.fixture(scope="module")
def client(cache_dir):
    """The lab, waiting for each comparison to the end (no 202: tests/test_lab_work.py
    checks those)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(work, "ANSWER_WITHIN", 600.0)
        with TestClient(create_app()) as c:
            yield c


@pytest.fixture(scope="module")
def default_view(client):
    """The default comparison: Adam without and with weight noise 0.05, 30 epochs."""
    r = client.get("/api/trajectories")
    assert r.status_code == 200, r.text
    return r.json()


def test_each_path_starts_at_the_init_projection_and_ends_at_the_trained_weights(default_view):
    run_a = default_view["runs"][0]
    t = run_a["trajectory"]
    # the same config trained here: a run on the CPU is deterministic
    run = train(compared_config(**Comparison().side("a"), epochs=30, seed=0))
    assert run.run_id == run_a["run_id"]
    final = problem_for_run(run).center()
    steps, path = run_path(run, final)
    directions, _, ratio = pca_directions(path, final)
    init = run.snapshots[0]["params"]
    np.testing.assert_allclose(t["path"][0], ((init - final) @ directions.T).numpy(),
                               rtol=1e-4, atol=1e-5)
    assert t["path"][-1] == [0.0, 0.0] and t["path_steps"] == steps and steps[0] == 0
    np.testing.assert_allclose(t["explained_variance"], ratio.numpy(), rtol=1e-6)
    hessian = top_hessian_eigenvalue(problem_for_run(run))["eigenvalue"]
    assert run_a["sharpness"]["hessian"]["eigenvalue"] == pytest.approx(hessian, rel=1e-6)


def test_the_slice_is_25_by_25_around_the_path_and_the_loss_at_its_end_is_the_final_loss(
        default_view):
    for run in default_view["runs"]:
        t = run["trajectory"]
        assert len(t["x"]) == len(t["y"]) == POINTS == default_view["grid"]
        assert np.array(t["loss"]).shape == (POINTS, POINTS)
        path = np.array(t["path"])
        assert t["x"][0] < path[:, 0].min() and path[:, 0].max() < t["x"][-1]
        assert t["y"][0] < path[:, 1].min() and path[:, 1].max() < t["y"][-1]
        ev = t["explained_variance"]
        assert all(0 <= v <= 1 for v in ev) and ev[0] >= ev[1] and sum(ev) <= 1 + 1e-9
        assert ev[0] > 0.5  # a short training path is mostly one direction
        assert t["path_loss"][-1] == pytest.approx(run["metrics"]["train_loss"], rel=1e-4)
        assert t["path_loss"][0] > 2 * t["path_loss"][-1]  # training lowered the loss
        assert len(run["history"]["train_loss"]) == 30


def test_the_two_runs_differ_and_are_named_by_their_difference(default_view):
    a, b = default_view["runs"]
    assert (a["side"], b["side"]) == ("A", "B")
    assert (a["label"], b["label"]) == ("no weight noise", "weight noise 0.05")
    assert a["run_id"] != b["run_id"]
    assert a["config"]["regularization"]["weight_noise"] == 0.0
    assert b["config"]["regularization"]["weight_noise"] == 0.05
    assert a["trajectory"]["path"] != b["trajectory"]["path"]
    for run in (a, b):
        s = run["sharpness"]
        assert s["hessian"]["converged"] and s["hessian"]["eigenvalue"] > 0
        assert [e["alpha"] for e in s["expected"]] == default_view["alphas"]
        small, large = (e["increase"] for e in s["expected"])
        assert 0 < small < large  # larger weight noise raises the loss more
    assert a["sharpness"]["hessian"]["eigenvalue"] != b["sharpness"]["hessian"]["eigenvalue"]


def test_a_reload_reads_both_runs_from_the_cache(client, default_view, cache_dir, monkeypatch):
    for run in default_view["runs"]:
        assert len(list(cache_dir.glob(f"{run['run_id']}-lab-trajectory-*.json"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(trajectory_records, "compute_record", no_training)
    again = client.get("/api/trajectories").json()
    assert [r["cached"] for r in again["runs"]] == [True, True]
    for old, new in zip(default_view["runs"], again["runs"]):
        assert new["trajectory"] == old["trajectory"] and new["sharpness"] == old["sharpness"]


def test_progress_is_reported_stage_by_stage_and_the_toy_paths_are_the_runs_optimizers(
        client):
    heard = []
    view = comparison_view(Comparison(**SGD_VS_ADAM), lambda s, f: heard.append((s, f)),
                           threading.Lock())
    stages = [s for s, _ in heard]
    fractions = [f for _, f in heard]
    assert stages[0] == "run A: training" and stages[-1] == "run B: done"
    assert any(s.startswith("run A: training, epoch 10 of 10") for s in stages)
    assert any("25 x 25" in s for s in stages) and "run B: sharpness" in stages
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1
    assert set(view["toy"]["paths"]) == {"sgd", "adam"}
    sgd = view["toy"]["paths"]["sgd"]
    np.testing.assert_allclose(np.c_[sgd["x"], sgd["y"]], toy.optimize("ravine", "sgd"))
    # the page asks the server for the same comparison: now read from the cache
    body = client.get("/api/trajectories", params=SGD_VS_ADAM).json()
    assert [r["cached"] for r in body["runs"]] == [True, True]
    assert [r["label"] for r in body["runs"]] == ["sgd, lr 0.1", "adam, lr 0.01"]
    assert client.get("/api/trajectories/progress", params=SGD_VS_ADAM).json() == {
        "stage": None, "fraction": None}


def test_a_diverged_run_is_a_result_not_an_error(client):
    r = client.get("/api/trajectories", params={"a_optimizer": "sgd", "a_lr": 10, "epochs": 3,
                                                "b_noise": 0})
    assert r.status_code == 200
    a, b = r.json()["runs"]
    assert a["status"] == "diverged" and a["sharpness"] is None
    assert b["status"] == "completed" and b["sharpness"]["hessian"]["eigenvalue"] > 0


@pytest.mark.parametrize("params, field", [
    ({"a_optimizer": "adamw"}, "a_optimizer"), ({"b_optimizer": "lbfgs"}, "b_optimizer"),
    ({"a_lr": 0}, "a_lr"), ({"a_lr": "nan"}, "a_lr"), ({"b_lr": "1e999"}, "b_lr"),
    ({"a_batch": -1}, "a_batch"), ({"b_noise": 2}, "b_noise"), ({"epochs": 0}, "epochs"),
    ({"epochs": 1000}, "epochs"), ({"seed": "x"}, "seed"), ({"surface": "nope"}, "surface"),
    ({"bogus": 1}, "bogus"), ({"a_batch": 1, "epochs": 200}, "a_batch"),
])
def test_bad_settings_are_422_naming_the_field(client, params, field):
    for path in ("/api/trajectories", "/api/trajectories/progress"):
        r = client.get(path, params=params)
        assert r.status_code == 422
        assert field in {e["loc"][-1] for e in r.json()["detail"]}


def test_too_many_steps_says_how_many_and_the_limit(client):
    r = client.get("/api/trajectories", params={"b_batch": 1, "epochs": 200})
    (error,) = r.json()["detail"]
    assert "120000 optimizer steps" in error["msg"] and "at most 3000" in error["msg"]


@pytest.mark.parametrize("losses, status, converged, says", [
    ([1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.1, 0.1, 0.1], "completed", True, "plateau"),
    ([1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.09, 0.08, 0.07], "completed", False,
     "still falling"),
    ([1.0, 0.9, 0.95, 0.97, 0.99, 1.0], "completed", True, "did not fall"),
    ([1.0, 0.5, 0.3], "completed", False, "too few"),
    ([1.0, 0.5, 0.3, 0.2, 0.2, 0.2], "diverged", False, "the run diverged"),
])
def test_convergence_is_a_plateau_of_the_training_loss_over_the_last_third(
        losses, status, converged, says):
    got = convergence(losses, status)
    assert got["converged"] is converged and says in got["reason"]


def test_one_noisy_epoch_does_not_decide_convergence():
    flat = [0.1 + 0.004 * (-1) ** i for i in range(30)]
    assert convergence([*flat[:-1], 0.094], "completed")["converged"]  # a low last epoch
    falling = [0.2 - 0.003 * i for i in range(30)]
    assert not convergence([*falling[:-1], falling[-10]], "completed")["converged"]


def test_each_compared_run_says_whether_it_converged(default_view):
    for run in default_view["runs"]:  # 30 epochs of Adam: the loss is still falling
        assert run["convergence"] == convergence(run["history"]["train_loss"], run["status"])
        assert run["convergence"]["converged"] is False
