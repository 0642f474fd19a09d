"""The diagnosis rules tuned on the development split, each on the development case that
showed it (and, where the rule is a formula, on a hand-made history)."""

import math
import statistics
from itertools import pairwise

import pytest

from fitscope.probe.cases import BY_ID, run_case
from fitscope.probe.findings import (
    ACTIVATION_GROWTH,
    LOGIT_EXCESS,
    LOW_FIX_TARGET,
    NOISE_K,
    UPDATE_RATIO_TARGET,
    _median_update_ratio,
    confidence,
    diagnose,
    validation_rise,
)


def alarms(findings) -> dict:
    return {f.code: f for f in findings if f.severity in ("warning", "error")}


def history(vals, train=None):
    train = train or [1.0 / (i + 1) for i in range(len(vals))]
    return [{"epoch": i + 1, "val_loss": v, "train_loss": t}
            for i, (v, t) in enumerate(zip(vals, train))]


def test_the_validation_rise_is_read_in_window_medians_against_their_noise():
    """40 epochs, windows of 5: a validation loss wiggling by 0.1 (a pattern of 5 epochs
    whose median is 0) around 0.5 for 20 epochs, then around 0.9. The last epoch against
    the best epoch is lost in the noise (the median epoch-to-epoch change is 0.2: 3x is
    0.6, more than the 0.4 between them); the window medians rise by 0.4 against
    3 x 0.2 / sqrt(5) = 0.27."""
    wiggle = [(0.1, -0.1, 0.1, 0.0, -0.1)[i % 5] for i in range(40)]
    vals = [(0.5 if i < 20 else 0.9) + d for i, d in enumerate(wiggle)]
    r = validation_rise(history(vals))
    sigma = statistics.median(abs(b - a) for a, b in pairwise(vals))
    assert r["window"] == 5 and r["val_spread"] == pytest.approx(sigma)
    assert r["need"] == pytest.approx(NOISE_K * sigma / math.sqrt(5))
    assert r["rise"] == pytest.approx(0.4) and r["rise"] > r["need"] and r["train_fell"]
    assert vals[-1] - min(vals) < NOISE_K * sigma  # the single-epoch reading misses it
    # one spike in the last epoch of a flat curve: the last window's median ignores it
    spiky = [0.5 + 0.01 * d for d in wiggle[:39]] + [1.5]
    assert validation_rise(history(spiky))["rise"] < 0.01


def test_a_cnn_on_50_digits_overfits_though_its_validation_loss_rose_only_3_percent():
    """The validation loss levels off 3% above its minimum, far beyond its own noise (a
    fixed 5% floor missed it), with a 16-point accuracy gap."""
    found = alarms(diagnose(run_case(BY_ID["digits_cnn_50_examples"])))
    f = found["overfitting"]
    assert f.evidence["rise"] > 10 * f.evidence["need"]
    assert f.evidence["rise"] < 0.05 * f.evidence["best_val_loss"]


def test_a_rate_that_throws_the_loss_back_to_chance_is_too_high_without_falling_back():
    """Momentum at 0.5 on MNIST-1D: the loss falls to 1.99, is thrown back to chance and
    stays there; no penalty can have pushed it up."""
    run = run_case(BY_ID["mnist1d_momentum_lr05"])
    losses = [row["train_loss"] for row in run.history]
    assert losses[-1] - min(losses) > 0.25 and not any(r["penalty"] for r in run.history)
    assert "lr_too_high" in alarms(diagnose(run))


def test_update_ratios_of_weights_a_penalty_collapsed_do_not_mean_a_high_rate():
    """L1 of 0.1 pulls the weights to 0, so each step is large against them (median update
    ratio above 0.3); the finding is underfitting, its change the penalty's."""
    run = run_case(BY_ID["digits_l1_01"])
    assert _median_update_ratio(run.probes) > 0.3
    found = alarms(diagnose(run))
    assert "lr_too_high" not in found
    assert found["underfitting"].change == {"regularization.l1": 1e-4}


def test_a_loss_at_chance_in_every_epoch_is_not_learning_whatever_the_accuracy():
    """Six tanh layers at N(0, 0.08^2): the logits are so small that the loss stays within
    0.3% of ln 2, while their signs are right for 82% of the examples."""
    run = run_case(BY_ID["moons_tanh6_w48_small_init"])
    assert run.metrics["train_acc"] > 0.75
    assert all(abs(r["train_loss"] - math.log(2)) < 0.02 * math.log(2) for r in run.history)
    assert "not_learning" in alarms(diagnose(run))


def test_exploding_activations_is_as_sure_as_its_strongest_check():
    """5 ReLU layers of 128 at twice He's std: the growth (about 20x) is surer than the
    logits' scale (about 14x the loss at chance) and decides the confidence."""
    f = alarms(diagnose(run_case(BY_ID["spiral_relu5_w128_init_025"])))["exploding_activations"]
    growth, excess = f.evidence["growth"], f.evidence["logit_excess"]
    assert growth > ACTIVATION_GROWTH and excess > LOGIT_EXCESS
    assert f.confidence == pytest.approx(max(confidence(growth, ACTIVATION_GROWTH),
                                             confidence(excess, LOGIT_EXCESS)))
    assert f.confidence > confidence(excess, LOGIT_EXCESS)


def test_underfitting_with_nothing_else_to_blame_widens_the_hidden_layers():
    found = alarms(diagnose(run_case(BY_ID["mnist1d_relu1_w4"])))
    assert set(found) == {"underfitting"}
    assert found["underfitting"].change == {"model.width": 32}  # 4 x 4, the default at least


def test_lr_too_low_aims_the_median_update_at_one_percent_without_a_cap():
    run = run_case(BY_ID["circles_sgd_lr3e-5"])
    f = alarms(diagnose(run))["lr_too_low"]
    ratio = _median_update_ratio(run.probes)
    assert f.change["optimizer.lr"] == pytest.approx(3e-5 * LOW_FIX_TARGET / ratio)
    assert f.change["optimizer.lr"] > 100 * 3e-5  # the old cap


def test_a_rate_that_killed_the_run_is_lowered_by_its_first_update_not_the_dead_ones():
    """Adam at 1 on circles: after the first steps the net makes tiny updates (median over
    the run about 0.01, which asked for only 10x less); the first update's median over the
    layers (about 3.5) asks for the rate that moves a layer by 3%."""
    run = run_case(BY_ID["circles_adam_lr1"])
    ratios = [r for r in run.probes if r["quantity"] == "update_ratio"]
    start = min(r["step"] for r in ratios)
    first = statistics.median(r["value"] for r in ratios if r["step"] == start)
    assert first > statistics.median(r["value"] for r in ratios)
    f = alarms(diagnose(run))["lr_too_high"]
    assert f.change["optimizer.lr"] == pytest.approx(1.0 * UPDATE_RATIO_TARGET / first)
    assert f.change["optimizer.lr"] < 0.1 * 1.0
