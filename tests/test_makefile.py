"""The README's commands: `make demo` installs only the runtime, `make test` the test
extras and the browser, `make lint` the pinned linters; `.ci/run` runs lint and test. Read
from make's dry run (and .ci/run with a stand-in make), so nothing is installed here."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*args: str) -> str:
    # -B: as on a fresh machine, where no install stamp exists yet. Without the calling
    # make's variables (the suite runs under `make test`), so this one is not a sub-make.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-n", "-B", *args], cwd=ROOT,
                          capture_output=True, text=True, check=True, env=env).stdout


def test_make_demo_installs_the_runtime_without_test_extras():
    out = dry_run("demo")
    assert "pip install -c constraints.txt -e ." in out
    assert "[test]" not in out and "apt-get" not in out
    assert out.rstrip().endswith("fitscope demo")


def test_make_test_installs_the_test_extras_and_provides_chromium():
    out = dry_run("test")
    assert "-e '.[test]'" in out
    assert "apt-get install -y -qq chromium" in out
    assert out.index("chromium") < out.index("pytest")


def test_every_install_is_constrained_to_the_cpu_torch():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
    for line in dry_run("test").splitlines():
        if "pip install" in line:
            assert "-c constraints.txt" in line, line


def test_make_notebooks_installs_jupyter_and_opens_the_notebooks():
    out = dry_run("notebooks")
    assert "-e '.[notebook]'" in out and "[test]" not in out
    assert out.rstrip().endswith("jupyter lab notebooks/")


def test_make_lint_installs_the_pinned_linters_and_runs_ruff_then_mypy():
    """The linters with the test extra: mypy follows the imports of the optional
    packages (IPython, ray, anywidget) into their types, so they must be installed."""
    out = dry_run("lint")
    assert "-e '.[dev,test]'" in out and "apt-get" not in out
    recipe = out.split("touch .venv/.installed-dev", 1)[1]
    ruff = recipe.index(".venv/bin/ruff check src tests benchmarks tools || status=1")
    assert ruff < recipe.index(".venv/bin/mypy || status=1")  # mypy runs after a ruff finding
    assert recipe.rstrip().endswith("exit $status")


@pytest.mark.parametrize(("ruff_rc", "mypy_rc"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_make_lint_runs_both_linters_and_fails_when_either_does(tmp_path, ruff_rc, mypy_rc):
    for tool, rc in (("ruff", ruff_rc), ("mypy", mypy_rc)):
        (tmp_path / tool).write_text(f'#!/bin/sh\necho {tool} "$@" >> {tmp_path}/log\nexit {rc}\n')
        (tmp_path / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    # -o: the install stamp counts as made, so the stand-in linters in BIN run
    done = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed-dev", "lint",
                           f"BIN={tmp_path}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    assert (tmp_path / "log").read_text().splitlines() == [
        "ruff check src tests benchmarks tools", "mypy"]
    assert (done.returncode == 0) == (ruff_rc == mypy_rc == 0), done.stderr


def test_the_linters_are_pinned_and_configured():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = dict(spec.split("==") for spec in project["project"]["optional-dependencies"]["dev"])
    assert set(pins) == {"ruff", "mypy"} and all(pins.values())
    assert project["tool"]["ruff"]["lint"]["select"]
    assert project["tool"]["mypy"]["files"] == ["src/fitscope"]


def run_ci(tmp_path: Path, lint_rc: int, test_rc: int) -> tuple[int, list[str]]:
    """.ci/run with a stand-in `make` that logs its arguments and exits with the status
    given for its target."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "make"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {tmp_path}/make.log
case "$1" in lint) exit {lint_rc};; test) exit {test_rc};; esac
exit 99
""")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("PYTEST_ARGS", None)
    done = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, check=False,
                          capture_output=True, text=True)
    return done.returncode, (tmp_path / "make.log").read_text().splitlines()


@pytest.mark.parametrize(("lint_rc", "test_rc", "expected"),
                         [(0, 0, 0), (2, 0, 2), (0, 1, 1), (2, 1, 1), (0, 5, 1), (2, 5, 1)])
def test_ci_runs_lint_and_test_and_fails_on_either(tmp_path, lint_rc, test_rc, expected):
    status, calls = run_ci(tmp_path, lint_rc, test_rc)
    assert calls == ["lint", "test PYTEST_ARGS=-q"]  # the tests run even after lint fails
    assert status == expected  # pytest's exit 5 (no tests collected) is a failure too
