"""The study runner: resume, retries, failures, divergence, the population-engine seam.

These tests train in this process (``workers=0``) or through a scripted backend; the
worker processes, the kill test and Ray are in ``test_runner_processes.py``.
"""

import re
import sys

import pytest
import torch

from fitscope import RunConfig, train
from fitscope.study import Store, StudyError, StudySpec, run_study
from fitscope.study.progress import StudyProgress
from fitscope.study.runner import Task, execute, make_tasks, threads_per_worker, train_task

BASE = {"data": {"name": "moons", "n_samples": 200}, "model": {"depth": 1, "width": 8},
        "budget": {"epochs": 2, "batch_size": 32}}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread (and test machines are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def study(grid: dict, seeds: int = 2, name: str = "t") -> StudySpec:
    return StudySpec.from_dict({"seeds": seeds, "base": BASE, "grid": grid}, default_name=name)


def strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_resume_trains_only_what_is_missing(tmp_path):
    spec = study({"model.width": [4, 8]})
    with Store(tmp_path / "s.db") as store:
        first = run_study(spec, store, workers=0)
        assert (first.total, first.trained, first.statuses) == (4, 4, {"completed": 4})
        before = {r.run_id: r.record for r in store.runs()}
        gone = list(before)[:2]
        with store.transaction() as db:
            db.executemany("DELETE FROM runs WHERE run_id = ?", [(g,) for g in gone])
        again = run_study(spec, store, workers=0)
        assert again.trained == 2 and again.statuses == {"completed": 4}
        assert run_study(spec, store, workers=0).trained == 0
        after = {r.run_id: r.record for r in store.runs()}
    assert after.keys() == before.keys()
    for rid in before:  # retrained runs are bit-identical (deterministic engine)
        assert after[rid]["metrics"] == before[rid]["metrics"]
        assert strip(after[rid]["history"]) == strip(before[rid]["history"])


def test_stored_metrics_equal_the_engine(tmp_path):
    spec = study({"init.scheme": ["xavier_normal", "kaiming_normal"]}, seeds=1)
    with Store(tmp_path / "s.db") as store:
        run_study(spec, store, workers=0)
        for r in spec.expand():
            assert store.get(r.run_id).record["metrics"] == train(r.config).metrics


def test_diverged_runs_are_results_and_the_study_carries_on(tmp_path):
    spec = StudySpec.from_dict({"seeds": 2, "base": {**BASE, "optimizer": {"name": "sgd"}},
                                "grid": {"optimizer.lr": [50.0, 0.01]}})
    with Store(tmp_path / "s.db") as store:
        result = run_study(spec, store, workers=0)
        assert result.statuses == {"diverged": 2, "completed": 2}
        diverged = [r for r in store.runs() if r.status == "diverged"]
        assert all("constant prediction" in r.record["reason"] for r in diverged)
        assert all(r.record["diverged_step"] is not None for r in diverged)


class Scripted:
    """A backend that trains in this process but makes chosen runs' workers 'die'
    for their first ``crashes[run_id]`` attempts."""

    slots = 2

    def __init__(self, crashes: dict[str, int]):
        self.crashes, self.done, self.submitted = crashes, [], []

    def submit(self, task: Task) -> None:
        self.submitted.append((task.configs[0].run_id, task.attempt))
        if self.crashes.get(task.configs[0].run_id, 0) >= task.attempt:
            self.done.append((task, None, "worker process was killed by SIGKILL"))
        else:
            self.done.append((task, train_task(*task.payload(torch.get_num_threads())), ""))

    def wait(self):
        done, self.done = self.done, []
        return done


def test_a_dead_worker_is_retried_once_then_failed(tmp_path):
    a, b, c = (study({}, seeds=3).expand()[i].config for i in range(3))
    backend = Scripted({a.run_id: 9, b.run_id: 1})
    with Store(tmp_path / "s.db") as store:
        execute(make_tasks([a, b, c], "sequential", 2), backend, store, _progress(3))
        ra, rb, rc = store.get(a.run_id), store.get(b.run_id), store.get(c.run_id)
    assert (ra.status, ra.attempts) == ("failed", 2)
    assert ra.record["reason"] == "worker process was killed by SIGKILL (after 2 attempts)"
    assert (rb.status, rb.attempts) == ("completed", 2)
    assert (rc.status, rc.attempts) == ("completed", 1)
    assert sorted(backend.submitted) == sorted([(a.run_id, 1), (a.run_id, 2), (b.run_id, 1),
                                                (b.run_id, 2), (c.run_id, 1)])


def _progress(total: int) -> StudyProgress:
    progress = StudyProgress(disable=True)
    progress.begin(total, [])
    return progress


def test_an_error_in_training_fails_the_run_without_retry(tmp_path):
    spec = StudySpec.from_dict({"base": {**BASE, "data": {"name": "csv", "path": "nope.csv"}}})
    with Store(tmp_path / "s.db") as store:
        assert run_study(spec, store, workers=0).statuses == {"failed": 1}
        (r,) = store.runs()
    assert r.attempts == 1 and r.record["reason"].startswith("FileNotFoundError")


def test_retry_failed_trains_failed_runs_again(tmp_path):
    spec = study({}, seeds=2)
    runs = spec.expand()
    with Store(tmp_path / "s.db") as store:
        store.put(train_task([runs[0].config.model_dump_json()], "sequential", 1)[0])
        store.put({**train_task([runs[1].config.model_dump_json()], "sequential", 1)[0],
                   "status": "failed", "reason": "worker died"})
        assert run_study(spec, store, workers=0).trained == 0
        result = run_study(spec, store, workers=0, retry_failed=True)
        assert result.trained == 1 and result.statuses == {"completed": 2}


def test_bad_worker_counts_are_refused(tmp_path):
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(StudyError, match="got -1"):
            run_study(study({}), store, workers=-1)
        with pytest.raises(StudyError, match="local backend only"):
            run_study(study({}), store, workers=0, backend="ray")


def test_threads_per_worker_share_the_cores(monkeypatch):
    monkeypatch.setattr("fitscope.study.runner.cores", lambda: 8)
    assert [threads_per_worker(w) for w in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


# -- the population engine -------------------------------------------------------------
def test_without_the_population_engine(monkeypatch):
    import fitscope

    monkeypatch.setitem(sys.modules, "fitscope.population", None)  # import fails
    monkeypatch.delattr(fitscope, "population", raising=False)  # also once imported elsewhere
    configs = [r.config for r in study({"model.width": [4, 8]}).expand()]
    assert [len(t.configs) for t in make_tasks(configs, "auto", 2)] == [1, 1, 1, 1]
    with pytest.raises(StudyError,
                       match=re.escape("--engine population needs fitscope.population")):
        make_tasks(configs, "population", 2)


def test_population_tasks_group_runs_by_shape():
    runs = study({"model.width": [4, 8, 16]}, seeds=5).expand()
    configs = [r.config for r in runs if r.config.model.width != 16 or r.seed == 0]
    adversarial = configs[0].with_overrides({"regularization.fgsm_epsilon": 0.1})
    tasks = make_tasks([*configs, adversarial], "auto", 2)
    shapes = [(t.engine, t.configs[0].model.width, len(t.configs)) for t in tasks]
    assert shapes == [("population", 4, 3), ("population", 4, 2), ("population", 8, 3),
                      ("population", 8, 2), ("sequential", 16, 1), ("sequential", 4, 1)]
    assert all(len({c.model.width for c in t.configs}) == 1 for t in tasks)
    forced = make_tasks([*configs, adversarial], "population", 2)
    assert [t.engine for t in forced[-2:]] == ["population", "sequential"]
    assert {t.engine for t in make_tasks(configs, "sequential", 2)} == {"sequential"}


def test_run_study_with_the_population_engine(tmp_path):
    spec = study({"model.width": [4, 8]}, seeds=3)
    with Store(tmp_path / "s.db") as store:
        assert run_study(spec, store, workers=0, engine="population").statuses == {
            "completed": 6}
        runs = store.runs()
    assert {r.record["engine"] for r in runs} == {"population"}
    for r in runs[:2]:  # the population engine mirrors the sequential one
        expected = train(RunConfig.model_validate(r.record["config"])).metrics
        assert r.record["metrics"] == pytest.approx(expected, rel=1e-5)


def test_progress_counts_done_running_failed_and_diverged():
    progress = StudyProgress(disable=True)
    progress.begin(10, ["completed", "failed", "diverged", "completed"])
    progress.started(2)
    progress.stopped(1)
    progress.finished("diverged")
    (task,) = progress.bar.tasks
    assert (task.total, task.completed) == (10, 5)
    assert task.fields == {"running": 1, "failed": 1, "diverged": 2}
