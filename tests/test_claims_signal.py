"""Claims 36-39 (the rest of issue 14's missing statements): verdicts from hand-made
numbers, the measuring helpers on known inputs, and each experiment at a reduced size."""

import math

import pytest
import torch
from claims_seeds import measurement

from fitscope.claims import REGISTRY, init_signal
from fitscope.claims.base import Context
from fitscope.claims.demo import run_claim
from fitscope.claims.optimization import momentum
from fitscope.claims.optimization.momentum import update_noise_share
from fitscope.run import Run

LOW, HIGH = [0.10, 0.12, 0.11], [0.90, 0.95, 0.92]


def decide(number, **values):
    return REGISTRY[number].decide(measurement(**values))


def test_registered_with_protocol_and_smallest_effect():
    for n in (36, 37, 38, 39):
        c = REGISTRY[n]
        assert c.kind == "claim" and c.protocol and c.smallest_effect and c.factors


def test_gradient_ratios_and_kept_layers():
    # grad RMS bottom first, output last: the top hidden layer is index depth - 1
    ratios = init_signal.gradient_ratios([0.25, 0.5, 1.0, 1.0, 7.0], depth=4)
    assert ratios == [1.0, 1.0, 0.25, 0.0625]
    assert init_signal.gradient_kept_layers(ratios) == 1  # factor 4 at k = 2
    assert init_signal.gradient_kept_layers([1.0, 1.5, 0.6, 1.9]) == 3
    assert init_signal.change_per_layer([1.0, 10.0, 100.0]) == pytest.approx(1.0)
    # an overflowed ratio is read above the overflow
    assert init_signal.change_per_layer([1.0, 0.01, math.inf]) == pytest.approx(2.0)


def backward_values(xavier_change, kept):
    others = ("standard U(+-1/sqrt(n))", "N(0, 1)")
    acts = ("linear", "tanh")
    return {"kept_layers": {act: {"xavier": kept[act]} | dict.fromkeys(others, [0.0] * 3)
                            for act in acts},
            "log10_change_per_layer": {act: {"xavier": xavier_change[act]}
                                       | {key: [0.48, 0.47, 0.49] for key in others}
                                       for act in acts}}


def test_decide_backward():
    small = {"linear": [0.003, 0.002, 0.004], "tanh": [0.004, 0.005, 0.003]}
    assert decide(36, **backward_values(small, {"linear": [29.0] * 3, "tanh": [29.0] * 3})) \
        .outcome == "holds"
    part = decide(36, **backward_values(small, {"linear": [29.0] * 3, "tanh": [9.0, 12, 10]}))
    assert part.outcome == "holds only when"
    assert "tanh layers up to 9 layers deep" in part.condition and "linear layers" in \
        part.condition
    # Xavier changing as much as the others: the criterion fails (as it would for N(0, 1))
    same = {"linear": [0.48, 0.47, 0.49], "tanh": [0.48, 0.47, 0.49]}
    assert decide(36, **backward_values(same, {"linear": [0.0] * 3, "tanh": [0.0] * 3})) \
        .outcome == "does not hold"


def sigmoid_values(top_end, first_end):
    layers = (1, 2, 3, 4)
    saturated_end = {key: [0.0, 0.001, 0.002] for key in layers} | {4: top_end, 1: first_end}
    return {"mean": {"init": {key: [0.51, 0.5, 0.52] for key in layers},
                     "end": {key: [0.5, 0.49, 0.51] for key in layers}},
            "saturated": {"init": {key: [0.0, 0.001, 0.0] for key in layers},
                          "end": saturated_end},
            "test_acc": [0.1, 0.1, 0.1]}


def test_decide_sigmoid():
    assert decide(37, **sigmoid_values(HIGH, [0.0, 0.001, 0.002])).outcome == "holds"
    both = decide(37, **sigmoid_values(HIGH, HIGH))
    assert both.outcome == "holds only when" and "first layer" in both.condition
    assert decide(37, **sigmoid_values([0.0, 0.001, 0.0], [0.0, 0.001, 0.002])).outcome in \
        ("does not hold", "not shown")


def test_update_noise_share_on_known_paths():
    def run(points):
        r = Run.__new__(Run)
        r.snapshots = [{"step": i, "params": torch.tensor(p, dtype=torch.float32)}
                       for i, p in enumerate(points)]
        return r

    straight = run([[float(i), 0.0] for i in range(11)])
    assert update_noise_share(straight, window=10) == pytest.approx(0.0, abs=1e-12)
    zigzag = run([[0.0, float(i % 2)] for i in range(11)])  # +1, -1, ...: no net motion
    assert update_noise_share(zigzag, window=10) == pytest.approx(1.0)


def test_decide_momentum_noise():
    noisy = momentum.Noisy
    v = {"noise_share": {noisy(8, "sgd"): HIGH, noisy(8, "momentum"): LOW,
                         noisy(64, "sgd"): HIGH, noisy(64, "momentum"): LOW},
         "train_loss": {noisy(b, n): LOW for b in (8, 64) for n in ("sgd", "momentum")}}
    m = measurement(**v)
    m.series = {"batches": [8, 64]}
    assert REGISTRY[38].decide(m).outcome == "holds"
    m.values["noise_share"][noisy(64, "momentum")] = m.values["noise_share"][noisy(64, "sgd")]
    v64 = REGISTRY[38].decide(m)
    assert v64.outcome == "holds only when" and v64.condition.startswith("the batch is 8")


def fractions(**loss):
    """Claim 39's values from the final losses by eps_tau / eps_0 in percent ("10%")."""
    return {"final_train_loss": {float(k[:-1]) / 100: v for k, v in loss.items()}}


def test_decide_final_fraction():
    mid = [0.20, 0.21, 0.205]
    assert decide(39, **fractions(**{"0%": mid, "1%": mid, "10%": HIGH, "100%": HIGH})) \
        .outcome == "holds"
    lower = decide(39, **fractions(**{"0%": LOW, "1%": mid, "10%": HIGH, "100%": HIGH}))
    assert lower.outcome == "holds only when" and "0% ends lower still" in lower.condition
    ten = decide(39, **fractions(**{"0%": mid, "1%": mid, "10%": mid, "100%": HIGH}))
    assert ten.outcome == "holds only when" and "at 10% it ends as low" in ten.condition
    assert decide(39, **fractions(**{"0%": mid, "1%": HIGH, "10%": mid, "100%": mid})) \
        .outcome == "does not hold"


@pytest.mark.slow
@pytest.mark.parametrize("number", [36, 37, 38, 39])
def test_signal_claims_run_at_reduced_size(number):
    result = run_claim(REGISTRY[number], Context(seeds=2, scale=0.3))
    assert not result.error, result.error
    assert result.verdict.outcome in ("holds", "does not hold", "not shown", "holds only when")
    assert result.figure is not None and result.figure.layout.title.text
