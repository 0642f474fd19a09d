"""``fitscope study run|report`` and ``fitscope runs list|show|export``."""

import csv
import io
import json

import pytest
import typer
from typer.testing import CliRunner

from fitscope.study import Store
from fitscope.study.commands import register

STUDY = """name = "widths"
seeds = 2
[base]
data.name = "moons"
data.n_samples = 200
model.depth = 1
budget.epochs = 2
budget.batch_size = 32
[grid]
"model.width" = [4, 8]
"""


def make_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


runner = CliRunner()
app = make_app()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A finished study: its file and its store."""
    path = tmp_path_factory.mktemp("study") / "widths.toml"
    path.write_text(STUDY)
    result = invoke("study", "run", path, "--workers", "0", "-q")
    assert result.exit_code == 0, result.output
    assert "4 runs (4 completed); trained 4 now" in result.output
    return path, path.with_suffix(".db")


def test_run_again_trains_nothing(done):
    path, store = done
    result = invoke("study", "run", path, "--workers", "0", "--store", store, "-q")
    assert result.exit_code == 0 and "trained 0 now" in result.output


@pytest.mark.parametrize("source", ["toml", "store"])
def test_report_from_the_study_file_or_the_store(done, tmp_path, source):
    path, store = done
    out = tmp_path / "r.html"
    result = invoke("study", "report", path if source == "toml" else store, "--out", out)
    assert result.exit_code == 0, result.output
    assert "model.width=8" in result.output and "paired t-test" in result.output
    assert f"report written to {out}" in result.output.replace("\n", "")
    text = out.read_text()
    assert "Study widths" in text and "model.width=4" in text and 'seeds = 2' in text


def test_report_default_path_and_metric(done):
    path, _ = done
    result = invoke("study", "report", path, "--metric", "test_loss")
    assert result.exit_code == 0 and path.with_suffix(".html").exists()
    assert "ranked by test_loss" in result.output.replace("\n", " ")


def test_runs_list_and_show(done):
    _, store = done
    with Store(store) as db:
        rid = db.runs()[0].run_id
    result = invoke("runs", "list", "--store", store)
    assert result.exit_code == 0 and "4 runs in" in result.output and "widths" in result.output
    with Store(store) as db:  # seconds in three significant digits, not "0.00"
        shown = f"{db.runs()[0].record['timings']['train_seconds']:.3g}"
    assert shown in result.output and shown != "0"
    result = invoke("runs", "show", rid[:8], "--store", store)
    assert result.exit_code == 0, result.output
    assert rid in result.output and "completed" in result.output and "test_acc" in result.output
    assert "[model]" in result.output and "width =" in result.output


def test_runs_export_csv_and_json(done, tmp_path):
    _, store = done
    result = invoke("runs", "export", "--store", store, "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert sorted(r["config.model.width"] for r in rows) == ["4", "4", "8", "8"]
    assert all(0 <= float(r["metrics.test_acc"]) <= 1 for r in rows)
    assert list(rows[0])[:3] == ["run_id", "studies", "status"]
    out = tmp_path / "runs.json"
    result = invoke("runs", "export", "--store", store, "--format", "json", "--study",
                    "widths", "--out", out)
    assert result.exit_code == 0
    records = json.loads(out.read_text())
    assert {r["run_id"] for r in records} == {r["run_id"] for r in rows}
    assert all(r["studies"] == ["widths"] and r["attempts"] == 1 and len(r["history"]) == 2
               for r in records)


def test_bad_input_exits_2_and_names_it(done, tmp_path):
    path, store = done
    bad = tmp_path / "bad.toml"
    bad.write_text(STUDY.replace("[4, 8]", '[4, "wide"]'))
    for args, words in [
        (("study", "run", bad), ["grid axis 'model.width'", "'wide'"]),
        (("study", "run", tmp_path / "nope.toml"), ["study file not found"]),
        (("study", "run", path, "--workers", "-1", "--store", tmp_path / "x.db"),
         ["--workers", "got -1"]),
        (("study", "run", path, "--backend", "slurm"), ["slurm"]),
        (("study", "report", tmp_path / "none.db"), ["no such store", "none.db"]),
        (("study", "report", path, "--metric", "accuracy"), ["metric", "'accuracy'"]),
        (("runs", "show", "zzzz", "--store", store), ["no run", "'zzzz'"]),
        (("runs", "list", "--store", store, "--study", "other"), ["no study 'other'"]),
        (("runs", "export", "--store", store, "--format", "xml"), ["xml"]),
    ]:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        for word in words:
            assert word in result.output.replace("\n", " "), (word, result.output)
        assert "Traceback" not in result.output


def test_a_store_with_two_studies_needs_a_name(done, tmp_path):
    path, _ = done
    shared = tmp_path / "shared.db"
    other = tmp_path / "other.toml"
    other.write_text(STUDY.replace('"widths"', '"other"').replace("seeds = 2", "seeds = 1"))
    for study in (path, other):
        assert invoke("study", "run", study, "--workers", "0", "--store", shared,
                      "-q").exit_code == 0
    result = invoke("study", "report", shared)
    assert result.exit_code == 2 and "--study" in result.output
    result = invoke("study", "report", shared, "--study", "other", "--out", tmp_path / "o.html")
    assert result.exit_code == 0 and "1/1" in result.output
