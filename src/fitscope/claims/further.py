"""Claims 29 to 33: statements of the notes the first 28 claims left out (issue 14's list).

- 29: more training data is the best regularizer;
- 30: batch normalization speeds training and regularizes;
- 31: L1 drives a majority of the weights to zero and shrinks large weights less than L2;
- 32: input units should keep a retention probability near 1 under dropout;
- 33: RMSProp converges fast once in a locally convex bowl;
- 34: saddle points outnumber local minima in high dimensions (random Hessians: a
  demonstration);
- 35: the two ways to use the validation data after early stopping beat stopping alone.

Each trains through ``ctx.train_many`` (or runs :mod:`fitscope.landscape.toy`), decides
with :mod:`fitscope.claims.tests` and draws a figure.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import plotly.graph_objects as go

from ..config import RunConfig
from ..landscape import toy
from .base import (
    Context,
    Measurement,
    Verdict,
    declared,
    mean,
    metric,
    metrics,
    setting,
    verdict_from,
)
from .optimization.common import _jitter
from .optimization.momentum import ravine_steps
from .regularization.common import (
    OVERFIT_TRAIN,
    _bar_figure,
    _ci_bar,
    _gap,
    _gap_values,
    _m,
    _per_run,
    _weights_flat,
    overfit_base,
)
from .tests import mean_above, versus

# -- 29: more data is the best regularizer -------------------------------------------------

MORE_DATA = 4  # times the overfitting setting's 60 training points


# Claim 29's setting: the training points and the regularizer.
Data = setting("Data", "points regularizer", lambda points, reg: f"{points} points, {reg}")

def measure_more_data(ctx: Context) -> Measurement:
    """The overfitting MLP of claim 12 on 60 points with L2 (lambda 0.01), with dropout
    (p 0.5), or with no regularizer, against the same network with 4x the training data and
    no regularizer; each seed draws its own split."""
    base, n = overfit_base(ctx), OVERFIT_TRAIN
    variants: dict[tuple, dict[str, Any]] = {
        Data(n, "none"): {}, Data(n, "L2"): {"regularization.l2": 0.01},
        Data(n, "dropout"): {"model.dropout": 0.5},
        Data(MORE_DATA * n, "none"): {"data.train_size": MORE_DATA * n}}
    runs = ctx.train_variants(base, variants, resplit=True)
    return Measurement(values=_gap_values(runs))


def decide_more_data(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    more = max(acc, key=lambda k: k.points)
    said = {k: versus(acc, more, k, "test accuracy", label=f"test accuracy {more} > {k}")
            for k in acc if k != more}
    tests = {k: c for k, (c, _) in said.items()}
    detail = "; ".join(text for _, text in said.values())
    beaten = [k for k, c in tests.items() if c.significant]
    if len(beaten) == len(tests):
        return Verdict("holds", detail + ".")
    # beating no regularizer only is not "best": the claim is about the regularizers
    return Verdict("does not hold", detail + "; more data did not beat "
                   + ", ".join(str(k) for k in tests if k not in beaten) + ".")


def _acc_figure(m: Measurement, title: str, xtitle: str) -> go.Figure:
    return _bar_figure([_ci_bar("train accuracy", m.values["train_acc"]),
                        _ci_bar("test accuracy", m.values["test_acc"])], title, xtitle,
                       "accuracy")


MORE_DATA_CLAIM = declared(
    29, measure_more_data, decide_more_data,
    lambda m: _acc_figure(m, "The overfitting MLP: regularizers on 60 points against more "
                             "data (95% CI over seeds)", "training"))


# -- 30: batch norm speeds training and regularizes ----------------------------------------

BN_EARLY = 2  # epochs after which "faster" is read


def measure_bn_speed(ctx: Context) -> Measurement:
    """A 6-layer ReLU MLP on 512 digits, SGD at 0.1, with and without batch norm: training
    loss after 2 epochs (speed), and train-test accuracy gap after 20 (regularization);
    dropout 0.2 without batch norm as the regularizer it would replace."""
    base = RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 512}, "model": {"depth": 6, "width": 32},
        "optimizer": {"name": "sgd", "lr": 0.1}, "budget": {"epochs": ctx.epochs(20),
                                                             "batch_size": 64}})
    runs = ctx.train_variants(base, {"plain": {}, "batch norm": {"model.batch_norm": True},
                              "dropout 0.2": {"model.dropout": 0.2}})
    early = {k: _per_run(rs, lambda r: r.history[min(BN_EARLY, len(r.history)) - 1]
                         ["train_loss"]) for k, rs in runs.items()}
    return Measurement(values={"early_train_loss": early,
                               "gap": {k: _gap(rs) for k, rs in runs.items()},
                               **metrics(runs, "train_acc", "test_acc")})


def decide_bn_speed(m: Measurement) -> Verdict:
    v = m.values
    bn, said = "batch norm", ("with batch norm", "without")
    fast, speed = versus(v["early_train_loss"], bn, "plain",
                         f"training loss after {BN_EARLY} epochs", said, lower=True,
                         label=f"training loss after {BN_EARLY} epochs, plain > batch norm")
    narrow, gap = versus(v["gap"], bn, "plain", "gap", said, lower=True,
                         label="train-test accuracy gap, plain > batch norm")
    _, replace = versus(v["test_acc"], "dropout 0.2", bn, "test accuracy",
                        ("with dropout 0.2 instead", "with batch norm"), reported=True,
                        label="test accuracy, dropout > batch norm")
    detail = f"{speed}; {gap}; {replace}"
    wider = narrow.result.p_opposite < 0.05
    return verdict_from(detail, fast.significant, narrow.significant,
                        "'regularizes' is left out: it trains faster, but the gap is "
                        + ("significantly wider" if wider else "not significantly narrower"))


BN_SPEED = declared(
    30, measure_bn_speed, decide_bn_speed,
    lambda m: _bar_figure([_ci_bar(f"training loss after {BN_EARLY} epochs",
                                   m.values["early_train_loss"]),
                           _ci_bar("train - test accuracy", m.values["gap"])],
                          "Batch norm in a 6-layer ReLU MLP on digits (95% CI over seeds)",
                          "network", "value"), BN_EARLY=BN_EARLY)


# -- 31: L1 zeroes most weights, shrinks large ones less than L2 ----------------------------

NEAR_ZERO = 1e-3
TOP_SHARE = 0.1  # "large weights": the top 10% by magnitude without a penalty


def measure_l1_majority(ctx: Context) -> Measurement:
    """Logistic regression from zero on breast cancer (full-batch SGD), no penalty, L1 and
    L2 at strengths with comparable training loss (claim 10's setting); each seed draws
    its own split."""
    base = RunConfig.model_validate({
        "data": {"name": "breast_cancer"}, "model": {"depth": 0}, "init": {"scheme": "zeros"},
        "optimizer": {"name": "sgd", "lr": 0.3},
        "budget": {"epochs": ctx.epochs(60), "batch_size": 0}})
    runs = ctx.train_variants(base, {"none": {}, "L1": {"regularization.l1": 0.01},
                              "L2": {"regularization.l2": 0.1}}, resplit=True)
    weights = {k: [_weights_flat(r).abs() for r in rs] for k, rs in runs.items()}
    shrink = {}
    for k in ("L1", "L2"):
        ratios = []
        for w0, w in zip(weights["none"], weights[k]):
            top = w0 >= w0.quantile(1 - TOP_SHARE)
            ratios.append(float(w[top].mean() / w0[top].mean()))
        shrink[k] = ratios
    return Measurement(values={
        "near_zero": {k: [float((w < NEAR_ZERO).float().mean()) for w in ws]
                      for k, ws in weights.items()},
        "large_kept": shrink,
        "train_loss": {k: metric(rs, "train_loss") for k, rs in runs.items()}})


def decide_l1_majority(m: Measurement) -> Verdict:
    v = m.values
    majority = mean_above(v["near_zero"]["L1"], 0.5,
                          label=f"share of L1 weights under {NEAR_ZERO:g} > 0.5")
    less, kept = versus(v["large_kept"], "L1", "L2", f"the top {TOP_SHARE:.0%} of weights "
                        "keep", ("of their size under L1", "under L2"), ".2f",
                        label="large weights kept, L1 > L2")
    detail = (f"share of weights under {NEAR_ZERO:g}: L1 {_m(v['near_zero']['L1']):.2f}, L2 "
              f"{_m(v['near_zero']['L2']):.2f}, none {_m(v['near_zero']['none']):.2f} "
              f"({majority.text()}); {kept}; training loss L1 "
              f"{_m(v['train_loss']['L1']):.3f}, L2 {_m(v['train_loss']['L2']):.3f}")
    if majority.significant and less.significant:
        return Verdict("holds", detail + ".")
    if majority.significant or less.significant:
        part = "most weights go to zero" if majority.significant else \
            "large weights shrink less than under L2"
        return Verdict("holds only when", detail + ".", f"read as: {part} (the other half is "
                       "not significant)")
    return Verdict("does not hold", detail + ".")


L1_MAJORITY = declared(
    31, measure_l1_majority, decide_l1_majority,
    lambda m: _bar_figure([_ci_bar(f"share of weights under {NEAR_ZERO:g}",
                                   m.values["near_zero"]),
                           _ci_bar("top 10% weights: size kept", m.values["large_kept"])],
                          "Logistic regression on breast cancer: L1 against L2 (95% CI "
                          "over splits)", "penalty", "share"), NEAR_ZERO=NEAR_ZERO)


# -- 32: input units keep a retention probability near 1 ------------------------------------

INPUT_DROPS = (0.2, 0.5)
Keep = setting("Keep", "p", lambda p: f"keep {p:g}")  # claim 32's inputs' retention


def measure_input_dropout(ctx: Context) -> Measurement:
    """An MLP on digits with hidden dropout 0.5 and input dropout 0.2 (keep 0.8) or 0.5
    (keep 0.5)."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 128, "dropout": 0.5},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(20), "batch_size": 64}})
    runs = ctx.train_variants(base, {Keep(1 - p): {"model.input_dropout": p}
                                     for p in INPUT_DROPS}, resplit=True)
    return Measurement(values=metrics(runs, "train_acc", "test_acc"))


def decide_input_dropout(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    high, low = Keep(1 - INPUT_DROPS[0]), Keep(1 - INPUT_DROPS[1])
    c, detail = versus(acc, high, low, "test accuracy", (f"with inputs kept at {high.p:g}",
                       f"at {low.p:g}"), label=f"test accuracy, inputs {high} > {low}")
    return verdict_from(detail, c.significant)


INPUT_RETENTION = declared(
    32, measure_input_dropout, decide_input_dropout,
    lambda m: _acc_figure(m, "MLP on digits with hidden dropout 0.5: input retention 0.8 "
                             "against 0.5 (95% CI over seeds)", "input retention"))


# -- 33: RMSProp converges fast in a convex bowl -------------------------------------------

BOWL_GRID = {"adagrad": (0.1, 0.3, 1.0, 3.0), "rmsprop": (0.003, 0.01, 0.03, 0.1)}


def _bowl_best(name: str) -> float:
    surf = toy.surface("ravine")
    starts = [_jitter(surf.start, 10_000 + s, (1.0, 0.3)) for s in range(3)]
    return min(BOWL_GRID[name], key=lambda lr: sum(ravine_steps(s, name, lr) for s in starts))


def measure_bowl(ctx: Context) -> Measurement:
    """AdaGrad and RMSProp on the convex ravine (a quadratic bowl of condition number 100),
    each at its best rate of a grid chosen on 3 other starts."""
    surf = toy.surface("ravine")
    lr = {n: _bowl_best(n) for n in BOWL_GRID}
    starts = [_jitter(surf.start, s, (1.0, 0.3)) for s in range(ctx.seeds)]
    values = {"steps": {n: [float(ravine_steps(s, n, lr[n])) for s in starts] for n in lr}}
    curves = {n: (toy.losses(surf, toy.optimize(surf, n, steps=300, start=starts[0],
                                                lr=lr[n])) - surf.f_min).tolist() for n in lr}
    return Measurement(values=values, series={"curves": curves, "lr": lr})


def decide_bowl(m: Measurement) -> Verdict:
    steps, lr = m.values["steps"], m.series["lr"]
    c, detail = versus(steps, "rmsprop", "adagrad", "steps to f - f_min <= 0.001 in the bowl:",
                       (f"with RMSProp (eps {lr['rmsprop']})",
                        f"with AdaGrad (eps {lr['adagrad']})"), ".0f", lower=True,
                       label="steps to tolerance, AdaGrad > RMSProp")
    return verdict_from(detail, c.significant)


def figure_bowl(m: Measurement) -> go.Figure:
    fig = go.Figure()
    for n, ys in m.series["curves"].items():
        fig.add_scatter(y=ys, mode="lines", name=f"{n} (eps {m.series['lr'][n]})")
    fig.update_yaxes(type="log", title="f - f_min")
    fig.update_xaxes(title="step")
    fig.update_layout(title="AdaGrad and RMSProp in a convex bowl, each at its best rate "
                      "(seed 0)")
    return fig


BOWL = declared(33, measure_bowl, decide_bowl, figure_bowl)

# -- 34: saddle points outnumber minima in high dimensions ----------------------------------

HESSIAN_DIMS = (1, 2, 4, 8, 16)
HESSIAN_DRAWS = 4000


def minimum_share(n: int, seed: int, draws: int = HESSIAN_DRAWS) -> float:
    """Share of random critical points that are minima in n dimensions: of ``draws``
    Hessians H = (A + A^T) / sqrt(2 n), A with N(0, 1) entries (the Gaussian orthogonal
    ensemble, the model of Dauphin et al. 2014), the share whose eigenvalues are all
    positive."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((draws, n, n))
    h = (a + a.transpose(0, 2, 1)) / np.sqrt(2 * n)
    return float((np.linalg.eigvalsh(h) > 0).all(axis=1).mean())


def measure_saddles(ctx: Context) -> Measurement:
    return Measurement(values={"minimum_share": {n: [minimum_share(n, s)
                                                     for s in range(ctx.seeds)]
                                                 for n in HESSIAN_DIMS}},
                       series={"dims": list(HESSIAN_DIMS)})


def decide_saddles(m: Measurement) -> Verdict:
    dims = m.series["dims"]
    shares = {n: mean(m.values["minimum_share"][n]) for n in dims}
    falls = all(shares[b] < shares[a] or shares[a] == 0 for a, b in pairwise(dims))
    text = ", ".join(f"n = {n}: {shares[n]:.3g}" for n in dims)
    detail = f"share of random critical points that are minima: {text}"
    if falls and shares[dims[-1]] < 0.01:
        return Verdict("holds", detail + ": saddles outnumber minima more and more.")
    return Verdict("does not hold", detail + ".")


def figure_saddles(m: Measurement) -> go.Figure:
    dims = m.series["dims"]
    fig = go.Figure(go.Scatter(x=dims, y=[max(mean(m.values["minimum_share"][n]), 1e-5)
                                           for n in dims], mode="lines+markers",
                               name="share of minima"))
    fig.update_xaxes(type="log", title="dimension n")
    fig.update_yaxes(type="log", title="share of critical points that are minima")
    fig.update_layout(title="Random Hessians (GOE): minima become rare as the dimension grows "
                      "(floor 1e-5 drawn for 0)")
    return fig


SADDLES = declared(
    34, measure_saddles, decide_saddles, figure_saddles, HESSIAN_DRAWS=HESSIAN_DRAWS,
    HESSIAN_DIMS=HESSIAN_DIMS)

# -- 35: after early stopping, use the validation data too ---------------------------------

AFTER = ("retrain_all", "continue_all")


def measure_after_stopping(ctx: Context) -> Measurement:
    """An MLP on 300 digits with 25% held out for early stopping (patience 10): kept as
    stopped, retrained from the same init on train+val for the best number of steps, or
    continued on train+val (Goodfellow et al. 2016, alg. 7.2 and 7.3); each seed draws its
    own split."""
    base = RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 300, "val_fraction": 0.25},
        "model": {"depth": 2, "width": 64}, "optimizer": {"name": "adam", "lr": 0.003},
        "regularization": {"early_stopping": {"enabled": True, "patience": 10}},
        "budget": {"epochs": ctx.epochs(200), "batch_size": 32}})
    variants: dict[str, dict[str, Any]] = {"stopped": {}} | {
        a: {"regularization.early_stopping.after": a} for a in AFTER}
    runs = ctx.train_variants(base, variants, resplit=True)
    return Measurement(values=metrics(runs, "train_acc", "test_acc"))


def decide_after_stopping(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    said = {a: versus(acc, a, "stopped", "test accuracy", (f"with {a}", "stopped"),
                      label=f"test accuracy {a} > stopped") for a in AFTER}
    tests = {a: c for a, (c, _) in said.items()}
    detail = "; ".join(text for _, text in said.values())
    won = [a for a, c in tests.items() if c.significant]
    if len(won) == len(AFTER):
        return Verdict("holds", detail + ".")
    if won:
        return Verdict("holds only when", detail + ".", f"the strategy is {won[0]}")
    return Verdict("does not hold", detail + ".")


AFTER_STOPPING = declared(
    35, measure_after_stopping, decide_after_stopping,
    lambda m: _acc_figure(m, "Digits MLP with early stopping: using the validation data "
                             "afterwards (95% CI over seeds)", "model"))

CLAIMS = [MORE_DATA_CLAIM, BN_SPEED, L1_MAJORITY, INPUT_RETENTION, BOWL, SADDLES,
          AFTER_STOPPING]
