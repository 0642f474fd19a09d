"""The command line: train, overrides, bad input exits 2 with the field named."""

import json

from typer.testing import CliRunner

from fitscope.cli import app

runner = CliRunner()


def test_train_with_overrides_writes_the_record(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nname = "moons"\nn_samples = 200\n[budget]\nepochs = 3\n')
    out = tmp_path / "run.json"
    result = runner.invoke(app, ["train", str(cfg), "--set", "model.depth=1", "-s",
                                 "model.activation=tanh", "--out", str(out), "--save-dir",
                                 str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["config"]["model"]["depth"] == 1
    assert record["config"]["model"]["activation"] == "tanh"
    assert record["status"] == "completed" and len(record["history"]) == 3
    assert (tmp_path / "saved" / "model.pt").exists()
    assert "test_acc" in result.output


def test_bad_config_exits_2_naming_the_field(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[model]\nactivation = "swish"\n')
    result = runner.invoke(app, ["train", str(cfg)])
    assert result.exit_code == 2
    assert "model.activation" in result.output and "relu" in result.output
    assert "Traceback" not in result.output


def test_bad_override_and_missing_file_exit_2(tmp_path):
    result = runner.invoke(app, ["train", "--set", "model.dept=3"])
    assert result.exit_code == 2 and "model.dept" in result.output
    result = runner.invoke(app, ["train", "--set", "optimizer.lr=-1"])
    assert result.exit_code == 2 and "optimizer.lr" in result.output
    result = runner.invoke(app, ["train", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml" in result.output


def test_missing_idx_data_exits_2_naming_the_path(tmp_path):
    result = runner.invoke(app, ["train", "--set", "data.name=mnist", "--set",
                                 f'data.path="{tmp_path}"'])
    assert result.exit_code == 2
    assert "train-images-idx3-ubyte" in result.output


def test_diverged_run_is_a_result_not_an_error():
    result = runner.invoke(app, ["train", "-s", "data.n_samples=200", "-s", "budget.epochs=3",
                                 "-s", "model.activation=linear", "-s", "model.depth=9",
                                 "-s", "init.scheme=normal", "-s", "init.std=10.0"])
    assert result.exit_code == 0, result.output
    assert "diverged" in result.output


def test_the_command_line_starts_without_torch():
    """``fitscope --help`` and option errors need no torch (seconds to import); the
    package's names still resolve, and ``fitscope.probe`` is the function."""
    import subprocess
    import sys

    code = ("import sys, fitscope.cli\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "import fitscope, fitscope.probe.commands\n"
            "assert callable(fitscope.probe) and callable(fitscope.diagnose)\n"
            "assert fitscope.RunConfig().model.depth >= 0 and fitscope.load_run\n"
            "import fitscope.landscape.plane, fitscope.landscape as L\n"
            "from fitscope.landscape import plane, trajectory\n"
            "assert callable(L.plane) and not isinstance(L.plane, type(sys))\n"
            "assert callable(plane) and callable(trajectory) and 'Line' in dir(L)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
