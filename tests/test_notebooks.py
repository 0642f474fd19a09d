"""The chapter notebooks: committed without outputs, and executed end to end (nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CHAPTERS = ("generalization", "initialization", "regularization", "optimization")


def test_one_notebook_per_chapter_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert [p.stem.split("-", 1)[1] for p in NOTEBOOKS] == list(CHAPTERS)
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_end_to_end(path, tmp_path):
    """Every cell runs without an error; runs and claims show their HTML tables and the
    figures come out as plotly figures. ``FITSCOPE_NOTEBOOKS_OUT`` keeps the executed
    notebooks there (for docs/notebooks.md's screenshots)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    book = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(book, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = os.environ.get("FITSCOPE_NOTEBOOKS_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        nbformat.write(book, Path(out) / path.name)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    claims = [c for c in book.cells if c.cell_type == "code" and c.source.startswith("claim(")]
    assert sum("<table" in h and "Claim " in h for h in html) == len(claims) >= 2
    assert len(figures) > len(claims)  # each claim's figure, and the runs' own
    for cell in book.cells:  # the lab's widgets come up in the kernel
        if cell.cell_type == "code" and "Explorer()" in cell.source:
            assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                       for o in cell.outputs), cell.source
