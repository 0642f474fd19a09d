"""Statistics over seeds: means with confidence intervals, and two-sample t-tests.

The t distribution and the tests come from ``scipy.stats``; the formulas they compute
are stated here once, with their sources.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """A sample mean and its confidence interval ``[low, high]`` (NaN for n < 2 or with an
    infinite value)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval (Student 1908).

    x̄ ± t_{(1+level)/2, n-1} · s / √n, with s the sample standard deviation (ddof 1);
    for level 0.95 and n = 5, t = 2.776. NaN values are left out; an infinite one (a
    diverged run's loss) makes the mean infinite and the interval NaN.
    """
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if not np.isfinite(x).all():
        return Estimate(sum(x.tolist()), math.nan, math.nan, len(x))  # +-inf, or NaN if both
    mean = float(x.mean())
    if len(x) < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Estimate(mean, mean - half, mean + half, len(x))


@dataclass(frozen=True)
class Comparison:
    """A two-sample test of mean(a) - mean(b): which test, t, its degrees of freedom, p."""

    test: str
    diff: float
    t: float
    df: float
    p: float
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        """p < 0.05: the difference is larger than the seeds' noise explains."""
        return self.p < ALPHA


def paired_t(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Paired t-test on the differences d_i = a_i - b_i (Student 1908).

    t = d̄ / (s_d / √n), df = n - 1; two-sided p. Use it when a_i and b_i share
    everything but the compared factor (here: the seed and the other axes).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"paired_t needs samples of one length, got {len(a)} and {len(b)}")
    diff = float((a - b).mean()) if len(a) else math.nan
    if len(a) < 2:
        return Comparison("paired t-test", diff, math.nan, math.nan, math.nan, len(a), len(b))
    res = _quiet(stats.ttest_rel, a, b)
    return Comparison("paired t-test", diff, float(res.statistic), float(res.df),
                      float(res.pvalue), len(a), len(b))


def welch_t(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's unequal-variance t-test (Welch 1947).

    t = (ā - b̄) / √(s_a²/n_a + s_b²/n_b), with the Welch-Satterthwaite degrees of freedom
    df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1)); two-sided p.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return Comparison("Welch t-test", diff, math.nan, math.nan, math.nan, len(a), len(b))
    res = _quiet(stats.ttest_ind, a, b, equal_var=False)
    return Comparison("Welch t-test", diff, float(res.statistic), float(res.df),
                      float(res.pvalue), len(a), len(b))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), for many comparisons at once.

    With the m p-values sorted ascending, p_(i) becomes max_{j<=i} min(1, (m - j + 1) p_(j));
    rejecting where the adjusted p < α keeps the chance of any false positive below α.
    NaN p-values stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), math.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def _quiet(test, *args, **kwargs):
    """Run a scipy test; samples with no spread give NaN or inf, not warnings."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return test(*args, **kwargs)
