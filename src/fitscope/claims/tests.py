"""How a claim's decision uses the statistics of :mod:`fitscope.study.stats`.

Every comparison a claim's ``decide`` makes goes through :func:`greater` (or
:func:`mean_above`) and returns a :class:`Comparison`: the permutation test of
:func:`~fitscope.study.stats.one_sided_test` (pairing by seed, no test on identical
replicates, effect with CI, equivalence test) and the p-value that decides.

Multiplicity: the tests one claim makes are its family. :func:`evaluate` runs ``decide``
inside a :class:`Family`, collects every test it made, adjusts their p-values by Holm
(:func:`~fitscope.study.stats.holm`) and runs ``decide`` again, now with
``Comparison.significant`` reading the Holm-adjusted p; it repeats until the set of tests
no longer grows (``decide`` is a pure function of the numbers, so the second run makes
the same tests). Called outside :func:`evaluate` (tests of a decide function) a
comparison is its own family of one. The verdict depends on the claim's own tests only,
so ``fitscope demo --claim N`` decides claim N as the whole report does; the report's
Benjamini-Hochberg column across claims (:func:`~fitscope.study.stats.benjamini_hochberg`)
is reported beside it and does not change a verdict.

Three outcomes: a verdict of "does not hold" stands only when one of the claim's failed
tests shows it (equivalence within the claim's smallest effect of interest by TOST, or a
significant effect the other way, each at alpha / m for a family of m tests); otherwise it
becomes "not shown", with the smallest difference the experiment could have detected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from ..study.stats import ALPHA, Test, holm, mean_ci, one_sided_test
from .base import Claim, K, Measurement, Verdict, finite_mean

__all__ = ["ALPHA", "Comparison", "Family", "evaluate", "greater", "mean_above", "mean_ci",
           "versus"]


@dataclass(frozen=True)
class Comparison:
    """A :class:`~fitscope.study.stats.Test` with the p-value that decides
    (``p_adjusted``: Holm within the claim's family; the raw p outside a family)."""

    label: str
    result: Test
    p_adjusted: float
    reported: bool = False  # reported beside the verdict, not one of its criteria

    @property
    def test(self) -> str:
        return self.result.name

    @property
    def estimate(self) -> float:
        return self.result.effect

    @property
    def p_value(self) -> float:
        return self.p_adjusted

    @property
    def n(self) -> int:
        return self.result.n_pairs

    @property
    def significant(self) -> bool:
        return self.p_adjusted < ALPHA

    def text(self) -> str:
        r = self.result
        if r.no_variance:
            return (f"{r.name}: difference {r.effect:+.4g} identical on all {r.n_pairs} "
                    "seeds (no variance: p = 1)")
        dropped = f", {r.n_dropped} dropped (diverged)" if r.n_dropped else ""
        adj = f", Holm {self.p_adjusted:.2g}" if self.p_adjusted != r.p_raw else ""
        return (f"{r.name}: difference {r.effect:+.4g} [95% CI {r.ci[0]:+.3g}, "
                f"{r.ci[1]:+.3g}], d = {r.d:+.2f}, p = {r.p_raw:.2g}{adj}, n = {r.n_pairs}"
                f"{dropped}")


@dataclass
class Family:
    """The tests of one claim's decision: raw results by key, Holm-adjusted p by key."""

    smallest_effect: float = 0.5
    names: dict[tuple, str] = field(default_factory=dict)
    results: dict[tuple, tuple[str, Test]] = field(default_factory=dict)
    adjusted: dict[tuple, float] = field(default_factory=dict)
    reported: set[tuple] = field(default_factory=set)

    def adjust(self) -> None:
        keys = list(self.results)
        self.adjusted = dict(zip(keys, holm([self.results[k][1].p_raw for k in keys])))

    def comparisons(self) -> list[Comparison]:
        return [Comparison(label, t, self.adjusted.get(k, t.p_raw), k in self.reported)
                for k, (label, t) in self.results.items()]


_FAMILY: ContextVar[Family | None] = ContextVar("claim_family", default=None)


def _label(a: Sequence[float], b: Sequence[float] | float, label: str) -> str:
    if label:
        return label
    ma, mb = mean_ci(a).mean, mean_ci(b).mean if not isinstance(b, (int, float)) else b
    return f"mean {ma:.4g} > {mb:.4g}"


def _compare(a: Sequence[float], b: Sequence[float], paired: bool, label: str,
             reported: bool = False) -> Comparison:
    key = (tuple(float(x) for x in a), tuple(float(x) for x in b), paired)
    family = _FAMILY.get()
    if family is None:
        t = one_sided_test(a, b, paired)
        return Comparison(_label(a, b, label), t, t.p_raw, reported)
    if reported:
        family.reported.add(key)
    if key not in family.results:
        if not label and key[0] in family.names:
            other = family.names.get(key[1]) or (f"{b[0]:g}" if len(set(key[1])) == 1
                                                 else "")
            label = f"{family.names[key[0]]} > {other}" if other else ""
        family.results[key] = (_label(a, b, label),
                               one_sided_test(a, b, paired, family.smallest_effect))
    label, t = family.results[key]
    return Comparison(label, t, family.adjusted.get(key, t.p_raw), key in family.reported)


def greater(a: Sequence[float], b: Sequence[float], paired: bool = False,
            label: str = "", reported: bool = False) -> Comparison:
    """One-sided test that mean(a) > mean(b): paired by seed (position i of both is seed
    i) by the sign-flip permutation test, else the two-sample permutation test
    (:func:`~fitscope.study.stats.one_sided_test`). ``reported``: a test shown beside the
    verdict, not one of its criteria (it stays in the Holm family, and is never the
    evidence that a claim does not hold)."""
    return _compare(a, b, paired, label, reported)


def mean_above(a: Sequence[float], threshold: float, label: str = "") -> Comparison:
    """One-sided one-sample test that mean(a) > threshold (the sign-flip test on
    a_i - threshold)."""
    return _compare(a, [threshold] * len(a), True, label or f"mean above {threshold:g}")


def versus(values: Mapping[K, Sequence[float]], arm: K, other: K,
           what: str, said: tuple[str, str] | None = None, fmt: str = ".3f", *,
           lower: bool = False, paired: bool = True, label: str = "",
           reported: bool = False) -> tuple[Comparison, str]:
    """Arm ``arm`` against arm ``other`` on one quantity (``values`` by arm): the
    one-sided test (:func:`greater`; ``paired``, ``label`` and ``reported`` go to it) that
    ``arm``'s values are higher than ``other``'s, or lower with ``lower``, and the sentence
    that reports it: "``what`` <arm's mean> ``said[0]`` against <other's mean>
    ``said[1]`` (<the test's text>)", an empty part left out. The means are of the finite
    values, those the test compares (:func:`~fitscope.claims.base.finite_mean`), written
    with the format spec ``fmt``; ``said`` is ("with <arm>", "with <other>") unless
    given."""
    a, b = values[arm], values[other]
    c = greater(b, a, paired, label, reported) if lower else greater(a, b, paired, label,
                                                                      reported)
    said_a, said_b = said or (f"with {arm}", f"with {other}")
    words = (what, f"{finite_mean(a):{fmt}}", said_a, "against", f"{finite_mean(b):{fmt}}",
             said_b, f"({c.text()})")
    return c, " ".join(w for w in words if w)


@dataclass
class Decision:
    verdict: Verdict
    comparisons: list[Comparison]


def evaluate(claim: Claim, m: Measurement) -> Decision:
    """``claim.decide(m)`` with Holm within the claim's family and the three-way rule
    (module docstring)."""
    family = Family(smallest_effect=claim.smallest_effect, names=_names(m.values))
    token = _FAMILY.set(family)
    try:
        verdict = claim.decide(m)
        for _ in range(4):
            before = len(family.results)
            family.adjust()
            verdict = claim.decide(m)
            if len(family.results) == before:
                break
        family.adjust()
    finally:
        _FAMILY.reset(token)
    comparisons = family.comparisons()
    return Decision(three_way(verdict, comparisons), comparisons)


def three_way(verdict: Verdict, comparisons: Sequence[Comparison]) -> Verdict:
    """"does not hold" stays only where a failed test shows it (equivalence by TOST or a
    significant opposite effect, at alpha / m); with no such test it is "not shown", and
    the reason names the smallest difference each failed test could have detected. A
    verdict decided by exact criteria alone (no failed test) is left as it is."""
    if verdict.outcome != "does not hold":
        return verdict
    failed = [c for c in comparisons if not c.significant and not c.reported]
    if not failed:
        return verdict
    m = max(len(comparisons), 1)
    shown = [c for c in failed if not c.result.no_variance and
             (c.result.p_tost * m < ALPHA or c.result.p_opposite * m < ALPHA)]
    if shown:
        why = "; ".join(
            f"{c.label}: " + (f"equivalent within ±{c.result.bound:.3g} (TOST p = "
                              f"{c.result.p_tost:.2g})" if c.result.p_tost * m < ALPHA else
                              f"significant effect the other way (p = {c.result.p_opposite:.2g})")
            for c in shown)
        return replace(verdict, reason=f"{verdict.reason} Shown by: {why}.")
    mde = "; ".join(
        f"{c.label}: " + ("identical on every seed (no variance)" if c.result.no_variance
                          else f"could detect a difference of {c.result.detectable:.3g} "
                               f"(observed {c.result.effect:+.3g})")
        for c in failed)
    return Verdict("not shown", f"{verdict.reason} Not shown: neither the claim nor its "
                   f"opposite is supported; {mde}.")


def _names(values: dict, prefix: str = "") -> dict[tuple, str]:
    """Each list of numbers among a measurement's values (nested dicts too) by its
    contents, to name the samples a test compares: its keys from the outermost in, joined
    by spaces (``values["gap"][Batch(...)]`` is "gap " + ``str(Batch(...))``); where two
    lists hold the same numbers, the first in the values' order names them."""
    out: dict[tuple, str] = {}
    for k, v in values.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            for contents, inner in _names(v, name + " ").items():
                out.setdefault(contents, inner)
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
            out.setdefault(tuple(float(x) for x in v), name)
    return out
