"""The pieces behind live training: the outbox, JSON-safe numbers, turns, sessions, and
the plane a 2-D decision boundary is drawn on."""

import threading
import time

import numpy as np
import pytest

from fitscope.config import DataConfig
from fitscope.data import load_data
from fitscope.lab.session import Outbox, Sessions, Ticket, Turns, finite
from fitscope.lab.views import Plane


def test_outbox_merges_views_and_drops_output_of_old_trainings():
    box = Outbox()
    box.claim(1)
    box.rows(1, [{"epoch": 1}])
    box.view(1, {"a": 1, "b": 1})
    box.view(1, {"b": 2})
    box.rows(2, [{"epoch": 9}])  # not the owner
    box.event("error", message="x")
    body = box.take()
    assert body["rows"] == [{"epoch": 1}] and body["view"] == {"a": 1, "b": 2}
    assert body["events"] == [{"type": "error", "message": "x"}]
    assert box.take() is None


def test_outbox_calls_on_post_only_when_it_stops_being_empty():
    calls = []
    box = Outbox(on_post=lambda: calls.append(1))
    box.claim(1)
    box.rows(1, [{"epoch": 1}])
    box.view(1, {"a": 1})
    box.event("state", 1, state="paused")
    assert len(calls) == 1
    box.take()
    box.view(1, {"a": 2})
    assert len(calls) == 2
    box.rows(7, [{"epoch": 1}])  # refused: no call
    box.take()
    box.rows(7, [{"epoch": 1}])
    assert len(calls) == 2


def test_outbox_posts_a_first_point_as_one_message_and_says_so():
    firsts = []
    box = Outbox(on_first=lambda: firsts.append(1))
    box.claim(2)
    box.first_point(1, {"run_id": "old"}, {"epoch": 0})  # not the owner: dropped
    assert box.take() is None and firsts == []
    box.first_point(2, {"run_id": "r"}, {"epoch": 0})
    assert firsts == [1]
    body = box.take()
    assert body["events"] == [{"type": "started", "run_id": "r"}]
    assert body["rows"] == [{"epoch": 0}]


def test_outbox_keeps_a_bounded_number_of_events():
    box = Outbox()
    for i in range(500):
        box.event("error", message=str(i))
    events = box.take()["events"]
    assert len(events) == 50 and events[-1]["message"] == "499"


def test_finite_replaces_nan_and_infinity():
    assert finite({"a": [1.0, float("nan")], "b": float("-inf"), "c": (2, "x")}) == \
        {"a": [1.0, None], "b": None, "c": [2, "x"]}


def test_turns_admit_k_at_once_and_serve_the_line_in_order():
    turns = Turns(2)
    turns.take()
    turns.take()
    order = []

    def wait(name):
        turns.take()
        order.append(name)

    threads = []
    for i, name in enumerate("abc"):  # queue up one after the other
        t = threading.Thread(target=wait, args=(name,))
        t.start()
        threads.append(t)
        while len(turns._line) < i + 1:  # (private) wait until it stands in line
            time.sleep(0.001)
    time.sleep(0.02)
    assert order == []  # both turns are taken
    for _ in "abc":
        turns.give()
        time.sleep(0.02)
    for t in threads:
        t.join(1)
    assert order == ["a", "b", "c"]


def _grant_order(turns: Turns, queue: list[tuple[str, bool]]) -> list[str]:
    """The order in which ``turns`` (its one turn held here) grants the waiters of
    ``queue`` (name, first), each joining the line once the one before stands in it;
    each waiter notes its name and passes the turn on."""
    order, threads = [], []

    def wait(name: str, first: bool) -> None:
        turns.take(first)
        order.append(name)  # one turn: one waiter at a time appends
        turns.give()

    for i, (name, first) in enumerate(queue):
        t = threading.Thread(target=wait, args=(name, first))
        t.start()
        threads.append(t)
        while len(turns._line) < i + 1:  # (private) wait until it stands in line
            time.sleep(0.001)
    turns.give()
    for t in threads:
        t.join(5)
    return order


def test_first_turns_go_ahead_of_waiting_steps_first_come_first_served():
    turns = Turns(1)
    turns.take()
    order = _grant_order(turns, [("a", False), ("b", False), ("new 1", True),
                                 ("new 2", True), ("c", False)])
    assert order == ["new 1", "new 2", "a", "b", "c"]


def test_a_first_turn_passes_a_waiting_step_at_most_overtakes_times():
    turns = Turns(1, overtakes=2)
    turns.take()
    order = _grant_order(turns, [("a", False), ("new 1", True), ("new 2", True),
                                 ("b", False), ("new 3", True)])
    # a was passed twice: new 3 waits behind it, but still passes b
    assert order == ["new 1", "new 2", "a", "new 3", "b"]


def test_runs_started_in_a_loop_do_not_starve_a_running_training():
    """Three clients start runs one after another, each as soon as its last one's first
    turn ends, while one training steps: however fast they come, each of its steps
    waits for at most the first turns already ahead of it plus ``overtakes``."""
    overtakes, hostile = 4, 3
    turns = Turns(1, overtakes)
    grants: list[str] = []
    done = threading.Event()

    def restart_in_a_loop(name: str) -> None:
        while not done.is_set() and len(grants) < 2000:
            turns.take(first=True)
            grants.append(name)
            time.sleep(0.0005)  # the others stand in line meanwhile
            turns.give()

    def train() -> None:
        for _ in range(20):
            turns.take()
            grants.append("step")
            turns.give()
        done.set()

    turns.take()
    threads = [threading.Thread(target=restart_in_a_loop, args=(f"client {i}",))
               for i in range(hostile)]
    for t in threads:
        t.start()
    _wait_for_line(turns, hostile)
    trainer = threading.Thread(target=train)
    trainer.start()
    turns.give()
    trainer.join(20)
    done.set()
    for t in threads:
        t.join(5)
    assert grants.count("step") == 20
    steps = [i for i, who in enumerate(grants) if who == "step"]
    waits = [b - a - 1 for a, b in zip([-1, *steps], steps)]
    assert max(waits) <= hostile + overtakes, waits


def _wait_for_line(turns: Turns, n: int) -> None:
    """Until ``n`` threads wait in ``turns``' line."""
    while len(turns._line) < n:
        time.sleep(0.001)


def _one_in_line() -> tuple[Turns, Ticket, list[bool], threading.Thread]:
    """A one-turn line whose turn is held here, and a thread waiting in it with a ticket
    (``got`` receives what its ``take`` returned)."""
    turns, ticket, got = Turns(1), Ticket(), []
    turns.take()
    waiting = threading.Thread(target=lambda: got.append(turns.take(ticket=ticket)))
    waiting.start()
    _wait_for_line(turns, 1)
    return turns, ticket, got, waiting


def test_a_withdrawn_ticket_leaves_the_line_and_gets_no_turn():
    turns, ticket, got, waiting = _one_in_line()
    turns.withdraw(ticket)  # the turn is still held here: only leaving the line ends the wait
    waiting.join(5)
    assert got == [False] and not turns._line
    assert turns.take(ticket=ticket) is False  # and for good
    turns.give()
    assert turns.take() is True  # the held turn came back free, not to the withdrawn


def test_a_ticket_withdrawn_after_its_turn_came_keeps_that_turn():
    turns, ticket, got, waiting = _one_in_line()
    turns.give()  # to the waiting thread
    waiting.join(5)
    turns.withdraw(ticket)
    assert got == [True]
    other = threading.Thread(target=turns.take)
    other.start()
    other.join(0.2)
    assert other.is_alive()  # the turn is still the withdrawn ticket's holder's
    turns.give()
    other.join(5)
    assert not other.is_alive()


def test_a_stopped_training_waiting_in_line_ends_without_its_turn():
    """Its page pressed Train again (or closed): it leaves the line at once, so the new
    run's first turn does not wait for this one's."""
    from fitscope.config import RunConfig
    from fitscope.lab.session import LiveTraining
    from tests.test_lab_ws import tiny

    turns, ended, in_line = Turns(1), threading.Event(), threading.Event()
    training = LiveTraining(1, RunConfig.model_validate(tiny(budget={"epochs": 500})),
                            Outbox(), lambda t: ended.set(), turns)
    real_step_end = training.on_step_end

    def on_step_end(trainer, step, loss):
        if step == 3:  # another takes the turn after this step and keeps it
            threading.Thread(target=lambda: (turns.take(), in_line.set())).start()
            _wait_for_line(turns, 1)
        real_step_end(trainer, step, loss)

    training.on_step_end = on_step_end
    training.thread.start()
    assert in_line.wait(10)  # the other holds the only turn, the training waits in line
    _wait_for_line(turns, 1)
    training.stop()
    assert ended.wait(10) and training.state == "stopped"
    assert not turns._line


def test_a_new_run_computes_its_first_point_before_a_waiting_step():
    """The run's first turn goes ahead of a training waiting for its next step: when
    that training's turn comes, the new run's first point is already posted, with its
    ``started`` event in the same message (a writer that sends as soon as something is
    posted, as the page's does when it is not pacing, sends both at once)."""
    from fitscope.config import RunConfig
    from fitscope.lab.session import LiveTraining
    from tests.test_lab_ws import tiny

    turns, sent, seen = Turns(1), [], {}
    box, ended = Outbox(on_post=lambda: sent.append(box.take())), threading.Event()
    turns.take()

    def step() -> None:
        turns.take()
        seen["sent"] = list(sent)
        turns.give()

    waiting = threading.Thread(target=step)
    waiting.start()
    _wait_for_line(turns, 1)
    training = LiveTraining(1, RunConfig.model_validate(tiny(budget={"epochs": 50})), box,
                            lambda t: ended.set(), turns)
    box.claim(1)
    training.thread.start()
    _wait_for_line(turns, 2)
    turns.give()
    waiting.join(10)
    training.stop()
    assert ended.wait(10)
    first = seen["sent"][0]
    assert [e["type"] for e in first["events"]] == ["started"]
    assert [row["epoch"] for row in first["rows"]] == [0]


def test_a_large_model_s_first_turn_waits_in_line_with_the_steps():
    """Its first point is no short piece of work (a 20 x 256 net's took 160 ms): no
    priority, so starting large runs over and over gains nothing on the others."""
    from fitscope.config import RunConfig
    from fitscope.lab.session import LiveTraining
    from fitscope.lab.views import large_model
    from tests.test_lab_ws import tiny

    config = RunConfig.model_validate(tiny(model={"depth": 2, "width": 256}))
    assert large_model(config)
    turns, seen = Turns(1), {}
    box, ended = Outbox(), threading.Event()
    turns.take()

    def step() -> None:
        turns.take()
        seen["posted"] = box.take()
        turns.give()

    waiting = threading.Thread(target=step)
    waiting.start()
    _wait_for_line(turns, 1)
    training = LiveTraining(1, config, box, lambda t: ended.set(), turns)
    box.claim(1)
    training.thread.start()
    _wait_for_line(turns, 2)
    turns.give()
    waiting.join(10)
    assert ended.wait(30) and training.state == "finished"
    assert seen["posted"] is None  # the step went first


@pytest.mark.parametrize("kwargs, message", [
    ({"max_sessions": 0}, "max_sessions must be at least 1, got 0"),
    ({"idle_seconds": 0}, "idle_seconds must be positive, got 0"),
])
def test_sessions_reject_bad_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sessions(**kwargs)


@pytest.mark.parametrize("data", [
    {"name": "moons"}, {"name": "circles", "poly_degree": 3}, {"name": "xor", "standardize": False},
    {"name": "spiral", "poly_degree": 5, "train_size": 80, "label_noise": 0.1},
])
def test_the_plane_maps_raw_points_to_the_models_inputs(data):
    # the boundary is drawn in raw coordinates: the map must be the data pipeline's own
    cfg = DataConfig.model_validate({"n_samples": 300, **data})
    plane = Plane(cfg, "classification")
    splits = load_data(cfg)
    assert plane.points.shape == (len(splits.x_train), 2)
    np.testing.assert_allclose(plane.inputs(plane.points).numpy(), splits.x_train.numpy(),
                               rtol=1e-4, atol=1e-4)


def test_pages_get_fewer_updates_a_second_when_many_train():
    from types import SimpleNamespace

    from fitscope.lab.channel import FULL_RATE_TRAININGS, Channel

    channel = Channel.__new__(Channel)  # only its delay: no socket needed
    channel.tick = 1 / 30
    for live, delay in ((0, 1 / 30), (FULL_RATE_TRAININGS, 1 / 30), (40, 4 / 30)):
        channel.sessions = SimpleNamespace(count=live)
        assert channel.delay() == pytest.approx(delay)


def test_outbox_encodes_a_view_when_posted_so_sending_only_joins_text():
    """The posting thread encodes (the event loop that sends must stay free): a view
    changed after it was posted is sent as it was, NaN as null."""
    import json

    box = Outbox()
    box.claim(1)
    grid = [[0.5, float("nan")]]
    box.view(1, {"boundary": {"z": grid}, "state": "running"})
    grid[0][0] = 9.0
    box.rows(1, [{"epoch": 1, "val_loss": float("inf")}])
    text = box.take_text()
    assert json.loads(text) == {"type": "update", "training": 1, "events": [],
                                "rows": [{"epoch": 1, "val_loss": None}],
                                "view": {"boundary": {"z": [[0.5, None]]}, "state": "running"}}
    box.rows(1, [{"epoch": 2}])
    assert box.take() == {"type": "update", "training": 1, "events": [],
                          "rows": [{"epoch": 2}], "view": None}
