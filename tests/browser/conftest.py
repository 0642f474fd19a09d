"""A real lab server in a subprocess, and Debian's chromium driven by playwright."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    url: str
    process: subprocess.Popen

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/api/health", timeout=5) as r:
            return json.load(r)

    def rss_mib(self) -> float:
        """Resident memory of the server process (MiB), from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")


@contextmanager
def lab_server(*options: str, ready_timeout: float = 180.0):
    """``python -m fitscope.lab`` on a free port, once its warm-up run is done."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fitscope.lab", "--port", str(port),
                             "--no-browser", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = LabServer(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"lab server exited: {proc.stdout.read()}")
            try:
                if server.health()["warm"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("lab server not ready")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def server():
    with lab_server() as s:
        yield s


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Tab:
    page: object
    errors: list[str]


@pytest.fixture
def tab(browser):
    """A fresh page that records console errors and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield Tab(page, errors)
    context.close()


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
