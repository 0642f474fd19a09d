"""What the optimization claims share: learning rates chosen on other seeds, bands and
error bars over seeds, jittered start points and verdicts of compound claims."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..base import Verdict, mean
from ..tests import mean_ci

# -- shared helpers -----------------------------------------------------------------------


def _band(fig: go.Figure, x: Sequence[float], per_seed: Sequence[Sequence[float]], name: str,
          color: str, row: int | None = None, col: int | None = None) -> None:
    """Mean over seeds as a line, the range over seeds (lowest to highest) as a band: it
    stays positive on log axes, where a t interval of three seeds would not."""
    cols = [[s[i] for s in per_seed] for i in range(len(x))]
    lo, hi = [min(c) for c in cols], [max(c) for c in cols]
    where = {"row": row, "col": col} if row else {}
    fig.add_scatter(x=list(x) + list(x)[::-1], y=hi + lo[::-1], fill="toself", opacity=0.2,
                    mode="lines", line={"width": 0}, fillcolor=color, hoverinfo="skip",
                    showlegend=False, **where)
    fig.add_scatter(x=list(x), y=[mean(c) for c in cols], mode="lines", name=name,
                    line={"color": color}, **where)


def _errorbars(fig: go.Figure, x: Sequence, per_x: Sequence[Sequence[float]], name: str,
               row: int | None = None, col: int | None = None, color: str | None = None) -> None:
    """Mean of each x's values with its 95% t interval as error bars."""
    cis = [mean_ci(v) for v in per_x]
    where = {"row": row, "col": col} if row else {}
    fig.add_scatter(x=list(x), y=[c.mean for c in cis], mode="lines+markers", name=name,
                    line={"color": color} if color else None,
                    error_y={"type": "data", "array": [c.half_width for c in cis]}, **where)


def _jitter(start: tuple[float, float], seed: int,
            spread: tuple[float, float]) -> tuple[float, float]:
    """``start`` moved by U(-spread, spread) per coordinate, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    (x, y), (dx, dy) = start, spread
    return float(x + rng.uniform(-dx, dx)), float(y + rng.uniform(-dy, dy))


def _ci_text(xs: Sequence[float]) -> str:
    e = mean_ci(xs)
    return f"{e.mean:.3f} (95% CI {e.low:.3f} to {e.high:.3f})"


def _parts_verdict(detail: str, parts: dict[str, bool]) -> Verdict:
    """``holds`` when every part of a compound claim holds; else ``does not hold``, naming
    the parts that held and those that did not."""
    if all(parts.values()):
        return Verdict("holds", detail + ".")
    held = [p for p, ok in parts.items() if ok] or ["none"]
    failed = [p for p, ok in parts.items() if not ok]
    return Verdict("does not hold", f"{detail}. Held: {'; '.join(held)}. Did not hold: "
                   f"{'; '.join(failed)}.")


SELECTION_SEEDS = 3        # seeds that pick each optimizer's learning rate ...
SELECTION_OFFSET = 10_000  # ... numbered apart from the seeds that are compared


def best_lr(ctx, base, names: Sequence[str], grid: dict[str, Sequence[float]],
            key: str = "train_loss") -> tuple[dict[str, float], dict[str, dict[float, float]]]:
    """Each optimizer's learning rate from its ``grid``: the one with the lowest mean
    final ``key`` over :data:`SELECTION_SEEDS` runs whose seeds (10,000 + s) are not those
    compared afterwards, so the choice is not fitted to the compared runs' noise. A
    diverged run counts as infinite. Returns (chosen rate per optimizer, mean per rate)."""
    import math

    runs = ctx.train_groups({(n, lr): [
        base.with_overrides({"optimizer.name": n, "optimizer.lr": lr,
                             "budget.seed": SELECTION_OFFSET + s})
        for s in range(SELECTION_SEEDS)] for n in names for lr in grid[n]})
    table: dict[str, dict[float, float]] = {n: {} for n in names}
    for (n, lr), rs in runs.items():
        vals = [r.metrics.get(key, math.inf) if r.status != "diverged" else math.inf
                for r in rs]
        table[n][lr] = math.inf if any(not math.isfinite(v) for v in vals) else \
            sum(vals) / len(vals)
    return {n: min(grid[n], key=table[n].__getitem__) for n in names}, table
