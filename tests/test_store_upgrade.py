"""A store written by fitscope before store versioning (schema 1) is read as is by the
reading commands and migrated, runs and all, when opened for writing.

The fixture ``tests/data/store_schema1.db`` was written by fitscope at commit c25108e
(``tests/data/make_store_schema1.py`` says how); ``store_schema1.json`` is what that
fitscope read back from it. The fixture is named ``.db`` (the suffix fitscope gives a
study's store) because the repository's ``.gitignore`` ignores ``*.sqlite``.
"""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fitscope.cli import app
from fitscope.config import RunConfig
from fitscope.run import RECORD_SCHEMA, Run
from fitscope.study import Store
from fitscope.study.store import SCHEMA_VERSION, store_version

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "store_schema1.json").read_text())


def upgraded(record: dict) -> dict:
    """A schema-1 record as schema 2 reads it: what schema 2 added is None (it predates
    content-addressed data and kept class names)."""
    return {**record, "schema": RECORD_SCHEMA, "data_hash": None, "label_names": None}


@pytest.fixture
def old(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "store_schema1.db", path)
    return path


def read_all(store: Store) -> dict:
    return {"studies": {n: {"spec": store.spec_text(n),
                            "members": [m.__dict__ for m in store.members(n)]}
                        for n in store.studies()},
            "runs": [{"record": r.record, "attempts": r.attempts,
                      "finished_at": r.finished_at} for r in store.runs()]}


def expected_now() -> dict:
    """What the old fitscope read, with the record version the new one adds."""
    runs = [{**r, "record": upgraded(r["record"])} for r in EXPECTED["runs"]]
    return {**EXPECTED, "runs": runs}


def test_the_fixture_is_a_schema_1_store_with_every_kind_of_run(old):
    assert store_version(old) == 1
    statuses = sorted(r["record"]["status"] for r in EXPECTED["runs"])
    assert statuses == ["completed", "diverged", "diverged", "failed"]
    assert all("schema" not in r["record"] for r in EXPECTED["runs"])


def test_read_only_reads_every_run_and_leaves_the_file_as_it_was(old):
    before = old.read_bytes()
    with Store(old, readonly=True) as store:
        assert store.version == 1
        assert read_all(store) == expected_now()
        runs = [r.run() for r in store.runs()]
    assert old.read_bytes() == before
    assert [r.status for r in runs] == [r["record"]["status"] for r in EXPECTED["runs"]]
    diverged = [r for r in runs if r.status == "diverged"]
    assert diverged and all(r.diverged_step == 2 for r in diverged)
    assert all(r.config.run_id == r.run_id for r in runs)


def test_opening_for_writing_migrates_it_runs_and_all(old):
    with Store(old) as store:
        assert store.version == SCHEMA_VERSION
        assert read_all(store) == expected_now()
        meta = dict(store.db.execute("SELECT key, value FROM meta"))
        assert meta == {"format": "fitscope-store", "schema": str(SCHEMA_VERSION)}
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # it takes new runs, and a failed one of the old fitscope is still replaced
        failed = next(r for r in store.runs() if r.status == "failed")
        new = Run(config=failed.run().config, metrics={"test_acc": 0.5}).record()
        assert new["schema"] == RECORD_SCHEMA
        assert store.put(new)
        assert store.get(failed.run_id).record == new
    assert store_version(old) == SCHEMA_VERSION
    with Store(old, readonly=True) as again:  # and reads back after the migration
        assert len(again.runs()) == len(EXPECTED["runs"])


def test_the_commands_read_the_old_store(old, tmp_path):
    before = old.read_bytes()
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--store", str(old)])
    assert listed.exit_code == 0, listed.output
    for r in EXPECTED["runs"]:
        assert r["record"]["run_id"] in listed.output
    exported = runner.invoke(app, ["runs", "export", "--store", str(old), "--format", "json"])
    assert exported.exit_code == 0, exported.output
    rows = json.loads(exported.output)
    assert [row["run_id"] for row in rows] == [r["record"]["run_id"] for r in EXPECTED["runs"]]
    report = runner.invoke(app, ["study", "report", str(old), "--out",
                                 str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
    assert old.read_bytes() == before  # the reading commands did not migrate it


def test_a_record_from_a_newer_fitscope_is_refused():
    record = {**EXPECTED["runs"][0]["record"], "schema": RECORD_SCHEMA + 1}
    with pytest.raises(ValueError, match=f"schema {RECORD_SCHEMA + 1}"):
        Run.from_record(record)


def test_an_old_record_loads():
    """run.json written before records had a version loads as a Run."""
    record = EXPECTED["runs"][0]["record"]
    run = Run.from_record(record)
    # its config comes back with the fields added since, at their defaults
    config = RunConfig.model_validate(record["config"]).to_dict()
    assert run.record() == {**upgraded(record), "config": config}
