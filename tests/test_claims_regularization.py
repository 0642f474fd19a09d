"""Claims 9-20 (regularization): the measuring pieces against outside references
(sklearn's ridge, least squares, linear networks), verdicts from hand-made numbers, and
every experiment run at a reduced size."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from claims_seeds import measurement, widen
from sklearn.linear_model import Ridge as SkRidge

from fitscope import train
from fitscope.claims import REGISTRY
from fitscope.claims import regularization as regc
from fitscope.claims.base import Context, Measurement
from fitscope.claims.demo import run_claim
from fitscope.claims.regularization import data, dropout, early_stopping, penalties
from fitscope.claims.tests import evaluate
from fitscope.config import RunConfig
from fitscope.run import Run


def m(**values) -> Measurement:
    return measurement(**values)


def decide(number: int, **values):
    return REGISTRY[number].decide(m(**values))


LOW, HIGH = [0.10, 0.12, 0.11], [0.20, 0.25, 0.22]  # clearly different, with spread
SAME = [0.15, 0.16, 0.14]


def test_the_twelve_claims_are_registered_in_order():
    assert [c.number for c in regc.CLAIMS] == list(range(9, 21))
    assert all(REGISTRY[c.number] is c for c in regc.CLAIMS)
    assert len({c.slug for c in regc.CLAIMS}) == 12


# -- measuring pieces against references -------------------------------------------------

def tiny(**overrides) -> RunConfig:
    base = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                     "model": {"depth": 1, "width": 8},
                                     "budget": {"epochs": 3, "batch_size": 0},
                                     "observe": {"snapshot_every": 1}})
    return base.with_overrides(overrides)


def test_step_check_confirms_sgd_with_l2_and_catches_adam():
    sgd = train(tiny(**{"optimizer.name": "sgd", "optimizer.lr": 0.1,
                        "regularization.l2": 0.3}))
    deviation, factor = penalties.step_check(sgd, 0.3)
    assert deviation < 1e-6
    assert factor == pytest.approx(1 - 0.1 * 0.3, abs=1e-5)
    adam = train(tiny(**{"optimizer.name": "adam", "optimizer.lr": 0.01,
                         "regularization.l2": 0.3}))
    assert penalties.step_check(adam, 0.3)[0] > 1e-3  # Adam's step is not the notes' formula


def test_ridge_matches_sklearn_and_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5)) @ rng.normal(size=(5, 5))
    y = x @ rng.normal(size=5) + 3.0 + rng.normal(size=80) * 0.1
    ridge = early_stopping.Ridge(x, y)
    for lam in (0.01, 0.5, 4.0):  # mean((Xw+b-y)^2) + lam/2 |w|^2 == sklearn alpha n lam / 2
        ref = SkRidge(alpha=len(x) * lam / 2).fit(x, y).coef_
        np.testing.assert_allclose(ridge.solve(lam), ref, rtol=1e-8, atol=1e-10)
    xc = np.c_[x, np.ones(len(x))]
    np.testing.assert_allclose(ridge.solve(0.0), np.linalg.lstsq(xc, y, rcond=None)[0][:5],
                               rtol=1e-8)


def test_ridge_least_squares_on_a_rank_deficient_design_is_the_minimum_norm_solution():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    x = np.c_[x, x[:, 0] + x[:, 1]]  # a duplicated direction: H is singular
    y = rng.normal(size=40)
    xc = x - x.mean(0)
    np.testing.assert_allclose(early_stopping.Ridge(x, y).solve(0.0),
                               np.linalg.lstsq(xc, y - y.mean(), rcond=None)[0], atol=1e-8)


def test_hidden_outputs_sees_every_activation_and_removes_its_hooks():
    run = train(tiny(**{"model.depth": 2, "observe.snapshot_every": 0}))
    x = torch.randn(7, 2)
    outs = penalties.hidden_outputs(run.model, x)
    assert [tuple(o.shape) for o in outs] == [(7, 8), (7, 8)]
    assert all((o >= 0).all() for o in outs)  # ReLU outputs
    assert all(not m._forward_hooks for m in run.model.modules())
    h = torch.relu(run.model.hidden[0].linear(x))
    torch.testing.assert_close(outs[0], h)


@pytest.mark.parametrize("activation, exact_net", [("linear", True), ("relu", False)])
def test_dropout_expectation_is_exact_at_the_layer_and_through_a_linear_net(activation,
                                                                            exact_net):
    """Masks are independent, so E[output] equals the test-time output through linear
    layers; a ReLU in between breaks that (Jensen)."""
    cfg = tiny(**{"model.depth": 2, "model.width": 32, "model.dropout": 0.5,
                  "model.activation": activation, "budget.epochs": 30,
                  "optimizer.lr": 0.05, "observe.snapshot_every": 0})
    e = dropout.dropout_expectation(train(cfg))
    assert e["layer"]["relative"] < 0.02 and e["layer"]["z2"] < dropout.Z2_MAX
    assert (e["network"]["z2"] < dropout.Z2_MAX) is exact_net
    assert len(e["network"]["test"]) == len(e["network"]["train_mean"]) == 40  # test rows


def test_history_at_reads_best_and_last_epochs():
    run = Run(config=RunConfig(), history=[{"epoch": e, "val_loss": v} for e, v in
                                           ((1, 0.5), (2, 0.3), (3, 0.4))],
              metrics={"best_epoch": 2})
    assert early_stopping._history_at("val_loss", "best")(run) == 0.3
    assert early_stopping._history_at("val_loss", "last")(run) == 0.4


def test_closest_pair_matches_training_losses():
    p = penalties.Penalty
    losses = {p("none", None): [0.1], p("L1", 1.0): [0.2], p("L1", 2.0): [0.4],
              p("L2", 3.0): [0.39], p("L2", 4.0): [0.25]}
    assert penalties._closest_pair(losses) == (p("L1", 2.0), p("L2", 3.0))


# -- verdicts from hand-made numbers -------------------------------------------------------

def test_decide_weight_decay():
    v = {"step_deviation": [6e-8] * 3, "eta_sgd": 0.1, "tolerance": 1e-5,
         "penalty_vs_decay": {"sgd": [2e-7] * 3, "adam": [0.1, 0.12, 0.11]}}
    verdict = decide(9, **v)
    # the notes say "with gradient descent": Adam is the contrast, not a condition
    assert verdict.outcome == "holds" and "under Adam" in verdict.reason
    same = {"sgd": [2e-7] * 3, "adam": [1e-7] * 3}
    assert decide(9, **{**v, "penalty_vs_decay": same}).outcome == "holds"
    assert decide(9, **{**v, "step_deviation": [1e-3, 6e-8]}).outcome == "does not hold"


def test_decide_sparsity():
    none, l1, l2 = penalties.NO_PENALTY, penalties.Penalty("L1", 1.0), \
        penalties.Penalty("L2", 2.0)
    v = {"pair": [l1, l2], "near_zero": {none: SAME, l1: HIGH, l2: LOW},
         "norm": {none: [2.0, 2.1, 2.05], l1: SAME, l2: [1.5, 1.52, 1.49]},
         "train_loss": {none: SAME, l1: SAME, l2: SAME}, "threshold": 0.01}
    assert decide(10, **v).outcome == "holds"
    swapped = {**v, "near_zero": {none: SAME, l1: LOW, l2: HIGH}}
    assert decide(10, **swapped).outcome == "does not hold"


@pytest.mark.parametrize("number, key, better, worse", [
    (11, "zero_share", "activation L1", "none"),
    (16, "test_acc", "with auxiliary tasks", "main task only"),
])
def test_decide_one_comparison_claims(number, key, better, worse):
    extra = {11: {"lambda": 0.003, "test_acc": {"none": SAME, "activation L1": SAME}},
             16: {"main_label_fraction": 0.05}}[number]
    assert decide(number, **{key: {better: HIGH, worse: LOW}}, **extra).outcome == "holds"
    assert decide(number, **{key: {better: LOW, worse: HIGH}}, **extra).outcome == "does not hold"


def gap_values(reg: str, acc_narrower: bool, loss_narrower: bool) -> dict:
    return {"gap": {"none": HIGH, reg: LOW if acc_narrower else HIGH},
            "loss_gap": {"none": [1.5, 2.0, 1.2], reg: [0.3, 0.4, 0.2] if loss_narrower
                         else [1.5, 2.0, 1.2]},
            "train_acc": {"none": SAME, reg: SAME}, "test_acc": {"none": SAME, reg: SAME}}


def sized(reg: str, by_size: dict[int, tuple[bool, bool]]) -> dict:
    """Per training-set size, :func:`gap_values` (accuracy gap narrower?, cross-entropy
    gap narrower?) under the measurement's "size" key."""
    return {"size": {n: gap_values(reg, *narrower) for n, narrower in by_size.items()}}


def test_decide_l2_gap():
    assert decide(12, **sized("L2", {30: (True, True), 60: (True, True)})).outcome == "holds"
    only = decide(12, **sized("L2", {30: (False, True), 60: (False, True)}))
    assert only.outcome == "holds only when" and "cross-entropy" in only.condition
    assert "accuracy" in decide(12, **sized("L2", {30: (True, False), 60: (True, False)})) \
        .condition
    small = decide(12, **sized("L2", {30: (True, True), 60: (False, False)}))
    assert small.outcome == "holds only when"
    assert small.condition.startswith("the training set has 30 points (at 60 it is not shown)")
    assert decide(12, **sized("L2", {30: (False, False), 60: (False, False)})).outcome == \
        "does not hold"


def test_decide_flatness():
    v = {"train_loss": {"none": SAME, "weight noise": SAME}, "noise_std": 0.05, "alpha": 0.2,
         "hessian": {"none": SAME, "weight noise": SAME}}
    assert decide(14, perturbation={"none": HIGH, "weight noise": LOW}, **v).outcome == "holds"
    assert decide(14, perturbation={"none": LOW, "weight noise": HIGH}, **v).outcome \
        == "does not hold"


def test_claim_16s_auxiliary_tasks_do_not_reveal_the_label():
    """Claim 16's auxiliary targets are functions of the image alone: the same images with
    any labels give the same targets (parity or "digit >= 5" would not)."""
    from fitscope.claims.regularization.data import AUX_TASKS
    from fitscope.engine import aux_target

    x = torch.randn(50, 64, generator=torch.Generator().manual_seed(0))
    y1, y2 = torch.randint(0, 10, (50,)), torch.randint(0, 10, (50,))
    for kind in AUX_TASKS:
        t = aux_target(y1, kind, 10, x, (1, 8, 8))
        assert torch.equal(t, aux_target(y2, kind, 10, x, (1, 8, 8)))
        assert 0 < t.float().mean() < 1  # a task, not a constant
    img = torch.zeros(1, 1, 8, 8)
    img[..., :4] = 1.0  # ink on the left half only
    assert aux_target(None, "ink_left", 10, img.reshape(1, -1), (1, 8, 8)).item() == 1
    assert aux_target(None, "ink_top", 10, img.reshape(1, -1), (1, 8, 8)).item() == 0
    assert not torch.equal(aux_target(y1, "parity", 10), aux_target(y2, "parity", 10))


def test_decide_augmentation_over_sizes():
    def acc(helps_at):
        return {data.Augmented(v, n): (HIGH if v == "augmented" and n in helps_at else LOW)
                for n in (25, 50, 100, 200) for v in ("none", "augmented")}

    def d(helps_at):
        return REGISTRY[13].decide(Measurement(values=widen({"test_acc": acc(helps_at)}),
                                               series={"train_sizes": [25, 50, 100, 200]}))

    assert d({25, 50, 100, 200}).outcome == "holds"
    few = d({25, 50})
    assert few.outcome == "holds only when" and "at most 50 images" in few.condition
    assert d({100, 200}).outcome == "does not hold"


def test_decide_label_smoothing():
    # gain 0 on clean labels, a gain with spread at 20% and 40% wrong labels
    labels = data.Labels
    acc = {labels(0.0, False): SAME, labels(0.0, True): [0.152, 0.158, 0.141],
           labels(0.2, False): LOW, labels(0.2, True): HIGH,
           labels(0.4, False): LOW, labels(0.4, True): HIGH}
    def d(test_acc):
        return REGISTRY[15].decide(Measurement(
            values=widen({"test_acc": test_acc, "smoothing": 0.3}),
            series={"noise_rates": [0.0, 0.2, 0.4]}))

    assert d(acc).outcome == "holds"
    only = d({**acc, labels(0.4, True): [0.10, 0.11, 0.12]})
    assert only.outcome == "holds only when" and only.condition.startswith("20% of the labels")
    assert "not larger than on clean labels" in only.condition
    assert d({**acc, labels(0.2, True): LOW, labels(0.4, True): LOW}).outcome == \
        "does not hold"


def test_decide_early_stopping():
    v = {"val_loss": {"best": [0.3, 0.35, 0.32], "last": [0.7, 0.6, 0.9]},
         "train_loss": {"best": [0.2, 0.5, 0.15], "last": [0.05, 0.1, 0.02]},
         "test_loss": {"best epoch": [0.35, 0.3, 0.4], "last epoch": [0.8, 0.6, 1.1]},
         "test_acc": {"best epoch": SAME, "last epoch": SAME}, "best_epoch": [18, 3, 37]}
    flat = {**v, "val_loss": {"best": [0.3, 0.35, 0.32], "last": [0.3, 0.36, 0.31]}}
    assert decide(17, size={30: v, 120: v}).outcome == "holds"
    mapped = decide(17, size={30: v, 120: flat})
    assert mapped.outcome == "holds only when" and "has 30 points" in mapped.condition
    assert decide(17, size={30: flat, 120: flat}).outcome == "does not hold"


def es_l2(to_ridge: dict, to_ls: float = 10.0, ratio: float = 0.7) -> dict:
    return {"to_ridge": to_ridge,
            "to_least_squares": {t: [to_ls, to_ls * 1.1] for t in to_ridge},
            "best_lambda_times_eta_t": {t: [ratio, ratio] for t in to_ridge},
            "eta": 0.03, "diverged": 0}


def test_decide_early_stopping_l2():
    good = {3: [0.1, 0.12], 10: [0.15, 0.14], 30: [0.1, 0.11]}
    assert decide(18, **es_l2(good)).outcome == "holds"
    early = decide(18, **es_l2({**good, 3: [0.3, 0.28]}))
    assert early.outcome == "holds only when" and "t >= 10" in early.condition
    assert decide(18, **es_l2({**good, 30: [0.3, 0.28]})).outcome == "does not hold"
    assert decide(18, **es_l2(good, ratio=5.0)).outcome == "does not hold"
    assert decide(18, **es_l2(good, to_ls=0.01)).outcome == "does not hold"


def test_decide_dropout():
    check = {"p": 0.5, "checked_size": 60, "layer_z2": [0.9, 1.1],
             "layer_relative": [0.005, 0.004], "network_z2": [1.2, 0.8],
             "network_relative": [0.01, 0.02]}
    both_ways = {30: (True, True), 60: (True, True)}
    v = {**sized("dropout", both_ways), **check}
    assert decide(19, **v).outcome == "holds"
    approx = decide(19, **{**v, "network_z2": [40.0, 1.0]})
    assert approx.outcome == "holds only when" and "layer right after dropout" in \
        approx.condition
    both = decide(19, **{**v, **sized("dropout", {30: (False, True), 60: (False, True)}),
                         "network_z2": [9.0, 9.0]})
    assert "cross-entropy" in both.condition and "; and " in both.condition
    small = decide(19, **{**v, **sized("dropout", {30: (True, True), 60: (False, False)})})
    assert small.outcome == "holds only when" and "has 30 points" in small.condition
    assert decide(19, **{**v, "layer_z2": [3.0, 1.0]}).outcome == "does not hold"
    assert decide(19, **{**v, **sized("dropout", {30: (False, False), 60: (False, False)})}) \
        .outcome == "does not hold"


def test_decide_fgsm():
    v = {"epsilon": 0.2, "pixel_range": 2.66,
         "clean_acc": {"standard": SAME, "adversarial": SAME},
         "fgsm_acc": {"standard": LOW, "adversarial": HIGH},
         "flip_fgsm": {"standard": HIGH, "adversarial": LOW},
         "flip_random": {"standard": [0.01, 0.0, 0.02], "adversarial": [0.0] * 3}}
    assert decide(20, **v).outcome == "holds"
    assert decide(20, **{**v, "fgsm_acc": {"standard": HIGH, "adversarial": LOW}}).outcome \
        == "does not hold"


# -- every experiment at a reduced size -----------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("number", range(9, 21))
def test_regularization_claims_run_at_reduced_size(number):
    ctx = Context(seeds=2, scale=0.3)
    result = run_claim(REGISTRY[number], ctx)
    assert not result.error, result.error
    assert result.verdict.outcome in ("holds", "does not hold", "not shown", "holds only when")
    assert result.verdict == evaluate(REGISTRY[number], result.measurement).verdict
    fig = result.figure
    assert isinstance(fig, go.Figure) and fig.layout.title.text and len(fig.data) >= 2
    assert result.runs == ctx.runs_trained > 0
    values = result.measurement.values
    if number == 9:  # the identity is exact at any size
        assert max(values["step_deviation"]) < 1e-5
    if number == 19:
        assert max(values["layer_relative"]) < 0.05
    if number == 18:
        assert all(math.isfinite(d) for ds in values["to_ridge"].values() for d in ds)


@pytest.mark.slow
@pytest.mark.parametrize("number", [9, 14, 17, 18, 19])
def test_claims_run_through_the_population_engine(number):
    """The demo trains same-shape configs together: snapshots, models and early-stopping
    restores must come back from that path too."""
    from fitscope.claims.training import train_batched

    ctx = Context(seeds=2, scale=0.3, trainer=train_batched)
    result = run_claim(REGISTRY[number], ctx)
    assert not result.error, result.error
    assert result.verdict == evaluate(REGISTRY[number], result.measurement).verdict
    if number == 9:
        assert max(result.measurement.values["step_deviation"]) < 1e-5



def test_near_zero_is_relative_to_the_unpenalized_weight_scale():
    from fitscope.claims.regularization.penalties import NEAR_ZERO, near_zero_share
    from fitscope.config import RunConfig
    from fitscope.engine import train

    cfg = RunConfig.model_validate({"data": {"name": "breast_cancer"}, "model": {"depth": 0},
                                    "optimizer": {"name": "sgd", "lr": 0.3},
                                    "budget": {"epochs": 2, "batch_size": 0}})
    ref, run = train(cfg), train(cfg)
    from fitscope.claims.regularization.common import _weights_flat

    scale = float(_weights_flat(ref).square().mean().sqrt())
    w = next(p for p in run.model.parameters() if p.dim() == 2)
    with torch.no_grad():
        w.fill_(2.0 * NEAR_ZERO * scale)            # not near zero
        w.view(-1)[:10] = 0.5 * NEAR_ZERO * scale   # near zero against the reference's scale
    assert near_zero_share(run, ref) == pytest.approx(10 / w.numel())
    with torch.no_grad():
        w.mul_(1000.0)  # the same weights 1000 times larger: none near zero any more
    assert near_zero_share(run, ref) == 0.0
