"""The websocket side of a live training: one :class:`Channel` per open page.

Two coroutines share the socket: the reader validates each message
(:func:`~fitscope.lab.messages.parse_message`) and acts on it; the writer sleeps until
the :class:`~fitscope.lab.session.Outbox` has something, sends all of it as one message,
and waits a tick before the next (at most ``1 / tick`` messages a second; with more
than :data:`FULL_RATE_TRAININGS` live trainings the tick grows in proportion, so the
server sends at most ``FULL_RATE_TRAININGS / tick`` messages a second in all, each
built and sent by the event loop that also answers every request), except that a new
training's first point (its ``started`` event and initial row) ends that wait: one
message more per training started. Waking only
when there is news keeps the event loop free: twenty pages polling thirty times a
second would queue it behind the training threads for the GIL. Once a second the writer
also stops the page's training if it has been idle too long. A bad message is answered
by an ``error`` event; the connection stays open.

Messages out are ``{"type": "update", "training": id, "events": [...], "rows": [...],
"view": {...} | null}``; events are ``started``, ``state``, ``finished``, ``failed``,
``reset``, ``stopped`` and ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from starlette.websockets import WebSocket, WebSocketDisconnect

from .limits import OverBudget
from .messages import BadMessage, Control, Start, parse_message
from .session import VIEWS_PER_SECOND, Busy, LiveTraining, Outbox, Sessions

STOP_TIMEOUT = 10.0
IDLE_CHECK = 1.0
FULL_RATE_TRAININGS = 10  # live trainings up to which every page gets the full rate


class Channel:
    """One page's connection and the training it controls (at most one at a time)."""

    def __init__(self, ws: WebSocket, sessions: Sessions, tick: float = 1 / VIEWS_PER_SECOND):
        self.ws, self.sessions, self.tick = ws, sessions, tick
        self._news, self._first = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        self.outbox = Outbox(on_post=lambda: loop.call_soon_threadsafe(self._news.set),
                             on_first=lambda: loop.call_soon_threadsafe(self._first.set))
        self.training: LiveTraining | None = None

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.handle(message.get("text") if message.get("text") is not None
                                  else message.get("bytes"))
        except WebSocketDisconnect:
            pass
        finally:
            writer.cancel()
            await self._stop()

    async def handle(self, raw: str | bytes | None) -> None:
        if self.training is not None:
            self.training.touch()
        try:
            message = parse_message(raw)
        except BadMessage as exc:
            self.outbox.event("error", message=str(exc))
            return
        if isinstance(message, Start):
            await self._start(message)
        else:
            await self._control(message)

    def delay(self) -> float:
        """Seconds between two messages to this page: the tick, times the live trainings
        over :data:`FULL_RATE_TRAININGS` when there are more."""
        return self.tick * max(1.0, self.sessions.count / FULL_RATE_TRAININGS)

    async def _start(self, message: Start) -> None:
        await self._stop()
        try:
            self.training = self.sessions.open(message.config, self.outbox, message.paused,
                                               message.probe, message.weights)
        except (Busy, OverBudget) as exc:
            self.outbox.event("error", message=str(exc))

    async def _control(self, message: Control) -> None:
        if message.type == "reset":
            await self._stop()
            self.outbox.event("reset")
            return
        if self.training is None or not self.training.alive:
            self.outbox.event("error", message=f"nothing to {message.type}: no training is "
                                               f"running (press Train)")
            return
        getattr(self.training, message.type)()

    async def _stop(self) -> None:
        """Stop the current training and wait for its thread, so its slot is free."""
        training, self.training = self.training, None
        if training is None:
            return
        self.outbox.claim(0)
        training.stop()
        await asyncio.to_thread(training.thread.join, STOP_TIMEOUT)

    async def _write(self) -> None:
        # the page may go away mid-send
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self._write_forever()

    async def _write_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), IDLE_CHECK)
            self._news.clear()
            if self.training is not None and self.sessions.is_idle(self.training):
                self.outbox.event("stopped", message=f"stopped after "
                                  f"{self.sessions.idle_seconds:g} s paused without a message")
                await self._stop()
            self._first.clear()  # (before the take: a first point posted after it ends the wait)
            text = self.outbox.take_text()  # encoded by the training thread: cheap here
            if text is not None:
                await self.ws.send_text(text)
                with contextlib.suppress(TimeoutError):  # the pacing; a first point ends it
                    await asyncio.wait_for(self._first.wait(), self.delay())


def add_train_routes(app: FastAPI) -> None:
    """``WS /ws/train``: one :class:`Channel` a connection, on ``app.state.sessions``."""
    @app.websocket("/ws/train")
    async def train_socket(ws: WebSocket) -> None:
        await ws.accept()  # pages from other sites were refused by SameOrigin
        await Channel(ws, app.state.sessions).serve()
