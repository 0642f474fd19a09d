"""Run a study: train the runs the store lacks, on local processes or a Ray cluster.

The driver (this process) is the only writer to the store: workers return records and
the driver commits each finished run in its own transaction, so killing the driver at
any moment loses at most the runs in flight, and running the study again trains only
what is missing.

A task is one run (sequential engine) or a group of runs of one shape (population
engine). A task whose worker process dies is retried once (``MAX_ATTEMPTS``), then its
runs are stored as ``failed`` with the reason. A Python error inside training is not
retried (it would fail the same way): its runs are stored as ``failed`` at once. A run
that diverges is a result like any other.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sys
import types
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, cast

from fitscope.config import RunConfig
from fitscope.many import Engine, EngineUnavailable, plan, train_many
from fitscope.run import Run
from fitscope.threads import Choice, cores, requested

from .progress import StudyProgress
from .spec import StudySpec
from .store import Store, store_record

BackendName = Literal["local", "ray"]
MAX_ATTEMPTS = 2
# Test hook: a worker asked to train this run id exits at once (as if killed).
TEST_EXIT_ENV = "FITSCOPE_TEST_EXIT_IN_RUN"


class StudyError(RuntimeError):
    """A study that cannot run as asked (a missing backend or engine)."""


@dataclass(frozen=True)
class Task:
    """Runs trained together by one engine call in one worker, and the attempt number."""

    configs: tuple[RunConfig, ...]
    engine: Literal["sequential", "population"] = "sequential"
    attempt: int = 1

    def payload(self, threads: int, override: Choice | None = None
                ) -> tuple[list[str], str, int, Choice | None]:
        """The picklable arguments of :func:`train_task`."""
        return [c.model_dump_json() for c in self.configs], self.engine, threads, override


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` did: runs in the study, trained now, and stored statuses."""

    total: int
    trained: int
    statuses: dict[str, int]

    def __repr__(self) -> str:
        from ..display import study_result_repr

        return study_result_repr(self)

    def _repr_html_(self) -> str:
        from ..display import study_result_html

        return study_result_html(self)


def threads_per_worker(workers: int) -> int:
    """Most torch threads per worker, so that workers x threads does not exceed the cores
    (each task picks its own count up to this, :mod:`fitscope.threads`)."""
    return max(1, cores() // max(1, workers))


# -- what a worker does ------------------------------------------------------------------
def train_task(configs_json: list[str], engine: str, threads: int,
               override: Choice | None = None) -> list[dict[str, Any]]:
    """Train a task's runs and return their store records (runs in a worker or on Ray),
    on at most ``threads`` torch threads (exactly ``override``'s, the driver's
    ``--threads`` or ``FITSCOPE_THREADS``, when given).

    An exception inside training becomes ``failed`` records with the error as reason.
    """
    configs = [RunConfig.model_validate_json(c) for c in configs_json]
    if os.environ.get(TEST_EXIT_ENV) in {c.run_id for c in configs}:
        os._exit(70)
    try:  # a population task is one group of plan(): train_many keeps it whole
        runs = train_many(configs, cast(Engine, engine), max_threads=threads,
                          threads=override)
    except Exception as exc:  # noqa: BLE001 (a failed run is a result to store)
        reason = f"{type(exc).__name__}: {exc}"
        return [failed_record(c, reason, engine) for c in configs]
    return [store_record(run) for run in runs]


def failed_record(config: RunConfig, reason: str, engine: str) -> dict[str, Any]:
    return Run(config=config, status="failed", reason=reason, engine=engine).record()


# -- tasks and engines -------------------------------------------------------------------
def make_tasks(configs: Sequence[RunConfig], engine: Engine, slots: int) -> list[Task]:
    """The groups of :func:`fitscope.many.plan` as tasks: one per sequential run, and
    each population group split over ``slots`` workers. ``--engine population`` without
    ``fitscope.population`` is a :class:`StudyError`."""
    try:
        groups = plan(configs, engine)
    except EngineUnavailable:
        raise StudyError("--engine population needs fitscope.population (train and "
                         "group_by_shape); it is not available") from None
    tasks = []
    for kind, at in groups:
        group = [configs[i] for i in at]
        if kind == "sequential":
            tasks += [Task((c,)) for c in group]
            continue
        size = math.ceil(len(group) / slots)
        tasks += [Task(tuple(group[i:i + size]), "population")
                  for i in range(0, len(group), size)]
    return tasks


# -- backends ----------------------------------------------------------------------------
def worker_context() -> mp.context.SpawnContext | mp.context.ForkServerContext:
    """``forkserver`` where the platform has it, else ``spawn``; never a plain fork of the
    driver, whose torch thread pools may already run.

    The fork server imports torch and fitscope once (``PRELOAD``); each worker is then a
    fork of it that starts in milliseconds, so a dead worker is replaced at once.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


# The driver's main module is not among them: workers never import it
# (main_module_hidden).
PRELOAD = ["fitscope.study.runner", "fitscope.engine"]


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """While worker processes (and the fork server) start, ``__main__`` is an empty
    module, so multiprocessing does not tell them to run the driver's main script again
    (spawn and forkserver children run it as ``__mp_main__``). A script calling
    :func:`run_study` without an ``if __name__ == "__main__":`` guard would otherwise start
    the study again inside every worker, and every worker would die. Workers need nothing
    from the script: a task is config JSON, and the worker's code is this module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class LocalBackend:
    """Worker processes, each training one task at a time; the driver knows which task
    each one holds, so a worker that dies is charged with its own task only and replaced."""

    def __init__(self, workers: int):
        self.slots, self.threads = workers, threads_per_worker(workers)
        self.override = requested()  # the driver's: a fork server may not see its flag
        self.ctx = worker_context()
        self.idle = [self._start() for _ in range(workers)]
        self.busy: dict[_Worker, Task] = {}

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        hook = {k: v for k, v in os.environ.items() if k == TEST_EXIT_ENV}
        process = self.ctx.Process(target=_worker_main, args=(child, hook), daemon=True,
                                   name="fitscope-study-worker")
        with main_module_hidden():
            process.start()
        child.close()
        return _Worker(process, parent)

    def submit(self, task: Task) -> None:
        worker = self.idle.pop() if self.idle else self._start()
        try:
            worker.conn.send(task.payload(self.threads, self.override))
        except OSError:  # it died while idle: replace it
            worker.stop()
            worker = self._start()
            worker.conn.send(task.payload(self.threads, self.override))
        self.busy[worker] = task

    def wait(self) -> list[tuple[Task, list[dict] | None, str]]:
        """Block until a task ends: ``(task, records, "")`` or ``(task, None, reason)``."""
        handles = [h for w in self.busy for h in (w.conn, w.process.sentinel)]
        ready = set(wait(handles))
        done = []
        for worker in [w for w in self.busy if {w.conn, w.process.sentinel} & ready]:
            task = self.busy.pop(worker)
            try:
                done.append((task, worker.conn.recv(), ""))
            except (EOFError, OSError):
                done.append((task, None, worker.death()))
                continue
            self.idle.append(worker)
        return done

    def close(self) -> None:
        """Stop every worker; busy ones (the study was interrupted) are killed at once."""
        for worker in self.busy:
            worker.process.kill()
        for worker in [*self.idle, *self.busy]:
            worker.stop()
        self.idle, self.busy = [], {}


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection

    def death(self) -> str:
        """Why the worker's process ended (it is reaped first)."""
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"worker process was killed by {signal.Signals(-code).name}"
        return f"worker process died (exit code {code})"

    def stop(self) -> None:
        """Ask the process to exit; kill it if it has not within 5 s."""
        with suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _worker_main(conn: Connection, hook: dict[str, str]) -> None:
    """A worker's loop: receive a task, send back its records; None or a closed pipe
    (the driver has gone) ends it. ``hook`` carries the driver's test hook variable
    (a fork server's children inherit the server's environment, not the driver's)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    os.environ.update(hook)
    while True:
        try:
            job = conn.recv()
            if job is None:
                return
            conn.send(train_task(*job))
        except (EOFError, OSError):
            return


class InProcessBackend:
    """Tasks trained in the driver itself (``--workers 0``): no process start-up and
    easy to debug, but a crash inside a run takes the driver down with it."""

    slots = 1

    def __init__(self):
        self.done: list[tuple[Task, list[dict] | None, str]] = []

    def submit(self, task: Task) -> None:
        self.done.append((task, train_task(*task.payload(cores())), ""))

    def wait(self) -> list[tuple[Task, list[dict] | None, str]]:
        done, self.done = self.done, []
        return done

    def close(self) -> None:
        self.done = []


class RayBackend:
    """Tasks as Ray remote functions (one CPU each); results come back to the driver.

    ``address`` connects to a running cluster (``"auto"`` or ``"ray://host:10001"``);
    without it a local Ray instance with ``workers`` CPUs is started and shut down after.
    Ray's own retries are off: a crashed worker is retried by the study, like locally.
    """

    def __init__(self, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise StudyError("--backend ray needs Ray: pip install 'fitscope[ray]'") from None
        self.ray, self.owner = ray, not ray.is_initialized()
        if self.owner:
            options = {"address": address} if address else {"num_cpus": workers or cores()}
            ray.init(include_dashboard=False, log_to_driver=False, **options)
        self.slots = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.remote = ray.remote(num_cpus=1, max_retries=0)(train_task)
        self.pending: dict[Any, Task] = {}

    def submit(self, task: Task) -> None:
        self.pending[self.remote.remote(*task.payload(1, requested()))] = task

    def wait(self) -> list[tuple[Task, list[dict] | None, str]]:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1)
        done = []
        for ref in ready:
            task = self.pending.pop(ref)
            try:
                done.append((task, self.ray.get(ref), ""))
            except self.ray.exceptions.RayError as exc:
                done.append((task, None, f"ray task failed: {type(exc).__name__}: {exc}"))
        return done

    def close(self) -> None:
        for ref in self.pending:
            self.ray.cancel(ref, force=True)
        self.pending = {}
        if self.owner:
            self.ray.shutdown()


def execute(tasks: Sequence[Task], backend, store: Store, progress: StudyProgress) -> None:
    """Keep the backend's slots full; store every finished run as soon as it returns."""
    queue, in_flight = deque(tasks), 0
    while queue or in_flight:
        while queue and in_flight < backend.slots:
            task = queue.popleft()
            backend.submit(task)
            in_flight += 1
            progress.started(len(task.configs))
        for task, records, reason in backend.wait():
            in_flight -= 1
            progress.stopped(len(task.configs))
            if records is None and task.attempt < MAX_ATTEMPTS:
                queue.appendleft(replace(task, attempt=task.attempt + 1))
                continue
            stored = records if records is not None else [
                failed_record(c, f"{reason} (after {task.attempt} attempts)", task.engine)
                for c in task.configs]
            for record in stored:
                store.put(record, attempts=task.attempt)
                progress.finished(record["status"])


def run_study(spec: StudySpec, store: Store, *, backend: BackendName = "local",
              workers: int | None = None, address: str | None = None,
              engine: Engine = "sequential", retry_failed: bool = False,
              progress: StudyProgress | None = None) -> StudyResult:
    """Train every run of ``spec`` that ``store`` lacks (and its failed ones, with
    ``retry_failed``); record the study's membership first."""
    if workers is not None and (workers < 0 or (workers == 0 and backend == "ray")):
        raise StudyError(f"--workers must be at least 1 (0: train in this process, local "
                         f"backend only), got {workers} with backend {backend!r}")
    runs = spec.expand()
    store.register_study(spec.name, spec.text, runs)
    stored = store.statuses(r.run_id for r in runs)
    todo = [r.config for r in runs if r.run_id not in stored
            or (retry_failed and stored[r.run_id] == "failed")]
    todo_ids = {c.run_id for c in todo}
    progress = progress or StudyProgress(disable=True)
    progress.begin(len(runs), [s for rid, s in stored.items() if rid not in todo_ids])
    if todo:
        slots = min(cores() if workers is None else max(workers, 1), len(todo))
        tasks = make_tasks(todo, engine, slots)
        pool = (RayBackend(workers, address) if backend == "ray"
                else InProcessBackend() if workers == 0
                else LocalBackend(min(slots, len(tasks))))
        try:
            with progress:
                execute(tasks, pool, store, progress)
        finally:
            pool.close()
    counts: dict[str, int] = {}
    for status in store.statuses(r.run_id for r in runs).values():
        counts[status] = counts.get(status, 0) + 1
    return StudyResult(total=len(runs), trained=len(todo), statuses=counts)
