"""The SQLite run store: round trips, write-once rows, studies, concurrent writers."""

import sqlite3
import threading

import pytest

from fitscope import RunConfig, train
from fitscope.run import Run
from fitscope.study import Store, StudySpec
from fitscope.study.store import Member, probe_summary

CFG = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                "model": {"depth": 1, "width": 8},
                                "budget": {"epochs": 2, "batch_size": 32}})


def record(seed: int = 0, status: str = "completed", **metrics) -> dict:
    cfg = CFG.with_overrides({"budget.seed": seed})
    return Run(config=cfg, status=status, metrics=metrics,
               history=[{"epoch": 1, "val_loss": 0.5}]).record()


def test_a_trained_run_round_trips(tmp_path):
    run = train(CFG)
    with Store(tmp_path / "s.db") as store:
        assert store.put(run.record(), attempts=1)
        stored = store.get(run.run_id)
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    back = stored.run()
    assert back.config == run.config and back.metrics == run.metrics
    assert back.history == run.history and back.status == "completed"
    assert back.versions == run.versions and back.model_spec == run.model_spec
    assert stored.attempts == 1 and stored.record == run.record()


def test_a_run_is_written_once_but_a_failed_one_is_replaced(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.put(record(test_acc=0.9))
        assert not store.put(record(test_acc=0.1))
        assert store.get(CFG.run_id).record["metrics"] == {"test_acc": 0.9}
        failed = record(1, "failed")
        assert store.put(failed, attempts=2)
        assert store.put(record(1, test_acc=0.7))
        again = store.get(failed["run_id"])
        assert again.status == "completed" and again.attempts == 1
        assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_get_by_prefix(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.put(record(0))
        store.put(record(1))
        rid = CFG.run_id
        assert store.get(rid[:6]).run_id == rid
        with pytest.raises(KeyError, match="no run"):
            store.get("zzz")
        with pytest.raises(KeyError, match="2 runs"):
            store.get("")


def test_study_membership_is_replaced_per_study(tmp_path):
    spec = StudySpec.from_dict({"seeds": 2, "base": CFG.to_dict(),
                                "grid": {"model.width": [4, 8]}}, default_name="a")
    runs = spec.expand()
    with Store(tmp_path / "s.db") as store:
        store.register_study("a", "text a", runs)
        store.register_study("b", "text b", runs[:1])
        store.register_study("b", "text b2", runs[2:])
        assert store.studies() == ["a", "b"]
        assert store.members("a") == [Member.of(r) for r in runs]
        assert [m.run_id for m in store.members("b")] == [r.run_id for r in runs[2:]]
        assert store.members("b")[0].axes == {"model.width": "8"}
        assert store.spec_text("b") == "text b2"
        assert store.membership()[runs[2].run_id] == ["a", "b"]
        with pytest.raises(KeyError, match="no study 'c'"):
            store.members("c")


def test_runs_keep_the_asked_order_and_skip_missing(tmp_path):
    with Store(tmp_path / "s.db") as store:
        a, b = record(0), record(1)
        store.put(b)
        store.put(a)
        ids = [a["run_id"], "missing", b["run_id"]]
        assert [r.run_id for r in store.runs(ids)] == [a["run_id"], b["run_id"]]
        assert store.statuses(ids) == {a["run_id"]: "completed", b["run_id"]: "completed"}


def test_probe_summary_keeps_the_last_steps_scalars():
    probes = [{"step": 5, "layer": "h1", "quantity": "act_std", "value": 0.5},
              {"step": 10, "layer": "h1", "quantity": "act_std", "value": 0.4},
              {"step": 10, "layer": "h1", "quantity": "histogram", "value": [1, 2, 3]},
              {"step": 10, "layer": "h2", "quantity": "dead", "value": True},
              {"step": 10, "layer": "h2", "quantity": "grad_norm", "value": 3}]
    assert probe_summary(probes) == [probes[1], probes[4]]
    assert probe_summary([]) == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(ValueError, match="schema version 99"):
        Store(path)


def test_concurrent_writers_lose_nothing(tmp_path):
    """Four connections write overlapping runs at once; each run lands exactly once."""
    records = [record(seed) for seed in range(40)]
    Store(tmp_path / "s.db").close()
    errors = []

    def writer(offset: int) -> None:
        try:
            with Store(tmp_path / "s.db") as store:
                for r in records[offset:] + records[:offset]:
                    store.put(r)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 10,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(tmp_path / "s.db") as store:
        assert sorted(store.statuses()) == sorted(r["run_id"] for r in records)
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
