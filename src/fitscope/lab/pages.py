"""The lab's pages: the shared layout around each page, and the routes that serve them.

A page is ``static/pages/<page>.html`` placed into ``static/layout.html`` by
:func:`render`. A line ``{{include NAME}}`` in a page stands for
``static/fragments/NAME.html``, so a block that pages share is written once: e.g.
``train-form-end``, the end of a live-training form that the Initialization and
Overfitting pages share (the Train / Pause / Step / Reset buttons, the status and error
lines, then the closing ``</form>`` and ``</aside>``).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"
FRAGMENTS = STATIC / "fragments"
PAGES = {
    "init": "Initialization",
    "landscape": "Regularization landscape",
    "optimizers": "Optimizers",
    "trajectories": "Trained landscape",
    "overfitting": "Overfitting",
    "runs": "Runs",
}
INCLUDE = re.compile(r"^[ \t]*\{\{include ([\w-]+)\}\}\n", re.MULTILINE)


def plotly_js() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def include_fragments(body: str) -> str:
    """``body`` with each line ``{{include NAME}}`` (its indentation included) replaced
    by the text of ``static/fragments/NAME.html``, which carries its own indentation."""
    return INCLUDE.sub(lambda m: (FRAGMENTS / f"{m.group(1)}.html").read_text(), body)


def render(page: str) -> str:
    """A page: the shared layout around ``static/pages/<page>.html``, its fragments
    included (:func:`include_fragments`)."""
    nav = "".join(f'<a href="/{slug}"'
                  f'{" class=current aria-current=page" if slug == page else ""}>{title}</a>'
                  for slug, title in PAGES.items())
    body = include_fragments((STATIC / "pages" / f"{page}.html").read_text())
    title = f"{PAGES[page]} · fitscope lab" if page in PAGES else "fitscope lab"
    return ((STATIC / "layout.html").read_text().replace("{{title}}", title)
            .replace("{{nav}}", nav).replace("{{body}}", body).replace("{{page}}", page))


def add_page_routes(app: FastAPI) -> None:
    """``GET /`` (home), ``GET /{page}`` (:data:`PAGES`, 404 naming them otherwise) and
    ``GET /vendor/plotly.min.js`` (:func:`plotly_js`)."""
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
