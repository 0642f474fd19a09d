"""The claims' statistical rules, one test each (fitscope.study.stats and claims.tests):
each would fail if its rule were broken."""

import math

import numpy as np
import pytest

from fitscope.claims import REGISTRY, build_registry
from fitscope.claims.base import Claim, Context, Measurement, Verdict, metric, metrics, setting
from fitscope.claims.demo import ClaimResult, adjust_across
from fitscope.claims.plots import finish
from fitscope.claims.tests import evaluate, greater
from fitscope.config import RunConfig
from fitscope.run import Run
from fitscope.study.stats import benjamini_hochberg, holm, one_sided_test, sign_flip_p, split_p


def test_identical_replicates_give_no_test_and_p_one():
    for paired in (True, False):
        t = one_sided_test([0.9] * 12, [0.5] * 12, paired)
        assert t.no_variance and t.p_raw == 1.0 and t.p_opposite == 1.0
        assert math.isnan(t.ci[0])
    c = greater([0.9] * 12, [0.5] * 12, paired=True)
    assert not c.significant and "no variance" in c.text()


def test_sign_flip_is_exact_and_never_zero():
    d = [1.0 + i / 10 for i in range(12)]         # all positive, distinct
    assert sign_flip_p(d) == pytest.approx(1 / 2**12)  # only the identity reaches it
    assert sign_flip_p([-x for x in d]) == 1.0
    # a hand count with n = 3: d = (1, 2, -0.5), sum 2.5; sign vectors with sum >= 2.5:
    # (+,+,-) 2.5, (+,+,+) 3.5 -> 2 of 8
    assert sign_flip_p([1.0, 2.0, -0.5]) == pytest.approx(2 / 8)
    # Monte Carlo beyond 16 pairs: (1 + k) / (1 + B), never 0
    assert 0 < sign_flip_p([1.0 + i for i in range(24)]) < 1e-4


def test_two_sample_permutation_counts_splits():
    # a = (3, 4) vs b = (1, 2): of the C(4, 2) = 6 splits only (3, 4) has sum >= 7
    assert split_p([3.0, 4.0], [1.0, 2.0]) == pytest.approx(1 / 6)
    assert split_p([1.0, 2.0], [3.0, 4.0]) == 1.0


def test_pairing_survives_a_diverged_run_on_one_side():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 5, 12)              # seeds differ a lot ...
    b = a - 1 + rng.normal(0, 0.1, 12)    # ... and b is a - 1 on the same seed
    a_diverged = a.copy()
    a_diverged[3] = math.nan              # seed 3 diverged on side a
    t = one_sided_test(a_diverged, b, paired=True)
    assert t.n_pairs == 11 and t.n_dropped == 1
    assert t.effect == pytest.approx(np.delete(a - b, 3).mean())
    assert t.p_raw < 1e-3                 # mispaired (seed 4 against 3, ...) it would not be


def test_metric_keeps_a_diverged_seed_in_place():
    class R:
        def __init__(self, status, acc):
            self.status, self.metrics = status, {"acc": acc}

    assert np.isnan(metric([R("ok", 0.9), R("diverged", 0.1), R("ok", 0.8)], "acc")).tolist() \
        == [False, True, False]


def test_holm_and_benjamini_hochberg_on_a_known_list():
    p = [0.01, 0.04, 0.03, 0.005]
    # R: p.adjust(c(.01, .04, .03, .005), "holm") and "BH"
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert math.isnan(benjamini_hochberg([math.nan, 0.01])[0])


def _toy_claim(smallest_effect=0.5) -> Claim:
    def decide(m):
        c = greater(m.values["a"], m.values["b"], paired=True)
        return Verdict("holds", c.text()) if c.significant else Verdict("does not hold", c.text())
    return Claim(99, "toy", "a exceeds b", "-", "-", None, decide, None,
                 smallest_effect=smallest_effect, protocol="synthetic")


def test_tost_on_equal_samples_says_does_not_hold():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 60)
    b = a + rng.normal(0, 0.1, 60)        # b equals a up to noise: no effect
    v = evaluate(_toy_claim(), Measurement(values={"a": a.tolist(), "b": b.tolist()})).verdict
    assert v.outcome == "does not hold" and "TOST" in v.reason


def test_noisy_small_samples_are_not_shown():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 5), rng.normal(0, 1, 5)
    v = evaluate(_toy_claim(), Measurement(values={"a": a.tolist(), "b": b.tolist()})).verdict
    assert v.outcome == "not shown" and "could detect a difference of" in v.reason


def test_a_significant_opposite_effect_says_does_not_hold():
    a = [1.0 + 0.1 * i for i in range(12)]
    v = evaluate(_toy_claim(), Measurement(values={"a": a, "b": [x + 1 for x in a[::-1]]}))
    assert v.verdict.outcome == "does not hold" and "other way" in v.verdict.reason


def test_holm_within_a_claim_decides():
    # two tests at raw p = 1/32 each (five positive pairs): each alone is significant,
    # Holm over the pair makes both 1/16 > 0.05
    up = [1.0, 1.1, 1.2, 1.3, 1.4]

    def decide(m):
        c1 = greater(up, [0.0] * 5, paired=True)
        c2 = greater([x + 1 for x in up], [0.5] * 5, paired=True)
        ok = c1.significant and c2.significant
        return Verdict("holds" if ok else "does not hold", c1.text())

    alone = greater(up, [0.0] * 5, paired=True)
    assert alone.significant and alone.p_value == pytest.approx(1 / 32)
    claim = Claim(98, "two", "-", "-", "-", None, decide, None, smallest_effect=0.5,
                  protocol="-")
    d = evaluate(claim, Measurement())
    assert [c.p_adjusted for c in d.comparisons] == pytest.approx([1 / 16, 1 / 16])
    assert d.verdict.outcome == "not shown"


def test_report_level_bh_does_not_change_a_verdict():
    claim = _toy_claim()
    a = [1.0 + 0.1 * i for i in range(12)]
    m = Measurement(values={"a": a, "b": [x - 0.5 for x in a]})
    d = evaluate(claim, m)
    r = ClaimResult(claim, m, d.verdict, comparisons=d.comparisons)
    before = r.verdict
    adjust_across([r, ClaimResult(claim, m, d.verdict, comparisons=d.comparisons)])
    assert r.verdict == before and r.p_report and not math.isnan(r.p_report[0])


def test_registry_refuses_two_claims_with_one_number():
    one = REGISTRY[1]
    with pytest.raises(ValueError, match="two claims numbered 1"):
        build_registry([one, Claim(1, "other", "-", "-", "-", None, None, None)])



def test_every_claim_declares_its_smallest_effect_and_protocol():
    for c in REGISTRY.values():
        assert c.smallest_effect is not None and c.smallest_effect > 0, c.number
        assert c.protocol.strip(), c.number
        assert c.kind in ("claim", "demonstration"), c.number


def test_stability_counts_only_moves_between_holding_and_not_holding():
    from fitscope.claims.report import stability

    claim = _toy_claim()
    a = [1.0 + 0.1 * i for i in range(12)]
    m = Measurement(values={"a": a, "b": [x - 0.5 - 0.01 * (i % 3) for i, x in enumerate(a)]})
    d = evaluate(claim, m)

    def result(number, outcome, condition=""):
        c = Claim(number, f"c{number}", "-", "-", "-", None, None, None, smallest_effect=0.5,
                  protocol="-")
        return ClaimResult(c, m, Verdict(outcome, "-", condition), comparisons=d.comparisons)

    n = [result(1, "holds"), result(2, "not shown"), result(3, "holds only when", "x"),
         result(4, "does not hold")]
    twice = [result(1, "holds only when", "y"), result(2, "holds"), result(3, "does not hold"),
             result(4, "does not hold")]
    s = stability(n, twice)
    assert s["changes"] == [3] and s["moved"] == [1, 2] and s["decided"] == 3
    assert s["smallest_p"] == pytest.approx(1 / 2**12)


def test_a_reported_test_is_never_the_evidence_against_a_claim():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 12).tolist()
    m = Measurement(values={"a": a, "noisy": rng.normal(0, 1, 12).tolist(),
                            "far": [x + 5 + 0.1 * i for i, x in enumerate(a)]})

    def claim(reported):
        def decide(m):
            main = greater(m.values["a"], m.values["noisy"], paired=True)
            greater(m.values["a"], m.values["far"], paired=True, reported=reported)
            return Verdict("holds" if main.significant else "does not hold", main.text())
        return Claim(97, "r", "-", "-", "-", None, decide, None, smallest_effect=0.5,
                     protocol="-")

    # the side test is far the other way: as a criterion it shows "does not hold" ...
    assert evaluate(claim(False), m).verdict.outcome == "does not hold"
    # ... reported beside the verdict it is no evidence: the main test alone is inconclusive
    d = evaluate(claim(True), m)
    assert d.verdict.outcome == "not shown" and [c.reported for c in d.comparisons] == \
        [False, True]


# -- the measurement's keys and the runs by name ---------------------------------------------

def test_a_setting_has_named_fields_and_its_text_names_the_tested_sample():
    schedule = setting("Schedule", "batch kind", lambda batch, kind: f"b={batch} {kind}")
    s = schedule(16, "constant")
    assert (s.batch, s.kind, str(s), f"{s}") == (16, "constant", "b=16 constant", "b=16 constant")
    assert s == schedule(16, "constant") and hash(s) == hash(schedule(16, "constant"))
    assert s != schedule(0, "constant")
    loss = {schedule(16, "constant"): [0.3, 0.31, 0.29, 0.3, 0.32, 0.3],
            schedule(16, "linear"): [0.2, 0.22, 0.21, 0.2, 0.19, 0.2]}
    m = Measurement(values={"final_train_loss": loss})
    claim = Claim(98, "toy-setting", "-", "-", "-", None, lambda m: Verdict(
        "holds", greater(*m.values["final_train_loss"].values(), paired=True).text()), None)
    (c,) = evaluate(claim, m).comparisons
    assert c.label == "final_train_loss b=16 constant > final_train_loss b=16 linear"


def test_the_first_name_of_a_sample_names_it_in_nested_values_too():
    same = [0.1, 0.2, 0.3]
    m = Measurement(values={"test_error": same, "gap": {1: same, 3: [0.0, 0.1, 0.05]}})
    claim = Claim(97, "toy-names", "-", "-", "-", None, lambda m: Verdict(
        "holds", greater(m.values["gap"][1], m.values["gap"][3], paired=True).text()), None)
    (c,) = evaluate(claim, m).comparisons
    assert c.label == "test_error > gap 3"


class _Recorder:
    """A ``Context.trainer`` that records the configs of each call and returns their seeds
    as stand-in runs."""

    def __init__(self):
        self.calls = []

    def __call__(self, configs):
        self.calls.append(list(configs))
        return [(c.budget.seed, c.data.split_seed, c.model.depth) for c in configs]


def test_train_variants_trains_once_and_returns_the_runs_by_name_in_seed_order():
    rec = _Recorder()
    ctx = Context(seeds=3, trainer=rec)
    runs = ctx.train_variants(RunConfig(), {"deep": {"model.depth": 4}, "flat": {}},
                              resplit=True)
    assert len(rec.calls) == 1 and len(rec.calls[0]) == 6  # one train_many for both
    assert list(runs) == ["deep", "flat"]
    assert runs["deep"] == [(s, s, 4) for s in range(3)]  # resplit: split_seed = seed
    assert runs["flat"] == [(s, s, RunConfig().model.depth) for s in range(3)]
    kept = ctx.train_variants(RunConfig(), {"same split": {}})
    assert {split for _, split, _ in kept["same split"]} == {RunConfig().data.split_seed}
    assert ctx.runs_trained == 9


def test_metrics_reads_each_key_per_group():
    run = Run(config=RunConfig(), metrics={"test_acc": 0.9, "train_acc": 1.0})
    got = metrics({"a": [run, run]}, "train_acc", "test_acc")
    assert got == {"train_acc": {"a": [1.0, 1.0]}, "test_acc": {"a": [0.9, 0.9]}}


def test_finish_titles_each_panel_and_sets_log_axes():
    from plotly.subplots import make_subplots

    fig = finish(make_subplots(1, 2), "t", x=["step", ("lr", "log")], y=[None, (None, "log")])
    layout = fig.layout
    assert layout.title.text == "t" and layout.xaxis.title.text == "step"
    assert (layout.xaxis2.title.text, layout.xaxis2.type) == ("lr", "log")
    assert layout.yaxis.title.text is None and layout.yaxis2.type == "log"
    assert layout.yaxis2.title.text is None
