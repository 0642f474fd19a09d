"""Bad configs (TOML, JSON, ``--set``), CLI arguments and paths, and study specs: each is
refused with exit 2 and a message naming the file, field or option, never a traceback,
and before any training (a bad output path never costs a trained run).

Table-driven cases go through :func:`tests.fuzz.harness.expect_rejected` (in-process);
hypothesis corrupts a valid config file and checks the rule (exit 2 with a message
naming the file or a field, or exit 0 when the corruption is still a valid config); a
few cases run as real subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.fuzz.harness import expect_rejected

FITSCOPE = str(Path(sys.executable).with_name("fitscope"))
HAS_CUDA = torch.cuda.is_available()

# -- --set overrides: (override, what the message must name) ------------------------------
SET_CASES = [
    ("model.depth=true", "model.depth"),
    ("model.depth=false", "model.depth"),
    ("model.depth=3.5", "model.depth"),
    ("model.depth=2.0", "model.depth"),
    ('model.depth="3"', "model.depth"),
    ("model.depth=-1", "model.depth"),
    ("model.depth=65", "model.depth"),
    ("model.depth=nan", "model.depth"),
    ("model.depth=[1, 2]", "model.depth"),
    ("model.width=0", "model.width"),
    ("model.width=8193", "model.width"),
    ("model.width=true", "model.width"),
    ("model.width=[32]", "model.width"),
    ("model.width=[32, 0]", "model.width"),
    ("model.width=[32, true]", "model.width"),
    ("model.activation=[/]", "[/]"),
    ("model.activation=[bold red]relu[/]", "[bold red]relu[/]"),
    ("model.activation=[link=file:///etc/passwd]x", "[link=file:///etc/passwd]x"),
    ("model.activation=gelu", "model.activation"),
    ("model.kind=rnn", "model.kind"),
    ("model.kind=cnn", "model.kind"),
    ("model.dropout=1.0", "model.dropout"),
    ("model.dropout=nan", "model.dropout"),
    ("model.dropout=inf", "model.dropout"),
    ("model.dropout=-0.1", "model.dropout"),
    ("model.dropout=true", "model.dropout"),
    ("model.input_dropout=1", "model.input_dropout"),
    ("model.channels=[0]", "model.channels"),
    ("model.channels=[5000]", "model.channels"),
    ("model.kernel_size=12", "model.kernel_size"),
    ("model.batch_norm=1", "model.batch_norm"),
    ("model.batch_norm=yes", "model.batch_norm"),
    ("model.bias=0", "model.bias"),
    ("data.name=imagenet", "data.name"),
    ("data.name=csv", "data.path"),
    ("data.name=mnist", "data.path"),
    ("data.n_samples=5", "data.n_samples"),
    ("data.n_samples=1e9", "data.n_samples"),
    ("data.n_samples=3000000", "data.n_samples"),
    ("data.noise=-1", "data.noise"),
    ("data.noise=inf", "data.noise"),
    ("data.val_fraction=1", "data.val_fraction"),
    ("data.test_fraction=0", "data.test_fraction"),
    ("data.val_fraction=0.75", "data.val_fraction"),
    ("data.split_seed=-1", "data.split_seed"),
    ("data.split_seed=4294967296", "2147483647"),
    ("data.split_seed=true", "data.split_seed"),
    ("data.train_size=1", "data.train_size"),
    ("data.train_size=1e3", "data.train_size"),
    ("data.label_noise=2", "data.label_noise"),
    ("data.poly_degree=11", "data.poly_degree"),
    ("data.standardize=1", "data.standardize"),
    ("data.target=true", "data.target"),
    ("data.target=1.5", "data.target"),
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=nan", "optimizer.lr"),
    ("optimizer.lr=-inf", "optimizer.lr"),
    ("optimizer.lr=1e309", "optimizer.lr"),
    ("optimizer.lr=true", "optimizer.lr"),
    ('optimizer.lr="0.1"', "optimizer.lr"),
    ("optimizer.name=sgdd", "optimizer.name"),
    ("optimizer.momentum=1", "optimizer.momentum"),
    ("optimizer.eps=0", "optimizer.eps"),
    ("optimizer.schedule.kind=exponential", "optimizer.schedule.kind"),
    ("optimizer.schedule.gamma=0", "optimizer.schedule.gamma"),
    ("optimizer.schedule.tau=0", "optimizer.schedule.tau"),
    ("optimizer.clip_norm=0", "optimizer.clip_norm"),
    ("optimizer.clip_norm=inf", "optimizer.clip_norm"),
    ("optimizer.clip_value=-1", "optimizer.clip_value"),
    ("budget.epochs=0", "budget.epochs"),
    ("budget.epochs=100001", "budget.epochs"),
    ("budget.epochs=1.5", "budget.epochs"),
    ("budget.seed=18446744073709551616", "seeds are in [0, 2147483647]"),
    ("budget.seed=-1", "budget.seed"),
    ("budget.seed=2147483648", "2147483647"),
    ("budget.seed=true", "budget.seed"),
    ("budget.batch_size=-1", "budget.batch_size"),
    ("budget.batch_size=4294967296", "budget.batch_size"),
    ("budget.max_steps=0", "budget.max_steps"),
    ("budget.device=tpu", "budget.device"),
    ("regularization.l2=-1", "regularization.l2"),
    ("regularization.l2=11", "regularization.l2"),
    ("regularization.l1=nan", "regularization.l1"),
    ("regularization.label_smoothing=1", "regularization.label_smoothing"),
    ("regularization.early_stopping.patience=0", "regularization.early_stopping.patience"),
    ("regularization.early_stopping.monitor=acc", "regularization.early_stopping.monitor"),
    ("regularization.early_stopping.min_delta=inf", "regularization.early_stopping.min_delta"),
    ("regularization.early_stopping.enabled=1", "regularization.early_stopping.enabled"),
    ("regularization.augment.rotate_deg=181", "regularization.augment.rotate_deg"),
    ("regularization.augment.scale=1", "regularization.augment.scale"),
    ("task.kind=ranking", "task.kind"),
    ("task.main_label_fraction=0.5", "task.main_label_fraction"),
    ('task.aux=[{kind = "color"}]', "task.aux"),
    ("init.scheme=he", "init.scheme"),
    ("init.std=0", "init.std"),
    ("init.gain=-1", "init.gain"),
    ("observe.histogram_bins=1", "observe.histogram_bins"),
    ("observe.probe_every=-1", "observe.probe_every"),
    ("observe.snapshot_every=true", "observe.snapshot_every"),
    ("name=true", "name"),
    ("name=[1, 2]", "name"),
    # shape of the override itself
    ("model.dept=3", "model.dept"),
    ("model=3", "model"),
    ("=3", "unknown config field"),
    ("model.depth", "field.path=value"),
    ("model..depth=1", "model..depth"),
    ("foo.bar=1", "foo.bar"),
    ("model.depth.x=1", "model.depth.x"),
    ("[/].x=1", "[/].x"),
]


@pytest.mark.parametrize(("override", "mention"), SET_CASES, ids=[c[0] for c in SET_CASES])
def test_bad_set_override_is_rejected_by_field(override, mention):
    expect_rejected(["train", "--set", override], mention)


def test_two_overrides_that_clash_name_both_fields():
    expect_rejected(["train", "--set", "data.val_fraction=0.5", "--set",
                     "data.test_fraction=0.5"], "data.val_fraction", "data.test_fraction")
    expect_rejected(["train", "--set", "optimizer.name=nesterov", "--set",
                     "optimizer.momentum=0"], "optimizer.momentum")
    expect_rejected(["train", "--set", "task.kind=regression", "--set",
                     "regularization.label_smoothing=0.1"], "label_smoothing")
    expect_rejected(["train", "--set", "data.val_fraction=0", "--set",
                     "regularization.early_stopping.enabled=true"], "early_stopping")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA: the cuda run is tested to train")
def test_cuda_without_cuda_is_refused_before_training(small_config):
    for args in (["train"], ["diagnose", str(small_config)], ["landscape", str(small_config)],
                 ["theory", str(small_config)]):
        expect_rejected([*args, "--set", "budget.device=cuda"], "budget.device",
                        "no CUDA device")


def test_a_run_that_would_not_fit_in_memory_is_refused_at_once():
    """About 4e9 parameters: refused with the estimate before the model is built."""
    t0 = time.perf_counter()
    out = expect_rejected(["train", "--set", "model.depth=64", "--set", "model.width=8192"],
                          "GiB", "4.23e+09 parameters", "model.width=8192", "available")
    assert time.perf_counter() - t0 < 2.0, out  # the guard's own share: tests/test_sizing.py
    expect_rejected(["diagnose", "-", "--set", "model.depth=64"], "-")  # no such file
    expect_rejected(["train", "--set", "model.kind=cnn", "--set", "data.name=digits",
                     "--set", "model.channels=[4096, 4096, 4096, 4096]", "--set",
                     "model.kernel_size=11", "--set", "budget.batch_size=0"], "GiB")


# -- config files -----------------------------------------------------------------------
GOOD = {"data": {"name": "moons", "n_samples": 60}, "model": {"depth": 1, "width": 4},
        "budget": {"epochs": 1, "max_steps": 1, "batch_size": 16}}


def _toml(data: dict) -> str:
    import tomli_w

    return tomli_w.dumps(data)


FILE_CASES = [
    # (file name, content (bytes or str), what the message must name)
    ("binary.toml", b"\x7fELF\x02\x01\x01\x00\x00\x00", "not a TOML/JSON file"),
    ("latin1.toml", "name = \"caf\xe9\"".encode("latin-1"), "not a TOML/JSON file"),
    ("nul.json", b'{"name": "a\x00b"}', "not a TOML/JSON file"),
    ("utf16.toml", "name = 'x'".encode("utf-16"), "not a TOML/JSON file"),
    ("syntax.toml", "[model]\ndepth = 2\nwidth = = 3\n", "line 3"),
    ("unclosed.toml", "[model\ndepth = 2\n", "line 1"),
    ("dup.toml", "[model]\ndepth = 2\ndepth = 3\n", "line 3"),
    ("syntax.json", '{"model": {"depth": 2,\n "width": }}', "line 2"),
    ("empty.json", "", "line 1"),
    ("array.json", "[1, 2, 3]", "list"),
    ("string.json", '"model"', "str"),
    ("nan.json", '{"optimizer": {"lr": NaN}}', "optimizer.lr"),
    ("inf.json", '{"optimizer": {"lr": Infinity}}', "optimizer.lr"),
    ("huge.json", '{"optimizer": {"lr": 1e999}}', "optimizer.lr"),
    ("bool.json", '{"model": {"depth": true}}', "model.depth"),
    ("text.json", '{"model": {"depth": "3"}}', "model.depth"),
    ("float.json", '{"budget": {"epochs": 2.5}}', "budget.epochs"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("seed.json", '{"budget": {"seed": 18446744073709551616}}', "budget.seed"),
    ("null.json", '{"model": {"depth": null}}', "model.depth"),
    ("nan.toml", "[optimizer]\nlr = nan\n", "optimizer.lr"),
    ("inf.toml", "[regularization]\nl2 = inf\n", "regularization.l2"),
    ("bigint.toml", "[model]\ndepth = 99999999999999999999\n", "model.depth"),
    ("unknown.toml", "[modle]\ndepth = 2\n", "modle"),
    ("wrongtype.toml", "[model]\ndepth = 2.5\n", "model.depth"),
    ("section.toml", "model = 3\n", "model"),
    ("dates.toml", "[budget]\nepochs = 1979-05-27\n", "budget.epochs"),
    ("config.yaml", "model:\n  depth: 2\n", "config.yaml"),
    ("[bold]markup[x].toml", "[model]\ndepth = -4\n", "[bold]markup[x].toml"),
    ("bom-bad.toml", "\ufeff[model]\ndepth = true\n", "model.depth"),
]


@pytest.mark.parametrize(("name", "content", "mention"), FILE_CASES,
                         ids=[c[0] for c in FILE_CASES])
def test_bad_config_file_is_rejected_naming_it(tmp_path, name, content, mention):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    out = expect_rejected(["train", str(path)], mention)
    if mention not in ("model.depth", "optimizer.lr"):  # field errors name the field
        assert name in out.replace("\n", "")


@pytest.mark.parametrize("command", ["train", "diagnose", "theory", "landscape"])
def test_a_directory_as_config_names_it(tmp_path, command):
    folder = tmp_path / "not-a-config"
    folder.mkdir()
    mention = "not a TOML/JSON file" if command in ("train", "theory") else "not a saved run"
    expect_rejected([command, str(folder)], "not-a-config", mention)


@pytest.mark.parametrize("command", ["train", "diagnose", "theory", "landscape"])
def test_a_missing_config_names_it(tmp_path, command):
    expect_rejected([command, str(tmp_path / "[red]gone[/].toml")], "[red]gone[/].toml")


def test_a_bom_config_loads(tmp_path):
    from fitscope.config import RunConfig

    for suffix, text in ((".toml", _toml(GOOD)), (".json", json.dumps(GOOD))):
        path = tmp_path / f"bom{suffix}"
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert RunConfig.load(path).model.width == 4


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_an_unreadable_config_names_it(tmp_path):
    # Reading /proc/self/mem from its start fails (EIO) for every user, root included (CI
    # runs as root, who could read a chmod 0 file).
    path = tmp_path / "secret.toml"
    path.symlink_to("/proc/self/mem")
    expect_rejected(["train", str(path)], "secret.toml", "cannot read")


# -- output paths: checked before any training -------------------------------------------
@pytest.fixture
def small_config(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(_toml(GOOD))
    return path


@pytest.fixture
def never_trains(monkeypatch):
    """Fail the test if anything starts training."""
    def boom(*a, **k):
        raise AssertionError("training started before the bad path was refused")

    monkeypatch.setattr("fitscope.engine.Trainer.__init__", boom)


def test_output_paths_are_checked_before_training(tmp_path, small_config, never_trains,
                                                  monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    cfg = str(small_config)
    cases = [
        (["train", cfg, "--out", "/nonexistent/x.json"], ["--out", "/nonexistent"]),
        (["train", cfg, "--out", str(a_dir)], ["--out", "is a directory"]),
        (["train", cfg, "--out", str(a_file / "x.json")], ["--out", "not a directory"]),
        (["train", cfg, "--out", str(tmp_path / "[/]" / "x.json")], ["--out", "[/]"]),
        (["train", cfg, "--out", "x" * 5000], ["--out", "cannot write"]),
        (["train", cfg, "--out", "/proc/version"], ["--out", "/proc/version"]),
        (["train", cfg, "--save-dir", "/proc/run"], ["--save-dir", "/proc/run"]),
        (["diagnose", cfg, "--out", "/proc/findings.json"], ["--out", "/proc"]),
        (["train", cfg, "--save-dir", str(a_file)], ["--save-dir", "is a file"]),
        (["train", cfg, "--save-dir", str(a_file / "sub")], ["--save-dir", "a-file"]),
        (["diagnose", cfg, "--out", str(tmp_path / "missing" / "f.json")],
         ["--out", "missing"]),
        (["diagnose", cfg, "--out", str(a_dir)], ["--out", "is a directory"]),
        (["landscape", cfg, "--out", str(a_dir)], ["--out", "is a directory"]),
        (["landscape", cfg, "--out", str(a_file / "x.html")], ["--out", "a-file"]),
        (["demo", "--claim", "1", "--out", str(a_dir)], ["--out", "is a directory"]),
        (["demo", "--claim", "1", "--store", str(a_dir)], ["--store", "is a directory"]),
        (["demo", "--claim", "1", "--out", str(a_file / "r.html")], ["--out", "a-file"]),
    ]
    for args, mentions in cases:
        expect_rejected(args, *mentions)
    monkeypatch.chdir("/proc")  # the default output goes to the working folder
    expect_rejected(["landscape", cfg], "--out", "landscape-<run id>-plane.html", "/proc")


def test_study_and_runs_output_paths(tmp_path):
    from fitscope.study.store import Store

    store = tmp_path / "runs.db"
    Store(store).close()
    study = tmp_path / "s.toml"
    study.write_text('seeds = 1\n[base]\ndata.n_samples = 60\n')
    a_dir = tmp_path / "d"
    a_dir.mkdir()
    expect_rejected(["runs", "export", "--store", str(store), "--out",
                     str(tmp_path / "missing" / "x.csv")], "--out", "missing")
    expect_rejected(["runs", "export", "--store", str(store), "--out", str(a_dir)],
                    "--out", "is a directory")
    expect_rejected(["study", "report", str(study), "--store", str(store), "--out",
                     str(tmp_path / "nope" / "r.html")], "--out", "nope")
    expect_rejected(["study", "run", str(study), "--store", str(a_dir)], "--store",
                    "is a directory")
    expect_rejected(["study", "run", str(study), "--store", str(tmp_path / "no" / "x.db")],
                    "--store", "no such directory")


# -- arguments of every command ----------------------------------------------------------
ARG_CASES = [
    (["--threads", "0", "train"], "--threads"),
    (["--threads", "abc", "train"], "--threads"),
    (["--threads", "2000", "demo", "--list"], "--threads"),
    (["--threads", "-1", "lab"], "--threads"),
    (["theory", "{cfg}", "--regime", "quantum"], "--regime"),
    (["theory", "{cfg}", "--set", "model.depth=true"], "model.depth"),
    (["landscape", "{cfg}", "--kind", "cube"], "--kind"),
    (["landscape", "{cfg}", "--kind", "[/]"], "[/]"),
    (["landscape", "{cfg}", "--points", "1"], "--points"),
    (["landscape", "{cfg}", "--points", "402"], "--points"),
    (["landscape", "{cfg}", "--span", "0"], "--span"),
    (["landscape", "{cfg}", "--span", "nan"], "--span"),
    (["landscape", "{cfg}", "--span", "inf"], "--span"),
    (["landscape", "{cfg}", "--margin", "-1"], "--margin"),
    (["landscape", "{cfg}", "--seed", "-1"], "--seed"),
    (["landscape", "{cfg}", "--seed", "18446744073709551616"], "--seed"),
    (["landscape", "{cfg}", "--split", "dev"], "--split"),
    (["landscape", "{cfg}", "--to", "{cfg}"], "--to"),
    (["landscape", "{cfg}", "--kind", "trajectory"], "snapshot_every"),
    (["landscape", "{cfg}", "--set", "budget.seed=-3"], "budget.seed"),
    (["diagnose", "{cfg}", "--set", "optimizer.lr=nan"], "optimizer.lr"),
    (["demo", "--claim", "99"], "99"),
    (["demo", "--claim", "[/]"], "[/]"),
    (["demo", "--seeds", "1"], "--seeds"),
    (["demo", "--seeds", "abc"], "--seeds"),
    (["demo", "--fashion-mnist", "/nonexistent/[b]fm"], "/nonexistent/[b]fm"),
    (["lab", "--port", "0"], "--port"),
    (["lab", "--port", "70000"], "--port"),
    (["lab", "--max-sessions", "0"], "--max-sessions"),
    (["lab", "--idle-timeout", "0"], "--idle-timeout"),
    (["lab", "--store", "/nonexistent/[x].db"], "/nonexistent/[x].db"),
    (["lab", "--host", "[/]"], "[/]"),
    (["lab", "--host", "exa mple.org"], "--host"),
    (["lab", "--host", ""], "--host"),
    (["study", "run", "/nonexistent/s.toml"], "/nonexistent/s.toml"),
    (["study", "run", "{cfg}", "--engine", "warp"], "--engine"),
    (["study", "run", "{cfg}", "--backend", "slurm"], "--backend"),
    (["study", "report", "/nonexistent/s.toml"], "/nonexistent"),
    (["runs", "list", "--store", "/nonexistent/[r].db"], "/nonexistent/[r].db"),
    (["runs", "show", "abc", "--store", "/nonexistent/r.db"], "/nonexistent/r.db"),
    (["runs", "export", "--store", "/nonexistent/r.db"], "/nonexistent/r.db"),
    (["runs", "export", "--store", "x.db", "--format", "xml"], "--format"),
    (["train", "--quiet=maybe"], "--quiet"),
    (["train", "--no-such-option"], "--no-such-option"),
    (["train", "a.toml", "b.toml"], "b.toml"),
    (["train", "--[/]"], "--[/]"),
    (["[bold]x"], "[bold]x"),
    (["study", "[/]"], "[/]"),
    (["runs", "show"], "run_id"),
    (["train", "--set"], "--set"),
    (["landscape", "{cfg}", "--points", "[/]"], "--points"),
    (["demo", "--seeds", "[red]1"], "--seeds"),
]


@pytest.mark.parametrize(("args", "mention"), ARG_CASES,
                         ids=[" ".join(c[0]) for c in ARG_CASES])
def test_bad_argument_is_rejected_by_name(small_config, args, mention):
    args = [a.replace("{cfg}", str(small_config)) for a in args]
    expect_rejected(args, mention)


@pytest.mark.parametrize("value", ["0", "abc", "-2", "1e3", "4.5", "99999"])
def test_a_bad_fitscope_threads_is_rejected_by_every_command(monkeypatch, value):
    monkeypatch.setenv("FITSCOPE_THREADS", value)
    expect_rejected(["demo", "--list"], "FITSCOPE_THREADS", repr(value))


# -- study specs -------------------------------------------------------------------------
STUDY_CASES = [
    ("unknown-key.toml", 'name = "s"\nseedz = 2\n', "seedz"),
    ("seeds-zero.toml", "seeds = 0\n", "seeds"),
    ("seeds-bool.toml", "seeds = true\n", "seeds"),
    ("seeds-float.toml", "seeds = 1.5\n", "seeds"),
    ("base-bad.toml", "[base]\nmodel.depth = true\n", "model.depth"),
    ("base-seed.toml", "seeds = 3\n[base]\nbudget.seed = 2147483646\n", "budget.seed"),
    ("grid-not-table.toml", "grid = 3\n", "[grid]"),
    ("grid-scalar.toml", '[grid]\n"model.depth" = 3\n', "model.depth"),
    ("grid-empty.toml", '[grid]\n"model.depth" = []\n', "model.depth"),
    ("grid-bad-value.toml", '[grid]\n"model.depth" = [1, true]\n', "model.depth"),
    ("grid-unknown.toml", '[grid]\n"model.dpth" = [1, 2]\n', "model.dpth"),
    ("grid-seed.toml", '[grid]\n"budget.seed" = [1, 2]\n', "budget.seed"),
    ("zip-lengths.toml", ('[zip]\n"optimizer.name" = ["sgd", "adam"]\n'
                         '"optimizer.lr" = [0.1]\n'), "[zip]"),
    ("zip-bad.toml", '[zip]\n"optimizer.lr" = [0.1, -1]\n', "zip axis"),
    ("both.toml", '[grid]\n"model.depth" = [1]\n[zip]\n"model.depth" = [2]\n',
     "[grid] and [zip]"),
    ("same-run.toml", '[grid]\n"optimizer.lr" = [0.1, 0.1]\n', "same run"),
    ("syntax.toml", "[grid\n", "not valid TOML"),
    ("binary.toml", b"\x00\x01\x02", "not a TOML/JSON file"),
    ("nested.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
]


@pytest.mark.parametrize(("name", "content", "mention"), STUDY_CASES,
                         ids=[c[0] for c in STUDY_CASES])
def test_bad_study_spec_is_rejected_naming_the_key(tmp_path, name, content, mention):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    expect_rejected(["study", "run", str(path), "--workers", "0"], mention)


def test_a_directory_as_study_names_it(tmp_path):
    folder = tmp_path / "study.toml"
    folder.mkdir()
    expect_rejected(["study", "run", str(folder)], "study.toml", "directory")
    expect_rejected(["study", "run", str(tmp_path), "--workers", "-1"], str(tmp_path))


# -- hypothesis: corrupt a valid config file ---------------------------------------------
runner = CliRunner()


def _check_rule(path: Path) -> None:
    """``fitscope train PATH``: exit 0 (still a valid config), or exit 2 with a message
    naming the file or a field; never a traceback."""
    from fitscope.cli import app

    result = runner.invoke(app, ["train", "-q", str(path)], catch_exceptions=True)
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{out}\n{path.read_bytes()[:300]!r}")
    assert "Traceback" not in out and "Aborted" not in out, out
    assert result.exit_code in (0, 2), (result.exit_code, out)
    if result.exit_code == 2:
        flat = out.replace("\n", "")
        assert path.name in flat or any(f"{s}." in flat for s in GOOD_SECTIONS), out


GOOD_SECTIONS = ("data", "model", "budget", "optimizer", "task", "init", "regularization",
                 "observe")
FIELDS = [("data", "n_samples"), ("data", "noise"), ("model", "depth"), ("model", "width"),
          ("budget", "epochs"), ("budget", "batch_size"), ("budget", "seed"),
          ("optimizer", "lr"), ("model", "activation"), ("data", "split_seed")]
WEIRD = st.one_of(st.booleans(), st.none(), st.text(max_size=8),
                  st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308,
                                   2**64, -(2**63), 2**31, 0, -1, 0.5, 1e-320]),
                  st.integers(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
                  st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
CORRUPT = settings(max_examples=25, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@CORRUPT
@given(cut=st.integers(min_value=0, max_value=400), as_json=st.booleans())
def test_truncated_config_follows_the_rule(tmp_path, cut, as_json):
    path = tmp_path / ("cut.json" if as_json else "cut.toml")
    text = json.dumps(GOOD, indent=1) if as_json else _toml(GOOD)
    path.write_text(text[:cut])
    _check_rule(path)


@CORRUPT
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=400),
                                st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=4), as_json=st.booleans())
def test_config_with_flipped_bytes_follows_the_rule(tmp_path, flips, as_json):
    path = tmp_path / ("flip.json" if as_json else "flip.toml")
    raw = bytearray((json.dumps(GOOD, indent=1) if as_json else _toml(GOOD)).encode())
    for at, byte in flips:
        raw[at % len(raw)] = byte
    path.write_bytes(bytes(raw))
    _check_rule(path)


@CORRUPT
@given(field=st.sampled_from(FIELDS), value=WEIRD)
def test_config_with_a_value_of_another_type_follows_the_rule(tmp_path, field, value):
    section, key = field
    data = json.loads(json.dumps(GOOD))
    data.setdefault(section, {})[key] = value
    path = tmp_path / "typed.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as JSON's extensions
    _check_rule(path)


# -- a few as real subprocesses ---------------------------------------------------------
def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([FITSCOPE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, check=False)


def test_subprocess_markup_in_a_value_is_printed_literally():
    done = _run(["train", "--set", "model.activation=[/]"])
    assert done.returncode == 2, done.stderr
    assert "(got '[/]')" in done.stderr and "Traceback" not in done.stderr


def test_subprocess_directory_config_and_bad_threads(tmp_path):
    done = _run(["train", str(tmp_path)])
    assert done.returncode == 2 and str(tmp_path) in done.stderr.replace("\n", "")
    done = _run(["demo", "--list"], FITSCOPE_THREADS="many")
    assert done.returncode == 2 and "FITSCOPE_THREADS" in done.stderr


def test_subprocess_memory_guard_refuses_a_4e9_parameter_run():
    done = _run(["train", "--set", "model.depth=64", "--set", "model.width=8192"])
    assert done.returncode == 2 and "GiB" in done.stderr, done.stderr
