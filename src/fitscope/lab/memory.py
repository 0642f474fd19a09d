"""Handing memory back to the system once the lab falls idle.

A finished training leaves garbage in reference cycles (its trainer, model and probe
hooks refer to each other), which only Python's full collection frees; and freed
memory stays mapped in the process until glibc is asked to return it
(``malloc_trim``). A full collection holds the GIL for as long as it walks every
object (tens of milliseconds with many live trainings), so the lab does it only when
a part of it falls idle: the last live training ended, or the last queued computation
finished. :class:`Releaser` coalesces such requests into one release a second at most,
in a thread of its own.

:func:`tune_allocator` (called once by ``fitscope lab``) makes glibc return large
blocks at once: every allocation of :data:`MMAP_THRESHOLD` bytes or more gets pages of
its own, unmapped when freed (glibc otherwise raises that threshold as a process frees
big blocks, and a training's activations then stay in its heap), and at most
:data:`ARENAS` heaps serve the many training threads. Measured: a 20 x 256 probed run's
start (its theory line) took the server from 450 to 777 MiB for a moment; without the
tuning 576 to 589 MiB stayed resident after it, with it 500 MiB.
"""

from __future__ import annotations

import ctypes
import gc
import threading

DELAY = 1.0  # seconds from the first request to the release
MMAP_THRESHOLD = 256 * 1024  # bytes
ARENAS = 2
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt's parameters (malloc.h)


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_allocator() -> bool:
    """Set glibc's fixed mmap threshold and arena limit (see the module docstring);
    False where the C library is not glibc."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_ARENA_MAX, ARENAS))


def release_memory() -> None:
    """Drop the probes' cached tables (:func:`fitscope.probe.stats.clear_caches`: each is
    made again by the next probed step that needs it), collect garbage (all generations) and
    ask glibc's allocator to return freed memory to the system (``malloc_trim(0)``;
    nothing to do on another libc)."""
    from fitscope.probe import stats

    stats.clear_caches()
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


SERVER_ENVIRONMENT = {"PYTHONMALLOC": "malloc", "MKL_DISABLE_FAST_MM": "1"}
"""What :func:`with_system_malloc` adds to the environment (a value the user set stays)."""


def with_system_malloc() -> None:
    """Start this process again (``os.execve``, same process id and arguments) with
    :data:`SERVER_ENVIRONMENT`, on Linux, unless ``PYTHONMALLOC`` is set already.

    Why ``PYTHONMALLOC=malloc``: Python's own small-object allocator keeps 1 MiB arenas,
    each returned to the system only once every object in it is gone. Forty pages
    training at once spread their objects over 46 more arenas, and a few survivors
    pinned them: 2977 empty 16 kB pools (48.7 MB) stayed resident after the trainings
    ended (measured with ``sys._debugmallocstats``; the process went from 407 to 453 MiB
    and stayed there). With every allocation in glibc's malloc, :func:`release_memory`'s
    ``malloc_trim`` hands those pages back: 412 to 421 MiB in the same test.

    Why ``MKL_DISABLE_FAST_MM=1``: MKL (PyTorch's BLAS and LAPACK on x86) keeps the
    work buffers it allocates in a pool of its own, which no trim returns; one trained
    landscape comparison (its PCA and Hessian) left 6 MiB of them mapped after its
    thread ended, none with the pool off (glibc's ``mallinfo2``; a default
    Initialization run trained no slower without it). MKL reads the variable when it
    starts, so it must be in the environment the process starts with."""
    import os
    import sys

    if sys.platform != "linux" or "PYTHONMALLOC" in os.environ:
        return
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
              {**SERVER_ENVIRONMENT, **os.environ})


def freeze_survivors() -> None:
    """Collect garbage, then move every object left (the imported modules, PyTorch's
    and plotly's own, the warm caches) out of the collector's sight (``gc.freeze``).

    Why: Python's full collection walks every tracked object while holding the GIL,
    and a training's allocations trigger one every few seconds. With the lab's modules
    loaded a full collection took 110 to 281 ms (measured, 20 pages training), and every
    thread, the event loop answering ``/api/health`` included, stood still meanwhile.
    Frozen objects are still freed when their last reference goes; only cycles among
    them are never collected, so this is called once, after the warm-up, on what lives
    as long as the server."""
    gc.collect()
    gc.freeze()


class Releaser:
    """:func:`release_memory` ``delay`` seconds after a request; requests made while one
    is pending join it."""

    def __init__(self, delay: float = DELAY):
        self.delay = delay
        self._lock = threading.Lock()
        self._pending = False
        self.releases = 0

    def request(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        timer = threading.Timer(self.delay, self._release)
        timer.daemon = True
        timer.start()

    def _release(self) -> None:
        with self._lock:
            self._pending = False
        release_memory()
        self.releases += 1


RELEASER = Releaser()
