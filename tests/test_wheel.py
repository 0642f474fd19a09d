"""The wheel works: built from the source, installed (not editable) into a fresh virtual
environment, it runs ``fitscope --help``, ``fitscope demo --claim 1`` and ``fitscope lab``
(its pages and static files served). This checks that the package data ships.

To stay fast and offline, the wheel is built with the test's own setuptools
(``pip wheel --no-build-isolation``) and the new environment reaches the test
environment's dependencies (torch, ...) through a ``.pth`` line naming that environment's
site-packages folder, added after the wheel is installed. A plain path line in a ``.pth``
file does not process the ``.pth`` files of the folder it names, so the test
environment's own (editable) fitscope stays unseen: the test checks that ``fitscope`` is
imported from the new environment.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def run(*args, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel of this source installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: the build writes build/ and egg-info beside the code
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert importlib.util.find_spec("setuptools"), (
        "building the wheel offline needs setuptools in the test environment "
        "(pip install setuptools)")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", tmp / "dist", source, env=env, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("fitscope-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, env=env, cwd=tmp)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        wheel, env=env, cwd=tmp)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    env=env, cwd=tmp).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture
def env(venv) -> dict[str, str]:
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if k not in drop},
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_fitscope_is_imported_from_the_wheel(venv, env, tmp_path):
    done = run(venv / "bin" / "python", "-c",
               "import fitscope, fitscope.lab.app as a; print(fitscope.__file__); "
               "print(a.__file__)", env=env, cwd=tmp_path)
    for line in done.stdout.split():
        assert Path(line).is_relative_to(venv), done.stdout


def test_help_and_the_first_claim(venv, env, tmp_path):
    fitscope = venv / "bin" / "fitscope"
    assert "demo" in run(fitscope, "--help", env=env, cwd=tmp_path).stdout
    done = run(fitscope, "demo", "--claim", "1", env=env, cwd=tmp_path)
    assert "holds" in done.stdout or "does not hold" in done.stdout, done.stdout
    assert (tmp_path / "reports" / "claims.html").stat().st_size > 100_000
    assert (tmp_path / "reports" / "fitscope.sqlite").is_file()


def test_the_lab_serves_its_pages_and_static_files(venv, env, tmp_path):
    port = free_port()
    lab = subprocess.Popen([str(venv / "bin" / "fitscope"), "lab", "--port", str(port),
                            "--no-browser"], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                status, _ = get(f"{base}/api/health")
                break
            except OSError:
                assert lab.poll() is None, lab.stdout.read()
                assert time.monotonic() < deadline, "the lab did not answer in 120 s"
                time.sleep(0.5)
        assert status == 200
        status, index = get(f"{base}/")
        assert status == 200 and b"<html" in index.lower()
        for path in ("/static/lab.js", "/static/lab.css", "/vendor/plotly.min.js"):
            status, body = get(base + path)
            assert status == 200 and len(body) > 1000, path
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
