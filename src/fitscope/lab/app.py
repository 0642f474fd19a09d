"""The lab's FastAPI application: pages, static files, JSON endpoints, the websocket.

This module only assembles the app (middleware, queues, exception handlers); each page
or area declares its routes in its own module, by an ``add_*_routes(app)``:
:mod:`~fitscope.lab.pages` (the pages, plotly), :mod:`~fitscope.lab.server_api` (health,
form), :mod:`~fitscope.lab.landscape_api`, :mod:`~fitscope.lab.overfitting_api`,
:mod:`~fitscope.lab.optimizers_api`, :mod:`~fitscope.lab.runs_api`,
:mod:`~fitscope.lab.trajectories_api` and :mod:`~fitscope.lab.channel` (the websocket).

Routes::

    GET  /                         home: the pages and what each shows
    GET  /{page}                   init, landscape, optimizers, trajectories, overfitting,
                                   runs
    GET  /static/{file}            the front end (404 outside the static folder)
    GET  /vendor/plotly.min.js     plotly's JS, from the installed python package
    GET  /api/health               live trainings, the limit, queued computations, the
                                   caches' bytes (cheap, never queued)
    GET  /api/form                 choices, limits (the session budget) and defaults
                                   for the training forms
    GET  /api/landscape/quadratic  L1/L2 optimum of a 2-D quadratic (Quadratic fields)
    GET  /api/landscape/logistic   L1/L2 paths of logistic regression on breast cancer
    GET  /api/overfitting/nearest-neighbour   1-NN train/val/test accuracy on a data set
    GET  /api/optimizers/race      optimizers' paths on a toy surface (see optimizers_api)
    GET  /api/trajectories         two trained runs' path slices and sharpness, and their
                                   optimizers on a toy surface (see trajectories_api)
    GET  /api/trajectories/progress   what that computation is doing
    GET  /api/runs, /api/runs/{id} the run store (runs page)
    WS   /ws/train                 live training (see fitscope.lab.channel)

Query parameters are validated by pydantic models (422 naming the field on error).
The costly GETs (landscape, nearest neighbour, race, trajectories, runs) are bounded
in their inputs and computed by the app's :class:`~fitscope.lab.work.WorkQueue`, off
the request threads; a full queue answers 503 with ``Retry-After``, and the race and
the trajectories, when not done within 1 s, answer 202 with ``Retry-After`` (ask
again for the result: :meth:`~fitscope.lab.work.WorkQueue.answer`). Every response
carries a content security policy allowing only this origin; ``/api/`` and ``/ws/``
refuse requests a browser sends for another site, and with an allow-list of hosts
every request must name a loopback host or one of them
(:mod:`fitscope.lab.guard`).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fitscope.config import RunConfig
from fitscope.regularization_paths import logistic_path

from .channel import add_train_routes
from .guard import HostCheck, SameOrigin
from .landscape_api import add_landscape_routes
from .limits import Budget
from .memory import RELEASER
from .optimizers_api import add_optimizer_routes
from .overfitting_api import add_overfitting_routes
from .pages import STATIC, add_page_routes
from .runs_api import add_runs_routes
from .server_api import add_server_routes
from .session import Sessions
from .trajectories_api import add_trajectory_routes
from .work import Pending, QueueFull, WorkQueue, busy_response, pending_response

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (a plain ASGI middleware:
    cheaper for the event loop than a ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def warm_up(done: threading.Event) -> None:
    """Train a tiny probed run once, so the first Train pressed does not pay for
    PyTorch's lazy imports and first-call setup (seconds on a busy machine), fit the
    logistic regression paths the landscape page shows and race the optimizers page's
    default (both cached; the race also loads plotly's figure code, 21 MiB); then
    hide what survives from the garbage collector's full collections
    (:func:`~fitscope.lab.memory.freeze_survivors`)."""
    from fitscope.engine import train

    from .memory import freeze_survivors
    from .optimizers_api import Race, race_json
    from .views import with_probes

    try:
        train(with_probes(RunConfig.model_validate(
            {"data": {"n_samples": 100}, "model": {"depth": 1}, "budget": {"epochs": 1}})))
        logistic_path()
        race_json(Race())
        freeze_survivors()
    finally:
        done.set()


def create_app(max_sessions: int = 4, idle_seconds: float = 300.0,
               store: str | Path | None = None, allowed_hosts: list[str] | None = None,
               warm: bool = False, budget: Budget | None = None,
               work: WorkQueue | None = None) -> FastAPI:
    """The lab. ``allowed_hosts``: requests must name a loopback host or one of these
    (:class:`~fitscope.lab.guard.HostCheck`, against DNS rebinding; ``[]`` allows
    loopback names only); None accepts any Host (tests). ``budget``: the limits of every
    live training. ``work``: the queue of the costly GETs (a default one when None).
    ``warm`` starts :func:`warm_up` in a thread when the server starts;
    ``/api/health`` tells when it is done."""
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            threading.Thread(target=warm_up, args=(ready,), daemon=True).start()
        else:
            ready.set()
        yield
        app.state.sessions.stop_all()
        app.state.work.shutdown()
        app.state.trajectory_work.shutdown()

    app = FastAPI(title="fitscope lab", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.ready = ready
    app.state.budget = budget or Budget()
    app.state.sessions = Sessions(max_sessions, idle_seconds, budget=app.state.budget)
    app.state.work = work or WorkQueue()
    app.state.store = Path(store) if store else None

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return busy_response(exc)

    @app.exception_handler(Pending)
    async def pending(request: Request, exc: Pending) -> JSONResponse:
        return pending_response(exc)

    app.add_middleware(SameOrigin)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_page_routes(app)
    add_server_routes(app)
    add_landscape_routes(app)
    add_overfitting_routes(app)
    add_optimizer_routes(app)
    add_runs_routes(app)
    add_trajectory_routes(app)
    add_train_routes(app)

    def release_when_idle() -> None:
        """A queue fell empty: release what its jobs left once no training is live
        (a full collection holds the GIL: not while pages train)."""
        if app.state.sessions.count == 0:
            RELEASER.request()

    app.state.work.on_idle = app.state.trajectory_work.on_idle = release_when_idle
    return app
