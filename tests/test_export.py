"""Figures saved as PNG / SVG (kaleido with Debian's chromium, nothing downloaded) or HTML."""

import re
import struct
from pathlib import Path

import plotly.graph_objects as go
import pytest

from fitscope.figures import save


def figure() -> go.Figure:
    return go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="curve"))


def test_html_and_bad_suffixes(tmp_path):
    out = save(figure(), tmp_path / "f.html")
    text = out.read_text()
    assert "<script" in text and "<script src=" not in text  # plotly.js inlined: offline
    with pytest.raises(ValueError, match=re.escape("f.txt: the suffix must be")):
        save(figure(), tmp_path / "f.txt")


@pytest.mark.browser
@pytest.mark.slow
def test_png_and_svg_through_kaleido_and_chromium(tmp_path):
    pytest.importorskip("kaleido")
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium")
    png = save(figure(), tmp_path / "sub" / "f.png", width=400, height=300)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (400, 300)
    svg = (save(figure(), tmp_path / "f.svg")).read_text()
    assert svg.startswith("<svg") and "scatterlayer" in svg
