"""Who may talk to the lab: the Host header check and the cross-site refusal.

Two plain ASGI middlewares (cheap for the event loop), and the name rules they share:

- :class:`HostCheck` answers 400 to a request whose ``Host`` header names neither a
  loopback host (:func:`is_loopback`: ``localhost``, 127.0.0.0/8, ``::1``) nor a name
  of the allow-list (``fitscope lab --allow-host``). A web page on another name that
  its DNS points at 127.0.0.1 (DNS rebinding) is refused this way.
- :class:`SameOrigin` answers 403 to a request for ``/api/...`` or ``/ws/...`` that a
  browser sent on behalf of another site: ``Sec-Fetch-Site`` is ``cross-site`` or
  ``same-site`` (another port of the same host is "same-site"), or ``Origin`` is
  present and is not this server (scheme aside, its host and port must equal the
  ``Host`` header; ``Origin: null`` is refused). A request with neither header (a
  script, ``curl``) or a same-origin one passes. Pages themselves stay open to links
  from anywhere. A websocket is refused before it is accepted (close code 1008,
  which uvicorn sends as HTTP 403).

This module imports nothing heavy: the command line uses :func:`is_loopback`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

GUARDED = ("/api/", "/ws/")
REFUSED_SITES = ("cross-site", "same-site")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1), bracketed or not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header or an origin's authority, port dropped, lower case:
    ``"[::1]:8765"`` -> ``"::1"``, ``"Lab.example:80"`` -> ``"lab.example"``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header[1:]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: IPv6 addresses in brackets."""
    try:
        return f"[{host.strip('[]')}]" if ipaddress.ip_address(host.strip("[]")).version == 6 \
            else host
    except ValueError:
        return host


def _headers(scope: dict) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _refuse(scope: dict, send: Any, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HostCheck:
    """400 unless the ``Host`` header is loopback or in ``allowed`` (see the module doc)."""

    def __init__(self, app: Any, allowed: Iterable[str] = ()):
        self.app = app
        self.allowed = {host_name(a) for a in allowed}

    def accepts(self, header: str) -> bool:
        name = host_name(header)
        return is_loopback(name) or name in self.allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _headers(scope).get("host", "")
            if not self.accepts(host):
                await _refuse(scope, send, 400, f"this lab does not answer to the host name "
                                                f"{host_name(host)!r} (see fitscope lab "
                                                f"--allow-host)")
                return
        await self.app(scope, receive, send)


def cross_site(headers: dict[str, str]) -> str | None:
    """Why a request's headers show a browser sending it for another site, or None."""
    site = headers.get("sec-fetch-site")
    if site in REFUSED_SITES:
        return f"Sec-Fetch-Site: {site}"
    origin = headers.get("origin")
    if origin is not None:
        authority = origin.split("://", 1)[-1].rstrip("/").lower()
        if origin == "null" or authority != headers.get("host", "").lower():
            return f"Origin: {origin}"
    return None


class SameOrigin:
    """403 for ``/api/`` and ``/ws/`` requests sent by a browser for another site."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(GUARDED):
            why = cross_site(_headers(scope))
            if why is not None:
                await _refuse(scope, send, 403, f"refused: a request from another site "
                                                f"({why}); open the lab's own page")
                return
        await self.app(scope, receive, send)
