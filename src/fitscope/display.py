"""How fitscope's objects show themselves in Jupyter: an HTML summary (``_repr_html_``)
and a plain one-line ``__repr__`` for runs, probes, findings, study reports, claim results
and landscapes.

Each summary is a table (status, key metrics, findings with their severity); a run's also
carries a small inline SVG of its loss curves (no JavaScript, so it survives a saved
notebook and GitHub's viewer). The classes call these functions from their
``_repr_html_``; the functions only read the objects.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .claims.demo import ClaimResult
    from .config import RunConfig
    from .landscape.results import Line, Surface
    from .probe.findings import Finding
    from .probe.hooks import Probe
    from .run import Run
    from .study.report import StudyReport
    from .study.runner import StudyResult

STATUS_COLORS = {"completed": "#1a7f37", "early_stopped": "#0969da", "diverged": "#cf222e",
                 "failed": "#6e7781", "holds": "#1a7f37", "does not hold": "#cf222e",
                 "holds only when": "#9a6700", "error": "#6e7781"}
SEVERITY_COLORS = {"info": "#0969da", "warning": "#9a6700", "error": "#cf222e"}
METRIC_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
               "best_epoch", "epochs_run", "steps")
CELL = "border:1px solid #d0d7de;padding:2px 8px;font-size:12px;vertical-align:top"


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
               left: Sequence[str] = (), colors: Sequence[str | None] | None = None,
               styled: bool = False) -> str:
    """A table: columns named in ``left`` are left-aligned (class ``t``), the others
    right-aligned; ``colors`` gives a text colour per row. Cells are escaped. ``styled``
    writes the cell style inline (for a notebook, which has no stylesheet of ours)."""
    cell = f' style="{CELL};text-align:%s"' if styled else ""
    cls = [' class="t"' if h in left else "" for h in headers]
    align = ["left" if h in left else "right" for h in headers]
    head = "".join(f"<th{c}{cell % a if cell else ''}>{html.escape(h)}</th>"
                   for h, c, a in zip(headers, cls, align))
    body = []
    for i, row in enumerate(rows):
        color = colors[i] if colors else None
        style = f' style="color:{color}"' if color else ""
        body.append(f"<tr{style}>" + "".join(
            f"<td{c}{cell % a if cell else ''}>{html.escape(fmt_value(v))}</td>"
            for v, c, a in zip(row, cls, align)) + "</tr>")
    table = '<table style="border-collapse:collapse;margin:4px 0">' if styled else "<table>"
    return f"{table}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def fmt_value(v: Any) -> str:
    """A cell's text: floats to 4 significant digits, None as a dash."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def badge(text: str, key: str | None = None) -> str:
    """``text`` on the colour of status ``key`` (``text`` itself by default)."""
    color = STATUS_COLORS.get(text if key is None else key, "#6e7781")
    return (f'<span style="background:{color};color:white;padding:1px 8px;'
            f'border-radius:8px;font-weight:600">{html.escape(text)}</span>')


def box(title: str, status: str, *parts: str, key: str | None = None) -> str:
    return (f'<div class="fitscope"><b>{html.escape(title)}</b> {badge(status, key)}'
            + "".join(parts) + "</div>")


def sparkline(series: dict[str, Sequence[float]], width: int = 260, height: int = 70) -> str:
    """An inline SVG of a few curves over their index (finite values only), with a legend:
    a glance at a run's loss without JavaScript."""
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    finite = [v for ys in series.values() for v in ys if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    lines, legend = [], []
    for k, (name, ys) in enumerate(series.items()):
        n = max(len(ys) - 1, 1)
        pts = " ".join(f"{4 + (width - 8) * i / n:.1f},{4 + (height - 8) * (hi - y) / span:.1f}"
                       for i, y in enumerate(ys) if math.isfinite(y))
        color = colors[k % len(colors)]
        lines.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                     f'points="{pts}"/>')
        legend.append(f'<span style="color:{color}">&#9632; {html.escape(name)}</span>')
    return (f'<div><svg width="{width}" height="{height}" style="border:1px solid #d0d7de">'
            + "".join(lines) + f'</svg><br><small>{" ".join(legend)} '
            f"(from {lo:.3g} to {hi:.3g})</small></div>")


# -- runs --------------------------------------------------------------------------------
def describe(config: RunConfig) -> str:
    """A config in one line: data, model, init, optimizer, budget."""
    d, m, o = config.data, config.model, config.optimizer
    return (f"{d.name} · {m.kind} depth {m.depth} width {m.width} {m.activation} · "
            f"init {config.init.scheme} · {o.name} lr {o.lr:g} · "
            f"{config.budget.epochs} epochs, seed {config.budget.seed}")


def run_repr(run: Run) -> str:
    metrics = ", ".join(f"{k}={run.metrics[k]:.4g}" for k in ("test_acc", "test_loss")
                        if isinstance(run.metrics.get(k), (int, float)))
    extra = f", {len(run.probes)} probe records" if run.probes else ""
    reason = f", {run.reason}" if run.reason else ""
    return (f"Run({run.run_id} {run.status}{reason}, {describe(run.config)}, "
            f"{len(run.history)} epochs recorded{', ' + metrics if metrics else ''}{extra})")


def run_html(run: Run) -> str:
    from .probe.findings import diagnose

    rows = [[k, run.metrics[k]] for k in METRIC_KEYS if k in run.metrics]
    if run.reason:
        rows.append(["reason", run.reason])
    curves: dict[str, Sequence[float]] = {k: run.column(k) for k in ("train_loss", "val_loss")
                                          if run.history and k in run.history[0]}
    return box(f"Run {run.run_id}", run.status,
               f"<div><small>{html.escape(describe(run.config))}</small></div>",
               html_table(["metric", "value"], rows, left=("metric",), styled=True),
               sparkline(curves), findings_html(diagnose(run)))


# -- findings ----------------------------------------------------------------------------
def findings_repr(findings: Sequence[Finding]) -> str:
    if not findings:
        return "Findings(none)"
    return "Findings(" + ", ".join(f"{f.severity}:{f.code}" + (f"[{f.layer}]" if f.layer else "")
                                   for f in findings) + ")"


def findings_html(findings: Sequence[Finding]) -> str:
    if not findings:
        return "<div><small>diagnosis: no findings</small></div>"
    rows = [[f.severity, f.code, f.layer, f.explanation, f.fix] for f in findings]
    return ("<div><small>diagnosis</small>" + html_table(
        ["severity", "finding", "layer", "explanation", "fix"], rows,
        left=("severity", "finding", "layer", "explanation", "fix"),
        colors=[SEVERITY_COLORS.get(f.severity) for f in findings], styled=True) + "</div>")


def finding_html(finding: Finding) -> str:
    return findings_html([finding])


# -- probes ------------------------------------------------------------------------------
PROBE_COLUMNS = (("act std", "act_std"), ("z std", "preact_std"),
                 ("dL/dz std", "preact_grad_std"), ("dead", "act_dead"),
                 ("saturated", "act_saturated"), ("|W|", "weight_norm"),
                 ("update ratio", "update_ratio"))


def probe_summary(records: Sequence[dict], step: int | None = None) -> tuple[int | None, list]:
    """The probed ``step`` (the last one by default) as rows: one per layer in forward
    order, the scalar quantities of :data:`PROBE_COLUMNS` (None where a layer lacks one)."""
    if not records:
        return None, []
    step = records[-1]["step"] if step is None else step
    values = {(r["layer"], r["quantity"]): r["value"] for r in records if r["step"] == step}
    layers = list(dict.fromkeys(layer for layer, _ in values))
    return step, [[layer, *(values.get((layer, q)) for _, q in PROBE_COLUMNS)]
                  for layer in layers]


def probe_repr(p: Probe) -> str:
    steps = sorted({r["step"] for r in p.records})
    return (f"Probe({type(p.model).__name__}, every={p.every}, bins={p.bins}, "
            f"{len(steps)} steps sampled{f' (last {steps[-1]})' if steps else ''}, "
            f"{len(p.records)} records)")


def probe_html(p: Probe) -> str:
    step, rows = probe_summary(p.records)
    steps = len({r["step"] for r in p.records})
    status = "recording" if p.records else "no steps yet"
    table = html_table(["layer", *(c for c, _ in PROBE_COLUMNS)], rows, left=("layer",),
                       styled=True) if rows else ""
    return box(f"Probe on {type(p.model).__name__}", status,
               f"<div><small>every {p.every} steps, {p.bins} bins; {steps} steps sampled, "
               f"{len(p.records)} records; step in progress {p.current}</small></div>",
               f"<div><small>last probed step {step}</small></div>" if rows else "", table)


# -- studies -----------------------------------------------------------------------------
def study_report_repr(report: StudyReport) -> str:
    best = report.configs[0] if report.configs else None
    top = ""
    if best is not None:
        est = best.estimates[report.metric]
        top = f"; best {best.label}: {report.metric} {est.mean:.4g} (n={est.n})"
    return (f"StudyReport({report.study}: {len(report.configs)} configurations ranked by "
            f"{report.metric}, {len(report.comparisons)} comparisons{top})")


def study_report_html(report: StudyReport) -> str:
    from .study import report as rep

    finished = sum(c.finished for c in report.configs)
    runs = sum(c.runs for c in report.configs)
    status = "complete" if finished == runs else f"{finished}/{runs} finished"
    return box(f"Study {report.study}", status,
               f"<div><small>{html.escape(rep.ranked_title(report))}</small></div>",
               html_table(*rep.ranked_rows(report), left=rep.TEXT_COLUMNS, styled=True),
               f"<div><small>{html.escape(rep.comparison_title(report))}</small></div>",
               html_table(*rep.comparison_rows(report), left=rep.TEXT_COLUMNS, styled=True)
               if report.comparisons else "")


def study_result_repr(result: StudyResult) -> str:
    return (f"StudyResult({result.total} runs, {result.trained} trained now, "
            f"statuses {result.statuses})")


def study_result_html(result: StudyResult) -> str:
    status = "complete" if result.statuses.get("completed", 0) + result.statuses.get(
        "early_stopped", 0) == result.total else "incomplete"
    rows = [["runs in the study", result.total], ["trained now", result.trained],
            *([f"status {k}", v] for k, v in sorted(result.statuses.items()))]
    return box("Study run", status, html_table(["", "count"], rows, left=("",), styled=True))


# -- claims ------------------------------------------------------------------------------
def claim_repr(result: ClaimResult) -> str:
    return (f"ClaimResult(#{result.claim.number} {result.claim.slug}: {result.label}; "
            f"{result.runs} runs, {result.seconds:.1f} s)")


def claim_html(result: ClaimResult) -> str:
    from .claims.report import summarize

    c = result.claim
    outcome = result.verdict.outcome if result.verdict else "error"
    parts = [f"<div>{html.escape(c.statement)}</div>",
             (f"<div><small>{html.escape(c.source)}; test: {html.escape(c.criterion)}"
             f"</small></div>")]
    if result.error:
        last = result.error.strip().splitlines()[-1] if result.error.strip() else ""
        parts.append(f"<div>error: {html.escape(last)}</div>")
    else:
        assert result.verdict is not None and result.measurement is not None  # it ran
        parts.append(f"<div><b>{html.escape(result.label)}</b>: "
                     f"{html.escape(result.verdict.reason)}</div>")
        rows = [[k, html.unescape(summarize(v))] for k, v in result.measurement.values.items()]
        parts.append(html_table(["measured", "value"], rows, left=("measured", "value"),
                                styled=True))
        parts.extend(f"<div><small>{html.escape(n)}</small></div>"
                     for n in result.measurement.notes)
    parts.append(f"<div><small>{result.runs} runs, {result.seconds:.1f} s</small></div>")
    return box(f"Claim {c.number}", result.label, *parts, key=outcome)


# -- landscapes --------------------------------------------------------------------------
def landscape_rows(result: Line | Surface) -> list[list[Any]]:
    """Shape, loss range (finite values), and what the result was computed around."""
    import numpy as np

    loss = np.asarray(result.loss, dtype=float)
    ok = loss[np.isfinite(loss)]
    rows: list[list[Any]] = [["kind", result.kind], ["points", "x".join(map(str, loss.shape))],
            ["min loss", float(ok.min()) if ok.size else None],
            ["max loss", float(ok.max()) if ok.size else None],
            ["non-finite", int(loss.size - ok.size)]]
    if result.kind == "line":
        ends = [float(loss[0]), float(loss[-1])] if loss.size else [None, None]
        rows += [["loss at t=0", ends[0]], ["loss at t=1", ends[1]]]
    else:
        surface = cast("Surface", result)
        rows.append(["center loss", surface.center_loss])
        if surface.path is not None:
            rows.append(["path snapshots", len(surface.path)])
        if surface.explained_variance:
            rows.append(["explained variance",
                         ", ".join(f"{v:.1%}" for v in surface.explained_variance)])
    rows += [[k, v] for k, v in result.meta.items() if isinstance(v, (int, float, str))]
    return rows


def landscape_repr(result: Line | Surface) -> str:
    rows = dict(landscape_rows(result))
    return (f"{type(result).__name__}({result.kind}, {rows['points']} points, loss "
            f"{fmt_value(rows['min loss'])}..{fmt_value(rows['max loss'])})")


def landscape_html(result: Line | Surface) -> str:
    rows = landscape_rows(result)
    status = "finite" if rows[4][1] == 0 else f"{rows[4][1]} non-finite"
    return box(f"Landscape {type(result).__name__.lower()}", status,
               html_table(["", "value"], rows, left=("", "value"), styled=True))
