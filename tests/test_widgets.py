"""The lab's pages as notebook widgets: self-contained pages, and the kernel side of the
page's requests (its fetches and its websocket) answered by the lab's Python."""

import re
import time

import pytest

pytest.importorskip("anywidget")

from fitscope import regularization_paths as penalty
from fitscope.run import Run
from fitscope.widgets import InitExplorer, LandscapeExplorer, page_html


class Sent(list):
    def __call__(self, content, buffers=None):
        self.append(content)


def widget(cls):
    w = cls()
    w.send = Sent()  # what the kernel sends to the page
    return w


def page_says(w, message):
    """The page sends ``message`` (as anywidget delivers it to the kernel)."""
    w._receive(w, message, [])


@pytest.mark.parametrize("page", ["init", "landscape"])
def test_pages_are_self_contained(page):
    from fitscope.lab.pages import plotly_js

    text = page_html(page)
    plotly = plotly_js().read_text()
    assert plotly in text  # inlined; its own strings name plot.ly's site, not a script
    assert not re.search(r'(src|href)="(/|https?:)', text.replace(plotly, ""))  # no CDN
    assert "Plotly" in text and "const Lab" in text and 'id="form"' in text
    assert text.index("window.frameElement.__fitscope") < text.index("const Lab")
    assert "<nav>" not in text


def test_form_info_is_the_lab_s():
    w = widget(InitExplorer)
    page_says(w, {"type": "get", "id": 3, "url": "/api/form"})
    (reply,) = w.send
    assert reply["type"] == "reply" and reply["id"] == 3 and reply["status"] == 200
    assert "xavier_normal" in reply["body"]["choices"]["init.scheme"]
    page_says(w, {"type": "get", "id": 4, "url": "/api/nothing"})
    assert w.send[-1]["status"] == 404


def test_init_explorer_trains_in_the_kernel_and_keeps_config_and_run():
    w = widget(InitExplorer)
    assert w.config is None and w.run is None
    config = {"data": {"name": "moons", "n_samples": 200}, "model": {"depth": 2, "width": 8,
              "activation": "tanh"}, "init": {"scheme": "xavier_normal"},
              "budget": {"epochs": 3}}
    page_says(w, {"type": "ws", "message": {"type": "start", "config": config,
                                            "paused": False, "probe": True}})
    run = w.wait(60)
    assert isinstance(run, Run) and run.status == "completed"
    assert w.config.init.scheme == "xavier_normal" and w.config.model.width == 8
    assert run.config.model.width == 8 and run.probes  # probed, as the page asked
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the writer thread sends what the outbox holds
        events = [e for m in w.send if m["type"] == "ws" for e in m["message"]["events"]]
        if any(e["type"] == "finished" for e in events):
            break
        time.sleep(0.05)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "started" and "finished" in kinds
    rows = [r for m in w.send if m["type"] == "ws" for r in m["message"]["rows"]]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]


def test_init_explorer_answers_bad_messages_with_an_error_event():
    w = widget(InitExplorer)
    page_says(w, {"type": "ws", "message": {"type": "pause"}})
    page_says(w, {"type": "ws", "message": {"type": "start", "config": {"model": {"depth": -1}}}})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(w.send) < 1:
        time.sleep(0.05)
    time.sleep(0.2)
    events = [e for m in w.send for e in m["message"]["events"]]
    assert events[0]["type"] == "error" and "nothing to pause" in events[0]["message"]
    assert events[1]["type"] == "error" and "model.depth" in events[1]["message"]
    assert w.training is None


def test_landscape_explorer_answers_with_the_penalty_view_and_keeps_its_config():
    w = widget(LandscapeExplorer)
    page_says(w, {"type": "get", "id": 1, "url":
                  "/api/landscape/quadratic?penalty=l2&lam=2&cx=1&cy=-1&scale=1&cond=4&angle=0"})
    reply = w.send[-1]
    q = penalty.Quadratic(penalty="l2", lam=2, cx=1, cy=-1, scale=1, cond=4, angle=0)
    assert reply["status"] == 200 and w.config == q
    assert reply["body"]["optimum"] == pytest.approx(penalty.quadratic_view(q)["optimum"])
    page_says(w, {"type": "get", "id": 2, "url": "/api/landscape/quadratic?lam=-1"})
    assert w.send[-1]["status"] == 422 and w.config == q
    assert w.run is None
