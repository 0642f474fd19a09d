"""Handing memory back to the system once the lab falls idle.

A finished training leaves garbage in reference cycles (its trainer, model and probe
hooks refer to each other), which only Python's full collection frees; and freed
memory stays mapped in the process until glibc is asked to return it
(``malloc_trim``). A full collection holds the GIL for as long as it walks every
object (tens of milliseconds with many live trainings), so the lab does it only when
a part of it falls idle: the last live training ended, or the last queued computation
finished. :class:`Releaser` coalesces such requests into one release a second at most,
in a thread of its own.
"""

from __future__ import annotations

import ctypes
import gc
import threading

DELAY = 1.0  # seconds from the first request to the release


def release_memory() -> None:
    """Collect garbage (all generations) and ask glibc's allocator to return freed
    memory to the system (``malloc_trim(0)``; nothing to do on another libc)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
