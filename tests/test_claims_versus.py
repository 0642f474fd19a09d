"""``versus``: one arm against another with its sentence; and every decide function that
uses it gives, on fixed hand-made measurements, the verdict, tests, p-values and printed
numbers it gave before it did."""

import math
import re
from collections import Counter

import pytest
from claims_decide_before import BEFORE
from claims_decide_cases import CASES, claim

from fitscope.claims.tests import evaluate, greater, versus

NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?")
A, B = [0.91, 0.93, 0.95, 0.92, 0.94, 0.96], [0.81, 0.84, 0.82, 0.85, 0.83, 0.80]


def test_versus_is_greater_with_its_sentence():
    c, text = versus({"x": A, "y": B}, "x", "y", "test accuracy", label="x > y")
    assert c == greater(A, B, paired=True, label="x > y")
    assert text == f"test accuracy 0.935 with x against 0.825 with y ({c.text()})"


def test_lower_tests_the_other_way_and_keeps_the_sentence_order():
    c, text = versus({"x": B, "y": A}, "x", "y", "loss", ("after", "before"), ".2f",
                     lower=True)
    assert c == greater(A, B, paired=True) and c.significant
    assert text.startswith("loss 0.83 after against 0.94 before (")


def test_means_are_of_the_finite_values_the_test_compares():
    a = [*A[:5], math.inf]
    c, text = versus({"x": a, "y": [*B[:4], math.nan, B[5]]}, "x", "y", "m", ("", "y"),
                     paired=False, reported=True)
    assert text.startswith(f"m {sum(A[:5]) / 5:.3f} against {(sum(B) - B[4]) / 5:.3f} y (")
    assert c.reported and c.result.n_dropped == 2 and "two-sample" in c.test


@pytest.mark.parametrize("name", list(CASES))
def test_decide_gives_what_it_gave_before_versus(name):
    outcome, condition, tests, numbers = BEFORE[name]
    key, m = CASES[name]
    d = evaluate(claim(key), m)
    assert (d.verdict.outcome, d.verdict.condition) == (outcome, condition)
    assert [c.label for c in d.comparisons] == [label for label, _ in tests]
    assert [c.p_value for c in d.comparisons] == pytest.approx([p for _, p in tests],
                                                               rel=1e-5)
    missing = Counter(numbers) - Counter(NUMBER.findall(d.verdict.reason))
    assert not missing, f"numbers of the old reason not printed now: {dict(missing)}"
