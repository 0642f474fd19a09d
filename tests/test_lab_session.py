"""The pieces behind live training: the outbox, JSON-safe numbers, turns, sessions, and
the plane a 2-D decision boundary is drawn on."""

import threading
import time

import numpy as np
import pytest

from fitscope.config import DataConfig
from fitscope.data import load_data
from fitscope.lab.session import Outbox, Sessions, Turns, finite
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
