"""The statistical criteria claims use to decide, each naming its test.

Every function returns a :class:`Comparison` carrying the test's name, the estimate
and the p-value, so the report can print exactly what decided a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # significance level of every claim's test


@dataclass(frozen=True)
class Comparison:
    test: str
    estimate: float     # mean difference a - b (or the mean, for one sample)
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    def text(self) -> str:
        return f"{self.test}: difference {self.estimate:+.4g}, p = {self.p_value:.3g}, n = {self.n}"


def greater(a: Sequence[float], b: Sequence[float], paired: bool = False) -> Comparison:
    """One-sided test that mean(a) > mean(b).

    Paired (same seeds): t = mean(d) / (sd(d) / sqrt(n)) on d = a - b, n - 1 degrees of
    freedom. Unpaired: Welch's t = (mean a - mean b) / sqrt(s_a^2/n_a + s_b^2/n_b) with
    Welch-Satterthwaite degrees of freedom (Welch 1947). Identical samples give p = 1;
    a difference with zero spread gives p = 0 when it points the claimed way.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if paired:
        d = a - b
        name = "one-sided paired t-test"
        if len(d) < 2 or np.std(d) == 0:
            return Comparison(name, float(np.mean(d)), 0.0 if np.mean(d) > 0 else 1.0, len(d))
        res = stats.ttest_rel(a, b, alternative="greater")
        return Comparison(name, float(np.mean(d)), float(res.pvalue), len(d))
    name = "one-sided Welch t-test"
    diff = float(np.mean(a) - np.mean(b))
    if min(len(a), len(b)) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return Comparison(name, diff, 0.0 if diff > 0 else 1.0, min(len(a), len(b)))
    res = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    return Comparison(name, diff, float(res.pvalue), min(len(a), len(b)))


def mean_above(a: Sequence[float], threshold: float) -> Comparison:
    """One-sided one-sample t-test that mean(a) > threshold."""
    a = np.asarray(a, float)
    name = f"one-sided one-sample t-test against {threshold:g}"
    est = float(np.mean(a) - threshold)
    if len(a) < 2 or np.std(a) == 0:
        return Comparison(name, est, 0.0 if est > 0 else 1.0, len(a))
    return Comparison(name, est, float(stats.ttest_1samp(a, threshold,
                                                         alternative="greater").pvalue), len(a))


def mean_ci(xs: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): mean +- t_{(1+level)/2, n-1} * s / sqrt(n) (Student 1908)."""
    x = np.asarray(xs, float)
    m = float(np.mean(x)) if len(x) else math.nan
    if len(x) < 2:
        return m, m, m
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half
