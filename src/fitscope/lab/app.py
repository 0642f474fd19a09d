"""The lab's FastAPI application: pages, static files, JSON endpoints, the websocket.

Routes::

    GET  /                         home: the pages and what each shows
    GET  /{page}                   init, landscape, optimizers, trajectories, overfitting,
                                   runs
    GET  /static/{file}            the front end (404 outside the static folder)
    GET  /vendor/plotly.min.js     plotly's JS, from the installed python package
    GET  /api/health               live trainings, the limit, queued computations (cheap,
                                   never queued)
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
import typing
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fitscope.config import SEED_MAX, RunConfig
from fitscope.jsontext import finite
from fitscope.landscape import toy
from fitscope.regularization_paths import Quadratic, logistic_path, quadratic_view

from .channel import Channel
from .guard import HostCheck, SameOrigin
from .limits import Budget
from .memory import RELEASER
from .messages import LAB_DATA, LIMITS
from .optimizers_api import add_optimizer_routes
from .runs_api import add_runs_routes
from .session import Sessions
from .trajectories_api import add_trajectory_routes
from .work import Pending, QueueFull, WorkQueue, busy_response, lru, pending_response

STATIC = Path(__file__).parent / "static"
PAGES = {
    "init": "Initialization",
    "landscape": "Regularization landscape",
    "optimizers": "Optimizers",
    "trajectories": "Trained landscape",
    "overfitting": "Overfitting",
    "runs": "Runs",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
FORM_FIELDS = ("model.activation", "init.scheme", "optimizer.name")  # the pages' selects


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


def plotly_js() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def field_choices(dotted: str) -> list[str]:
    """The allowed values of a ``Literal`` config field, e.g. ``"init.scheme"``."""
    model: Any = RunConfig
    *parts, last = dotted.split(".")
    for part in parts:
        model = model.model_fields[part].annotation
    return list(typing.get_args(model.model_fields[last].annotation))


def render(page: str) -> str:
    """A page: the shared layout around ``static/pages/<page>.html``."""
    nav = "".join(f'<a href="/{slug}"'
                  f'{" class=current aria-current=page" if slug == page else ""}>{title}</a>'
                  for slug, title in PAGES.items())
    body = (STATIC / "pages" / f"{page}.html").read_text()
    title = f"{PAGES[page]} · fitscope lab" if page in PAGES else "fitscope lab"
    return ((STATIC / "layout.html").read_text().replace("{{title}}", title)
            .replace("{{nav}}", nav).replace("{{body}}", body).replace("{{page}}", page))


class NeighbourQuery(BaseModel):
    """The data of the overfitting page, for its 1-nearest-neighbour reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # LAB_DATA is a tuple built at import: no static Literal, pydantic checks the names
    name: typing.Literal[LAB_DATA] = "moons"  # type: ignore[valid-type]
    n_samples: int = Field(1000, ge=10, le=LIMITS["data.n_samples"])
    noise: float = Field(0.2, ge=0.0, le=10.0)
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    train_size: int | None = Field(None, ge=2, le=LIMITS["data.n_samples"])
    split_seed: int = Field(0, ge=0, le=SEED_MAX)


cached_quadratic_view = lru(entries=256, max_bytes=4_000_000)(quadratic_view)


def nearest_neighbour(q: NeighbourQuery) -> dict:
    """The page's 1-nearest-neighbour reference on ``q``'s data
    (:func:`fitscope.baselines.nearest_neighbour_accuracy`)."""
    from fitscope.baselines import nearest_neighbour_accuracy
    from fitscope.config import DataConfig

    return nearest_neighbour_accuracy(DataConfig(**q.model_dump()))


def warm_up(done: threading.Event) -> None:
    """Train a tiny probed run once, so the first Train pressed does not pay for
    PyTorch's lazy imports and first-call setup (seconds on a busy machine), fit the
    logistic regression paths the landscape page shows and race the optimizers page's
    default (both cached; the race also loads plotly's figure code, 21 MiB); then
    hide what survives from the garbage collector's full collections
    (:func:`~fitscope.lab.memory.freeze_survivors`)."""
    from fitscope.engine import train

    from .memory import freeze_survivors
    from .optimizers_api import Race, race_view
    from .views import with_probes

    try:
        train(with_probes(RunConfig.model_validate(
            {"data": {"n_samples": 100}, "model": {"depth": 1}, "budget": {"epochs": 1}})))
        logistic_path()
        race_view(Race())
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
    _pages(app)
    _api(app)
    add_optimizer_routes(app)
    add_runs_routes(app)
    add_trajectory_routes(app)

    def release_when_idle() -> None:
        """A queue fell empty: release what its jobs left once no training is live
        (a full collection holds the GIL: not while pages train)."""
        if app.state.sessions.count == 0:
            RELEASER.request()

    app.state.work.on_idle = app.state.trajectory_work.on_idle = release_when_idle

    @app.websocket("/ws/train")
    async def train_socket(ws: WebSocket) -> None:
        await ws.accept()  # pages from other sites were refused by SameOrigin
        await Channel(ws, app.state.sessions).serve()

    return app


def _pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return render("home")

    @app.get("/vendor/plotly.min.js")
    async def plotly_route() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript")

    @app.get("/{page}", response_class=HTMLResponse)
    async def page(page: str) -> str:
        if page not in PAGES:
            raise HTTPException(404, f"no page {page!r}; pages: {list(PAGES)}")
        return render(page)


def _api(app: FastAPI) -> None:
    @app.get("/api/health")
    async def health() -> dict:
        """``computing``: the costly GETs' jobs computing or waiting, both queues (a job
        whose request was answered 202 goes on)."""
        s = app.state.sessions
        return {"trainings": s.count, "max_sessions": s.max_sessions,
                "computing": app.state.work.admitted + app.state.trajectory_work.admitted,
                "warm": app.state.ready.is_set()}

    @app.get("/api/form")
    async def form() -> dict:
        """``limits``: the config limits of :data:`~fitscope.lab.messages.LIMITS` (dotted
        names) and the server's session budget (``max_run_seconds``, ``max_probe_mb``,
        ``max_histogram_bins``, ``max_steps``, ``max_sessions``)."""
        choices = {f: field_choices(f) for f in FORM_FIELDS}
        choices["data.name"] = list(LAB_DATA)
        choices["surface"], choices["optimizer"] = list(toy.SURFACES), list(toy.OPTIMIZERS)
        limits = {**LIMITS, **app.state.budget.to_dict(),
                  "max_sessions": app.state.sessions.max_sessions}
        return {"choices": choices, "limits": limits, "defaults": RunConfig().to_dict()}

    work: WorkQueue = app.state.work

    @app.get("/api/landscape/quadratic")
    async def quadratic(q: Annotated[Quadratic, Query()]) -> JSONResponse:
        return JSONResponse(finite(await work.run(cached_quadratic_view, q)))

    @app.get("/api/landscape/logistic")
    async def logistic() -> JSONResponse:
        return JSONResponse(finite(await work.run(logistic_path)))

    @app.get("/api/overfitting/nearest-neighbour")
    async def neighbour(q: Annotated[NeighbourQuery, Query()]) -> dict:
        try:
            return await work.run(nearest_neighbour, q)
        except ValueError as exc:  # e.g. train_size above the rows left for training
            raise HTTPException(422, str(exc)) from None
