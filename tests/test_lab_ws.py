"""Live training over the websocket: every message, the throttle, the limits, and
malformed, oversized and hostile input (the connection must stay up)."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from fitscope.lab.app import create_app
from fitscope.lab.messages import MAX_MESSAGE_CHARS
from fitscope.lab.session import VIEWS_PER_SECOND

TINY = {"data": {"n_samples": 100}, "model": {"depth": 1, "width": 8},
        "budget": {"epochs": 3, "batch_size": 0}}


def tiny(**parts) -> dict:
    cfg = json.loads(json.dumps(TINY))
    for section, values in parts.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def start(ws, config: dict | None = None, **fields) -> None:
    ws.send_text(json.dumps({"type": "start", "config": config or tiny(), **fields}))


def collect(ws, until: str, limit: int = 2000) -> tuple[list[dict], list[dict], list[dict]]:
    """Read messages until an event of type ``until``: (events, rows, views)."""
    events, rows, views = [], [], []
    for _ in range(limit):
        m = json.loads(ws.receive_text())
        assert m["type"] == "update"
        events += m["events"]
        rows += m["rows"]
        views += [m["view"]] if m["view"] else []
        if any(e["type"] == until for e in m["events"]):
            return events, rows, views
    raise AssertionError(f"no {until!r} event in {limit} messages: {events}")


def error_after(ws, text: str) -> str:
    ws.send_text(text)
    events, _, _ = collect(ws, "error")
    return next(e["message"] for e in events if e["type"] == "error")


@pytest.fixture
def client():
    with TestClient(create_app(max_sessions=2)) as c:
        yield c


def test_a_training_streams_rows_views_and_a_finish(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws)
        events, rows, views = collect(ws, "finished")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    started, finished = events[0], events[-1]
    assert started["meta"]["n_features"] == 2 and len(started["meta"]["points"]["x"]) == 60
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]  # epoch 0: the initial weights
    assert rows[0]["train_loss"] > rows[-1]["train_loss"]
    assert finished["status"] == "completed" and finished["metrics"]["epochs_run"] == 3
    boundary = views[-1]["boundary"]
    assert len(boundary["z"]) == len(boundary["y"]) and boundary["kind"] == "probability"
    assert all(0.0 <= p <= 1.0 for row in boundary["z"] for p in row)
    assert client.get("/api/health").json()["trainings"] == 0


def test_updates_are_throttled_but_every_row_arrives(client):
    # one full-batch step per epoch: far more epochs a second than updates
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 150}))
        t0, messages, rows = time.monotonic(), 0, []
        while True:
            m = json.loads(ws.receive_text())
            messages += 1
            rows += m["rows"]
            if any(e["type"] == "finished" for e in m["events"]):
                break
        seconds = time.monotonic() - t0
    assert [r["epoch"] for r in rows] == list(range(151))
    # the first message goes out at once and the last one on finishing: allow those two
    assert messages <= VIEWS_PER_SECOND * 1.1 * seconds + 2


def test_probes_show_every_layer_beside_the_theory(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(model={"depth": 3, "width": 8}), probe=True)
        _, _, views = collect(ws, "finished")
    theory = next(v["theory"] for v in views if "theory" in v)
    weights = ["hidden.0.linear", "hidden.1.linear", "hidden.2.linear", "out"]
    assert theory["layers"] == weights
    assert all(t > 0 for t in theory["z_var"] + theory["grad_z_var"])
    assert views[-1]["state"] == "finished"
    probes = [v["probes"] for v in views if "probes" in v]
    assert probes, "no probe view"
    last = probes[-1]
    assert last["act"]["layers"] == ["hidden.0.act", "hidden.1.act", "hidden.2.act"]
    assert last["grad"]["layers"][-1] == "out" and len(last["grad"]["layers"]) == 4
    n_train = 60
    for counts in last["act"]["counts"]:
        assert len(counts) == len(last["edges"]) - 1 and sum(counts) == n_train * 8
    assert last["variance"]["layers"] == weights
    assert all(v >= 0 for v in last["variance"]["z_var"] + last["variance"]["grad_z_var"])


def test_the_initial_probes_arrive_apart_from_the_latest(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(model={"depth": 2, "width": 8}), probe=True)
        _, _, views = collect(ws, "finished")
    initial = [v["initial_probes"] for v in views if "initial_probes" in v]
    assert len(initial) == 1 and initial[0]["step"] == 0
    assert [v["probes"]["step"] for v in views if "probes" in v][-1] > 0


def test_weight_histograms_and_held_out_points_on_request(client):
    """L1 drives weights to zero, L2 only shrinks them: the share under 0.01 in
    magnitude grows with L1 (Adam, full batch, 60 epochs, moons: about 0.36 against 0.05)."""
    near_zero = {}
    for penalty in ("l1", "l2"):
        cfg = tiny(model={"depth": 1, "width": 32}, regularization={penalty: 0.05},
                   budget={"epochs": 60, "batch_size": 0})
        with client.websocket_connect("/ws/train") as ws:
            start(ws, cfg, weights=True)
            events, _, views = collect(ws, "finished")
        w = views[-1]["weights"]
        assert w["layers"] == ["hidden.0.linear", "out"]
        assert [sum(c) for c in w["counts"]] == [2 * 32, 32]  # every weight, no bias
        assert len(w["counts"][0]) == len(w["edges"]) - 1
        near_zero[penalty] = w["near_zero"][0]
    assert near_zero["l1"] > near_zero["l2"] + 0.2, near_zero
    meta = next(e["meta"] for e in events if e["type"] == "started")
    assert len(meta["val_points"]["x"]) == len(meta["val_points"]["label"]) > 0
    assert len(meta["test_points"]["y"]) > 0


def test_zero_init_is_diagnosed_as_symmetric_live_and_at_the_end(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(init={"scheme": "zeros"}, model={"depth": 2, "width": 8}), probe=True,
              paused=True)
        events, _, views = collect(ws, "started")
        while not any(e.get("state") == "paused" for e in events):  # paused at the start
            more, _, more_views = collect(ws, "state")
            events, views = events + more, views + more_views
        ws.send_text(json.dumps({"type": "step"}))  # a pause shows the latest diagnosis
        while sum(e.get("state") == "paused" for e in events) < 2:
            more, _, more_views = collect(ws, "state")
            events, views = events + more, views + more_views
        live = [v["findings"] for v in views if "findings" in v]
        assert live and "symmetric_units" in {f["code"] for f in live[-1]}
        ws.send_text(json.dumps({"type": "resume"}))
        events, _, _ = collect(ws, "finished")
    final = next(e for e in events if e["type"] == "finished")["findings"]
    assert "symmetric_units" in {f["code"] for f in final}
    assert {"code", "severity", "layer", "evidence", "explanation", "fix"} <= set(final[0])


def test_pause_step_and_resume(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 4}), paused=True)
        events, rows, _ = collect(ws, "started")
        while not any(e.get("state") == "paused" for e in events):  # paused at the start
            more, more_rows, _ = collect(ws, "state")
            events, rows = events + more, rows + more_rows
        ws.send_text(json.dumps({"type": "step"}))
        # epoch 0 (the initial weights), one trained epoch, then paused again
        while sum(e.get("state") == "paused" for e in events) < 2:
            more, more_rows, _ = collect(ws, "state")
            events, rows = events + more, rows + more_rows
        assert [r["epoch"] for r in rows] == [0, 1]
        ws.send_text(json.dumps({"type": "resume"}))
        _, rows, _ = collect(ws, "finished")
        assert [r["epoch"] for r in rows] == [2, 3, 4]


def test_pause_stops_the_rows(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 500}))
        collect(ws, "started")
        ws.send_text(json.dumps({"type": "pause"}))
        events, _, _ = collect(ws, "state")
        assert events[-1]["state"] == "paused"
        time.sleep(0.3)
        ws.send_text(json.dumps({"type": "pause"}))  # pausing twice is harmless
        ws.send_text("?")
        _, rows, _ = collect(ws, "error")
        ws.send_text(json.dumps({"type": "reset"}))
        _, more, _ = collect(ws, "reset")
    assert rows + more == []  # nothing trained while paused
    assert client.get("/api/health").json()["trainings"] == 0


def test_reset_forgets_the_training_and_frees_its_slot(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 500}))
        collect(ws, "started")
        ws.send_text(json.dumps({"type": "reset"}))
        collect(ws, "reset")
        assert client.get("/api/health").json()["trainings"] == 0
        start(ws)  # a new training after a reset
        _, rows, _ = collect(ws, "finished")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]


def test_a_new_training_s_first_point_does_not_wait_out_the_pacing(client, monkeypatch):
    """Pages wait between two messages (more when many train); a training started
    meanwhile gets its first point at once: it ends the wait."""
    from fitscope.lab.channel import Channel

    monkeypatch.setattr(Channel, "delay", lambda self: 60.0)
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 500}), paused=True)
        collect(ws, "started")  # sent: the page's next message waits a minute
        sent = time.monotonic()
        start(ws)
        _, rows, _ = collect(ws, "started")
        assert time.monotonic() - sent < 30
        assert [r["epoch"] for r in rows] == [0]


@pytest.mark.parametrize("kind", ["pause", "resume", "step"])
def test_controls_without_a_training_are_errors(client, kind):
    with client.websocket_connect("/ws/train") as ws:
        assert "no training is running" in error_after(ws, json.dumps({"type": kind}))


HOSTILE = [
    ("not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "message: Input should be a valid dictionary"),
    ('"start"', "message: Input should be a valid dictionary"),
    ('{"type": "launch"}', "does not match any of the expected tags"),
    ('{"kind": "start"}', "Unable to extract tag"),
    ('{"type": "pause", "force": true}', "force: Extra inputs are not permitted"),
    ('{"type": "start", "config": 5}', "config: Input should be a valid dictionary"),
    ('{"type": "start", "paused": "maybe"}', "paused: Input should be a valid boolean"),
    ('{"type": "start", "config": {"model": {"depth": "deep"}}}', "config.model.depth"),
    ('{"type": "start", "config": {"model": {"depth": 1e400}}}', "config.model.depth"),
    ('{"type": "start", "config": {"budget": {"epochs": 99999999999999999999999}}}',
     "config.budget.epochs"),
    ('{"type": "start", "config": {"optimizer": {"lr": NaN}}}', "config.optimizer.lr"),
    ('{"type": "start", "config": {"optimizer": {"lr": Infinity}}}', "config.optimizer.lr"),
    ('{"type": "start", "config": {"model": {"depth": 21}}}',
     "model.depth must be at most 20 in the lab, got 21"),
    ('{"type": "start", "config": {"model": {"width": 257}}}', "model.width must be at most 256"),
    ('{"type": "start", "config": {"model": {"depth": 2, "width": [8, 300]}}}',
     "model.width must be at most 256 in the lab, got 300"),
    ('{"type": "start", "config": {"data": {"n_samples": 5001}}}', "data.n_samples must be at"),
    ('{"type": "start", "config": {"budget": {"epochs": 501}}}', "budget.epochs must be at"),
    ('{"type": "start", "config": {"data": {"name": "csv", "path": "/etc/passwd"}}}',
     "data.name must be one of"),
    ('{"type": "start", "config": {"data": {"name": "mnist", "path": "../../"}}}',
     "data.name must be one of"),
    ('{"type": "start", "config": {"budget": {"device": "cuda"}}}', "budget.device must be"),
    ('{"type": "start", "config": {"model": {"kind": "cnn"}, "data": {"name": "digits"}}}',
     "model.kind must be 'mlp'"),
    ('{"type": "start", "config": {"data": {"name": "digits", "poly_degree": 3}}}',
     "data.poly_degree must be 1 unless the data is 2-D"),
    ('{"type": "start", "config": {"observe": {"snapshot_every": 1}}}',
     "observe.snapshot_every must be 0"),
    ('{"type": "start", "config": {"__class__": {}}}', "__class__: Extra inputs"),
    ("[" * 100_000 + "]" * 100_000, "message too long"),
    ("[" * 30_000 + "]" * 30_000, "not valid JSON"),
    ('{"type": "start", "config": {"name": "' + "x" * MAX_MESSAGE_CHARS + '"}}',
     "message too long"),
]


def test_hostile_messages_get_errors_and_the_connection_stays_up(client):
    with client.websocket_connect("/ws/train") as ws:
        for text, expected in HOSTILE:
            message = error_after(ws, text)
            assert expected in message, (text[:80], message)
        ws.send_bytes(b"\x00\x01binary")
        assert "JSON text" in collect(ws, "error")[0][-1]["message"]
        start(ws)  # still up: a valid message works
        _, rows, _ = collect(ws, "finished")
    assert len(rows) == 4
    assert client.get("/api/health").json()["trainings"] == 0


def test_a_run_that_fails_reports_why(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(data={"n_samples": 100, "train_size": 99}))
        events, _, _ = collect(ws, "failed")
    message = next(e["message"] for e in events if e["type"] == "failed")
    assert "train_size" in message


def test_too_many_sessions_are_refused_until_one_ends(client):
    with client.websocket_connect("/ws/train") as a, \
            client.websocket_connect("/ws/train") as b, \
            client.websocket_connect("/ws/train") as c:
        for ws in (a, b):
            start(ws, paused=True)
            collect(ws, "started")
        start(c)
        assert "all 2 training slots are in use" in collect(c, "error")[0][-1]["message"]
        assert client.get("/api/health").json()["trainings"] == 2
        a.send_text(json.dumps({"type": "reset"}))
        collect(a, "reset")
        start(c)
        collect(c, "finished")


def test_closing_the_page_stops_its_training(client):
    with client.websocket_connect("/ws/train") as ws:
        start(ws, tiny(budget={"epochs": 500}))
        collect(ws, "started")
    deadline = time.monotonic() + 10
    while client.get("/api/health").json()["trainings"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/api/health").json()["trainings"] == 0


def test_an_idle_paused_training_is_stopped():
    with TestClient(create_app(idle_seconds=0.3)) as c, c.websocket_connect("/ws/train") as ws:
        start(ws, paused=True)
        events, _, _ = collect(ws, "stopped")
        assert "0.3 s paused without a message" in events[-1]["message"]
        assert c.get("/api/health").json()["trainings"] == 0


def test_pages_from_other_origins_may_not_connect(client):
    with (pytest.raises(WebSocketDisconnect) as info,
          client.websocket_connect("/ws/train", headers={"origin": "http://evil.example"})):
        pass
    assert info.value.code == 1008
    with client.websocket_connect("/ws/train", headers={"origin": "http://testserver"}) as ws:
        assert "no training" in error_after(ws, '{"type": "step"}')
