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
    POSSIBLE_BELOW,
    POSSIBLE_BELOW_CALIBRATED,
    SIGMOID_SLOPE,
    SPIKE_FACTOR,
    UNDERFIT_LOSS_SHARE,
    UPDATE_RATIO_LOW,
    UPDATE_RATIO_TARGET,
    VANISHING_RATIO,
    Finding,
    _graded,
    _median_update_ratio,
    confidence,
    diagnose,
    fitted_loss,
    late_descent,
    validation_rise,
)
from fitscope.probe.fixes import verify


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


# -- the tuning for the fourth held-back split (development cases only) ----------------
def test_late_descent_reads_the_second_half_against_the_noise_of_an_epochs_mean():
    d = late_descent([3.0, 2.5, 2.0, 1.8, 1.6, 1.4], noise=0.01)
    assert d == {"fall": pytest.approx(1.8 - 1.4), "need": NOISE_K * 0.01, "epochs": 2}


def test_a_loss_still_falling_far_above_its_noise_makes_lr_too_low_sure():
    """SGD at 3e-3 on the user CNN: a median update of 8e-4 of the weights, just under
    the 1e-3 of lr_too_low (confidence 0.55 alone: "possible"), while the loss still falls
    by about 20x the noise of an epoch's mean over the second half of the run."""
    run = run_case(BY_ID["digits_user_cnn_sgd_lr3e-3"])
    f = alarms(diagnose(run))["lr_too_low"]
    ratio, d = _median_update_ratio(run.probes), f.evidence["late_descent"]
    assert confidence(ratio, UPDATE_RATIO_LOW, above=False) < POSSIBLE_BELOW
    assert d["fall"] > 5 * d["need"]  # need: NOISE_K times the noise
    assert f.confidence == pytest.approx(confidence(d["fall"], d["need"]))


def test_exploding_activations_explain_a_slow_fall_so_no_lr_too_low_beside_them():
    """A residual MLP at N(0, 1): its loss falls from 100 to 0.5 with steps of 7e-4 of its
    huge weights; the init, not the rate, makes the steps small."""
    run = run_case(BY_ID["moons_residual3_unit_init"])
    assert _median_update_ratio(run.probes) < UPDATE_RATIO_LOW
    codes = {f.code for f in diagnose(run)}
    assert "exploding_activations" in codes and "lr_too_low" not in codes


def test_a_sigmoid_mlp_too_deep_for_xavier_is_fixed_with_xavier_and_tanh():
    """5 sigmoid layers: Xavier alone leaves a backward gain of 4^-5 (the run stayed at
    chance after it); Xavier with tanh trains. 3 sigmoid layers (4^-3 = 1/64) keep their
    activation."""
    run = run_case(BY_ID["digits_sigmoid5_tiny_init"])
    found = alarms(diagnose(run))
    assert SIGMOID_SLOPE ** 5 < VANISHING_RATIO < SIGMOID_SLOPE ** 3
    assert found["vanishing_gradients"].change == {"init.scheme": "xavier_normal",
                                                   "model.activation": "tanh"}
    v = verify(run, list(found.values()), seeds=1)
    assert "vanishing_gradients" not in v.findings_after and v.after[0] < 0.5 * v.before[0]
    shallow = alarms(diagnose(run_case(BY_ID["digits_sigmoid3_large_init"])))
    assert shallow["saturated_units"].change == {"init.scheme": "xavier_normal"}


def test_underfitting_reads_the_training_loss_level_not_one_noisy_evaluation():
    """78 noisy circles on a 3 x 256 net: the final evaluation on the training split is
    0.81, a single sample of a noisy level; the median of the last 15 epochs' losses is
    0.24, well under 70% of ln 2: the net fits its data (it overfits)."""
    run = run_case(BY_ID["circles_130_noisy_deep_wide"])
    losses = [row["train_loss"] for row in run.history]
    assert run.metrics["train_loss"] > UNDERFIT_LOSS_SHARE * math.log(2)
    assert fitted_loss(run) == pytest.approx(statistics.median(losses[-15:]))
    assert fitted_loss(run) < UNDERFIT_LOSS_SHARE * math.log(2)
    assert "underfitting" not in alarms(diagnose(run))


# -- the tuning at three seeds (the fifth held-back split's round) -------------------------
def test_only_an_asserted_lr_too_high_vetoes_overfitting():
    """78 noisy moons on 2 x 320 units for 100 epochs: the first epoch averages 3.7x the
    loss at chance, then the loss falls steadily, so lr_too_high is only "possible" (0.55);
    it no longer hides the validation loss's rise (0.85 against 0.19 in training)."""
    found = diagnose(run_case(BY_ID["moons_130_noisy_w320"]))
    high = [f for f in found if f.code == "lr_too_high"]
    assert high and high[0].severity == "possible" and high[0].confidence < POSSIBLE_BELOW
    assert "overfitting" in alarms(found)


def test_the_possible_band_is_calibrated_per_finding():
    """At confidence 0.57 an exploding_activations, not_learning or underfitting finding
    is asserted (their "possible" findings were true in 14/16, 6/6 and 8/9 development
    runs at three seeds), a vanishing_gradients, lr_too_high or overfitting one stays
    "possible"; 0.54 is "possible" for every finding."""
    def graded(code, conf):
        return _graded([Finding(code, "warning", None, confidence=conf)])[0].severity

    assert set(POSSIBLE_BELOW_CALIBRATED) == {"exploding_activations", "not_learning",
                                              "underfitting"}
    for code in POSSIBLE_BELOW_CALIBRATED:
        assert graded(code, 0.57) == "warning" and graded(code, 0.54) == "possible"
    for code in ("vanishing_gradients", "lr_too_high", "overfitting", "saturated_units"):
        assert graded(code, 0.57) == "possible" and graded(code, POSSIBLE_BELOW) == "warning"
    # 2 tanh units for 10 classes on digits: underfitting at confidence 0.56, now asserted
    under = [f for f in diagnose(run_case(BY_ID["digits_tanh1_w2"])) if f.code == "underfitting"]
    assert under and 0.55 <= under[0].confidence < POSSIBLE_BELOW
    assert under[0].severity == "warning"


def test_vanishing_gradients_is_as_sure_as_its_ratio_or_a_run_that_learned_nothing():
    """4 tanh layers at N(0, 0.06^2): the first layer's gradient is 6e-3 of the output's,
    just past 1e-2 (confidence 0.55 alone), and the run learns nothing: vanishing gradients
    is asserted, as sure as not_learning. A healthy sigmoid net with a ratio just past the
    threshold, which learns, keeps it "possible"."""
    found = diagnose(run_case(BY_ID["circles_tanh4_w64_std006"]))
    van = next(f for f in found if f.code == "vanishing_gradients")
    stuck = next(f for f in found if f.code == "not_learning")
    ratio = van.evidence["ratio"]
    assert VANISHING_RATIO / 10 < ratio < VANISHING_RATIO
    assert confidence(ratio, VANISHING_RATIO, above=False, span=100.0) < POSSIBLE_BELOW
    assert van.confidence == pytest.approx(stuck.confidence) and van.severity == "error"
    healthy = diagnose(run_case(BY_ID["moons_sigmoid_xavier"]))
    assert not any(f.code == "not_learning" for f in healthy)
    assert all(f.severity == "possible" for f in healthy if f.code == "vanishing_gradients")


def test_a_first_epoch_spike_is_as_sure_as_its_distance_past_the_threshold_it_passed():
    """78 noisy moons on 2 x 320 units, on seed +1: the init's logits cost 1.5x the loss
    at chance, so the spike's threshold is 3 x 1.5 = 4.5x; the first epoch averages 4.9x.
    Its confidence is read from 4.5x (0.52: "possible"), not from the 3x of an init
    whose logits are fine (0.61, asserted: the false alarm the tuning removed)."""
    run = run_case(BY_ID["moons_130_noisy_w320"], seed=74)
    high = next(f for f in diagnose(run) if f.code == "lr_too_high")
    first = high.evidence["train_loss"][0] / math.log(2)
    line = SPIKE_FACTOR * high.evidence["init_logit_excess"]
    assert line > SPIKE_FACTOR and line < first < SPIKE_FACTOR * 2
    assert confidence(first, SPIKE_FACTOR) >= POSSIBLE_BELOW
    assert high.confidence == pytest.approx(confidence(first, line))
    assert high.severity == "possible"


def test_an_overshooting_rate_with_no_marked_rise_is_as_sure_as_its_distance_past_the_line():
    """Three tanh residual blocks on moons (healthy, validation accuracy 0.95; the sixth
    held-back split's false alarm): the loss ends above its best by more than its line
    (the larger of 2 RISE_SHARE of the progress and NOISE_K epoch noises) with no marked
    rise. That branch said 0.6 whatever the evidence; now its confidence is the distance
    past that line (:func:`confidence`): just past it, so "possible" (0.51), not asserted."""
    from fitscope.probe.findings import RISE_SHARE, loss_shape

    run = run_case(BY_ID["moons_residual3_tanh_w28_momentum005"])
    high = next(f for f in diagnose(run) if f.code == "lr_too_high")
    ev = high.evidence
    losses = ev["train_loss"]
    assert ev["marked_rises"] == 0
    line = max(2 * RISE_SHARE * (losses[0] - min(losses)),
               NOISE_K * statistics.median(ev["epoch_noise"]))
    rise = losses[-1] - min(losses)
    assert line < rise < 1.2 * line
    assert not loss_shape(run)["bouncing"]  # the ending high is the only evidence
    assert high.confidence == pytest.approx(confidence(rise, line))
    assert high.confidence < POSSIBLE_BELOW and high.severity == "possible"
    assert "lr_too_high" not in alarms(diagnose(run))
    # a bouncing loss (no progress after epoch 2, two rises and two falls past tol):
    # as sure as its second largest rise after the first epoch against tol
    from fitscope.probe.findings import FLAT_SHARE, _oscillation_confidence

    bounce = [0.69, 0.60, 0.64, 0.58, 0.66, 0.59]
    shape = {"bouncing": True, "chance": math.log(2), "marked": []}
    tol = FLAT_SHARE * math.log(2)
    assert _oscillation_confidence(bounce, shape, 1.0, False, False, None) == pytest.approx(
        confidence(0.04, tol))
    # ending high as well (0.01 above the best against a line of 0.002): the stronger
    assert _oscillation_confidence(bounce, shape, 0.002, True, False, None) == pytest.approx(
        confidence(0.59 - 0.58, 0.002))
    assert confidence(0.59 - 0.58, 0.002) > confidence(0.04, tol)


def test_marked_rises_are_as_sure_as_their_evidence_not_a_fixed_value_per_rise():
    """A healthy 3 x 128 ReLU net on the spiral, momentum at 0.05 (the seventh held-back
    split's false alarm): one marked rise in 30 epochs (a jump of about 2x), then back to
    its best. The oscillation branch gave 0.5 + 0.1 per marked rise, 0.6, asserted; now
    the rebound is as sure as its jump against REBOUND_FACTOR: "possible"."""
    from fitscope.probe.findings import (
        OSCILLATING_SHARE,
        REBOUND_FACTOR,
        _oscillation_confidence,
    )

    run = run_case(BY_ID["spiral_relu3_w128_momentum005_seed223"])
    high = next(f for f in diagnose(run) if f.code == "lr_too_high")
    ev = high.evidence
    assert ev["marked_rises"] == 1 and ev["largest_jump"] > REBOUND_FACTOR
    assert high.confidence == pytest.approx(confidence(ev["largest_jump"], REBOUND_FACTOR))
    assert high.severity == "possible" and "lr_too_high" not in alarms(diagnose(run))
    # many marked rises: their count against max(2, OSCILLATING_SHARE of the changes),
    # 1.0 when every change is a marked rise
    losses = [1.0, 0.5, 0.8, 0.4, 0.7, 0.3, 0.6, 0.2, 0.5, 0.15, 0.45]  # 10 changes
    shape = {"bouncing": False, "chance": math.log(2), "marked": [1, 3, 5, 7, 9]}
    need = max(2, OSCILLATING_SHARE * 10)
    got = _oscillation_confidence(losses, shape, 10.0, False, True, None)
    assert got == pytest.approx(confidence(5, need, span=10 / need))
    assert 0.5 < got < 1.0
    shape["marked"] = list(range(10))
    assert _oscillation_confidence(losses, shape, 10.0, False, True, None) == 1.0
    # nothing fired: no confidence beyond the threshold's 0.5
    assert _oscillation_confidence(losses, {**shape, "marked": []}, 10.0, False, False,
                                   None) == 0.5
