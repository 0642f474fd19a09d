"""Live trainings: each in a worker thread, controlled from the server's event loop.

A :class:`LiveTraining` runs :func:`fitscope.train` with itself as the
:class:`~fitscope.engine.Callback`: it posts to an :class:`Outbox` the initial weights'
losses (epoch 0), each epoch's history row, the heavier views (decision boundary,
probes, findings) at most :data:`VIEWS_PER_SECOND` times a second, and a progress note
between epochs once a second; it blocks between steps while paused. The websocket side
(:mod:`fitscope.lab.channel`) sends the outbox's content at most that many times a
second however fast the run goes (a new training's first point without waiting), and
a slow page makes the outbox merge, not grow.

:class:`Sessions` admits at most ``max_sessions`` live trainings at once, lets
:class:`Turns` of them compute at a time, and tells which paused ones are idle. Every
training is held to the server's :class:`~fitscope.lab.limits.Budget` (steps, compute
seconds, probe memory, histogram bins): a run over it ends with a ``failed`` event
naming the limit. A stopped training (its page reset, started another or closed, or
it idled) ends at once if it waits in line for a turn, else at the end of its step,
without its final evaluation and views, which nobody would see (:class:`Stopped`).
When a training's thread ends it lets go of its model, data and probe records; when
the last live training ends, the process collects its garbage and hands freed memory
back to the system (:mod:`fitscope.lab.memory`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fitscope.config import RunConfig
from fitscope.engine import Callback, Trainer, train
from fitscope.jsontext import finite
from fitscope.probe import Probe
from fitscope.run import Run

from . import views
from .limits import Budget, OverBudget, probe_step_bytes, record_bytes
from .memory import RELEASER

VIEWS_PER_SECOND = 30
FINDINGS_EVERY = 1.0  # seconds between two live diagnoses
MAX_EVENTS = 50
TURNS = 2
OVERTAKES = 2  # first turns that may go ahead of a training waiting for its next step


class Stopped(Exception):
    """Raised in a training's thread once :meth:`LiveTraining.stop` was called: at once
    if it waits in line for a turn (it leaves the line), else at the end of its step or
    turn: the run ends there. Its page has let it go (its output is no longer
    accepted, :meth:`Outbox.claim`), so the engine's last epoch row, final evaluation
    and the final views would only keep the thread, its model and its records alive:
    20 s after a load test's pages closed, five or six stopped 20 x 256 runs were still
    evaluating (forward passes of 3000 and 1000 rows) or waiting for a turn to, and the
    server's memory stayed hundreds of MiB up until they ended."""


class Outbox:
    """What one page has not been sent yet: events in order, new history rows, the
    latest view. Only output of the training named by :attr:`owner` is accepted, so a
    reset training's last words never reach the page. ``on_post`` is called (from the
    posting thread) when something arrives in an empty outbox, ``on_first`` when a
    training's first point arrives (:meth:`first_point`).

    Each part of a view is made JSON-safe and encoded as it is posted, by the posting
    (training) thread: a view is about 80 kB of JSON (the boundary's grid, the
    histograms), 2 ms to encode, and encoded at send time it kept the server's event
    loop, which also answers ``/api/health``, busy for most of every second with twenty
    pages training. :meth:`take_text` only joins the encoded parts."""

    def __init__(self, on_post: Callable[[], object] = lambda: None,
                 on_first: Callable[[], object] = lambda: None) -> None:
        self._lock = threading.Lock()
        self._events: list[dict] = []
        self._rows: list[dict] = []
        self._view: dict | None = None
        self.owner = 0
        self.on_post, self.on_first = on_post, on_first

    def _empty(self) -> bool:
        return not (self._events or self._rows or self._view)

    def _post(self, owner: int | None, change: Callable[[], object]) -> bool:
        """``change()`` under the lock if the output is ``owner``'s (None: anyone's), then
        ``on_post`` if the outbox was empty; whether it was accepted."""
        with self._lock:
            if owner is not None and owner != self.owner:
                return False
            was_empty = self._empty()
            change()
        if was_empty:
            self.on_post()
        return True

    def _add_event(self, kind: str, fields: dict) -> None:
        """(Under the lock) one more event, the oldest dropped beyond MAX_EVENTS."""
        self._events = [*self._events[-(MAX_EVENTS - 1):], {"type": kind, **fields}]

    def event(self, kind: str, owner: int | None = None, **fields: Any) -> None:
        self._post(owner, lambda: self._add_event(kind, fields))

    def rows(self, owner: int, rows: list[dict]) -> None:
        self._post(owner, lambda: self._rows.extend(rows))

    def first_point(self, owner: int, started: dict, row: dict) -> None:
        """Training ``owner``'s ``started`` event (its fields) and first history row,
        posted at once so that both go in the same message; then ``on_first`` (the
        page's writer sends them without waiting out its pacing)."""
        def change() -> None:
            self._add_event("started", started)
            self._rows.append(row)

        if self._post(owner, change):
            self.on_first()

    def view(self, owner: int, view: dict) -> None:
        if owner != self.owner:  # (checked again under the lock) spare the encoding
            return
        encoded = {key: json.dumps(finite(value), allow_nan=False)
                   for key, value in view.items()}

        def change() -> None:
            self._view = {**(self._view or {}), **encoded}

        self._post(owner, change)

    def claim(self, owner: int) -> None:
        """Accept output from training ``owner`` only, dropping anything still queued
        from an earlier one (events stay: they answer the page's messages)."""
        with self._lock:
            self.owner, self._rows, self._view = owner, [], None

    def take_text(self) -> str | None:
        """Everything queued, as one JSON message (the view's parts as encoded when
        posted), or None when there is nothing."""
        with self._lock:
            if self._empty():
                return None
            owner, events, rows, view = self.owner, self._events, self._rows, self._view
            self._events, self._rows, self._view = [], [], None
        head = json.dumps({"type": "update", "training": owner, "events": finite(events),
                           "rows": finite(rows)}, allow_nan=False)
        parts = ("null" if view is None else
                 "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in view.items()) + "}")
        return f'{head[:-1]}, "view": {parts}}}'

    def take(self) -> dict | None:
        """:meth:`take_text`, parsed."""
        text = self.take_text()
        return None if text is None else json.loads(text)


class Turns:
    """At most ``k`` trainings compute at once; the others wait in line, and each gives
    its turn up after every optimizer step.

    Why: only one thread runs Python at a time (the GIL), and a small model's step is
    mostly Python, so twenty training threads run no faster than two; but the server's
    event loop, queued behind twenty threads for the GIL, would answer in seconds.

    A training's *first* turn (``take(first=True)``: building its run and computing
    its first point, a short piece of work every run asks for once) goes ahead of the
    trainings waiting for their next step, behind the first turns already waiting
    (first come, first served among themselves), and ahead of no waiting training that
    first turns have already passed ``overtakes`` times. So a page pressing Train does
    not wait behind every running training's next step, and however many runs clients
    start, one after another or at once, a running training's next step waits for at
    most ``overtakes`` first turns more than it would in plain arrival order.

    A thread that waits with a :class:`Ticket` leaves the line when the ticket is
    withdrawn (:meth:`withdraw`): a stopped training ends then, not after its turn.
    """

    def __init__(self, k: int = TURNS, overtakes: int = OVERTAKES):
        self._lock = threading.Lock()
        self._free = k
        self.overtakes = overtakes
        self._line: deque[Ticket] = deque()

    def take(self, first: bool = False, ticket: Ticket | None = None) -> bool:
        """Wait for a turn: True once it is this thread's, False (holding none) if
        ``ticket`` is or gets withdrawn first."""
        waiting = ticket or Ticket()
        with self._lock:
            if waiting.withdrawn:
                return False
            if self._free and not self._line:
                self._free -= 1
                return True
            waiting.first, waiting.passed, waiting.granted = first, 0, False
            waiting.turn.clear()
            self._line.insert(self._place(waiting), waiting)
        waiting.turn.wait()
        return waiting.granted

    def withdraw(self, ticket: Ticket) -> None:
        """From now on ``ticket`` gets no turn: out of the line if it waits there (its
        :meth:`take` returns False at once), and its next :meth:`take` returns False."""
        with self._lock:
            ticket.withdrawn = True
            if ticket in self._line:
                self._line.remove(ticket)
                ticket.turn.set()

    def _place(self, waiting: Ticket) -> int:
        """Where ``waiting`` joins the line (under the lock): a step at the end; a first
        turn right behind the last first turn or step it may not pass, the steps behind
        that counting one more overtaking."""
        if not waiting.first:
            return len(self._line)
        at = 0
        for i, other in enumerate(self._line):
            if other.first or other.passed >= self.overtakes:
                at = i + 1
        for i in range(at, len(self._line)):
            self._line[i].passed += 1
        return at

    def give(self) -> None:
        with self._lock:
            if self._line:
                nxt = self._line.popleft()  # straight to the next in line
                nxt.granted = True
                nxt.turn.set()
            else:
                self._free += 1


class Ticket:
    """A thread's place in a :class:`Turns` line, for one wait at a time: whether for
    its first turn, how many first turns have gone ahead of it, whether it got the
    turn, and whether it was withdrawn (:meth:`Turns.withdraw`)."""

    __slots__ = ("first", "granted", "passed", "turn", "withdrawn")

    def __init__(self) -> None:
        self.first, self.passed, self.granted, self.withdrawn = False, 0, False, False
        self.turn = threading.Event()


class LiveTraining(Callback):
    """One training in its own thread. ``pause``, ``resume``, ``step`` (one more epoch,
    then pause) and ``stop`` are called from the event loop; the callback methods run
    in the worker."""

    def __init__(self, ident: int, config: RunConfig, outbox: Outbox,
                 on_exit: Callable[[LiveTraining], None], turns: Turns,
                 paused: bool = False, probe: bool = False, budget: Budget | None = None,
                 weights: bool = False):
        self.ident, self.config, self.outbox, self._on_exit = ident, config, outbox, on_exit
        self.turns, self._has_turn, self._ticket = turns, False, Ticket()
        self._large = views.large_model(config)
        self.budget = budget or Budget()
        # CPU seconds of this thread while holding a turn (time.thread_time: waiting
        # for the GIL or for other processes on a busy machine is not counted)
        self.compute_seconds, self._turn_since = 0.0, 0.0
        self._probe_checked = False
        self.probe, self.weights = probe, weights
        self._go, self._halt = threading.Event(), threading.Event()
        if not paused:
            self._go.set()
        self._pause_after_epoch = False
        self._last_view = self._last_progress = self._last_findings = 0.0
        self._probe: Probe | None = None
        self._probe_step: int | None = None
        self._plane: views.Plane | None = None
        self.state = "paused" if paused else "running"
        self.last_contact = time.monotonic()
        self.thread = threading.Thread(target=self._work, name=f"lab-training-{ident}",
                                       daemon=True)

    # -- control, from the event loop --------------------------------------------------
    def touch(self) -> None:
        self.last_contact = time.monotonic()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._pause_after_epoch = False
        self._go.set()

    def step(self) -> None:
        self._pause_after_epoch = True
        self._go.set()

    def stop(self) -> None:
        self._halt.set()
        self.turns.withdraw(self._ticket)  # waiting in line, it ends now
        self._go.set()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    # -- the worker ------------------------------------------------------------------
    def _work(self) -> None:
        try:
            # building the run and its first point take a turn too: twenty pages pressing
            # Train at once must not be twenty threads wanting the GIL. A small model's is
            # short, and goes ahead of the running trainings' next steps (Turns); a large
            # one's (a 20 x 256 net's first point took 160 ms) waits in line with them,
            # so that starting large runs over and over gains nothing on the others
            self._take(first=not self._large)
            if self.probe:
                self.config = views.with_probes(self.config)
            train(self.config, callbacks=[self])
        except Stopped:
            self.state = "stopped"
        except OverBudget as exc:
            self.state = "failed"
            self.outbox.event("failed", self.ident, message=str(exc), limit=True)
        except Exception as exc:  # noqa: BLE001 (any failure is shown on the page)
            self.state = "failed"
            self.outbox.event("failed", self.ident, message=f"{type(exc).__name__}: {exc}")
        finally:
            self._give()
            # the model, data and records go with the trainer; drop what we kept of them
            self._probe = self._plane = None
            self._on_exit(self)

    def _take(self, first: bool = False) -> None:
        """Wait for a turn to compute (``first``: the run's first, :class:`Turns`);
        :class:`Stopped` once stopped (holding the turn if it came first)."""
        if not self.turns.take(first, self._ticket):
            raise Stopped
        self._has_turn = True
        self._turn_since = time.thread_time()
        if self._halt.is_set():
            raise Stopped

    def _give(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self.compute_seconds += time.thread_time() - self._turn_since
            self.turns.give()

    def _check_budget(self, trainer: Trainer) -> None:
        """Raise :class:`OverBudget` once the run has used its compute seconds, or (once,
        at its first probed step's records) when its probing would exceed the probe
        memory."""
        seconds = self.compute_seconds + (time.thread_time() - self._turn_since
                                          if self._has_turn else 0.0)
        self.budget.check_seconds(seconds, trainer.step, trainer.total_steps)
        if self._probe is not None and not self._probe_checked:
            records = self._probe.records
            if records:
                self._probe_checked = True
                first = [r for r in records if r["step"] == records[0]["step"]]
                every = self._probe.every
                probed = math.ceil(trainer.total_steps / every)
                self.budget.check_probes(record_bytes(first), probed, every)

    def _post_view(self, trainer: Trainer, force: bool = False, diagnose: bool = True) -> None:
        now = time.monotonic()
        if force or now - self._last_view >= 1 / VIEWS_PER_SECOND:
            self._last_view = now
            probe = self._probe
            view = views.live_view(trainer, self.state, probe, self._probe_step,
                                   self._plane, self.weights)
            if probe is not None and "probes" in view:  # live_view adds them only with one
                if self._probe_step is None:  # step 0, apart from "probes" (replaced)
                    view["initial_probes"] = views.latest_probe(probe, first=True)
                self._probe_step = view["probes"]["step"]
                if diagnose and (force or now - self._last_findings >= FINDINGS_EVERY):
                    self._last_findings = now
                    view["findings"] = views.findings(trainer, probe)
            self.outbox.view(self.ident, view)

    def _post_progress(self, trainer: Trainer, loss: float) -> None:
        """Between epochs, at most once a second: where the run is (cheap, no views)."""
        now = time.monotonic()
        if now - max(self._last_view, self._last_progress) >= 1.0:
            self._last_progress = now
            self.outbox.view(self.ident, {"state": self.state, "epoch": trainer.epoch,
                                          "step": trainer.step, "batch_loss": loss})

    def _between_steps(self, trainer: Trainer) -> None:
        """Let the next training in line compute; block here while paused."""
        self._give()
        self._hold(trainer)
        self._take()

    def _hold(self, trainer: Trainer) -> None:
        """Block while paused; :class:`Stopped` once stopped."""
        if not self._go.is_set() and not self._halt.is_set():
            self.state = "paused"
            self.outbox.event("state", self.ident, state="paused")  # before the view: it
            self._post_view(trainer, force=True)  # takes a diagnosis, the page can show this now
            self._go.wait()
            if not self._halt.is_set():
                self.state = "running"
                self.outbox.event("state", self.ident, state="running")
        if self._halt.is_set():
            raise Stopped

    def on_train_start(self, trainer: Trainer) -> None:
        """In the run's first turn: the budget's checks, then the first point (the
        ``started`` event and the initial weights' row, in one message). The theory line
        and the first view wait for the next turn, in line with the running trainings'
        steps: the first turn stays short, so the pages pressing Train after this one
        get their first points soon too."""
        self.budget.check_steps(trainer.total_steps)
        self._probe, self._plane = views.probe_of(trainer), views.plane_of(trainer)
        if self._probe is not None:
            units = views.probed_units(trainer.model)
            self.budget.check_probe_step(probe_step_bytes(trainer.batch_size, units),
                                         trainer.batch_size, units)
        if self._halt.is_set():  # stopped while it was built: no first point
            raise Stopped
        started = {"run_id": self.config.run_id, "config": self.config.to_dict(),
                   "meta": views.meta(trainer, self._plane)}
        self.outbox.first_point(self.ident, started, views.initial_row(trainer))
        self._between_steps(trainer)
        # a large model's theory line may wait for another's (views.theory_line), and
        # its first view is mostly matrix products, which run beside the turns' Python
        # (the GIL let go): both without holding a turn
        if self._large:
            self._give()
        if self._probe:  # a model of its own, built and probed once
            self.outbox.view(self.ident, {"theory": views.theory_line(self.config)})
        self._post_view(trainer, force=True)
        if self._large:
            self._take()

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self._check_budget(trainer)
        self._post_progress(trainer, loss)
        self._between_steps(trainer)

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        self.outbox.rows(self.ident, [row])
        if self._pause_after_epoch:
            self._pause_after_epoch = False
            self._go.clear()
        self._post_view(trainer)
        self._between_steps(trainer)

    def on_train_end(self, trainer: Trainer, run: Run) -> None:
        if self._halt.is_set():
            raise Stopped
        self.state = "finished"
        self._post_view(trainer, force=True, diagnose=False)  # the final diagnosis follows
        self.outbox.event("finished", self.ident, state=self.state, status=run.status,
                          reason=run.reason, metrics=run.metrics, stop_epoch=run.stop_epoch,
                          **views.final_view(trainer, run, self._probe))
        self._give()


class Busy(RuntimeError):
    """Every training slot is taken."""


class Sessions:
    """The server's live trainings: at most ``max_sessions`` at once, ``turns`` of them
    computing at any moment (:class:`Turns`)."""

    def __init__(self, max_sessions: int = 4, idle_seconds: float = 300.0, turns: int = TURNS,
                 budget: Budget | None = None):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        if not idle_seconds > 0:
            raise ValueError(f"idle_seconds must be positive, got {idle_seconds}")
        self.max_sessions, self.idle_seconds = max_sessions, idle_seconds
        self.budget = budget or Budget()
        self.turns = Turns(turns)
        self._lock = threading.Lock()
        self._live: set[LiveTraining] = set()
        self._next_id = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._live)

    def open(self, config: RunConfig, outbox: Outbox, paused: bool = False,
             probe: bool = False, weights: bool = False) -> LiveTraining:
        """Start a training whose output goes to ``outbox``; :class:`Busy` when full,
        :class:`~fitscope.lab.limits.OverBudget` for settings over the budget known before
        training (the rest is checked as it trains)."""
        self.budget.check_config(config)
        with self._lock:
            if len(self._live) >= self.max_sessions:
                raise Busy(f"all {self.max_sessions} training slots are in use (the server's "
                           f"--max-sessions); wait for one to finish or stop one")
            self._next_id += 1
            training = LiveTraining(self._next_id, config, outbox, self._release, self.turns,
                                    paused, probe, self.budget, weights)
            self._live.add(training)
        outbox.claim(training.ident)
        training.thread.start()
        return training

    def _release(self, training: LiveTraining) -> None:
        with self._lock:
            self._live.discard(training)
            idle = not self._live
        if idle:
            RELEASER.request()

    def is_idle(self, training: LiveTraining) -> bool:
        """Paused, and nothing heard from its page for ``idle_seconds``."""
        quiet = time.monotonic() - training.last_contact
        return training.alive and training.state == "paused" and quiet > self.idle_seconds

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            live = list(self._live)
        for training in live:
            training.stop()
        for training in live:
            training.thread.join(timeout)
