"""How many threads torch uses: one policy for every command.

A run gets one thread per ``MACS_PER_THREAD`` forward multiply-adds of a training step
(at least one), and at most the cores this process may use less one, left for the rest
of the machine; a study worker at most its share of the cores. Small models therefore
train on one thread: a second thread only adds synchronization to their short kernels,
and on a busy machine it waits for a core. Measured on a 2-core machine (torch 2.13,
3-layer MLPs, batch 64, medians of 30 Adam steps): quiet, two threads took 1.04x the
time of one at 2.8e5 multiply-adds per step, 0.78x at 9.6e6 and 0.62x to 0.70x from
3.6e7 to 1.4e8; with one other process spinning on a core, 1.51x at 2.7e6, 2.52x at
3.6e7 and 1.35x to 1.48x from 1.4e8 to 5.5e8.

``--threads N`` (the ``fitscope`` option, :func:`set_flag`) and the ``FITSCOPE_THREADS``
environment variable override the policy, the flag first.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

ENV = "FITSCOPE_THREADS"
MACS_PER_THREAD = 20_000_000  # forward multiply-adds per training step per thread
MAX_THREADS = 1024

_flag: int | None = None


class ThreadsError(ValueError):
    """An invalid thread count (``--threads`` or ``FITSCOPE_THREADS``)."""


@dataclass(frozen=True)
class Choice:
    """A thread count and why it was picked (shown by ``fitscope --verbose``)."""

    threads: int
    why: str

    def __str__(self) -> str:
        return f"threads: {self.threads} ({self.why})"


def set_flag(n: int | None) -> None:
    """The ``--threads`` value of this command (None: not given)."""
    global _flag
    if n is not None and not 1 <= n <= MAX_THREADS:
        raise ThreadsError(f"--threads must be in [1, {MAX_THREADS}], got {n}")
    _flag = n


def requested() -> Choice | None:
    """The override: ``--threads``, else ``FITSCOPE_THREADS``; None when neither is set.
    Raises :class:`ThreadsError` naming the variable for a value that is not an integer
    in [1, MAX_THREADS]."""
    if _flag is not None:
        return Choice(_flag, "--threads")
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_THREADS:
        raise ThreadsError(f"{ENV} must be an integer in [1, {MAX_THREADS}], got {text!r}")
    return Choice(n, f"{ENV}={n}")


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def pick(macs: float | None, cap: int | None = None) -> Choice:
    """The thread count for training steps of ``macs`` forward multiply-adds (None: not
    known, small by design), at most ``cap`` (a study worker's share of the cores); the
    override when one is set."""
    override = requested()
    if override is not None:
        return override
    limit = max(1, min(cap or cores(), cores() - 1))
    if macs is None:
        return Choice(1, "small trainings by design")
    n = max(1, min(limit, math.floor(macs / MACS_PER_THREAD)))
    return Choice(n, f"{macs:.3g} multiply-adds per step, one thread per "
                     f"{MACS_PER_THREAD:.2g}, at most {limit} of {cores()} cores")


def step_macs(config, members: int = 1) -> float:
    """Forward multiply-adds of one training step of ``config`` (``members`` runs of its
    shape trained together): batch size times the model's multiply-adds per example
    (:func:`fitscope.sizing.config_footprint`; the data is loaded, and cached for the
    run)."""
    from .data import load_data
    from .sizing import config_footprint

    splits = load_data(config.data, config.task.kind)
    n, bs = len(splits.x_train), config.budget.batch_size
    batch = n if bs == 0 or bs >= n else bs
    return float(members * batch * config_footprint(config, splits).macs)


def for_config(config, members: int = 1, cap: int | None = None,
               override: Choice | None = None) -> Choice:
    """:func:`pick` for ``config``'s training steps; ``override`` (a driver's
    :func:`requested`, passed to its workers) wins."""
    override = override or requested()
    return override or pick(step_macs(config, members), cap)


def use(choice: Choice) -> Choice:
    """Set torch's thread count to ``choice``; returns it."""
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice
