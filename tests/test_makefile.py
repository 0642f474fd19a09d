"""The README's two commands: `make demo` installs only the runtime, `make test` the test
extras and the browser. Read from make's dry run, so nothing is installed here."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*args: str) -> str:
    # -B: as on a fresh machine, where no install stamp exists yet.
    return subprocess.run(["make", "-n", "-B", *args], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


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
