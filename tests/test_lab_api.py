"""The lab's HTTP side: pages, static files, plotly, and every JSON endpoint, including
malformed and hostile requests."""

import time
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fitscope import RunConfig, train
from fitscope.lab.app import create_app
from fitscope.lab.messages import LAB_DATA, LIMITS
from fitscope.lab.optimizers_api import OptimizerName, Race, SurfaceName
from fitscope.lab.pages import FRAGMENTS, PAGES, STATIC, include_fragments, plotly_js
from fitscope.lab.work import WorkQueue
from fitscope.landscape import toy
from fitscope.study import Store


@pytest.fixture(scope="module")
def client():
    """The lab, its race and comparisons answered in one piece (no 202: a first race
    loads plotly's figure code; tests/test_lab_work.py checks the 202s)."""
    with TestClient(create_app(work=WorkQueue(within=600.0))) as c:
        yield c


@pytest.mark.parametrize("path", ["/", *[f"/{p}" for p in PAGES]])
def test_every_page_has_the_layout_navigation_and_an_explanation(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for slug in PAGES:
        assert f'href="/{slug}"' in r.text
    assert 'class="explain"' in r.text and "/vendor/plotly.min.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


TRAIN_CONTROLS = ('<button type="button" id="train" class="primary">Train</button>',
                  '<div class="status" id="status"></div>', '<div class="error" id="error"></div>')


@pytest.mark.parametrize("page", ["init", "overfitting"])
def test_the_training_pages_carry_the_shared_train_controls_written_once(client, page):
    served = client.get(f"/{page}").text
    fragment = (FRAGMENTS / "train-form-end.html").read_text()
    # the whole block, indentation included, ends the page's form; the page file itself
    # holds only the include line
    form = served[served.index('<form id="form"'):]
    assert fragment in form and form.count("</form>") == 1 and "{{include" not in served
    assert all(served.count(line) == 1 for line in TRAIN_CONTROLS)
    source = (STATIC / "pages" / f"{page}.html").read_text()
    assert "  {{include train-form-end}}\n" in source
    assert not any(line in source for line in TRAIN_CONTROLS)


def test_an_include_line_becomes_the_fragment_in_its_place(tmp_path, monkeypatch):
    (tmp_path / "block.html").write_text("  <p>one</p>\n  <p>two</p>\n")
    monkeypatch.setattr("fitscope.lab.pages.FRAGMENTS", tmp_path)
    body = "<form>\n  {{include block}}\n</form>\n<p>{{include block}} inline stays</p>\n"
    assert include_fragments(body) == ("<form>\n  <p>one</p>\n  <p>two</p>\n</form>\n"
                                       "<p>{{include block}} inline stays</p>\n")


def test_a_page_script_exists_for_every_page(client):
    for page in PAGES:
        assert client.get(f"/static/{page}.js").status_code == 200
    assert client.get("/static/lab.js").status_code == 200


def test_unknown_pages_are_404(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/api/nope").status_code == 404


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/%2e%2e/config.py",
    "/static/pages/../../app.py", "/static/..%2f..%2f..%2fpyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fcommands.py", "/static//etc/passwd", "/static/missing.js",
])
def test_path_traversal_on_static_files_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "import" not in r.text


def test_plotly_is_served_from_the_installed_package(client):
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.content == plotly_js().read_bytes()


def test_health_reports_trainings_the_limit_and_the_caches():
    from fitscope.lab.landscape_api import quadratic_json
    from fitscope.lab.optimizers_api import race_json

    race_json.cache.clear()
    quadratic_json.cache.clear()
    with TestClient(create_app(max_sessions=7)) as c:
        assert c.get("/api/health").json() == {
            "trainings": 0, "max_sessions": 7, "computing": 0,
            "cached_bytes": {"race": 0, "quadratic": 0}, "warm": True}
        quadratic = c.get("/api/landscape/quadratic").content
        while (r := c.get("/api/optimizers/race", params={"steps": 5})).status_code == 202:
            time.sleep(0.2)  # computing (a busy machine): asked again, as the page does
        race = r.content
        assert c.get("/api/health").json()["cached_bytes"] == {"race": len(race),
                                                                "quadratic": len(quadratic)}


def test_form_choices_come_from_the_config(client):
    body = client.get("/api/form").json()
    assert body["choices"]["data.name"] == list(LAB_DATA)
    assert "kaiming_normal" in body["choices"]["init.scheme"]
    assert body["choices"]["model.activation"] == ["relu", "tanh", "sigmoid", "linear"]
    assert body["choices"]["surface"] == ["ravine", "saddle", "rosenbrock", "cliff"]
    assert body["limits"] == {**LIMITS, "max_run_seconds": 60.0, "max_probe_mb": 50.0,
                              "max_histogram_bins": 100, "max_steps": 25_000, "max_sessions": 4}
    assert body["defaults"] == RunConfig().to_dict()


# -- regularization landscape ----------------------------------------------------------
def test_quadratic_l1_with_a_diagonal_hessian_is_soft_thresholding(client):
    # angle 0: H = diag(scale, scale / cond); each weight is soft-thresholded by lam / H_ii
    q = {"cx": 2.0, "cy": 1.0, "scale": 2.0, "cond": 4.0, "angle": 0.0, "penalty": "l1",
         "lam": 0.3}
    body = client.get("/api/landscape/quadratic", params=q).json()
    h = np.array([2.0, 0.5])
    expected = np.sign([2.0, 1.0]) * np.maximum(np.abs([2.0, 1.0]) - 0.3 / h, 0)
    np.testing.assert_allclose(body["optimum"], expected, atol=1e-9)
    assert body["zeros"] == 0 and body["lam_zero"] == pytest.approx(4.0)
    q["lam"] = 0.6  # above |H_22 c_2| = 0.5: the second weight is exactly zero
    body = client.get("/api/landscape/quadratic", params=q).json()
    assert body["optimum"][1] == 0.0 and body["zeros"] == 1
    assert body["radius"] == pytest.approx(abs(body["optimum"][0]))


def test_quadratic_view_has_contours_path_and_region(client):
    body = client.get("/api/landscape/quadratic", params={"penalty": "l2", "lam": 1.0}).json()
    grid = body["grid"]
    assert len(grid["z"]) == len(grid["y"]) and len(grid["z"][0]) == len(grid["x"])
    assert body["path"]["lam"][0] == 0.0 and body["path"]["lam"][-1] == body["lam_max"]
    assert [body["path"]["w1"][0], body["path"]["w2"][0]] == pytest.approx(body["center"])
    assert body["radius"] == pytest.approx(np.hypot(*body["optimum"]))
    assert body["zeros"] == 0


@pytest.mark.parametrize("params, field", [
    ({"cond": 0}, "cond"), ({"lam": -1}, "lam"), ({"lam": "1e999"}, "lam"),
    ({"lam": "nan"}, "lam"), ({"penalty": "l3"}, "penalty"), ({"cx": "x"}, "cx"),
    ({"scale": "9" * 400}, "scale"), ({"angle": 1000}, "angle"), ({"bogus": 1}, "bogus"),
])
def test_quadratic_rejects_bad_values_naming_the_field(client, params, field):
    r = client.get("/api/landscape/quadratic", params=params)
    assert r.status_code == 422
    assert field in {e["loc"][-1] for e in r.json()["detail"]}


def test_logistic_paths_count_zero_weights(client):
    body = client.get("/api/landscape/logistic").json()
    n_features = len(body["features"])
    assert n_features == 30 and len(body["lam"]) == len(body["l1"]["zeros"])
    l1, l2 = body["l1"]["zeros"], body["l2"]["zeros"]
    assert l1[0] < 15 and l1[-1] == n_features  # at lam_zero L1 keeps no weight
    assert max(l2) == 0  # L2 never zeroes one
    assert np.mean(np.diff(l1) >= 0) > 0.9  # weights drop out as lambda grows
    assert len(body["l1"]["coef"]) == n_features
    assert len(body["l1"]["coef"][0]) == len(body["lam"])


# -- overfitting -----------------------------------------------------------------------
def test_one_nearest_neighbour_is_perfect_on_its_training_points(client):
    body = client.get("/api/overfitting/nearest-neighbour",
                      params={"name": "moons", "noise": 0.35, "n_samples": 400}).json()
    assert body["train_acc"] == 1.0
    assert body["val_acc"] < 0.95 and body["test_acc"] < 0.95


@pytest.mark.parametrize("params, field", [
    ({"name": "csv"}, "name"), ({"n_samples": 5001}, "n_samples"),
    ({"train_size": 1}, "train_size"), ({"path": "/etc/passwd"}, "path"),
])
def test_nearest_neighbour_rejects_bad_data(client, params, field):
    r = client.get("/api/overfitting/nearest-neighbour", params=params)
    assert r.status_code == 422
    assert field in {e["loc"][-1] for e in r.json()["detail"]}


# -- optimizers ------------------------------------------------------------------------
def test_the_spelled_out_names_are_the_toy_surfaces_and_optimizers():
    assert get_args(SurfaceName) == tuple(toy.SURFACES)
    assert get_args(OptimizerName) == toy.OPTIMIZERS
    assert [f for f in Race.model_fields if f.startswith("lr_")] == [
        f"lr_{name}" for name in toy.OPTIMIZERS]


def test_race_starts_where_asked_and_clipping_bounds_every_step(client):
    params = {"surface": "cliff", "x0": 2.0, "y0": 0.5, "run": ["sgd"], "lr_sgd": 0.1,
              "steps": 50}
    free = client.get("/api/optimizers/race", params=params).json()
    clipped = client.get("/api/optimizers/race", params={**params, "clip_norm": 1.0}).json()
    for body in (free, clipped):
        path = body["paths"]["sgd"]
        assert [path["x"][0], path["y"][0]] == [2.0, 0.5]
        assert set(body["paths"]) == {"sgd"} and body["figure"]["data"]
    step = lambda p: np.hypot(np.diff(p["x"]), np.diff(p["y"])).max()  # noqa: E731
    assert step(clipped["paths"]["sgd"]) <= 0.1 * 1.0 + 1e-9  # lr * max norm
    assert step(free["paths"]["sgd"]) > 1.0  # the wall catapults unclipped SGD


@pytest.mark.parametrize("params, field", [
    ({"surface": "nope"}, "surface"), ({"run": "bogus"}, 0), ({"x0": 1e9}, "x0"),
    ({"lr_adam": -1}, "lr_adam"), ({"steps": 10**6}, "steps"), ({"extra": 1}, "extra"),
])
def test_race_rejects_bad_settings(client, params, field):
    r = client.get("/api/optimizers/race", params=params)
    assert r.status_code == 422
    assert field in {e["loc"][-1] for e in r.json()["detail"]}


# -- runs ------------------------------------------------------------------------------
def test_runs_without_a_store_are_empty(client):
    assert client.get("/api/runs").json() == {"store": None, "runs": [], "studies": {}}
    r = client.get("/api/runs/abc")
    assert r.status_code == 404 and "--store" in r.json()["detail"]


def test_runs_from_a_store(tmp_path):
    path = tmp_path / "runs.sqlite"
    cfg = RunConfig.model_validate({"data": {"n_samples": 100}, "model": {"depth": 1},
                                    "budget": {"epochs": 2}})
    run = train(cfg)
    with Store(path) as store:
        store.put(run.record())
    with TestClient(create_app(store=path)) as c:
        body = c.get("/api/runs").json()
        assert [r["run_id"] for r in body["runs"]] == [run.run_id]
        assert body["runs"][0]["metrics"]["val_acc"] == run.metrics["val_acc"]
        record = c.get(f"/api/runs/{run.run_id[:6]}").json()
        assert record["history"] == run.record()["history"]
        assert record["findings"] and {"code", "severity"} <= set(record["findings"][0])
        assert c.get("/api/runs/0000").status_code == 404
        for bad in ("..%2f..%2fetc", "XYZ", "a" * 17):
            assert c.get(f"/api/runs/{bad}").status_code in (404, 422)


def test_the_runs_init_column_tells_scales_apart():
    from fitscope.lab.runs_api import init_label

    small, large = ({"scheme": "normal", "std": s} for s in (0.01, 1.0))
    assert (init_label(small), init_label(large)) == ("normal (std 0.01)", "normal (std 1)")
    assert init_label({"scheme": "constant", "value": 0.5}) == "constant (0.5)"
    assert init_label({"scheme": "kaiming_normal", "std": 0.01}) == "kaiming_normal"


def test_a_missing_store_file_is_not_created(tmp_path):
    path = tmp_path / "none.sqlite"
    with TestClient(create_app(store=path)) as c:
        assert c.get("/api/runs").json()["runs"] == []
    assert not Path(path).exists()


def test_allowed_hosts_refuse_other_host_names():
    with TestClient(create_app(allowed_hosts=["testserver"])) as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 400
