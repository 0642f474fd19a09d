"""The claims report: one self-contained HTML file and a terminal summary."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs
from rich.table import Table

from .demo import ClaimResult
from .tests import mean_ci

COLORS = {"holds": "#1a7f37", "does not hold": "#cf222e", "holds only when": "#9a6700",
          "not shown": "#0969da",
          "error": "#6e7781"}


def _outcome(r: ClaimResult) -> str:
    return r.verdict.outcome if r.verdict else "error"


def summarize(value) -> str:
    """A number as text; a list of numbers as mean [95% CI] (n)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float))
                                                          for v in value):
        e = mean_ci(value)
        return f"{e.mean:.4g} [{e.low:.4g}, {e.high:.4g}] (n={e.n})"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {summarize(v)}" for k, v in value.items())
    return html.escape(str(value))


def terminal_table(results: Sequence[ClaimResult]) -> Table:
    table = Table(title="fitscope demo: the notes' claims, measured")
    for col in ("#", "claim", "verdict", "runs", "seconds"):
        table.add_column(col, overflow="fold")
    for r in results:
        color = COLORS[_outcome(r)]
        table.add_row(str(r.claim.number), r.claim.statement, f"[{color}]{r.label}[/]",
                      str(r.runs), f"{r.seconds:.1f}")
    return table


def _claim_section(r: ClaimResult) -> str:
    c, color = r.claim, COLORS[_outcome(r)]
    parts = [f'<section id="claim-{c.number}"><h2>{c.number}. {html.escape(c.statement)}</h2>',
             f'<p class="src">From {html.escape(c.source)}</p>',
             f'<p class="verdict" style="background:{color}">{html.escape(r.label)}</p>']
    if r.error:
        parts.append(f"<pre>{html.escape(r.error)}</pre></section>")
        return "".join(parts)
    parts.append(f"<p>{html.escape(r.verdict.reason)}</p>")
    parts.append(f"<p><b>Test:</b> {html.escape(c.criterion)}</p>")
    if r.figure is not None:
        parts.append(pio.to_html(r.figure, include_plotlyjs=False, full_html=False,
                                 default_width="100%", default_height="420px"))
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{summarize(v)}</td></tr>"
                   for k, v in r.measurement.values.items())
    parts.append(f'<details><summary>Numbers</summary><table>{rows}</table></details>')
    for note in r.measurement.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    parts.append(f'<p class="meta">{r.runs} runs, {r.seconds:.1f} s</p></section>')
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2328}
h1{margin-bottom:.2em} .src,.meta,.note{color:#57606a;font-size:.9em}
.verdict{display:inline-block;color:white;padding:.2em .7em;border-radius:1em;font-weight:600}
table{border-collapse:collapse} td,th{border-bottom:1px solid #d0d7de;padding:.3em .6em;
text-align:left;vertical-align:top} section{border-top:2px solid #d0d7de;margin-top:2em}
"""


def write_html(results: Sequence[ClaimResult], path: str | Path, settings: str) -> Path:
    """Write the report (plotly's JS inlined once: opens offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = {k: sum(_outcome(r) == k for r in results) for k in COLORS}
    rows = "".join(
        f'<tr><td><a href="#claim-{r.claim.number}">{r.claim.number}</a></td>'
        f"<td>{html.escape(r.claim.statement)}</td>"
        f'<td style="color:{COLORS[_outcome(r)]};font-weight:600">{html.escape(r.label)}</td>'
        f"<td>{html.escape(r.claim.criterion)}</td></tr>" for r in results)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<h1>fitscope: the notes' claims, measured</h1><p class='meta'>{stamp}; "
            f"{html.escape(settings)}. {counts['holds']} hold, {counts['holds only when']} "
            f"hold only under conditions, {counts['does not hold']} do not hold"
            f"{', ' + str(counts['error']) + ' failed to run' if counts['error'] else ''}.</p>"
            f"<table><tr><th>#</th><th>claim</th><th>verdict</th><th>test</th></tr>{rows}"
            f"</table>" + "".join(_claim_section(r) for r in results))
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>fitscope claims"
                    f"</title><style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
                    f"<body>{body}</body></html>")
    return path
