"""``fitscope lab``: serve the web lab on this machine and open it in the browser.

``register(app)`` adds the command to the main CLI; ``python -m fitscope.lab`` runs it
on its own.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


def is_host(host: str) -> bool:
    """True for an IP address (IPv6 with or without brackets) or a DNS host name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return HOSTNAME.fullmatch(host) is not None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          max_sessions: int = 4, idle_seconds: float = 300.0,
          store: Path | None = None) -> None:
    """Run the lab with uvicorn until interrupted.

    Bound to loopback, requests must name a loopback host (no DNS rebinding); with
    another ``host`` any name is accepted. Torch uses one thread per operation here:
    the trainings are small and run side by side, one thread each. Threads hand the
    GIL over every millisecond (Python's default is 5 ms), so the event loop waits less
    behind a training thread each time it wakes.
    """
    import uvicorn

    from fitscope import threads

    from .app import create_app

    threads.use(threads.pick(None))  # small trainings side by side: one thread each
    sys.setswitchinterval(0.001)
    hosts = LOOPBACK_NAMES if is_loopback(host) else None
    app = create_app(max_sessions, idle_seconds, store, allowed_hosts=hosts, warm=True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    typer.echo(f"fitscope lab at {url}  (Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=1 << 20)


def lab(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8765,
    host: Annotated[str, typer.Option(help="address to bind; give it explicitly to serve "
                                           "beyond this machine")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser",
                                             help="do not open a browser")] = False,
    max_sessions: Annotated[int, typer.Option(min=1, max=64,
                                              help="live trainings at once")] = 4,
    idle_timeout: Annotated[float, typer.Option(min=1.0, help="stop a paused training after "
                                                "this many seconds without a message")] = 300.0,
    store: Annotated[Path | None, typer.Option(help="run store (SQLite) for the Runs "
                                                    "page")] = None,
) -> None:
    """Start the web lab: initialization, regularization, optimizers, overfitting, runs."""
    from fitscope import cli, threads  # imported here: cli.py imports this module

    if not is_host(host):
        raise cli.fail(f"--host must be an IP address or a host name, got {host!r}")
    if store is not None:
        from fitscope.study.store import StoreError, store_version

        try:
            store_version(store)  # read-only: the lab never creates or changes a store
        except StoreError as exc:
            raise cli.fail(f"--store: {exc} (the lab reads a store, it never creates one)"
                           ) from None
    cli.say(str(threads.pick(None)))
    serve(host, port, not no_browser, max_sessions, idle_timeout, store)


def register(app: typer.Typer) -> None:
    """Add ``fitscope lab`` to the main command line."""
    app.command(name="lab")(lab)
