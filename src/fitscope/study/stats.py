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
# Samples of one measurement: a list of floats or a 1-D array.
Samples = Sequence[float] | np.ndarray


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


def paired_t(a: Samples, b: Samples) -> Comparison:
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


def welch_t(a: Samples, b: Samples) -> Comparison:
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


# -- claims' statistics: exact permutation tests, effect sizes, equivalence, multiplicity ---

PERMUTATIONS = 20_000   # Monte Carlo draws where exact enumeration is too large
EXACT_SIGN_FLIPS = 16   # enumerate all 2^n sign flips up to this many pairs
EXACT_SPLITS = 100_000  # enumerate all C(n_a + n_b, n_a) splits up to this many


@dataclass(frozen=True)
class Test:
    """One one-sided test of "mean(a) > mean(b)" as the claims report it.

    ``effect`` is the mean difference (paired: mean of a_i - b_i; else mean(a) - mean(b))
    and ``ci`` its 95% Student-t interval; ``d`` the standardized effect (effect / sd,
    with sd of the differences when paired, the pooled sd otherwise); ``statistic`` the
    t statistic beside the permutation p. ``p_raw`` is the permutation p-value; with no
    spread (``no_variance``) no test is made and ``p_raw`` is 1. ``p_opposite`` is the
    same test the other way (mean(a) < mean(b)); ``p_tost`` the equivalence test
    against ``bound`` (|difference| < bound). ``n_dropped`` counts the pairs (or values)
    left out because a side was not finite (a diverged run).
    """

    name: str
    statistic: float
    effect: float
    ci: tuple[float, float]
    d: float
    sd: float
    p_raw: float
    p_opposite: float
    p_tost: float
    bound: float
    n_pairs: int
    n_dropped: int
    paired: bool
    no_variance: bool
    detectable: float   # smallest difference detectable with 80% power (raw units)


def sign_flip_p(d: Samples) -> float:
    """Exact paired sign-flip permutation test (Fisher 1935) of mean(d) > 0.

    Under H0 each d_i is as likely to be -d_i; p = #{s in {-1, 1}^n : mean(s d) >= mean(d)}
    / 2^n, over all 2^n sign vectors for n <= 16 (smallest possible p = 1/2^n, one-sided:
    2.4e-4 with 12 pairs), else over 20,000 random ones with p = (1 + k) / (1 + 20,000).
    Never 0.
    """
    x = np.asarray(d, dtype=float)
    n = len(x)
    if n == 0:
        return 1.0
    observed = x.sum()
    tol = 1e-12 * max(1.0, float(np.abs(x).sum()))
    if n <= EXACT_SIGN_FLIPS:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(((signs @ x) >= observed - tol).mean())
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(PERMUTATIONS, n))
    return float((1 + ((signs @ x) >= observed - tol).sum()) / (1 + PERMUTATIONS))


def split_p(a: Samples, b: Samples) -> float:
    """Two-sample permutation test (Pitman 1937) of mean(a) > mean(b).

    p = share of the splits of the pooled values into groups of n_a and n_b whose mean
    difference is at least the observed one: all C(n_a + n_b, n_a) splits when at most
    100,000 (smallest p = 1 / C(n_a + n_b, n_a)), else 20,000 random ones with
    p = (1 + k) / (1 + 20,000). Never 0.
    """
    from itertools import combinations
    from math import comb

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled, na = np.concatenate([a, b]), len(a)
    if na == 0 or len(b) == 0:
        return 1.0
    observed = a.sum()   # mean(a) - mean(b) is increasing in sum(a) for fixed sizes
    tol = 1e-12 * max(1.0, float(np.abs(pooled).sum()))
    if comb(len(pooled), na) <= EXACT_SPLITS:
        idx = np.fromiter((i for c in combinations(range(len(pooled)), na) for i in c),
                          dtype=np.int64).reshape(-1, na)
        sums = pooled[idx].sum(axis=1)
        return float((sums >= observed - tol).mean())
    rng = np.random.default_rng(0)
    perms = rng.random((PERMUTATIONS, len(pooled))).argsort(axis=1)[:, :na]
    sums = pooled[perms].sum(axis=1)
    return float((1 + (sums >= observed - tol).sum()) / (1 + PERMUTATIONS))


def detectable_difference(sd: float, n_a: int, n_b: int | None = None, alpha: float = ALPHA,
                          power: float = 0.8) -> float:
    """Smallest true difference a one-sided test at ``alpha`` detects with ``power``:
    (t_{1-alpha, df} + t_{power, df}) · se, with se = sd/√n, df = n - 1 when paired
    (``n_b`` None), se = sd·√(1/n_a + 1/n_b), df = n_a + n_b - 2 otherwise (the normal
    approximation of the t-test's power, Cohen 1988)."""
    if n_b is None:
        df, se = n_a - 1, sd / math.sqrt(max(n_a, 1))
    else:
        df, se = n_a + n_b - 2, sd * math.sqrt(1 / max(n_a, 1) + 1 / max(n_b, 1))
    if df < 1 or not math.isfinite(se):
        return math.inf
    return float((stats.t.ppf(1 - alpha, df) + stats.t.ppf(power, df)) * se)


def one_sided_test(a: Sequence[float], b: Sequence[float], paired: bool,
                   smallest_effect: float = 0.5, alpha: float = ALPHA) -> Test:
    """The claims' one test of mean(a) > mean(b) (formulas in :class:`Test`'s fields).

    Pairing is by position (position = seed id): a pair where either side is not finite
    (a diverged run) is dropped from both sides and counted in ``n_dropped``; unpaired,
    non-finite values are dropped from their side. The p-values are permutation p-values
    (:func:`sign_flip_p`, :func:`split_p`); where the differences (paired) or both samples
    (unpaired) have no spread, the replicates are identical and no test is made: p = 1,
    ``no_variance`` True. The equivalence test (TOST, Schuirmann 1987) runs the same
    permutation test twice against the bounds ±``bound``, ``bound = smallest_effect · sd``
    (a standardized smallest effect of interest, Cohen's d): p_tost = max of the two.
    """
    a, b = [float(x) for x in a], [float(x) for x in b]
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired samples must be aligned by seed, got {len(a)} and "
                             f"{len(b)} values")
        keep = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
        dropped = len(a) - len(keep)
        diffs = np.asarray([x - y for x, y in keep], dtype=float)
        n = len(diffs)
        effect = float(diffs.mean()) if n else math.nan
        sd = float(diffs.std(ddof=1)) if n > 1 else math.nan
        spread = n > 1 and float(np.ptp(diffs)) > 1e-12 * max(1.0, float(np.abs(diffs).max()))
        se = sd / math.sqrt(n) if n > 1 else math.nan
        df: float = n - 1
        ns: tuple[int, int | None] = (n, None)
    else:
        xa = np.asarray([x for x in a if math.isfinite(x)], dtype=float)
        xb = np.asarray([x for x in b if math.isfinite(x)], dtype=float)
        dropped = len(a) + len(b) - len(xa) - len(xb)
        n = min(len(xa), len(xb))
        effect = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else math.nan
        va = float(xa.var(ddof=1)) if len(xa) > 1 else math.nan
        vb = float(xb.var(ddof=1)) if len(xb) > 1 else math.nan
        sd = math.sqrt(((len(xa) - 1) * va + (len(xb) - 1) * vb) / (len(xa) + len(xb) - 2)) \
            if len(xa) > 1 and len(xb) > 1 else math.nan
        spread = len(xa) > 1 and len(xb) > 1 and (float(np.ptp(xa)) > 0 or float(np.ptp(xb)) > 0)
        se = math.sqrt(va / len(xa) + vb / len(xb)) if len(xa) > 1 and len(xb) > 1 else math.nan
        df = (va / len(xa) + vb / len(xb)) ** 2 / ((va / len(xa)) ** 2 / (len(xa) - 1) + (
            vb / len(xb)) ** 2 / (len(xb) - 1)) if spread and se > 0 else math.nan
        ns = (len(xa), len(xb))
    name = "one-sided sign-flip permutation test (paired by seed)" if paired else \
        "one-sided two-sample permutation test"
    if not spread:
        return Test(name + ": no variance, no test", math.nan, effect, (math.nan, math.nan),
                    math.nan, 0.0 if n > 1 else math.nan, 1.0, 1.0, 1.0, 0.0, n, dropped,
                    paired, True, math.inf)
    half = float(stats.t.ppf(0.975, df) * se) if math.isfinite(df) and df > 0 else math.nan
    bound = smallest_effect * sd
    if paired:
        p, p_opp = sign_flip_p(diffs), sign_flip_p(-diffs)
        p_tost = max(sign_flip_p(diffs + bound), sign_flip_p(bound - diffs))
    else:
        p, p_opp = split_p(xa, xb), split_p(xb, xa)
        p_tost = max(split_p(xa + bound, xb), split_p(xb + bound, xa))
    return Test(name, effect / se if se > 0 else math.nan, effect, (effect - half, effect + half),
                effect / sd if sd > 0 else math.nan, sd, p, p_opp, p_tost, bound, n, dropped,
                paired, False, detectable_difference(sd, *ns, alpha=alpha))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (Benjamini & Hochberg 1995): with the m
    p-values sorted ascending, p_(i) becomes min_{j>=i} min(1, m p_(j) / j); rejecting
    where the adjusted p < q keeps the expected share of false discoveries below q.
    NaN p-values stay NaN and do not count in m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), math.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m, running = len(order), 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, 1.0, m * p[i] / (rank + 1))
        out[i] = running
    return out.tolist()
