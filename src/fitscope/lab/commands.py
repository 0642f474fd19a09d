"""``fitscope lab``: serve the web lab on this machine and open it in the browser.

``register(app)`` adds the command to the main CLI; ``python -m fitscope.lab`` runs it
on its own.

Hosts: the lab binds 127.0.0.1 by default. Any other address that is not loopback
(``0.0.0.0``, a LAN address) needs ``--allow-host NAME`` for each name browsers will
use to reach it, and prints a warning: whoever can reach the port can train models on
this machine and read the run store. Every request must name a loopback host or an
allowed name in its ``Host`` header (:class:`fitscope.lab.guard.HostCheck`).
"""

from __future__ import annotations

import ipaddress
import re
import sys
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .guard import is_loopback, url_host

if TYPE_CHECKING:
    from .limits import Budget

__all__ = ["is_loopback", "lab", "lab_url", "register", "serve"]

ANY_ADDRESS = ("0.0.0.0", "::")
# permessage-deflate compresses each update (about 80 kB of JSON) on the event loop that
# also answers every request: with twenty pages training it was the loop's largest cost
# (sampled), and the lab is served on loopback, where compression saves nothing
WS_DEFLATE = False


HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


def is_host(host: str) -> bool:
    """True for an IP address (IPv6 with or without brackets) or a DNS host name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return HOSTNAME.fullmatch(host) is not None


def lab_url(host: str, port: int) -> str:
    """The address to open: ``http://127.0.0.1:8765/``, ``http://[::1]:8765/``; for the
    wildcard addresses the loopback one (``0.0.0.0`` -> 127.0.0.1, ``::`` -> ::1)."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host.strip("[]"), host)
    return f"http://{url_host(local)}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          max_sessions: int = 4, idle_seconds: float = 300.0,
          store: Path | None = None, allow_hosts: list[str] | None = None,
          budget: Budget | None = None) -> None:
    """Run the lab with uvicorn until interrupted.

    Requests must name a loopback host or one of ``allow_hosts`` (no DNS rebinding).
    glibc's allocator is set to return large blocks at once
    (:func:`fitscope.lab.memory.tune_allocator`).
    ``budget`` is the :class:`~fitscope.lab.limits.Budget` of every training. Torch uses
    one thread per operation here: the trainings are small and run side by side, one
    thread each. Threads hand the GIL over every millisecond (Python's default is 5 ms),
    so the event loop waits less behind a training thread each time it wakes.
    Websocket messages are sent uncompressed (:data:`WS_DEFLATE`).
    """
    import uvicorn

    from fitscope import threads

    from .app import create_app
    from .memory import tune_allocator

    tune_allocator()
    threads.use(threads.pick(None))  # small trainings side by side: one thread each
    sys.setswitchinterval(0.001)
    app = create_app(max_sessions, idle_seconds, store, allowed_hosts=list(allow_hosts or []),
                     warm=True, budget=budget)
    url = lab_url(host, port)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    typer.echo(f"fitscope lab at {url}  (Ctrl+C stops it)")
    for name in allow_hosts or []:
        typer.echo(f"  also as http://{url_host(name)}:{port}/")
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning",
                ws_max_size=1 << 20, ws_per_message_deflate=WS_DEFLATE)


def lab(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8765,
    host: Annotated[str, typer.Option(help="address to bind; one that is not loopback "
                                           "(0.0.0.0, a LAN address) needs --allow-host")
                    ] = "127.0.0.1",
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", metavar="NAME",
        help="a host name (or address) browsers may use to reach the lab besides the "
             "loopback ones; repeatable; required with a --host that is not loopback")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser",
                                             help="do not open a browser")] = False,
    max_sessions: Annotated[int, typer.Option(min=1, max=64,
                                              help="live trainings at once")] = 4,
    idle_timeout: Annotated[float, typer.Option(min=1.0, help="stop a paused training after "
                                                "this many seconds without a message")] = 300.0,
    max_run_seconds: Annotated[float, typer.Option(min=1.0, max=3600.0, help="seconds of "
                                                   "training compute per run")] = 60.0,
    max_probe_mb: Annotated[float, typer.Option(min=1.0, max=2000.0, help="megabytes of "
                                                "probe records per run")] = 50.0,
    max_bins: Annotated[int, typer.Option(min=2, max=200, help="histogram bins of a "
                                          "probed run (observe.histogram_bins)")] = 100,
    max_steps: Annotated[int, typer.Option(min=1, max=10_000_000, help="optimizer steps per "
                                           "run (epochs x steps per epoch)")] = 25_000,
    store: Annotated[Path | None, typer.Option(help="run store (SQLite) for the Runs "
                                                    "page")] = None,
) -> None:
    """Start the web lab: initialization, regularization, optimizers, overfitting, runs.

    Every training started from a page is held to the --max-* limits.

    Beyond this machine only with --host and --allow-host (see docs/lab.md).
    """
    from rich.console import Console
    from rich.markup import escape

    from fitscope import threads
    from fitscope.cli_support import fail, say

    from .limits import Budget

    if not is_host(host):
        raise fail(f"--host must be an IP address or a host name, got {host!r}")
    if store is not None:
        from fitscope.study.store import StoreError, store_version

        try:
            store_version(store)  # read-only: the lab never creates or changes a store
        except StoreError as exc:
            raise fail(f"--store: {exc} (the lab reads a store, it never creates one)"
                       ) from None
    allowed = [name.strip() for name in allow_host or []]
    if any(not name or "/" in name or " " in name for name in allowed):
        raise fail(f"--allow-host: a host name or address without scheme, path or spaces, "
                   f"got {escape(repr(allowed))}")
    if not is_loopback(host):
        if not allowed:
            raise fail(f"--host {escape(host)} serves the lab beyond this machine: anyone who "
                       f"can reach port {port} could train models on it and read the run "
                       f"store. Give --allow-host NAME for each name browsers will use to "
                       f"reach it (e.g. --allow-host mylaptop.local), or bind 127.0.0.1")
        Console(stderr=True, soft_wrap=True).print(
            f"[bold yellow]warning:[/] --host {escape(host)} serves the lab beyond this "
            f"machine, without a password: anyone who can reach port {port} can train "
            f"models on it (within the --max-* limits) and read the run store. Requests "
            f"must name a loopback host or {escape(', '.join(allowed))}.")
    say(str(threads.pick(None)))
    budget = Budget(max_run_seconds, max_probe_mb, max_bins, max_steps)
    serve(host, port, not no_browser, max_sessions, idle_timeout, store, allowed, budget)


def register(app: typer.Typer) -> None:
    """Add ``fitscope lab`` to the main command line."""
    app.command(name="lab")(lab)
