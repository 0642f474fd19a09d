"""Content-addressed data: a run id includes the hash of its data file's content, and a
relative data.path resolves against the file that names it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fitscope.config import RunConfig
from fitscope.data import fingerprint, load_data, write_idx
from fitscope.engine import train
from fitscope.run import Run
from fitscope.study.report import build_report
from fitscope.study.runner import run_study
from fitscope.study.spec import StudySpec
from fitscope.study.store import Store


@pytest.fixture(autouse=True)
def _own_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FITSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fingerprint, "_memory", {})
    load_data.cache_clear()


def write_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    lines = [f"{a:.5f},{b:.5f},{c:.5f},{int(a + b > 0)}" for a, b, c in x]
    path.write_text("a,b,c,label\n" + "\n".join(lines) + "\n")
    return path


def csv_config(path: Path | str, **data) -> RunConfig:
    return RunConfig.model_validate({"data": {"name": "csv", "path": str(path), **data},
                                     "model": {"depth": 1, "width": 8},
                                     "budget": {"epochs": 3, "batch_size": 0}})


def test_changed_content_makes_a_new_id_and_the_same_content_keeps_it(tmp_path):
    path = write_csv(tmp_path / "d.csv", 178)
    cfg = csv_config(path)
    first = cfg.run_id
    write_csv(path, 60)
    assert cfg.run_id != first
    write_csv(path, 178)
    assert cfg.run_id == first


def test_touch_keeps_the_id_and_the_hash_cache_is_keyed_by_size_and_mtime(tmp_path):
    path = write_csv(tmp_path / "d.csv", 50)
    cfg = csv_config(path)
    before = cfg.run_id
    cache = json.loads(fingerprint.cache_path().read_text())
    assert list(cache.values()) == [fingerprint.file_sha256(path)]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touch
    assert cfg.run_id == before
    # the disk cache answers for an unchanged (path, size, mtime) without reading the file:
    # a planted wrong hash is believed until the mtime changes again
    fingerprint._memory.clear()
    key = f"{os.path.realpath(path)}|{path.stat().st_size}|{path.stat().st_mtime_ns}"
    fingerprint.cache_path().write_text(json.dumps({key: "0" * 64}))
    assert fingerprint.file_sha256(path) == "0" * 64
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert fingerprint.file_sha256(path) != "0" * 64


def test_same_content_at_another_path_is_the_same_run(tmp_path):
    a = write_csv(tmp_path / "a.csv", 40)
    b = tmp_path / "elsewhere" / "b.csv"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    assert csv_config(a).run_id == csv_config(b).run_id
    assert csv_config(a).identity("h")["data"]["path"] is None


def test_a_missing_file_has_no_hash_and_an_id_that_names_the_path(tmp_path):
    cfg = csv_config(tmp_path / "nowhere.csv")
    assert fingerprint.data_hash(cfg.data) is None
    assert cfg.run_id == cfg.run_id_for(None) != csv_config(tmp_path / "other.csv").run_id


def test_built_in_sets_have_no_hash_and_keep_their_ids():
    assert fingerprint.data_hash(RunConfig().data) is None
    assert RunConfig().identity(None)["data"]["path"] is None


def test_an_idx_directory_is_hashed_over_its_four_files(tmp_path):
    rng = np.random.default_rng(0)
    for stem, shape in (("train-images-idx3-ubyte", (20, 4, 4)),
                        ("t10k-images-idx3-ubyte", (10, 4, 4))):
        write_idx(tmp_path / f"{stem}.gz", rng.integers(0, 256, shape, dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(20) % 10).astype(np.uint8))
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, (np.arange(10) % 10).astype(np.uint8))
    cfg = RunConfig.model_validate({"data": {"name": "mnist", "path": str(tmp_path)}})
    before = cfg.run_id
    assert fingerprint.data_hash(cfg.data) is not None
    write_idx(labels, (np.arange(10)[::-1] % 10).astype(np.uint8))
    assert cfg.run_id != before


def test_the_record_keeps_its_id_and_data_hash_after_the_file_changes(tmp_path):
    path = write_csv(tmp_path / "d.csv", 60)
    run = train(csv_config(path))
    assert run.data_hash == fingerprint.data_hash(run.config.data)
    assert run.run_id == run.config.run_id
    record = run.record()
    assert record["data_hash"] == run.data_hash and record["run_id"] == run.run_id
    write_csv(path, 30, seed=1)
    back = Run.from_record(json.loads(json.dumps(record)))
    assert (back.run_id, back.data_hash) == (run.run_id, run.data_hash)
    assert back.config.run_id != run.run_id  # the config, on today's file, is another run


def test_load_data_reads_a_changed_file_again(tmp_path):
    path = write_csv(tmp_path / "d.csv", 100)
    cfg = csv_config(path).data
    assert len(load_data(cfg).y_test) == 20
    write_csv(path, 50)
    assert len(load_data(cfg).y_test) == 10


# -- relative paths --------------------------------------------------------------------------
def test_a_relative_path_in_a_config_file_resolves_against_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    write_csv(folder / "d.csv", 30)
    (folder / "run.toml").write_text('[data]\nname = "csv"\npath = "d.csv"\n')
    (folder / "run.json").write_text('{"data": {"name": "csv", "path": "../configs/d.csv"}}')
    monkeypatch.chdir(tmp_path)
    for name in ("run.toml", "run.json"):
        cfg = RunConfig.load(Path("project/configs") / name)
        assert cfg.data.path == str(folder / "d.csv")
        assert load_data(cfg.data).n_features == 3


def test_a_relative_path_from_set_or_python_stays_relative_to_the_working_directory(
        tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "run.toml").write_text('[data]\nname = "csv"\npath = "x.csv"\n')
    monkeypatch.chdir(tmp_path)
    cfg = RunConfig.load("configs/run.toml").with_overrides({"data.path": "d.csv"})
    assert cfg.data.path == "d.csv"
    assert csv_config("d.csv").data.path == "d.csv"
    write_csv(tmp_path / "d.csv", 30)
    assert csv_config("d.csv").run_id == csv_config(tmp_path / "d.csv").run_id  # same file


# -- studies ---------------------------------------------------------------------------------
def test_a_study_trains_again_after_its_csv_is_cut_and_reports_the_new_numbers(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    data = write_csv(folder / "d.csv", 178)
    spec_file = folder / "s.toml"
    spec_file.write_text('name = "cut"\nseeds = 2\n[base]\ndata.name = "csv"\n'
                         'data.path = "d.csv"\nmodel.depth = 1\nbudget.epochs = 2\n'
                         'budget.batch_size = 0\n')
    with Store(tmp_path / "s.db") as store:
        first = run_study(StudySpec.load(spec_file), store, workers=0)
        assert first.trained == 2
        assert run_study(StudySpec.load(spec_file), store, workers=0).trained == 0
        old_ids = {m.run_id for m in store.members("cut")}
        write_csv(data, 60, seed=3)
        again = run_study(StudySpec.load(spec_file), store, workers=0)
        assert again.trained == 2
        members = store.members("cut")
        assert {m.run_id for m in members}.isdisjoint(old_ids)
        stored = store.runs([m.run_id for m in members])
        assert {s.record["data_hash"] for s in stored} == {fingerprint.file_sha256(data)}
        # 60 rows: a test split of 12, so every test accuracy is a multiple of 1/12
        report = build_report("cut", members, stored)
        assert report.configs[0].stored == 2
        for s in stored:
            assert round(s.record["metrics"]["test_acc"] * 12, 6).is_integer()
        old = store.runs(old_ids)
        assert len(old) == 2 and all(s.record["data_hash"] != fingerprint.file_sha256(data)
                                     for s in old)
    # the store's commands say which runs used which version of the file
    from typer.testing import CliRunner

    from fitscope.cli import app

    listed = CliRunner().invoke(app, ["runs", "list", "--store", str(tmp_path / "s.db")])
    assert listed.exit_code == 0, listed.output
    new_hash = fingerprint.file_sha256(data)
    assert listed.output.count(new_hash[:8]) == 2
    assert len({s.record["data_hash"][:8] for s in old} & set(listed.output.split())) == 1
    shown = CliRunner().invoke(app, ["runs", "show", stored[0].run_id, "--store",
                                     str(tmp_path / "s.db")])
    assert new_hash in shown.output and "0, 1" in shown.output  # data sha256, classes
