"""The statistical criteria claims use to decide, each naming its test.

Every function returns a :class:`Comparison` carrying the test's name, the estimate
and the p-value, so the report can print exactly what decided a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..study.stats import ALPHA, mean_ci, paired_t, welch_t
from ..study.stats import Comparison as StudyComparison

__all__ = ["ALPHA", "Comparison", "greater", "mean_above", "mean_ci"]


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


def _one_sided(c: StudyComparison, name: str) -> Comparison:
    """One-sided p for "mean difference > 0" from a two-sided t-test: p/2 when t > 0,
    1 - p/2 otherwise. Samples with no spread: 0 if the difference is positive, else 1."""
    if math.isnan(c.p):
        p = 0.0 if c.diff > 0 else 1.0
    else:
        p = c.p / 2 if c.t > 0 else 1 - c.p / 2
    return Comparison(name, c.diff, p, min(c.n_a, c.n_b))


def greater(a: Sequence[float], b: Sequence[float], paired: bool = False) -> Comparison:
    """One-sided test that mean(a) > mean(b): the paired t-test on a_i - b_i (same seeds)
    or Welch's t-test (formulas in :mod:`fitscope.study.stats`)."""
    if paired:
        return _one_sided(paired_t(a, b), "one-sided paired t-test")
    return _one_sided(welch_t(a, b), "one-sided Welch t-test")


def mean_above(a: Sequence[float], threshold: float) -> Comparison:
    """One-sided one-sample t-test that mean(a) > threshold (a paired test against a
    constant sample)."""
    c = paired_t(a, [threshold] * len(a))
    return _one_sided(c, f"one-sided one-sample t-test against {threshold:g}")
