"""A study's report: statistics over seeds per configuration, comparisons per axis.

:func:`build_report` reduces a study's stored runs to a :class:`StudyReport`;
:meth:`StudyReport.html` renders one self-contained HTML file (plotly's JavaScript is
inlined, so it opens without a network) and :meth:`StudyReport.tables` the terminal
summary.

Only runs that finished with metrics (``completed`` or ``early_stopped``) enter the
means, the curves and the tests; diverged and failed runs are counted per configuration.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from plotly.offline import get_plotlyjs
from rich.table import Table

from .. import display
from ..figures import compare, curves
from .stats import ALPHA, Comparison, Estimate, holm, mean_ci, paired_t, welch_t
from .store import Member, StoredRun

FINISHED = ("completed", "early_stopped")
METRICS = ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc", "train_loss",
           "test_rmse", "test_r2", "val_rmse", "val_r2")
"""What a report may rank and compare on: accuracies and R2 descending, losses and RMSE
ascending (RMSE and R2: regression runs, in the target's own units)."""


@dataclass(frozen=True)
class ConfigSummary:
    """One configuration over its seeds.

    ``gap_acc`` is train minus test accuracy and ``gap_loss`` test minus train loss
    (both positive when the model generalizes worse than it fits); ``best_epoch`` is the
    epoch whose weights were kept (the early-stopping epoch when early stopping is on).
    ``curve`` holds (epoch, mean, low, high) of the validation loss.
    """

    label: str
    axes: dict[str, str]
    runs: int
    stored: int
    finished: int
    diverged: int
    failed: int
    estimates: dict[str, Estimate]
    curve: list[tuple[int, float, float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class AxisComparison:
    """Two values of one axis compared on the report's metric; ``p_holm`` is the
    Holm-adjusted p over all the report's comparisons."""

    axis: str
    a: str
    b: str
    result: Comparison
    p_holm: float


@dataclass(frozen=True)
class StudyReport:
    study: str
    metric: str
    configs: list[ConfigSummary]
    comparisons: list[AxisComparison]
    spec_text: str = ""

    def html(self) -> str:
        return render_html(self)

    def __repr__(self) -> str:
        from ..display import study_report_repr

        return study_report_repr(self)

    def _repr_html_(self) -> str:
        """The ranked table and the comparisons (:mod:`fitscope.display`)."""
        from ..display import study_report_html

        return study_report_html(self)

    @property
    def plot(self):
        """Plotly figures of this study: ``report.plot.compare(metric)``, ``.curves()``
        (:class:`fitscope.figures.StudyPlots`)."""
        from ..figures import StudyPlots

        return StudyPlots(self)

    def tables(self) -> list[Table]:
        """The terminal summary: the ranked table and the comparisons."""
        return [rich_table(ranked_title(self), *ranked_rows(self), caption=RANK_NOTE),
                rich_table(comparison_title(self), *comparison_rows(self),
                           caption=multiple_comparisons_note(self))]


# -- reduction ---------------------------------------------------------------------------
def run_values(record: dict) -> dict[str, float]:
    """The per-run quantities the report averages over seeds."""
    m = record["metrics"]
    get = lambda key: math.nan if m.get(key) is None else float(m[key])  # noqa: E731
    return {"test_acc": get("test_acc"), "test_loss": get("test_loss"),
            "val_acc": get("val_acc"), "val_loss": get("val_loss"),
            "train_acc": get("train_acc"), "train_loss": get("train_loss"),
            "gap_acc": get("train_acc") - get("test_acc"),
            "gap_loss": get("test_loss") - get("train_loss"),
            "best_epoch": get("best_epoch"),
            **{key: get(key) for key in ("test_rmse", "test_r2", "val_rmse", "val_r2")}}


def summarize(label: str, members: Sequence[Member], stored: dict[str, StoredRun]
              ) -> ConfigSummary:
    runs = [stored[m.run_id].record for m in members if m.run_id in stored]
    done = [r for r in runs if r["status"] in FINISHED]
    values = [run_values(r) for r in done]
    keys = values[0].keys() if values else run_values({"metrics": {}}).keys()
    return ConfigSummary(
        label=label, axes=members[0].axes, runs=len(members), stored=len(runs),
        finished=len(done), diverged=sum(r["status"] == "diverged" for r in runs),
        failed=sum(r["status"] == "failed" for r in runs),
        estimates={k: mean_ci([v[k] for v in values]) for k in keys},
        curve=band([[row["val_loss"] for row in r["history"]] for r in done]))


def band(curves: Sequence[Sequence[float]]) -> list[tuple[int, float, float, float]]:
    """Per epoch, the mean and 95% CI over the curves that reach it (epochs from 1)."""
    out = []
    for e in range(max((len(c) for c in curves), default=0)):
        est = mean_ci([c[e] for c in curves if len(c) > e and math.isfinite(c[e])])
        if est.n:
            out.append((e + 1, est.mean, est.low, est.high))
    return out


def compare_axis(axis: str, members: Sequence[Member], stored: dict[str, StoredRun],
                 metric: str) -> list[tuple[str, str, Comparison]]:
    """Every pair of the axis' values, on ``metric``.

    Runs are matched on the other axes and the seed: when every run of one value has its
    partner in the other, the test is paired, otherwise Welch's.
    """
    samples: dict[str, dict[tuple, float]] = {}
    for m in members:
        rec = stored.get(m.run_id)
        if rec is None or rec.status not in FINISHED:
            continue
        value = run_values(rec.record)[metric]
        if math.isfinite(value):
            key = (tuple(sorted((k, v) for k, v in m.axes.items() if k != axis)), m.seed)
            samples.setdefault(m.axes[axis], {})[key] = value
    values = list(dict.fromkeys(m.axes[axis] for m in members))
    out = []
    for a, b in combinations(values, 2):
        sa, sb = samples.get(a, {}), samples.get(b, {})
        if sa.keys() == sb.keys():
            keys = sorted(sa)
            result = paired_t([sa[k] for k in keys], [sb[k] for k in keys])
        else:
            result = welch_t(list(sa.values()), list(sb.values()))
        out.append((a, b, result))
    return out


def build_report(study: str, members: Sequence[Member], stored: Sequence[StoredRun],
                 metric: str | None = None, spec_text: str = "") -> StudyReport:
    """Summaries per configuration, ranked on ``metric``, and the pairwise comparisons of
    every axis with at least two values (Holm-adjusted together). ``metric`` defaults to
    ``test_acc``; without accuracies (regression) ``test_rmse`` (in the target's units),
    or ``test_loss`` for runs recorded before RMSE was."""
    if metric is None:
        has = lambda key: any(s.record["metrics"].get(key) is not None  # noqa: E731
                              for s in stored)
        metric = "test_acc" if has("test_acc") else "test_rmse" if has("test_rmse") \
            else "test_loss"
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    by_id = {s.run_id: s for s in stored}
    groups: dict[str, list[Member]] = {}
    for m in members:
        groups.setdefault(m.label, []).append(m)
    configs = [summarize(label, ms, by_id) for label, ms in groups.items()]
    sign = -1.0 if metric.endswith(("loss", "rmse")) else 1.0
    configs.sort(key=lambda c: (math.isnan(c.estimates[metric].mean),
                                -sign * c.estimates[metric].mean))
    axes = list(dict.fromkeys(k for m in members for k in m.axes))
    raw = [(axis, a, b, res) for axis in axes
           for a, b, res in compare_axis(axis, members, by_id, metric)]
    adjusted = holm([res.p for *_, res in raw])
    comparisons = [AxisComparison(axis, a, b, res, p)
                   for (axis, a, b, res), p in zip(raw, adjusted)]
    return StudyReport(study, metric, configs, comparisons, spec_text)


# -- terminal ----------------------------------------------------------------------------
def fmt(est: Estimate, digits: int = 3) -> str:
    """``mean ± half-width`` of a 95% CI (``mean`` alone for one run, ``-`` for none)."""
    if est.n == 0:
        return "-"
    if est.n == 1:
        return f"{est.mean:.{digits}f}"
    return f"{est.mean:.{digits}f}±{est.half_width:.{digits}f}"


def verdict(c: AxisComparison) -> str:
    if math.isnan(c.result.p):
        return "not testable"
    if not c.result.significant:
        return "within seed noise"
    return "significant" + ("" if c.p_holm < ALPHA else " (not after Holm)")


RANK_COLUMNS = (("test acc", "test_acc"), ("test loss", "test_loss"), ("gap acc", "gap_acc"),
                ("gap loss", "gap_loss"), ("best ep", "best_epoch"))
RANK_NOTE = ("± is the 95% CI half-width over seeds; runs = finished / in the study; gap acc "
             "= train minus test accuracy, gap loss = test minus train loss; best ep = epoch "
             "of the kept weights (the early-stopping epoch when early stopping is on).")


def ranked_rows(report: StudyReport) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the ranked table (finished runs / runs in the study)."""
    headers = ["#", "configuration", "runs", *(c for c, _ in RANK_COLUMNS), "div", "fail"]
    rows = [[str(rank), c.label, f"{c.finished}/{c.runs}",
             *(fmt(c.estimates[k], 1 if k == "best_epoch" else 3) for _, k in RANK_COLUMNS),
             str(c.diverged), str(c.failed)]
            for rank, c in enumerate(report.configs, 1)]
    return headers, rows


def comparison_rows(report: StudyReport) -> tuple[list[str], list[list[str]]]:
    headers = ["axis", "A", "B", "A-B", "test", "n", "p", "Holm p", "verdict"]
    rows = [[c.axis, c.a, c.b, f"{c.result.diff:+.4f}", c.result.test,
             f"{c.result.n_a}/{c.result.n_b}", f"{c.result.p:.3g}", f"{c.p_holm:.3g}",
             verdict(c)] for c in report.comparisons]
    return headers, rows


def ranked_title(report: StudyReport) -> str:
    return (f"study {report.study}: configurations ranked by {report.metric} "
            "(mean ± 95% CI over seeds)")


def comparison_title(report: StudyReport) -> str:
    return (f"pairwise comparisons on {report.metric} (p < {ALPHA}: a difference larger "
            "than the seeds' noise)")


TEXT_COLUMNS = ("configuration", "axis", "A", "B", "test", "verdict")


def rich_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
               caption: str | None = None) -> Table:
    """A terminal table; text columns fold rather than shrink to an ellipsis."""
    table = Table(title=title, caption=caption)
    for i, h in enumerate(headers):
        longest = max((len(str(row[i])) for row in rows), default=len(h))
        if h in TEXT_COLUMNS:
            table.add_column(h, overflow="fold", min_width=min(longest, 24))
        else:
            table.add_column(h, justify="right", no_wrap=True, min_width=longest)
    for row in rows:
        table.add_row(*row)
    return table


def multiple_comparisons_note(report: StudyReport) -> str:
    m = sum(not math.isnan(c.result.p) for c in report.comparisons)
    return (f"{m} tests at α = {ALPHA}: with no real difference anywhere, about "
            f"{ALPHA * m:.2g} would still come out significant by chance. Holm's adjusted p "
            "keeps the chance of any false positive below α.")


# -- HTML ----------------------------------------------------------------------------------
def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; text columns are left-aligned (class ``t``), numbers right-aligned."""
    return display.html_table(headers, rows, left=TEXT_COLUMNS)


def render_html(report: StudyReport) -> str:
    figures = "".join(f.to_html(full_html=False, include_plotlyjs=False)
                      for f in (compare(report), curves(report)))
    esc = html.escape
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fitscope study {esc(report.study)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:right}}.t{{text-align:left}}</style>
</head><body>
<h1>Study {esc(report.study)}</h1>
<p>{len(report.configs)} configurations; means over seeds with 95% Student-t confidence
intervals. Only runs that finished (completed or early-stopped) enter the statistics;
diverged and failed runs are counted.</p>
<h2>{esc(ranked_title(report))}</h2>{html_table(*ranked_rows(report))}
<p>{esc(RANK_NOTE)}</p>
<h2>{esc(comparison_title(report))}</h2>
<p>Runs of two values are matched on the other axes and the seed: a paired t-test when
every run has its partner, Welch's t-test otherwise. {esc(multiple_comparisons_note(report))}
</p>{html_table(*comparison_rows(report))}
<h2>Figures</h2>{figures}
<h2>Study file</h2><pre>{esc(report.spec_text)}</pre>
</body></html>"""
