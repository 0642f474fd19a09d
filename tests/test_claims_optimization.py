"""Claims 21-28 (optimization and batch norm): the measuring pieces against outside
references (closed forms, torch.optim), verdicts from hand-made numbers, and every
experiment run at a reduced size."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from claims_seeds import measurement, widen
from torch import nn

from fitscope.claims import REGISTRY
from fitscope.claims import optimization as opt
from fitscope.claims.base import Context, Measurement
from fitscope.claims.optimization import adaptive, lr_decay, minibatch, momentum, surfaces
from fitscope.landscape import Problem, toy


def m(**values) -> Measurement:
    return measurement(**values)


def outcome(number: int, **values) -> str:
    return REGISTRY[number].decide(m(**values)).outcome


def test_the_ten_claims_are_registered_in_order():
    assert [c.number for c in opt.CLAIMS] == [*range(21, 29), 38, 39]
    assert all(REGISTRY[c.number] is c for c in opt.CLAIMS)


# -- 21 ----------------------------------------------------------------------------------

def _linear_problem(n_rows: int = 300) -> tuple[Problem, torch.Tensor]:
    """L(w) = mean (w x - y)^2 at w = 0: per-example gradients g_i = -2 x_i y_i."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(n_rows, 1, generator=gen), torch.randn(n_rows, generator=gen)
    model = nn.Linear(1, 1, bias=False)
    problem = Problem(model, lambda out, t: F.mse_loss(out[:, 0], t), x, y)
    return problem, (-2 * x[:, 0] * y)


def test_minibatch_gradients_are_the_mean_of_per_example_gradients():
    problem, per_example = _linear_problem()
    rows = torch.tensor([[0, 1, 2], [5, 5, 7]])
    got = minibatch.minibatch_gradients(problem, torch.zeros(1), rows)
    assert torch.allclose(got[:, 0], per_example[rows].mean(dim=1), atol=1e-6)


def test_gradient_errors_match_sigma_over_sqrt_n_and_the_finite_population_correction():
    problem, per_example = _linear_problem()
    n_rows, sigma = len(per_example), float(per_example.std(unbiased=False))
    ses = minibatch.gradient_errors(problem, torch.zeros(1), 4000, torch.Generator().manual_seed(1))
    for i, n in enumerate(minibatch.GRAD_SIZES):
        exact = sigma / math.sqrt(n)
        fpc = math.sqrt((n_rows - n) / (n_rows - 1))
        assert ses["with"][i] == pytest.approx(exact, rel=0.05)
        assert ses["without"][i] == pytest.approx(exact * fpc, rel=0.05)
        assert ses["fpc"][i] == pytest.approx(exact, rel=0.05)
    # n = 256 of 300: the correction is large, so the uncorrected slope is far steeper
    assert minibatch.loglog_slope(minibatch.GRAD_SIZES, ses["without"]) < -0.6
    assert minibatch.loglog_slope([1, 4, 16], [1.0, 0.5, 0.25]) == pytest.approx(-0.5)


def test_decide_gradient_noise():
    ok, steep, flat = [-0.51, -0.49, -0.5], [-0.75, -0.7, -0.72], [-0.3] * 3
    assert outcome(21, slope={"with": ok, "without": ok, "fpc": ok},
                   training_examples=1000) == "holds"
    assert outcome(21, slope={"with": ok, "without": steep, "fpc": ok},
                   training_examples=300) == "holds only when"
    assert outcome(21, slope={"with": flat, "without": steep, "fpc": flat},
                   training_examples=300) == "does not hold"


# -- 22 ----------------------------------------------------------------------------------

def test_decide_batch_regularizer():
    settings = [[p, b] for p in minibatch.BATCH_PROTOCOLS for b in minibatch.BATCH_BUDGETS]
    # differences with spread over seeds (identical differences would be "no variance")
    better, same, worse = [0.94, 0.945, 0.95], [0.905, 0.90, 0.91], [0.85, 0.86, 0.84]
    large = [0.90, 0.91, 0.905]

    def meas(small_by_protocol):
        batch = minibatch.Batch
        v = {"test_acc": {}, "gap": {}}
        for p, b in settings:
            v["test_acc"] |= {batch(p, b, 8): small_by_protocol[p], batch(p, b, 128): large}
            v["gap"] |= {batch(p, b, 8): [0.05] * 3, batch(p, b, 128): [0.1] * 3}
        return Measurement(values=widen(v), series={"settings": settings})

    d = REGISTRY[22].decide
    assert d(meas(dict.fromkeys(minibatch.BATCH_PROTOCOLS, better))).outcome == "holds"
    v = d(meas({"equal steps": same, "equal epochs": better, "lr scaled with batch": worse}))
    assert v.outcome == "holds only when"
    assert v.condition.startswith("equal epochs, short or equal epochs, long")
    assert "large batch generalizes better with lr scaled with batch, short" in v.condition
    assert d(meas(dict.fromkeys(minibatch.BATCH_PROTOCOLS, same))).outcome == "does not hold"


# -- 23 ----------------------------------------------------------------------------------

def test_saddle_walk_counts_steps_near_the_saddle_and_their_lengths():
    path = np.array([[-1.0, 0.0], [-0.5, 0.0], [-0.1, 0.0], [-0.09, 0.0], [-0.08, 0.0],
                     [0.5, 0.5]])
    walk = surfaces.saddle_walk(path)
    assert walk["dwell"] == 3  # the steps leaving (-0.1, 0), (-0.09, 0), (-0.08, 0)
    assert walk["approach_step"] == pytest.approx(0.45)  # median of 0.5 and 0.4
    assert walk["near_step"] == pytest.approx(0.01)


def test_decide_saddle():
    on, off = surfaces.ON_RIDGE, surfaces.OFF_RIDGE
    base = {"dwell": {on: [40.0, 30.0, 44.0], off: [0.0] * 3},
            "approach_step": {on: [0.07, 0.072, 0.074]},
            "near_step": {on: [0.01, 0.012, 0.009]}}
    assert outcome(23, **base) == "holds"
    fast = {**base, "near_step": {on: [0.08, 0.09, 0.085]}}
    v = REGISTRY[23].decide(m(**fast))
    assert v.outcome == "does not hold" and "Held: it lingers" in v.reason


# -- 24 ----------------------------------------------------------------------------------

def test_cliff_walk_finds_the_jump_and_the_rise():
    path = np.array([[3.0, 0.0], [1.4, 0.0], [-18.0, 0.0], [-16.0, 0.0]])
    walk = surfaces.cliff_walk(path, np.array([10.0, 5.0, 160.0, 128.0]))
    assert walk == {"largest_step": pytest.approx(19.4), "largest_rise": 155.0,
                    "final_loss": 128.0}
    assert surfaces.cliff_walk(path, np.array([3.0, 2.0, 1.0, 0.5]))["largest_rise"] == 0.0


def test_clipping_bounds_every_step_on_the_cliff():
    surf = toy.surface("cliff")
    clipped = toy.optimize(surf, "sgd", steps=60, clip_norm=surfaces.CLIP_NORM)
    assert surfaces.cliff_walk(clipped, toy.losses(surf, clipped))["largest_step"] <= \
        surf.lr["sgd"] * surfaces.CLIP_NORM + 1e-12


def test_decide_cliff():
    c = surfaces.CLIPPED
    base = {"largest_step": {"plain": [20.1, 20.2, 20.0], c: [0.1] * 3},
            "largest_rise": {"plain": [130.0, 140.0, 150.0], c: [0.0] * 3}}
    assert outcome(24, **base) == "holds"
    flat = {**base, "largest_rise": {"plain": [0.0] * 3, c: [0.0] * 3}}
    assert outcome(24, **flat) == "does not hold"


# -- 25 ----------------------------------------------------------------------------------

def test_decide_decay():
    def values(sgd_const, full_const):
        s = lr_decay.Schedule
        return {"final_train_loss": {s(16, "constant"): sgd_const,
                                     s(16, "linear"): [0.21, 0.22, 0.215],
                                     s(0, "constant"): full_const,
                                     s(0, "linear"): [0.186, 0.19, 0.185]}}
    higher, equal = [0.29, 0.27, 0.28], [0.21, 0.22, 0.215]
    v = REGISTRY[25].decide(m(**values(higher, [0.186, 0.19, 0.185])))
    assert v.outcome == "holds" and "as the notes expect" in v.reason
    v = REGISTRY[25].decide(m(**values(higher, [0.2, 0.21, 0.205])))
    assert v.outcome == "holds" and "not only from the gradient noise" in v.reason
    assert outcome(25, **values(equal, [0.186, 0.19, 0.185])) == "does not hold"


# -- 26 ----------------------------------------------------------------------------------

def test_momentum_reaches_the_ravine_floor_first():
    start = toy.surface("ravine").start
    sgd = momentum.ravine_steps(start, "sgd", 0.012)
    heavy_ball = momentum.ravine_steps(start, "momentum", 0.012)
    # f ~ x_k^2 / 2 with x_k = x_0 (1 - eps)^k: f <= tol after ln(x_0^2 / 2 tol) / 2 eps steps
    assert sgd == pytest.approx(math.log(81 / (2 * momentum.RAVINE_TOL)) / (2 * 0.012), rel=0.02)
    assert heavy_ball < sgd / 3
    # each optimizer's own rate: the grid's best on selection starts, inside SGD's stable range
    assert momentum.ravine_best_lr("sgd") < 2 / 100
    assert momentum.ravine_best_lr("sgd") in momentum.RAVINE_GRID


def test_decide_momentum():
    slow = [437.0, 440.0, 444.0]
    base = {"ravine_steps": {"sgd": slow, "momentum": [85.0] * 3},
            "digits_train_loss": {"sgd": [1.7, 1.4, 1.7], "momentum": [0.25, 0.2, 0.23]}}
    assert outcome(26, **base) == "holds"
    flat = {**base, "digits_train_loss": {"sgd": [1.7, 1.4, 1.7], "momentum": [1.7, 1.4, 1.7]}}
    assert outcome(26, **flat) == "holds only when"
    assert outcome(26, **{**flat, "ravine_steps": {"sgd": slow, "momentum": slow}}) == \
        "does not hold"


# -- 27 ----------------------------------------------------------------------------------

def _torch_steps(name: str, grads: torch.Tensor, **kwargs) -> torch.Tensor:
    """The steps ``torch.optim`` takes on the gradient sequence ``grads`` (K, D)."""
    theta = torch.zeros(grads.shape[1], dtype=torch.float64, requires_grad=True)
    o = getattr(torch.optim, name)([theta], **kwargs)
    path = [theta.detach().clone()]
    for g in grads:
        theta.grad = g.clone()
        o.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


def test_adam_steps_match_torch_adam_and_the_first_step_formula():
    grads = torch.randn(30, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    corrected, uncorrected = adaptive.adam_steps(grads, 0.01, 0.9, 0.999, 1e-8)
    path = _torch_steps("Adam", grads, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    assert torch.allclose(path[1:] - path[:-1], corrected, rtol=1e-6, atol=1e-12)
    # step 1: corrected -eps sign(g); uncorrected (1 - beta1) / sqrt(1 - beta2) times that
    assert torch.allclose(corrected[0], -0.01 * grads[0].sign(), rtol=1e-5)
    assert torch.allclose(uncorrected[0] / corrected[0],
                          torch.full((5,), 0.1 / math.sqrt(0.001), dtype=torch.float64), rtol=1e-4)


def test_step_rates_are_adagrad_and_rmsprop_rates():
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(20, 4, generator=gen, dtype=torch.float64)
    grads[3, 1] = 0.0  # no gradient: no rate
    path = _torch_steps("Adagrad", grads, lr=0.1, eps=1e-10)
    rates = adaptive.step_rates(path, grads)
    expected = 0.1 / (1e-10 + grads.pow(2).cumsum(dim=0).sqrt())
    assert torch.isnan(rates[3, 1])
    rates[3, 1] = expected[3, 1]
    assert torch.allclose(rates, expected, rtol=1e-6)
    assert adaptive.rise_share(rates) == 0.0
    rms = adaptive.step_rates(_torch_steps("RMSprop", grads, lr=0.1, alpha=0.9), grads)
    assert adaptive.rise_share(rms) > 0.2


def test_decide_adaptive():
    base = {"adagrad_end_over_start": [0.3, 0.32, 0.35], "rmsprop_min_over_warm": [1.0] * 3,
            "rise_share": {"adagrad": [0.001] * 3, "rmsprop": [0.85] * 3},
            "final_train_loss": {"adagrad": [0.5, 0.6, 0.55], "rmsprop": [0.01] * 3},
            "adam_first_ratio": [3.16] * 3, "adam_peak_ratio": [6.57] * 3,
            "adam_last_ratio": [3.2] * 3, "adam_formula_error": [2e-5] * 3}
    assert outcome(27, **base) == "holds"
    for broken in ({"rmsprop_min_over_warm": [0.1] * 3},          # RMSProp's rate collapses
                   {"adagrad_end_over_start": [0.9] * 3}):        # AdaGrad's does not shrink
        v = REGISTRY[27].decide(m(**{**base, **broken}))
        assert v.outcome == "does not hold" and "Did not hold" in v.reason
    # Adam's half is an identity of the update rule: shown, never part of the verdict
    v = REGISTRY[27].decide(m(**{**base, "adam_formula_error": [0.2] * 3}))
    assert v.outcome == "holds" and "does not change" in v.reason


# -- 28 ----------------------------------------------------------------------------------

def test_decide_batch_norm():
    rates, few = (0.03, 0.1, 0.3), [1.0, 1.0, 0.0]

    def values(trained_bn: dict, largest: dict | None = None) -> dict:
        return {"largest_lr": largest or {"plain": [0.3, 0.3, 0.1], "bn": [3.0] * 3},
                "init_scales_trained": {"plain": dict.fromkeys(rates, few), "bn": trained_bn},
                "init_range": {"plain": {lr: [1.5, 1.1, 1.9] for lr in rates},
                               "bn": {lr: [0.7, 0.8, 0.7] for lr in rates}}}

    every = {lr: [4.0] * 3 for lr in rates}
    assert outcome(28, **values(every)) == "holds"
    v = REGISTRY[28].decide(m(**values({**every, 0.3: few})))
    assert v.outcome == "holds only when" and v.condition.startswith("the init sweep is "
                                                                     "trained at eps = 0.03 or 0.1")
    same = dict.fromkeys(rates, few)
    v = REGISTRY[28].decide(m(**values(same)))
    assert v.outcome == "does not hold" and "Held: higher learning rates train" in v.reason
    # no learning rate trains in either: 0 on both sides, no difference
    none = {"plain": [0.0] * 3, "bn": [0.0] * 3}
    assert outcome(28, **values(same, none)) == "does not hold"


# -- every experiment, reduced ---------------------------------------------------------------

@pytest.mark.parametrize("number", range(21, 29))
def test_experiment_runs_reduced_and_gives_a_verdict_and_a_figure(number):
    claim = REGISTRY[number]
    measurement = claim.measure(Context(seeds=2, scale=0.3))
    verdict = claim.decide(measurement)
    assert verdict.outcome in ("holds", "does not hold", "not shown", "holds only when")
    assert verdict.reason
    fig = claim.figure(measurement)
    assert fig.layout.title.text and len(fig.data) >= 2
