"""The claims report: one self-contained HTML file and a terminal summary."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs
from rich.markup import escape
from rich.table import Table

from .demo import ClaimResult
from .tests import mean_ci

COLORS = {"holds": "#1a7f37", "does not hold": "#cf222e", "holds only when": "#9a6700",
          "not shown": "#0969da",
          "error": "#6e7781"}


def _outcome(r: ClaimResult) -> str:
    return r.verdict.outcome if r.verdict else "error"


def _p(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2g}"


def key_numbers(r: ClaimResult, limit: int = 3) -> str:
    """The tests that decided a claim, one short line each: effect [95% CI], raw p and
    Holm-adjusted p, pairs (dropped); a claim decided by exact criteria alone gives the
    first sentence of its reason."""
    if not r.comparisons:
        reason = r.verdict.reason if r.verdict else r.error.strip().splitlines()[-1]
        return reason.split("; ")[0][:200]
    lines = []
    for c in r.comparisons[:limit]:
        t = c.result
        if t.no_variance:
            lines.append(f"{c.label}: identical on all {t.n_pairs} seeds, no test")
            continue
        dropped = f" ({t.n_dropped} dropped)" if t.n_dropped else ""
        lines.append(f"{c.label}: {t.effect:+.3g} [{t.ci[0]:+.3g}, {t.ci[1]:+.3g}], p "
                     f"{_p(t.p_raw)} / Holm {_p(c.p_adjusted)}, n {t.n_pairs}{dropped}")
    if len(r.comparisons) > limit:
        lines.append(f"... {len(r.comparisons) - limit} more tests in the report")
    return "\n".join(lines)


def summarize(value) -> str:
    """A number as text; a list of numbers as mean [95% CI] (n); any other list item by
    item, a dict key by key; settings (:func:`~fitscope.claims.base.setting`) by their text.
    HTML-escaped."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
    setting = hasattr(value, "_fields")  # a NamedTuple setting: its own text
    if isinstance(value, (list, tuple)) and value and not setting \
            and all(isinstance(v, (int, float)) for v in value):
        e = mean_ci(value)
        return f"{e.mean:.4g} [{e.low:.4g}, {e.high:.4g}] (n={e.n})"
    if isinstance(value, dict):
        return "; ".join(f"{html.escape(str(k))}: {summarize(v)}" for k, v in value.items())
    if isinstance(value, list):  # str() of a list would show its items' repr
        return ", ".join(summarize(v) for v in value)
    return html.escape(str(value))


def terminal_table(results: Sequence[ClaimResult]) -> Table:
    """One row per claim: the verdict, the criterion and the numbers that decided it (user
    text through Rich with markup escaped)."""
    table = Table(title="fitscope demo: the notes' claims, measured", show_lines=True)
    for col in ("#", "claim", "verdict", "criterion", "key numbers", "runs", "s"):
        table.add_column(col, overflow="fold")
    for r in results:
        color = COLORS[_outcome(r)]
        kind = " [dim](demonstration)[/]" if r.claim.kind == "demonstration" else ""
        table.add_row(str(r.claim.number), escape(r.claim.statement) + kind,
                      f"[{color}]{escape(r.label)}[/]", escape(r.claim.criterion),
                      escape(key_numbers(r)), str(r.runs), f"{r.seconds:.1f}")
    return table


def counts(results: Sequence[ClaimResult]) -> dict[str, int]:
    """Verdicts of the claims (kind "claim"; demonstrations are not counted)."""
    claims = [r for r in results if r.claim.kind == "claim"]
    return {k: sum(_outcome(r) == k for r in claims) for k in COLORS}


def summary_line(results: Sequence[ClaimResult]) -> str:
    c = counts(results)
    demos = sum(r.claim.kind == "demonstration" for r in results)
    decided = c["holds"] + c["holds only when"] + c["does not hold"]
    return (f"{c['holds']} hold, {c['holds only when']} hold only under conditions, "
            f"{c['does not hold']} do not hold, {c['not shown']} not shown ({decided} "
            f"decided)" + (f", {c['error']} failed to run" if c["error"] else "") +
            f"; {demos} demonstrations, not counted")


def _tests_table(r: ClaimResult) -> str:
    if not r.comparisons:
        return ""
    head = ("<tr><th>test</th><th>effect (a - b)</th><th>95% CI</th><th>d</th><th>p raw</th>"
            "<th>p Holm (decides)</th><th>p BH, report</th><th>pairs</th><th>dropped</th>"
            "<th>TOST p</th><th>detectable</th></tr>")
    rows = []
    for i, c in enumerate(r.comparisons):
        t = c.result
        bh = r.p_report[i] if i < len(r.p_report) else math.nan
        rows.append(
            f"<tr><td>{html.escape(c.label)}<br><small>{html.escape(t.name)}"
            f"{' (reported, not a criterion)' if c.reported else ''}</small></td>"
            f"<td>{t.effect:+.4g}</td><td>[{t.ci[0]:+.3g}, {t.ci[1]:+.3g}]</td>"
            f"<td>{t.d:+.2f}</td><td>{_p(t.p_raw)}</td><td>{_p(c.p_adjusted)}</td>"
            f"<td>{_p(bh)}</td><td>{t.n_pairs}</td><td>{t.n_dropped}</td>"
            f"<td>{_p(t.p_tost)}</td><td>{t.detectable:.3g}</td></tr>")
    return f"<table class='tests'>{head}{''.join(rows)}</table>"


def _claim_section(r: ClaimResult) -> str:
    c, color = r.claim, COLORS[_outcome(r)]
    kind = " <small>(demonstration: an identity, not counted)</small>" \
        if c.kind == "demonstration" else ""
    parts = [(f'<section id="claim-{c.number}"><h2>{c.number}. {html.escape(c.statement)}'
              f'{kind}</h2>'),
             f'<p class="src">From {html.escape(c.source)}</p>',
             f'<p class="verdict" style="background:{color}">{html.escape(r.label)}</p>']
    verdict, measurement = r.verdict, r.measurement
    if r.error or verdict is None or measurement is None:  # a claim that failed to run
        parts.append(f"<pre>{html.escape(r.error)}</pre></section>")
        return "".join(parts)
    parts.append(f"<p>{html.escape(verdict.reason)}</p>")
    parts.append(f"<p><b>Test:</b> {html.escape(c.criterion)}</p>")
    parts.append(f"<p><b>Protocol:</b> {html.escape(c.protocol)}"
                 + (f"; <b>swept:</b> {html.escape(', '.join(c.factors))}" if c.factors else "")
                 + f"; <b>smallest effect of interest:</b> d = {c.smallest_effect:g}</p>")
    parts.append(_tests_table(r))
    if r.figure is not None:
        parts.append(pio.to_html(r.figure, include_plotlyjs=False, full_html=False,
                                 default_width="100%", default_height="420px"))
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{summarize(v)}</td></tr>"
                   for k, v in measurement.values.items())
    parts.append(f'<details><summary>Numbers</summary><table>{rows}</table></details>')
    parts.extend(f'<p class="note">{html.escape(note)}</p>' for note in measurement.notes)
    parts.append(f'<p class="meta">{r.runs} runs, {r.seconds:.1f} s</p></section>')
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2328}
h1{margin-bottom:.2em} .src,.meta,.note{color:#57606a;font-size:.9em}
.verdict{display:inline-block;color:white;padding:.2em .7em;border-radius:1em;font-weight:600}
table{border-collapse:collapse} td,th{border-bottom:1px solid #d0d7de;padding:.3em .6em;
text-align:left;vertical-align:top} table.tests{font-size:.85em}
section{border-top:2px solid #d0d7de;margin-top:2em}
"""


def write_html(results: Sequence[ClaimResult], path: str | Path, settings: str) -> Path:
    """Write the report (plotly's JS inlined once: opens offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f'<tr><td><a href="#claim-{r.claim.number}">{r.claim.number}</a></td>'
        f"<td>{html.escape(r.claim.statement)}"
        f"{' <small>(demonstration)</small>' if r.claim.kind == 'demonstration' else ''}</td>"
        f'<td style="color:{COLORS[_outcome(r)]};font-weight:600">{html.escape(r.label)}</td>'
        f"<td>{html.escape(r.claim.criterion)}</td></tr>" for r in results)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<h1>fitscope: the notes' claims, measured</h1><p class='meta'>{stamp}; "
            f"{html.escape(settings)}. {html.escape(summary_line(results))}. Verdicts are "
            f"decided on each claim's Holm-adjusted p; the Benjamini-Hochberg column is "
            f"adjusted across the report's claims.</p>"
            f"<table><tr><th>#</th><th>claim</th><th>verdict</th><th>test</th></tr>{rows}"
            f"</table>" + "".join(_claim_section(r) for r in results))
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>fitscope claims"
                    f"</title><style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
                    f"<body>{body}</body></html>")
    return path


def _num(x):
    """A float for JSON: NaN and infinities become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def claim_record(r: ClaimResult) -> dict:
    """One claim of ``claims.json``: number, slug, kind, verdict, region (the condition of
    "holds only when", else ""), and its tests as the report shows them."""
    tests = []
    for i, c in enumerate(r.comparisons):
        t = c.result
        tests.append({"name": c.label, "test": t.name, "statistic": _num(t.statistic),
                      "effect": _num(t.effect), "ci": [_num(t.ci[0]), _num(t.ci[1])],
                      "d": _num(t.d), "p_raw": _num(t.p_raw), "p_adjusted": _num(c.p_adjusted),
                      "p_report_bh": _num(r.p_report[i]) if i < len(r.p_report) else None,
                      "p_tost": _num(t.p_tost), "p_opposite": _num(t.p_opposite),
                      "detectable": _num(t.detectable), "n_pairs": t.n_pairs,
                      "n_dropped": t.n_dropped, "no_variance": t.no_variance,
                      "reported": c.reported})
    return {"number": r.claim.number, "slug": r.claim.slug, "kind": r.claim.kind,
            "verdict": _outcome(r), "region": r.verdict.condition if r.verdict else "",
            "statement": r.claim.statement, "criterion": r.claim.criterion,
            "smallest_effect": r.claim.smallest_effect, "factors": list(r.claim.factors),
            "reason": r.verdict.reason if r.verdict else r.error, "runs": r.runs,
            "seconds": round(r.seconds, 2), "tests": tests}


def claims_json(results: Sequence[ClaimResult], seeds: int,
                results_2x: Sequence[ClaimResult] | None = None) -> dict:
    """The report as data: ``{"seeds": N, "claims": [claim_record, ...]}``; with the
    stability run, each claim also has ``verdict_2x`` (and ``region_2x``) at 2N seeds."""
    claims = [claim_record(r) for r in results]
    if results_2x is not None:
        by_number = {r.claim.number: r for r in results_2x}
        for rec in claims:
            other = by_number.get(rec["number"])
            rec["verdict_2x"] = _outcome(other) if other else None
            rec["region_2x"] = other.verdict.condition if other and other.verdict else ""
    return {"seeds": seeds, "claims": claims}


def write_json(data: dict, path: str | Path) -> Path:
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    return path


DECIDED = ("holds", "holds only when", "does not hold")


def stability(results: Sequence[ClaimResult], results_2x: Sequence[ClaimResult]) -> dict:
    """Verdicts at N and 2N seeds compared, over the claims (not the demonstrations).

    ``changes``: claims that move between "holds" (or a "holds only when" region) and "does
    not hold": the instability the demo must not have. ``moved``: other differences
    (holds <-> holds only when, another region, "not shown" decided or undecided), listed,
    allowed. ``decided``: claims decided at N seeds; ``smallest_p``: the smallest raw p of
    both runs."""
    twice = {r.claim.number: r for r in results_2x}
    positive = {"holds", "holds only when"}
    changes, moved = [], []
    for r in results:
        o = twice.get(r.claim.number)
        if r.claim.kind != "claim" or o is None:
            continue
        a, b = _outcome(r), _outcome(o)
        if {a, b} & positive and "does not hold" in (a, b):
            changes.append(r.claim.number)
        elif a != b or (r.verdict and o.verdict and r.verdict.condition != o.verdict.condition):
            moved.append(r.claim.number)
    ps = [c.result.p_raw for rs in (results, results_2x) for r in rs for c in r.comparisons
          if not math.isnan(c.result.p_raw)]
    decided = sum(_outcome(r) in DECIDED for r in results if r.claim.kind == "claim")
    return {"changes": changes, "moved": moved, "decided": decided,
            "smallest_p": min(ps) if ps else math.nan}
