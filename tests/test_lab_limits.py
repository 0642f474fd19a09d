"""The per-run budget of live trainings: steps, compute seconds, probe memory and
histogram bins refused with a message naming the limit, served at /api/form, and a
finished or closed training's memory let go."""

import gc
import json
import time
import weakref

import pytest
from fastapi.testclient import TestClient

from fitscope import RunConfig, train
from fitscope.lab import views
from fitscope.lab.app import create_app
from fitscope.lab.limits import MB, Budget, OverBudget, probe_step_bytes, record_bytes
from fitscope.lab.memory import Releaser
from tests.test_lab_ws import collect, start, tiny


def client_with(**budget) -> TestClient:
    return TestClient(create_app(max_sessions=2, budget=Budget(**budget)))


def failure(ws) -> dict:
    events = outcome(ws)
    assert events[-1]["type"] == "failed", events[-1]
    return events[-1]


def outcome(ws, limit: int = 2000) -> list[dict]:
    """Events until the run ends (``finished`` or ``failed``, the last one)."""
    events = []
    for _ in range(limit):
        m = json.loads(ws.receive_text())
        events += m["events"]
        if any(e["type"] in ("finished", "failed") for e in m["events"]):
            return events
    raise AssertionError(f"the run did not end: {events}")


def wait_no_trainings(c: TestClient, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (n := c.get("/api/health").json()["trainings"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def test_the_limits_are_served_at_api_form():
    with client_with(max_run_seconds=7, max_probe_mb=3, max_histogram_bins=40,
                     max_steps=1234) as c:
        limits = c.get("/api/form").json()["limits"]
    assert {k: limits[k] for k in ("max_run_seconds", "max_probe_mb", "max_histogram_bins",
                                   "max_steps", "max_sessions")} == {
        "max_run_seconds": 7, "max_probe_mb": 3, "max_histogram_bins": 40,
        "max_steps": 1234, "max_sessions": 2}
    assert limits["model.depth"] == 20  # the config limits stay


def test_too_many_histogram_bins_are_refused_before_training():
    with client_with(max_histogram_bins=50) as c, c.websocket_connect("/ws/train") as ws:
        start(ws, tiny(observe={"histogram_bins": 51, "probe_every": 1}))
        events, _, _ = collect(ws, "error")
        message = events[-1]["message"]
        assert "observe.histogram_bins is 51" in message and "at most 50" in message
        assert "--max-bins" in message
        assert c.get("/api/health").json()["trainings"] == 0
        start(ws, tiny(observe={"histogram_bins": 50, "probe_every": 1}))  # at the limit
        assert outcome(ws)[-1]["type"] == "finished"


def test_batch_one_cannot_make_a_run_of_too_many_steps():
    # 60 training rows, batch 1, 500 epochs: 30,000 steps
    with client_with() as c, c.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 500, "batch_size": 1}))
        failed = failure(ws)
        assert failed["limit"] is True
        assert "30,000 optimizer steps" in failed["message"]
        assert "at most 25,000" in failed["message"] and "--max-steps" in failed["message"]
        assert wait_no_trainings(c) == 0
        # budget.max_steps under the limit makes the same settings acceptable
        start(ws, tiny(budget={"epochs": 500, "batch_size": 1, "max_steps": 20}))
        events = outcome(ws)
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "completed"


def test_a_run_stops_when_its_compute_seconds_are_used():
    with client_with(max_run_seconds=0.5) as c, c.websocket_connect("/ws/train") as ws:
        t0 = time.monotonic()
        start(ws, tiny(budget={"epochs": 500, "batch_size": 1}, data={"n_samples": 40}))
        events, rows, _ = collect(ws, "failed")
        elapsed = time.monotonic() - t0
        failed = next(e for e in events if e["type"] == "failed")
    assert "used its 0.5 s of training compute" in failed["message"]
    assert "--max-run-seconds" in failed["message"] and failed["limit"] is True
    assert len(rows) >= 2  # it trained until then
    assert elapsed < 10
    assert wait_no_trainings(c) == 0


def test_paused_time_is_not_compute_time():
    with client_with(max_run_seconds=0.5) as c, c.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 3}), paused=True)
        collect(ws, "started")
        time.sleep(1.0)  # paused for twice the budget
        ws.send_text(json.dumps({"type": "resume"}))
        assert outcome(ws)[-1]["type"] == "finished"


def test_probing_that_would_exceed_the_probe_memory_is_stopped_at_its_first_probe():
    cfg = tiny(model={"depth": 3, "width": 16}, budget={"epochs": 200, "batch_size": 6},
               observe={"probe_every": 1})  # 2000 probed steps
    # about 46 kB a probed step: 2000 steps are 92 MB, the lab's own 100 are 4.6 MB
    with client_with(max_probe_mb=10) as c, c.websocket_connect("/ws/train") as ws:
        start(ws, cfg)
        events, rows, _ = collect(ws, "failed")
        failed = next(e for e in events if e["type"] == "failed")
        assert "probe records would take about" in failed["message"]
        assert "2,000 probed steps" in failed["message"]
        assert "at most 10 MB" in failed["message"] and "--max-probe-mb" in failed["message"]
        assert len(rows) <= 1  # stopped at once: only the initial weights' row
        assert wait_no_trainings(c) == 0
        # the lab's own probing (probe: true, about 100 probed steps) of the same model fits
        start(ws, {**cfg, "observe": {}}, probe=True)
        assert outcome(ws)[-1]["type"] == "finished"


def test_a_probed_step_too_big_for_the_probe_memory_is_refused_at_the_start():
    # 600 rows a step (full batch) through 2 x (3 x 64 + 1) = 386 probed outputs
    cfg = tiny(data={"n_samples": 1000}, model={"depth": 3, "width": 64},
               budget={"epochs": 2, "batch_size": 0})
    with client_with(max_probe_mb=10) as c, c.websocket_connect("/ws/train") as ws:
        start(ws, cfg, probe=True)
        failed = failure(ws)
        assert "a probed step of this run needs about 15 MB" in failed["message"]
        assert "600 rows a step through 386 probed outputs" in failed["message"]
        assert "--max-probe-mb" in failed["message"]
        assert wait_no_trainings(c) == 0
        start(ws, cfg)  # unprobed, the same run is fine
        assert outcome(ws)[-1]["type"] == "finished"
        start(ws, {**cfg, "budget": {"epochs": 2, "batch_size": 64}}, probe=True)
        assert outcome(ws)[-1]["type"] == "finished"


def test_the_probe_step_estimate_bounds_the_measured_peak():
    """A probed step's peak memory, measured in a child process (VmHWM over the
    process's memory before it), is within the estimate of probe_step_bytes."""
    import subprocess
    import sys

    code = """
import torch
from fitscope import RunConfig, train
from fitscope.lab.memory import tune_allocator
from fitscope.lab.views import probed_units
from fitscope.engine import Trainer
tune_allocator()
train(RunConfig.model_validate({"budget": {"epochs": 1}, "observe": {"probe_every": 1}}))
def status(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
cfg = RunConfig.model_validate({"model": {"depth": 6, "width": 128}, "data": {"n_samples": 2000},
    "budget": {"epochs": 1, "batch_size": 0, "max_steps": 2}, "observe": {"probe_every": 1}})
units = probed_units(Trainer(cfg).model)
base = status("VmRSS")
train(cfg)
print(status("VmHWM") - base, units)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    peak, units = int(out[0]), int(out[1])
    estimate = probe_step_bytes(1200, units)
    assert 0.4 * estimate < peak < 1.5 * estimate, (peak, estimate)


def test_the_probe_estimate_is_the_bytes_of_the_records():
    cfg = RunConfig.model_validate({"data": {"n_samples": 100}, "model": {"depth": 2},
                                    "budget": {"epochs": 1, "batch_size": 10, "max_steps": 4},
                                    "observe": {"probe_every": 1, "histogram_bins": 20}})
    records = train(cfg).probes
    assert {r["step"] for r in records} == {0, 1, 2, 3}
    step0 = [r for r in records if r["step"] == 0]
    # every probed step holds about as much as the first: the projection's premise
    assert record_bytes(step0) * 4 == pytest.approx(record_bytes(records), rel=0.1)
    counts = sum(len(r["value"]["counts"]) for r in step0 if isinstance(r["value"], dict))
    assert record_bytes(step0) > 36 * counts  # at least a list slot and an int per count
    with pytest.raises(OverBudget, match="about 2 MB"):
        Budget(max_probe_mb=1).check_probes(20_000, 100, 1)
    Budget(max_probe_mb=1).check_probes(10_000, 100, 1)  # exactly 1 MB is allowed
    assert MB == 1_000_000


@pytest.mark.parametrize("field", ["max_run_seconds", "max_probe_mb", "max_histogram_bins",
                                   "max_steps"])
def test_a_budget_must_be_positive(field):
    with pytest.raises(ValueError, match=f"{field} must be positive"):
        Budget(**{field: 0})


def _watch_probes(monkeypatch) -> list[weakref.ref]:
    """Weak references to every live training's probe, as the lab picks it."""
    refs = []
    original = views.probe_of

    def probe_of(trainer):
        probe = original(trainer)
        refs.append(weakref.ref(probe))
        refs.append(weakref.ref(trainer))
        return probe

    monkeypatch.setattr(views, "probe_of", probe_of)
    return refs


def _released(refs: list[weakref.ref], timeout: float = 10.0) -> bool:
    """Whether the objects go within ``timeout``; the test's own garbage collection is
    off (:func:`no_gc`), so only the lab's release can free their reference cycles."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r() is None for r in refs):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def no_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_closed_page_lets_go_of_its_trainer_and_probe_records(monkeypatch, no_gc):
    refs = _watch_probes(monkeypatch)
    with client_with() as c:
        with c.websocket_connect("/ws/train") as ws:
            start(ws, tiny(budget={"epochs": 500}), probe=True)
            collect(ws, "started")
            assert refs and all(r() is not None for r in refs)  # training: alive
        assert wait_no_trainings(c) == 0
        assert _released(refs)


def test_a_finished_run_lets_go_while_its_page_stays_open(monkeypatch, no_gc):
    refs = _watch_probes(monkeypatch)
    with client_with() as c, c.websocket_connect("/ws/train") as ws:
        start(ws, tiny(), probe=True)
        collect(ws, "finished")
        assert wait_no_trainings(c) == 0
        assert _released(refs)


def test_a_stopped_training_ends_at_its_next_turn_without_its_final_work(monkeypatch, no_gc):
    """Its page let it go: no final evaluation, views or diagnosis (nobody would see
    them), and its trainer and records go (weak references, the test's collector off)."""
    import threading

    from fitscope import engine
    from fitscope.lab.session import LiveTraining, Outbox, Turns

    refs = _watch_probes(monkeypatch)
    finals = []
    monkeypatch.setattr(views, "final_view", lambda *a: finals.append(a) or {})
    real_finish = engine.finish
    monkeypatch.setattr(engine, "finish", lambda *a, **k: finals.append(a) or real_finish(*a, **k))
    turns, steps = Turns(1), []
    ended = threading.Event()
    training = LiveTraining(1, RunConfig.model_validate(tiny(budget={"epochs": 500})),
                            Outbox(), lambda t: ended.set(), turns, probe=True)
    real_step_end = training.on_step_end

    def on_step_end(trainer, step, loss):
        steps.append(step)
        if step == 3:  # another takes the turn after this step, and the page lets go
            def other() -> None:
                turns.take()
                time.sleep(0.2)  # this one waits in line for its turn meanwhile
                training.stop()
                turns.give()

            threading.Thread(target=other).start()
            time.sleep(0.1)  # the other is in line
        real_step_end(trainer, step, loss)

    training.on_step_end = on_step_end
    training.thread.start()
    assert ended.wait(10) and training.state == "stopped"
    assert steps == [1, 2, 3] and finals == []
    training.thread.join(10)
    assert _released(refs)  # (the training object itself holds neither)


def test_release_requests_coalesce_into_one_release():
    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 10
        while releaser.releases < n and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # and no more than n

    releaser = Releaser(delay=0.2)
    for _ in range(20):
        releaser.request()
    wait_for(1)
    assert releaser.releases == 1
    releaser.request()
    wait_for(2)
    assert releaser.releases == 2


def test_the_releaser_frees_reference_cycles(no_gc):
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b
    assert ref() is not None  # a cycle: reference counting alone keeps it
    releaser = Releaser(delay=0.0)
    releaser.request()
    assert _released([ref])


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


ALLOCATOR_CHECK = """
import torch
from fitscope.lab.memory import tune_allocator

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

assert tune_allocator()  # glibc
before = rss_mib()
blocks = [torch.ones(256 * 1024) for _ in range(100)]  # 100 blocks of 1 MiB
grown = rss_mib() - before
del blocks
print(grown, rss_mib() - before)
"""


def test_the_tuned_allocator_returns_freed_blocks_at_once():
    # In a process of its own: the allocator's settings are process-wide, and a test
    # process that has run hundreds of tests holds freed memory of its own.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ALLOCATOR_CHECK], capture_output=True,
                         text=True, check=True).stdout
    grown, after = map(float, out.split())
    assert grown > 90
    assert after < 10  # unmapped when freed, no trim needed


LAPACK_IN_THREADS = """
import ctypes, threading, torch
from fitscope.lab.memory import tune_allocator
tune_allocator()  # as the server: blocks of 256 KiB or more mapped on their own
torch.set_num_threads(1)

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
x = torch.randn(100, 1200)
before = libc.mallinfo2().hblkhd
for _ in range(4):  # an SVD (the trained landscape's PCA) in a thread that ends
    t = threading.Thread(target=torch.linalg.svd, args=(x,), kwargs={"full_matrices": False})
    t.start()
    t.join()
print(libc.mallinfo2().hblkhd - before)
"""


def test_the_server_restarts_with_the_system_allocator_and_no_mkl_buffer_pool():
    """The re-exec's environment (a user's value stays), and what it is for: with it, a
    thread's LAPACK work leaves no blocks mapped once the thread ends (MKL's pool kept
    1.3 MiB in this test, 6 MiB after a trained landscape comparison)."""
    import os
    import subprocess
    import sys

    from fitscope.lab.memory import SERVER_ENVIRONMENT

    if sys.platform != "linux":
        pytest.skip("the lab re-executes itself on Linux only")
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENVIRONMENT}
    show = ("from fitscope.lab.memory import with_system_malloc; with_system_malloc(); "
            "import os; print(os.getpid(), os.environ['PYTHONMALLOC'], "
            "os.environ['MKL_DISABLE_FAST_MM'])")
    proc = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.split()[1:] == ["malloc", "1"]
    kept = subprocess.run([sys.executable, "-c", show], text=True, check=True,
                          capture_output=True, env={**env, "MKL_DISABLE_FAST_MM": "0"})
    assert kept.stdout.split()[1:] == ["malloc", "0"]
    try:
        left = subprocess.run([sys.executable, "-c", LAPACK_IN_THREADS], text=True, check=True,
                              capture_output=True, env={**env, **SERVER_ENVIRONMENT}).stdout
    except subprocess.CalledProcessError as exc:
        if "mallinfo2" in exc.stderr:
            pytest.skip("glibc before 2.33 has no mallinfo2")
        raise
    assert int(left) == 0


def test_large_theory_lines_take_turns_and_small_ones_never_wait():
    import threading

    small = RunConfig()
    large = RunConfig.model_validate({"model": {"depth": 2, "width": 256}})  # 131,072
    done = {}

    def compute(name, cfg):
        done[name] = views.theory_line(cfg)

    with views._THEORY:  # a large theory line in progress
        threads = {name: threading.Thread(target=compute, args=(name, cfg))
                   for name, cfg in (("small", small), ("large", large))}
        for t in threads.values():
            t.start()
        threads["small"].join(30)
        assert done.get("small") is not None and "large" not in done
    threads["large"].join(30)
    assert done["large"]["layers"] == ["hidden.0.linear", "hidden.1.linear", "out"]
