"""Costly GET requests, computed off the request threads: a bounded queue and an LRU cache.

:class:`WorkQueue` runs the lab's costly computations (optimizer races, trained
landscapes, nearest neighbours, regularization optima, run store reads) on a few
threads of its own, so they never take the threads that the websockets and cheap
requests need (Starlette's shared pool, which eight slow requests once exhausted). At
most ``workers`` jobs compute and ``waiting`` more wait; a request beyond that is
answered at once with 503 and a ``Retry-After`` header (:class:`QueueFull`). When the
queue falls empty, and again when the last result kept for a request (below) is
dropped, it calls ``on_idle`` (the app releases the memory its jobs left once no
training is live either, :mod:`fitscope.lab.memory`).

A job that may take longer than a request should wait (an optimizer race at its
2000-step bound takes seconds while pages train) is answered progressively
(:meth:`WorkQueue.answer`): if it is not done within :data:`ANSWER_WITHIN` seconds the
request is answered 202 with ``Retry-After`` (:class:`Pending`) while the job goes on,
and the same request made again waits for that same job (its result is kept
:data:`KEEP_DONE` seconds for it), so every answer comes within about two seconds. A
job that reaches a worker after nobody asked for it for :data:`ABANDONED` seconds (a
page asks again every second or two; a client that moved on does not) is dropped
unstarted, so requests left behind do not keep the workers busy.

:class:`LRU` is a cache of encoded JSON answers (``bytes``), bounded in entries and in
bytes, evicting the least recently used entry first; :func:`lru` makes one a decorator
that keeps a function's value as the JSON the endpoint sends, in place of
``functools.lru_cache`` whose bound counts entries of any size. Encoded, an entry is
one block of memory the size the bound counts, returned to the system whole when it is
evicted; kept as Python objects, a 2000-step race's 1.45 MB of JSON was 3.0 MB of
lists, floats and dicts spread over the heap, where the objects allocated beside them
kept pages resident after an eviction.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.responses import JSONResponse, Response

from fitscope.jsontext import finite

WORKERS = 2
WAITING = 8
RETRY_AFTER = 2  # seconds, the 503's Retry-After
ANSWER_WITHIN = 1.0  # seconds a request waits for its job before a 202 (a margin under 2 s)
PENDING_RETRY = 1  # seconds, the 202's Retry-After
ABANDONED = 5.0  # seconds without a request after which a job not started is dropped
KEEP_DONE = 5.0  # seconds a finished job's result waits for its request to come again (the
# pages ask every 1 to 2.5 s; a result nobody asks for again must not hold memory long)

T = TypeVar("T")


class QueueFull(RuntimeError):
    """Every worker is busy and the line is full."""


class Abandoned(RuntimeError):
    """A job that reached a worker after nobody had asked for it for ABANDONED seconds."""


class Pending(RuntimeError):
    """The job goes on; the same request made again gets its result (answered 202)."""


class WorkQueue:
    """At most ``workers`` jobs at once on threads of their own, ``waiting`` more in line."""

    def __init__(self, workers: int = WORKERS, waiting: int = WAITING,
                 on_idle: Callable[[], None] | None = None, within: float | None = None):
        self.capacity, self.on_idle = workers + waiting, on_idle
        self.within = within  # seconds answer() waits; None: ANSWER_WITHIN
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lab-work")
        self._lock = threading.Lock()
        self._admitted = 0
        self._jobs: dict[Any, asyncio.Future] = {}  # answer()'s jobs, running or kept
        self._asked: dict[Any, list[float]] = {}  # when each job's request last left

    @property
    def admitted(self) -> int:
        """Jobs computing or waiting."""
        with self._lock:
            return self._admitted

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker; :class:`QueueFull` at once when the line is full."""
        self._admit()
        return await self._compute(fn, *args)

    async def answer(self, key: Any, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` as :meth:`run`, if it is done within :attr:`within` seconds
        (:data:`ANSWER_WITHIN` when None); else :class:`Pending`, the job going on. A
        request with the same ``key`` (e.g. the query) joins that job instead of
        starting another, and gets its result once done (kept :data:`KEEP_DONE`
        seconds for it)."""
        job = self._jobs.get(key)
        if (job is not None and job.done() and not job.cancelled()
                and isinstance(job.exception(), Abandoned)):
            self._forget(key, job)  # dropped unstarted while nobody asked: start again
            job = None
        if job is None:
            self._admit()
            asked = self._asked[key] = [time.monotonic()]

            def unless_abandoned() -> T:
                if time.monotonic() - asked[0] > ABANDONED:
                    raise Abandoned(f"nobody asked for {key!r} for {ABANDONED:g} s")
                return fn(*args)

            job = self._jobs[key] = asyncio.ensure_future(self._compute(unless_abandoned))
            loop = asyncio.get_running_loop()
            job.add_done_callback(lambda done: loop.call_later(KEEP_DONE, self._forget, key,
                                                               done))
        try:
            within = ANSWER_WITHIN if self.within is None else self.within
            return await asyncio.wait_for(asyncio.shield(job), within)
        except TimeoutError:
            raise Pending("still computing; ask again to get the answer") from None
        finally:
            if key in self._asked:
                self._asked[key][0] = time.monotonic()  # the page asks again about now
            if job.done():
                self._forget(key, job)

    def _forget(self, key: Any, job: asyncio.Future) -> None:
        if self._jobs.get(key) is job:
            del self._jobs[key]
            self._asked.pop(key, None)
            if not self._jobs and not self.admitted and self.on_idle is not None:
                self.on_idle()  # the last kept result goes: its memory can be returned
        if not job.cancelled():
            job.exception()  # retrieved: a failure nobody came back for is not logged

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise QueueFull(f"the lab is busy with {self._admitted} computations; "
                                f"try again in {RETRY_AFTER} s")
            self._admitted += 1

    async def _compute(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            with self._lock:
                self._admitted -= 1
                idle = not self._admitted
            if idle and self.on_idle is not None:
                self.on_idle()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def busy_response(exc: QueueFull) -> JSONResponse:
    """503 with ``Retry-After``, for a :class:`QueueFull`."""
    return JSONResponse({"detail": str(exc)}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER)})


def encoded(value: Any) -> bytes:
    """``value`` as the JSON a response sends (NaN and infinities as null), encoded in
    the calling thread: call it in a worker, so that a large answer (a 2000-step race is
    1.5 MB of JSON) does not hold the event loop for tens of milliseconds."""
    return json.dumps(finite(value), allow_nan=False).encode()


def json_body(body: bytes) -> Response:
    """A response of JSON already :func:`encoded`."""
    return Response(body, media_type="application/json")


def pending_response(exc: Pending) -> JSONResponse:
    """202 with ``Retry-After``, for a :class:`Pending`."""
    return JSONResponse({"pending": True, "detail": str(exc)}, status_code=202,
                        headers={"Retry-After": str(PENDING_RETRY)})


class LRU:
    """A mapping to ``bytes`` that keeps at most ``entries`` values and ``max_bytes``
    bytes of them (their lengths: :attr:`bytes`), dropping the least recently used
    first; thread-safe. A value bigger than ``max_bytes`` on its own is not kept."""

    def __init__(self, entries: int, max_bytes: int):
        self.entries, self.max_bytes = entries, max_bytes
        self._lock = threading.Lock()
        self._data: OrderedDict[Any, bytes] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Any, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"the cache keeps encoded answers (bytes), got "
                            f"{type(value).__name__}")
        with self._lock:
            if key in self._data:
                self.bytes -= len(self._data.pop(key))
            if len(value) > self.max_bytes:
                return
            self._data[key] = value
            self.bytes += len(value)
            while len(self._data) > self.entries or self.bytes > self.max_bytes:
                self.bytes -= len(self._data.popitem(last=False)[1])

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0


class Cached:
    """``fn``'s value :func:`encoded`, kept in :attr:`cache` (an :class:`LRU`), keyed by
    the tuple of its (hashable, positional) arguments."""

    def __init__(self, fn: Callable[..., Any], cache: LRU):
        self.fn, self.cache = fn, cache
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> bytes:
        body = self.cache.get(args)
        if body is None:
            body = encoded(self.fn(*args))
            self.cache.put(args, body)
        return body


def lru(entries: int, max_bytes: int) -> Callable[[Callable[..., Any]], Cached]:
    """Cache a function of hashable arguments, whose value is JSON-ready, as the JSON it
    encodes to, in an :class:`LRU` (``fn.cache``): the decorated function returns
    ``bytes``."""
    def decorate(fn: Callable[..., Any]) -> Cached:
        return Cached(fn, LRU(entries, max_bytes))
    return decorate
