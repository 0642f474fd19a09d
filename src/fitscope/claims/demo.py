"""Run claims, time them, keep going when one fails, and collect results for the report."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..study.stats import benjamini_hochberg
from .base import Claim, Context, Measurement, Verdict
from .tests import Comparison, evaluate


@dataclass
class ClaimResult:
    claim: Claim
    measurement: Measurement | None
    verdict: Verdict | None
    figure: Any = None
    seconds: float = 0.0
    runs: int = 0
    error: str = ""
    extra: dict = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    p_report: list[float] = field(default_factory=list)  # BH across the report's tests

    @property
    def label(self) -> str:
        return self.verdict.label if self.verdict else "error"

    def __repr__(self) -> str:
        from ..display import claim_repr

        return claim_repr(self)

    def _repr_html_(self) -> str:
        """The statement, the verdict and its reason, the numbers (:mod:`fitscope.display`)."""
        from ..display import claim_html

        return claim_html(self)


def run_claim(claim: Claim, ctx: Context) -> ClaimResult:
    """Measure, decide and draw one claim; an exception becomes a result with ``error``."""
    t0, before = time.perf_counter(), ctx.runs_trained
    try:
        m = claim.measure(ctx)
        decision = evaluate(claim, m)
        fig = claim.figure(m)
    except Exception:  # noqa: BLE001 - one broken claim must not end the demo
        return ClaimResult(claim, None, None, seconds=time.perf_counter() - t0,
                           runs=ctx.runs_trained - before, error=traceback.format_exc())
    return ClaimResult(claim, m, decision.verdict, fig, time.perf_counter() - t0,
                       ctx.runs_trained - before, comparisons=decision.comparisons)


def adjust_across(results: Sequence[ClaimResult]) -> None:
    """Benjamini-Hochberg over every test of the report's claims (kind "claim"), at 5%:
    stored in ``p_report`` beside each claim's Holm-adjusted p. A report-level column:
    verdicts stay decided within each claim, so ``--claim N`` alone decides alike."""
    cells = [(r, i) for r in results if r.claim.kind == "claim"
             for i in range(len(r.comparisons))]
    adjusted = benjamini_hochberg([r.comparisons[i].result.p_raw for r, i in cells])
    for r in results:
        r.p_report = [math.nan] * len(r.comparisons)
    for (r, i), p in zip(cells, adjusted):
        r.p_report[i] = p


def run_claims(claims: Iterable[Claim], ctx: Context, show: bool = True) -> list[ClaimResult]:
    claims = list(claims)
    results = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, disable=not show) as bar:
        task = bar.add_task("claims", total=len(claims))
        for c in claims:
            bar.update(task, description=f"claim {c.number}: {c.slug}")
            results.append(run_claim(c, ctx))
            bar.advance(task)
    adjust_across(results)
    return results
