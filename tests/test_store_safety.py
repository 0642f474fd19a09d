"""Stores are safe to point at anything: the reading commands open the file read-only
and refuse (exit 2, naming the file) what is not a fitscope store, leaving it byte for
byte as it was; ``study run`` exits 1 when runs of the study failed; exports are strict
JSON, and CSV says it is one-way."""

import csv
import io
import json
import math
import sqlite3

import pytest
from typer.testing import CliRunner

from fitscope.cli import app
from fitscope.config import RunConfig
from fitscope.run import Run
from fitscope.study import Store, StudySpec
from fitscope.study.store import SCHEMA_VERSION, StoreError, store_version
from tests.fuzz.harness import expect_rejected

STUDY = """name = "tiny"
seeds = 2
[base]
data.name = "moons"
data.n_samples = 200
model.depth = 1
model.width = 4
budget.epochs = 1
budget.batch_size = 32
"""
runner = CliRunner()


def foreign_sqlite(path):
    """Another program's database: rollback journal, user_version 7, its own tables."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO runs VALUES (1, 'not fitscope')")
    db.commit()
    db.close()
    return path


READERS = [
    lambda p: ["runs", "list", "--store", str(p)],
    lambda p: ["runs", "show", "abc", "--store", str(p)],
    lambda p: ["runs", "export", "--store", str(p), "--format", "json"],
    lambda p: ["study", "report", str(p)],
    lambda p: ["study", "report", str(p.parent / "tiny.toml"), "--store", str(p)],
    # the writers check the file the same way before writing
    lambda p: ["study", "run", str(p.parent / "tiny.toml"), "--store", str(p), "-q"],
    lambda p: ["demo", "--claim", "1", "--store", str(p), "--out", str(p.parent / "r.html")],
]
WRITERS = 2

# every command on every kind of file, but the writers on a missing or empty one (they
# make it a store)
CASES = [(c, kind) for kind in ("foreign", "empty", "text", "missing")
         for c in range(len(READERS))
         if not (kind in ("missing", "empty") and c >= len(READERS) - WRITERS)]


@pytest.mark.parametrize(("command", "kind"), CASES)
def test_not_a_store_is_refused_and_left_unchanged(tmp_path, command, kind):
    (tmp_path / "tiny.toml").write_text(STUDY)
    path = tmp_path / "other.db"
    if kind == "foreign":
        foreign_sqlite(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("name,score\nada,3\n")
    files_before = sorted(p.name for p in tmp_path.iterdir())
    before = path.read_bytes() if path.exists() else None
    args = READERS[command](path)
    why = {"foreign": "without fitscope's tables", "empty": "the file is empty",
           "text": "not an SQLite database", "missing": "no such store"}[kind]
    expect_rejected(args, str(path.name), why, case=f"store: {kind} file, {args[0]} {args[1]}")
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # no -wal, no .html
    if before is not None:
        assert path.read_bytes() == before
    if kind == "foreign":
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        db.close()


def test_the_lab_runs_page_refuses_a_file_that_is_not_a_store(tmp_path):
    from fastapi.testclient import TestClient

    from fitscope.lab.app import create_app

    path = foreign_sqlite(tmp_path / "other.db")
    before = path.read_bytes()
    with TestClient(create_app(store=path)) as client:
        for url in ("/api/runs", "/api/runs/abc"):
            response = client.get(url)
            assert response.status_code == 409, response.text
            assert "is not a fitscope store" in response.json()["detail"]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_study_run_makes_an_empty_file_a_store(tmp_path):
    (tmp_path / "tiny.toml").write_text(STUDY)
    (tmp_path / "tiny.db").write_bytes(b"")
    result = runner.invoke(app, ["study", "run", str(tmp_path / "tiny.toml"), "-q",
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "tiny.db", readonly=True) as store:
        assert len(store.runs()) == 2


def test_drivers_creating_one_store_at_once_all_open_it(tmp_path):
    """While one writer creates a store, the file is empty or holds an empty database;
    the others wait for it instead of refusing it."""
    import threading

    def open_it(path, barrier, errors):
        barrier.wait()
        try:
            Store(path).close()
        except Exception as exc:  # noqa: BLE001 (collected and shown)
            errors.append(exc)

    for attempt in range(5):
        path, errors = tmp_path / f"s{attempt}.db", []
        barrier = threading.Barrier(6)
        threads = [threading.Thread(target=open_it, args=(path, barrier, errors))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store_version(path) == SCHEMA_VERSION


def test_a_store_from_a_newer_fitscope_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    expect_rejected(["runs", "list", "--store", str(path)], "s.db", "schema version 99",
                    case="store: newer schema")
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_reading_never_writes(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.put(Run(config=StudySpec.from_dict({"base": {}}).expand()[0].config).record())
    with Store(path, readonly=True) as store:
        assert len(store.runs()) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("DELETE FROM runs")


@pytest.fixture
def study_with_a_failed_run(tmp_path):
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(STUDY)
    runs = StudySpec.load(spec_path).expand()
    with Store(tmp_path / "tiny.db") as store:
        store.put(Run(config=runs[0].config, status="failed", reason="worker died").record())
    return spec_path


def test_study_run_exits_1_when_runs_failed(study_with_a_failed_run):
    path = study_with_a_failed_run
    result = runner.invoke(app, ["study", "run", str(path), "--workers", "0", "-q"])
    assert result.exit_code == 1, result.output
    assert "1 failed" in result.output and "--status failed" in result.output
    again = runner.invoke(app, ["study", "run", str(path), "--workers", "0", "-q",
                                "--retry-failed"])
    assert again.exit_code == 0, again.output
    assert "2 completed" in again.output


def help_text(*command: str) -> str:
    return " ".join(runner.invoke(app, [*command, "--help"]).output.split())


def test_the_exit_codes_are_documented():
    text = help_text("study", "run")
    assert "Exit status: 0" in text and "1 some runs" in text and "2 bad input" in text


def test_json_export_is_strict_json(tmp_path):
    cfg = StudySpec.from_dict({"base": {}}).expand()[0].config
    run = Run(config=cfg, status="diverged", reason="loss nan",
              history=[{"epoch": 1, "train_loss": math.nan, "val_loss": math.inf}],
              metrics={"train_loss": -math.inf, "test_acc": 0.5})
    with Store(tmp_path / "s.db") as store:
        store.put(run.record())
        assert math.isnan(store.runs()[0].record["history"][0]["train_loss"])  # kept exact
    out = tmp_path / "runs.json"
    result = runner.invoke(app, ["runs", "export", "--store", str(tmp_path / "s.db"),
                                 "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    (row,) = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert row["history"][0] == {"epoch": 1, "train_loss": None, "val_loss": None}
    assert row["metrics"] == {"train_loss": None, "test_acc": 0.5}
    saved = json.loads((run.save(tmp_path / "run") / "run.json").read_text(),
                       parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert saved["metrics"]["train_loss"] is None


def test_csv_export_is_one_way_and_says_so_json_rebuilds_the_config(tmp_path):
    text = help_text("runs", "export")
    assert "one-way" in text and "use JSON" in text
    cfg = StudySpec.from_dict({"base": {"data": {"train_size": None},
                                        "optimizer": {"clip_norm": 1.0}}}).expand()[0].config
    assert cfg.data.train_size is None and cfg.optimizer.schedule.tau is None
    with Store(tmp_path / "s.db") as store:
        store.put(Run(config=cfg, metrics={"test_acc": 0.5}).record())
    store = str(tmp_path / "s.db")
    rows = list(csv.DictReader(io.StringIO(
        runner.invoke(app, ["runs", "export", "--store", store]).output)))
    assert rows[0]["config.data.train_size"] == ""  # None and "" alike: one-way
    (row,) = json.loads(runner.invoke(app, ["runs", "export", "--store", store,
                                            "--format", "json"]).output)
    assert RunConfig.model_validate(row["config"]) == cfg  # JSON: the config exactly
    assert RunConfig.model_validate(row["config"]).run_id == row["run_id"]
