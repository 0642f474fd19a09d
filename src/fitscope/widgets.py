"""The lab's pages as notebook widgets, talking to the notebook's own kernel.

:class:`InitExplorer` (the Initialization page: a network trained live, probed layer by
layer) and :class:`LandscapeExplorer` (the Regularization landscape) are anywidgets
(``pip install 'fitscope[notebook]'``)::

    from fitscope.widgets import InitExplorer
    w = InitExplorer()
    w                    # the lab's page in the cell; press Train
    w.config, w.run      # the RunConfig trained last, and its Run once it finished

Each widget shows the lab's own page (:func:`fitscope.lab.pages.render` of
``static/pages/<page>.html``, with the lab's CSS and JavaScript and plotly.js inlined: no
server, no CDN) in an iframe, so two widgets on one notebook keep their pages apart. A
small bridge script stands in for the two things the page asks of the lab server: its
``fetch`` of ``/api/...`` and its ``/ws/train`` websocket become messages to this kernel,
answered here by the lab's Python: :mod:`fitscope.regularization_paths`, and the live
trainings of :mod:`fitscope.lab.session` (the same :class:`~fitscope.lab.session.LiveTraining`
and :class:`~fitscope.lab.session.Outbox` the server uses).
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

try:
    import anywidget
    import traitlets
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("fitscope.widgets needs anywidget: pip install 'fitscope[notebook]'"
                      ) from exc

from . import regularization_paths as penalty
from .config import RunConfig
from .lab.messages import BadMessage, Start, parse_message
from .lab.session import VIEWS_PER_SECOND, LiveTraining, Outbox, Turns, finite
from .run import Run

BRIDGE = """<script>
/* The lab server, as seen by the page, answered by the notebook's kernel. */
"use strict";
(() => {
  const bridge = window.frameElement.__fitscope;
  let query = "";  // the page keeps its state in the URL; an iframe's URL cannot change
  // replace and push alike keep the query here (Back / Forward are the notebook's own)
  history.replaceState = history.pushState = (state, title, url) => {
    const i = String(url).indexOf("?");
    query = i < 0 ? "" : String(url).slice(i);
  };
  window.fetch = async (url) => {
    let u = String(url);
    if (!u.includes("?") && query) u += query;  // `${location.search}`: the state saved
    const { status, body } = await bridge.request(u);
    // a real Response, so the page reads it as it reads the lab's (text(), json(), ok)
    return new Response(JSON.stringify(body), {
      status, headers: { "content-type": "application/json" } });
  };
  class KernelSocket {
    constructor() {
      this.readyState = KernelSocket.OPEN;
      bridge.connect(this);
      setTimeout(() => this.onopen?.(), 0);
    }
    send(text) { bridge.send(JSON.parse(text)); }
  }
  KernelSocket.OPEN = 1;
  window.WebSocket = KernelSocket;
})();
</script>"""

ESM = """
function render({ model, el }) {
  const iframe = document.createElement("iframe");
  iframe.style.cssText = "width: 100%; border: 0; height: " + model.get("height") + "px";
  let seq = 0, socket = null;
  const pending = new Map();
  iframe.__fitscope = {
    request(url) {
      return new Promise((resolve) => {
        const id = ++seq;
        pending.set(id, resolve);
        model.send({ type: "get", id, url });
      });
    },
    connect(ws) { socket = ws; },
    send(message) { model.send({ type: "ws", message }); },
  };
  model.on("msg:custom", (msg) => {
    if (msg.type === "reply" && pending.has(msg.id)) {
      pending.get(msg.id)({ status: msg.status, body: msg.body });
      pending.delete(msg.id);
    } else if (msg.type === "ws" && socket && socket.onmessage) {
      socket.onmessage({ data: JSON.stringify(msg.message) });
    }
  });
  iframe.srcdoc = model.get("_html");
  el.appendChild(iframe);
}
export default { render };
"""


def page_html(page: str) -> str:
    """The lab's page ``page`` (its :func:`~fitscope.lab.pages.render`) made self-contained:
    the stylesheet, the scripts and plotly.js inlined, the site's navigation left out, and
    :data:`BRIDGE` first, so the page's requests reach the kernel."""
    from .lab.pages import STATIC, plotly_js, render

    text = re.sub(r"<header>.*?</header>", "", render(page), flags=re.DOTALL)
    text = text.replace('<link rel="stylesheet" href="/static/lab.css">',
                        f"<style>{(STATIC / 'lab.css').read_text()}</style>")
    text = text.replace('<script src="/vendor/plotly.min.js"></script>',
                        BRIDGE + f"<script>{plotly_js().read_text()}</script>")

    def inline(match: re.Match) -> str:
        return f"<script>{(STATIC / match.group(1)).read_text()}</script>"

    text = re.sub(r'<script src="/static/([\w.-]+\.js)"></script>', inline, text)
    if re.search(r'(src|href)="/', text):
        raise RuntimeError(f"the lab's {page} page refers to a server path the widget does "
                           "not inline")
    return text


def form_info() -> dict[str, Any]:
    """What the lab's forms ask ``/api/form`` for: the choices of each field, the limits,
    and the defaults (the same names the lab server's route reads)."""
    from .lab.messages import LIMITS
    from .lab.server_api import form_choices

    return {"choices": form_choices(), "limits": LIMITS, "defaults": RunConfig().to_dict()}


class _Training(LiveTraining):
    """A lab training that keeps its :class:`~fitscope.run.Run` when it ends."""

    run: Run | None = None

    def on_train_end(self, trainer, run: Run) -> None:
        self.run = run
        super().on_train_end(trainer, run)


class LabWidget(anywidget.AnyWidget):
    """One lab page in a notebook cell; see the module doc. ``height`` is the iframe's
    height in pixels."""

    _esm = ESM
    _html = traitlets.Unicode().tag(sync=True)
    height = traitlets.Int(1000).tag(sync=True)
    page = ""

    def __init__(self, **kwargs: Any):
        super().__init__(_html=page_html(self.page), **kwargs)
        self.on_msg(self._receive)

    def _receive(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if content.get("type") == "get":
            status, body = self.answer(str(content.get("url", "")))
            self.send({"type": "reply", "id": content.get("id"), "status": status,
                       "body": finite(body)})
        elif content.get("type") == "ws":
            self.message(content.get("message"))

    def answer(self, url: str) -> tuple[int, Any]:
        """The reply to the page's ``fetch(url)``: (HTTP-like status, JSON body)."""
        parts = urlsplit(url)
        if parts.path == "/api/form":
            return 200, form_info()
        return 404, {"detail": f"the notebook widget does not serve {parts.path}"}

    def message(self, message: Any) -> None:
        """A message the page sent on its websocket."""


class InitExplorer(LabWidget):
    """The lab's Initialization page. ``config`` is the :class:`RunConfig` of the
    training started last (None before the first), ``run`` its :class:`Run` once it
    finished, ``training`` the :class:`~fitscope.lab.session.LiveTraining` itself."""

    page = "init"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.config: RunConfig | None = None
        self.training: _Training | None = None
        self._turns, self._news = Turns(), threading.Event()
        self.outbox = Outbox(on_post=self._news.set)
        self._ids = 0
        threading.Thread(target=self._write, name="fitscope-widget", daemon=True).start()

    @property
    def run(self) -> Run | None:
        return None if self.training is None else self.training.run

    def message(self, raw: Any) -> None:
        """Like the lab's :class:`~fitscope.lab.channel.Channel`: validate, then start a
        training (stopping the current one) or pass the control on."""
        import json

        try:
            message = parse_message(json.dumps(raw))
        except BadMessage as exc:
            self.outbox.event("error", message=str(exc))
            return
        if isinstance(message, Start):
            self.stop()
            self._ids += 1
            self.config = message.config
            config = message.config
            self.training = _Training(self._ids, config, self.outbox, lambda t: None,
                                      self._turns, message.paused, message.probe)
            self.outbox.claim(self._ids)
            self.training.thread.start()
        elif message.type == "reset":
            self.stop()
            self.outbox.event("reset")
        elif self.training is None or not self.training.alive:
            self.outbox.event("error", message=f"nothing to {message.type}: no training "
                                               "is running (press Train)")
        else:
            getattr(self.training, message.type)()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the current training and wait for its thread."""
        if self.training is not None and self.training.alive:
            self.outbox.claim(0)
            self.training.stop()
            self.training.thread.join(timeout)

    def wait(self, timeout: float | None = None) -> Run | None:
        """Block until the current training ends; its :class:`Run`."""
        if self.training is not None:
            self.training.thread.join(timeout)
        return self.run

    def _write(self) -> None:
        """Send the outbox to the page, at most VIEWS_PER_SECOND times a second."""
        while True:
            self._news.wait()
            self._news.clear()
            body = self.outbox.take()
            if body is not None:
                self.send({"type": "ws", "message": body})
                threading.Event().wait(1 / VIEWS_PER_SECOND)


class LandscapeExplorer(LabWidget):
    """The lab's Regularization landscape page. ``config`` is the
    :class:`~fitscope.regularization_paths.Quadratic` drawn last, ``view`` what was drawn for it
    (the optimum, the path, the contours)."""

    page = "landscape"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.config: penalty.Quadratic | None = None
        self.view: dict[str, Any] | None = None

    @property
    def run(self) -> None:
        """No training behind this page: always None (for a uniform ``w.run``)."""
        return None

    def answer(self, url: str) -> tuple[int, Any]:
        from pydantic import ValidationError

        parts = urlsplit(url)
        if parts.path == "/api/landscape/quadratic":
            try:
                q = penalty.Quadratic.model_validate(dict(parse_qsl(parts.query)))
            except ValidationError as exc:
                return 422, {"detail": exc.errors(include_url=False, include_context=False)}
            self.config, self.view = q, penalty.quadratic_view(q)
            return 200, self.view
        if parts.path == "/api/landscape/logistic":
            return 200, penalty.logistic_path()
        return super().answer(url)
