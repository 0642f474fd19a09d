"""The README's two commands: `make demo` installs only the runtime, `make test` the test
extras and the browser. Read from make's dry run, so nothing is installed here."""

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
