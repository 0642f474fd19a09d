"""The notebook widgets in chromium: the widget's own front end (its ESM, the lab's page
in an iframe) with a stand-in for anywidget's model that carries the messages to the
widget's Python side in this process, as the notebook's kernel would."""

from __future__ import annotations

import json
import queue
import time

import pytest

pytest.importorskip("anywidget")

from fitscope.widgets import ESM, InitExplorer, LandscapeExplorer

pytestmark = pytest.mark.browser

HOST = """<!doctype html><html><body><div id="cell"></div><script type="module">
const model = {
  values: %s,
  handlers: [],
  get(key) { return this.values[key]; },
  send(msg) { window.toKernel(JSON.stringify(msg)); },
  on(name, cb) { if (name === "msg:custom") this.handlers.push(cb); },
};
window.fromKernel = (msg) => model.handlers.forEach((cb) => cb(msg));
const url = URL.createObjectURL(new Blob([%s], { type: "text/javascript" }));
const widget = (await import(url)).default;
widget.render({ model, el: document.getElementById("cell") });
</script></body></html>"""


class Kernel:
    """Carries messages between the page and a widget; the page's side is pumped from
    the test's thread (playwright's API is not thread-safe; the widget sends from its
    writer thread too)."""

    def __init__(self, page, w):
        self.page, self.w, self.out = page, w, queue.Queue()
        w.send = lambda content, buffers=None: self.out.put(content)
        page.expose_function("toKernel", lambda text: w._receive(w, json.loads(text), []))
        state = json.dumps({"_html": w._html, "height": w.height})
        # inside the host's <script>, "</" would end it: JSON may escape the slash
        page.set_content(HOST % (state.replace("</", "<\\/"), json.dumps(ESM)))

    def pump(self, seconds: float, until=None) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while not self.out.empty():
                self.page.evaluate("m => window.fromKernel(m)", self.out.get())
            if until is not None and until():
                return True
            self.page.wait_for_timeout(50)
        return until is None


def frame(page):
    return page.frame_locator("iframe")


def test_init_explorer_trains_from_the_page(tab):
    w = InitExplorer()
    kernel = Kernel(tab.page, w)
    f = frame(tab.page)
    kernel.pump(5, lambda: f.locator("select[name='init.scheme'] option").count() > 3)
    f.locator("input[name='budget.epochs']").fill("5")
    f.locator("input[name='model.depth']").fill("3")
    f.locator("input[name='data.n_samples']").fill("300")
    f.locator("#train").click()
    assert kernel.pump(90, lambda: "finished" in f.locator("#status").inner_text())
    kernel.pump(1.0)
    assert w.run is not None and w.run.status == "completed"
    assert w.config.budget.epochs == 5 and w.config.model.depth == 3
    assert f.locator("#loss .scatterlayer .trace").count() >= 1  # the loss curves drawn
    assert f.locator("#findings li").count() >= 1
    tab.page.screenshot(path="/tmp/widget-init.png", full_page=True)
    assert not tab.errors, tab.errors


def test_landscape_explorer_draws_from_the_kernel(tab):
    w = LandscapeExplorer()
    kernel = Kernel(tab.page, w)
    f = frame(tab.page)
    assert kernel.pump(30, lambda: "optimum w" in f.locator("#readout").inner_text())
    f.locator("select[name='penalty']").select_option("l2")
    assert kernel.pump(10, lambda: w.config is not None and w.config.penalty == "l2")
    kernel.pump(1.0)
    w1 = float(f.locator("#readout").get_attribute("data-w1"))
    assert w1 == pytest.approx(w.view["optimum"][0], rel=1e-6)
    assert not tab.errors, tab.errors
