"""Claims 29-33 (further statements of the notes): verdicts from hand-made numbers, and
each experiment run at a reduced size with a figure."""

import pytest
from claims_seeds import measurement

from fitscope.claims import REGISTRY, further
from fitscope.claims.base import Context
from fitscope.claims.demo import run_claim

LOW, HIGH, SAME = [0.80, 0.82, 0.81], [0.90, 0.95, 0.92], [0.85, 0.86, 0.84]


def decide(number, **values):
    return REGISTRY[number].decide(measurement(**values))


def test_registered_after_the_first_28():
    assert [c.number for c in further.CLAIMS] == list(range(29, 36))
    assert all(REGISTRY[c.number] is c for c in further.CLAIMS)


def test_decide_more_data():
    data = further.Data
    acc = {data(60, "none"): LOW, data(60, "L2"): LOW, data(60, "dropout"): LOW,
           data(240, "none"): HIGH}
    assert decide(29, test_acc=acc).outcome == "holds"
    v = decide(29, test_acc={**acc, data(60, "L2"): HIGH})
    assert v.outcome == "does not hold" and "did not beat 60 points, L2" in v.reason


def test_decide_bn_speed():
    v = {"early_train_loss": {"plain": HIGH, "batch norm": LOW, "dropout 0.2": HIGH},
         "gap": {"plain": HIGH, "batch norm": LOW, "dropout 0.2": LOW},
         "test_acc": {"plain": SAME, "batch norm": SAME, "dropout 0.2": SAME}}
    assert decide(30, **v).outcome == "holds"
    wider = decide(30, **{**v, "gap": {**v["gap"], "batch norm": [1.0, 1.1, 1.05]}})
    assert wider.outcome == "holds only when" and "significantly wider" in wider.condition
    slow = {**v, "early_train_loss": {**v["early_train_loss"], "batch norm": HIGH}}
    assert decide(30, **slow).outcome == "does not hold"


def test_decide_l1_majority():
    v = {"near_zero": {"none": [0.0] * 3, "L1": [0.7, 0.8, 0.75], "L2": [0.0] * 3},
         "large_kept": {"L1": [0.9, 0.85, 0.88], "L2": [0.5, 0.55, 0.52]},
         "train_loss": {"none": SAME, "L1": SAME, "L2": SAME}}
    assert decide(31, **v).outcome == "holds"
    few = decide(31, **{**v, "near_zero": {**v["near_zero"], "L1": [0.1, 0.05, 0.08]}})
    assert few.outcome == "holds only when" and "large weights shrink less" in few.condition


def test_decide_input_dropout():
    high, low = further.Keep(0.8), further.Keep(0.5)
    assert decide(32, test_acc={high: HIGH, low: LOW}).outcome == "holds"
    assert decide(32, test_acc={high: LOW, low: HIGH}).outcome == "does not hold"


def test_decide_bowl():
    lr = {"adagrad": 1.0, "rmsprop": 0.01}
    m = measurement(steps={"adagrad": [300.0, 320.0, 310.0], "rmsprop": [40.0, 45.0, 50.0]})
    m.series = {"lr": lr}
    assert REGISTRY[33].decide(m).outcome == "holds"
    steps = m.values["steps"]
    m.values = {"steps": {"adagrad": steps["rmsprop"], "rmsprop": steps["adagrad"]}}
    assert REGISTRY[33].decide(m).outcome == "does not hold"


def test_minimum_share_matches_the_one_and_two_dimensional_cases():
    # n = 1: H = sqrt(2) a with a ~ N(0, 1), positive half the time
    assert further.minimum_share(1, 0) == pytest.approx(0.5, abs=0.03)
    assert further.minimum_share(2, 0) < 0.3 and further.minimum_share(16, 0) < 0.01
    v = REGISTRY[34].decide(further.measure_saddles(Context(seeds=2)))
    assert v.outcome == "holds" and REGISTRY[34].kind == "demonstration"


def test_decide_after_stopping():
    acc = {"stopped": LOW, "retrain_all": HIGH, "continue_all": HIGH}
    assert decide(35, test_acc=acc).outcome == "holds"
    one = decide(35, test_acc={**acc, "continue_all": SAME[::-1]})
    assert one.outcome == "holds only when" and one.condition == "the strategy is retrain_all"
    assert decide(35, test_acc={**acc, "retrain_all": LOW[::-1], "continue_all": LOW[1:] +
                                LOW[:1]}).outcome == "does not hold"


@pytest.mark.slow
@pytest.mark.parametrize("number", range(29, 36))
def test_further_claims_run_at_reduced_size(number):
    result = run_claim(REGISTRY[number], Context(seeds=2, scale=0.3))
    assert not result.error, result.error
    assert result.verdict.outcome in ("holds", "does not hold", "not shown", "holds only when")
    assert result.figure is not None and result.figure.layout.title.text
