"""Helpers for tests that drive a real lab server: start one, measure it, screenshot it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
def lab_server(*options: str, ready_timeout: float = 180.0, env: dict[str, str] | None = None):
    """``python -m fitscope.lab`` on a free port, once its warm-up run is done; ``env``
    adds environment variables (e.g. ``FITSCOPE_CACHE``)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fitscope.lab", "--port", str(port),
                             "--no-browser", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
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


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
