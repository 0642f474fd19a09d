"""Claims from the notes on regularization (claims 9 to 20).

Sources: note 003, "Regularization for deep learning" (slides after Goodfellow et al.
2016, ch. 7) and note 002, "L2 Regularization" and "L1 Regularization". Every claim
trains all its configs in one ``ctx.train_many`` call and compares a config with its
regularized twin seed by seed (paired tests); where the data are re-drawn per seed
(``data.split_seed = budget.seed``) the twins share the data too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .. import regularize as reg
from ..config import RunConfig
from ..landscape import problem_for_run, sharpness_of_run
from ..landscape.directions import weight_mask
from ..landscape.evaluate import eval_mode
from ..run import Run
from .base import Claim, Context, Measurement, Verdict, mean
from .tests import Comparison, greater, mean_ci

# -- shared pieces ---------------------------------------------------------------------


def _train(ctx: Context, base: RunConfig, variants: dict[str, dict[str, Any]],
           resplit: bool = False) -> dict[str, list[Run]]:
    """Train ``base`` with each variant's overrides once per seed, all in one
    ``ctx.train_many`` call; with ``resplit`` seed s also draws the data with
    ``data.split_seed = s``. Returns the runs by variant, in seed order."""
    groups = {}
    for name, overrides in variants.items():
        configs = ctx.seeded(base, **overrides)
        if resplit:
            configs = [c.with_overrides({"data.split_seed": c.budget.seed}) for c in configs]
        groups[name] = configs
    runs = iter(ctx.train_many([c for cs in groups.values() for c in cs]))
    return {name: [next(runs) for _ in cs] for name, cs in groups.items()}


def _ok(run: Run) -> bool:
    return run.status != "diverged"


def _per_run(runs: Sequence[Run], fn: Callable[[Run], float]) -> list[float]:
    """``fn(run)`` for each run, NaN for a diverged one (so seeds stay aligned)."""
    return [float(fn(r)) if _ok(r) else math.nan for r in runs]


def _metric(runs: Sequence[Run], key: str) -> list[float]:
    return _per_run(runs, lambda r: r.metrics[key])


def _gap(runs: Sequence[Run]) -> list[float]:
    """Generalization gap in accuracy: train accuracy - test accuracy."""
    return _per_run(runs, lambda r: r.metrics["train_acc"] - r.metrics["test_acc"])


def _paired_greater(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """One-sided paired t-test that mean(a) > mean(b), on the seeds where both are finite."""
    keep = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    return greater([x for x, _ in keep], [y for _, y in keep], paired=True)


def _m(xs: Sequence[float]) -> float:
    return mean([x for x in xs if math.isfinite(x)])


def _ci_bar(name: str, groups: dict[str, Sequence[float]]) -> go.Bar:
    """Bars of the means over seeds with 95% Student-t intervals."""
    est = [mean_ci(v) for v in groups.values()]
    up = [e.high - e.mean if e.n > 1 else 0.0 for e in est]
    down = [e.mean - e.low if e.n > 1 else 0.0 for e in est]
    return go.Bar(name=name, x=list(groups), y=[e.mean for e in est],
                  error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down})


def _bar_figure(bars: list[go.Bar], title: str, xtitle: str, ytitle: str) -> go.Figure:
    fig = go.Figure(bars)
    fig.update_layout(barmode="group", title=title, xaxis_title=xtitle, yaxis_title=ytitle,
                      showlegend=True, legend_title_text="mean, 95% CI over seeds")
    return fig


def _add_ci_line(fig: go.Figure, xs: Sequence[float], per_x: Sequence[Sequence[float]],
                 name: str, **kwargs: Any) -> None:
    """A line through the means over seeds of each x's values, with 95% CI error bars."""
    est = [mean_ci(v) for v in per_x]
    fig.add_scatter(x=list(xs), y=[e.mean for e in est], mode="lines+markers", name=name,
                    error_y={"type": "data", "array": [e.half_width if e.n > 1 else 0.0
                                                       for e in est]}, **kwargs)


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _weight_entries(model: torch.nn.Module) -> torch.Tensor:
    """Boolean mask over the flat parameter vector: True on layer weights."""
    return torch.cat([torch.full((p.numel(),), w)
                      for p, w in zip(model.parameters(), weight_mask(model))])


def _weights_flat(run: Run) -> torch.Tensor:
    """The run's layer weights (no biases), flat."""
    return _flat(run.model.parameters())[_weight_entries(run.model)]


# -- 9: an L2 penalty is weight decay ---------------------------------------------------

DECAY_LAMBDAS = (0.01, 0.1, 0.5)
DECAY_LR = {"sgd": 0.1, "adam": 0.01}
DECAY_STEPS = 5
DECAY_TOL = 1e-5  # float32 rounding over a few steps; updates are 1e-3 and larger


def _decay_variants() -> dict[str, dict[str, Any]]:
    return {f"{opt} {kind} {lam}": {"optimizer.name": opt, "optimizer.lr": DECAY_LR[opt],
                                    f"regularization.{kind}": lam}
            for opt in DECAY_LR for lam in DECAY_LAMBDAS for kind in ("l2", "weight_decay")}


def step_check(run: Run, lam: float) -> tuple[float, float]:
    """Replay a full-batch SGD run with an L2 penalty step by step.

    For each step k, with eta the learning rate and grad J the data gradient at w_k
    (recomputed on the training set), the notes' update is
    w_{k+1} = (1 - eta lam) w_k - eta grad J(w_k) for weights, b_{k+1} = b_k - eta grad J
    for biases. Returns (max |measured - formula| over steps and parameters, mean decay
    factor <w_{k+1} + eta grad J, w_k> / <w_k, w_k> of the weights, to set beside 1 - eta lam).
    """
    eta, problem = run.config.optimizer.lr, problem_for_run(run)
    is_weight = _weight_entries(run.model)
    decay = torch.where(is_weight, 1.0 - eta * lam, 1.0)
    points = [s["params"] for s in run.snapshots]
    deviation, factors = 0.0, []
    for before, after in zip(points, points[1:]):
        theta = before.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(problem.loss_at(theta), theta)
        deviation = max(deviation, float((after - (decay * before - eta * grad)).abs().max()))
        w, moved = before[is_weight], (after + eta * grad)[is_weight]
        factors.append(float(moved @ w / (w @ w)))
    return deviation, statistics.fmean(factors)


def _relative_difference(a: Run, b: Run) -> float:
    """max |theta_a - theta_b| / max |theta_a| of two runs' final parameters."""
    ta, tb = _flat(a.model.parameters()), _flat(b.model.parameters())
    return float((ta - tb).abs().max() / ta.abs().max())


def measure_weight_decay(ctx: Context) -> Measurement:
    """Full-batch runs of an MLP on digits with the L2 penalty and with decoupled weight
    decay, under SGD and Adam; the SGD + L2 runs are replayed step by step."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 1, "width": 32},
        "budget": {"epochs": DECAY_STEPS, "batch_size": 0}, "observe": {"snapshot_every": 1}})
    runs = _train(ctx, base, _decay_variants())
    checks = {lam: [step_check(r, lam) for r in runs[f"sgd l2 {lam}"]] for lam in DECAY_LAMBDAS}
    differ = {opt: [_relative_difference(a, b) for lam in DECAY_LAMBDAS
                    for a, b in zip(runs[f"{opt} l2 {lam}"], runs[f"{opt} weight_decay {lam}"])]
              for opt in DECAY_LR}
    return Measurement(
        values={"step_deviation": [d for c in checks.values() for d, _ in c],
                "sgd_penalty_vs_decay": differ["sgd"], "adam_penalty_vs_decay": differ["adam"],
                "eta_sgd": DECAY_LR["sgd"], "tolerance": DECAY_TOL},
        series={"lambdas": list(DECAY_LAMBDAS),
                "factor": {str(lam): [f for _, f in c] for lam, c in checks.items()}})


def decide_weight_decay(m: Measurement) -> Verdict:
    v = m.values
    dev, sgd, adam = max(v["step_deviation"]), max(v["sgd_penalty_vs_decay"]), \
        min(v["adam_penalty_vs_decay"])
    detail = (f"replaying SGD with the L2 penalty, every step matches w <- (1 - eta lambda) w "
              f"- eta grad J to {dev:.2g} (tolerance {v['tolerance']:g}); after the same steps "
              f"the L2 penalty and decoupled weight decay differ by {sgd:.2g} (relative) under "
              f"SGD and by at least {adam:.2g} under Adam")
    if dev > v["tolerance"] or sgd > v["tolerance"]:
        return Verdict("does not hold", detail + ".")
    if adam > 100 * v["tolerance"]:
        return Verdict("holds only when", detail + ".", "the update is plain (S)GD: with "
                       "Adam the penalty's gradient is rescaled and is no longer a decay")
    return Verdict("holds", detail + ".")


def figure_weight_decay(m: Measurement) -> go.Figure:
    lams, eta = m.series["lambdas"], m.values["eta_sgd"]
    fig = make_subplots(1, 2, subplot_titles=("decay factor per SGD step",
                                              "L2 penalty vs decoupled decay"))
    est = [mean_ci(m.series["factor"][str(lam)]) for lam in lams]
    fig.add_scatter(x=lams, y=[1 - eta * lam for lam in lams], mode="lines",
                    name="1 - eta lambda (the notes)", row=1, col=1)
    fig.add_scatter(x=lams, y=[e.mean for e in est], mode="markers", marker={"size": 10},
                    name="measured <w' + eta g, w> / <w, w>", row=1, col=1)
    for opt in ("sgd", "adam"):
        fig.add_box(y=m.values[f"{opt}_penalty_vs_decay"], name=opt.upper(), row=1, col=2)
    fig.update_xaxes(title_text="lambda", type="log", row=1, col=1)
    fig.update_yaxes(title_text="factor", row=1, col=1)
    fig.update_yaxes(title_text="max relative difference of the weights", type="log",
                     row=1, col=2)
    fig.update_layout(title=f"An L2 penalty under SGD (eta = {eta}) and Adam, "
                      f"{DECAY_STEPS} full-batch steps")
    return fig


WEIGHT_DECAY = Claim(
    9, "l2-is-weight-decay", "An L2 penalty is weight decay: with gradient descent each step "
    "multiplies the weights by (1 - eta lambda) before the gradient step.",
    "note 003, L2 Regularization (w <- (1 - eta lambda) w - eta grad J); note 002, L2",
    "exact identity up to float32 rounding: every replayed SGD step within 1e-5 of the formula, "
    "and SGD with the penalty within 1e-5 (relative) of SGD with decoupled decay; Adam is "
    "measured the same way (a difference above 1e-3 means the identity needs plain SGD)",
    measure_weight_decay, decide_weight_decay, figure_weight_decay)


# -- 10: L1 sparse, L2 small and dense ----------------------------------------------------

L1_LAMBDAS = (0.01, 0.03)
L2_LAMBDAS = (0.03, 0.1)
NEAR_ZERO = 0.01  # |w| below this moves the logit by < 0.01 per standard deviation of x


def _sparse_variants() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"none": {}}
    out |= {f"L1 {lam}": {"regularization.l1": lam} for lam in L1_LAMBDAS}
    out |= {f"L2 {lam}": {"regularization.l2": lam} for lam in L2_LAMBDAS}
    return out


def _near_zero(run: Run) -> float:
    return float((_weights_flat(run).abs() < NEAR_ZERO).float().mean())


def _closest_pair(losses: dict[str, list[float]]) -> tuple[str, str]:
    """The (L1, L2) variants whose mean training losses are closest."""
    l1 = [k for k in losses if k.startswith("L1")]
    l2 = [k for k in losses if k.startswith("L2")]
    return min(((a, b) for a in l1 for b in l2),
               key=lambda p: abs(_m(losses[p[0]]) - _m(losses[p[1]])))


def measure_sparsity(ctx: Context) -> Measurement:
    """Logistic regression on breast cancer, full-batch SGD from zero, L1 and L2 grids;
    the data are re-drawn per seed."""
    base = RunConfig.model_validate({
        "data": {"name": "breast_cancer"}, "model": {"depth": 0}, "init": {"scheme": "zeros"},
        "optimizer": {"name": "sgd", "lr": 0.3},
        "budget": {"epochs": ctx.epochs(60), "batch_size": 0}})
    runs = _train(ctx, base, _sparse_variants(), resplit=True)
    loss = {k: _metric(rs, "train_loss") for k, rs in runs.items()}
    a, b = _closest_pair(loss)
    return Measurement(
        values={"pair": [a, b],
                "near_zero": {k: _per_run(rs, _near_zero) for k, rs in runs.items()},
                "norm": {k: _per_run(rs, lambda r: float(_weights_flat(r).norm()))
                         for k, rs in runs.items()},
                "train_loss": loss, "threshold": NEAR_ZERO},
        notes=[f"near zero: |w| < {NEAR_ZERO} on standardized features; L1's subgradient "
               f"steps keep such weights oscillating around 0 within eta lambda"])


def decide_sparsity(m: Measurement) -> Verdict:
    v = m.values
    a, b = v["pair"]
    zero, norm, loss = v["near_zero"], v["norm"], v["train_loss"]
    sparse = _paired_greater(zero[a], zero[b])
    small = _paired_greater(norm["none"], norm[b])
    detail = (f"at similar training loss ({a}: {_m(loss[a]):.3f}, {b}: {_m(loss[b]):.3f}) "
              f"{_m(zero[a]):.0%} of the L1 weights are near zero against {_m(zero[b]):.0%} "
              f"of the L2 weights ({sparse.text()}); the L2 weight norm is {_m(norm[b]):.3g} "
              f"against {_m(norm['none']):.3g} without a penalty ({small.text()})")
    if sparse.significant and small.significant:
        return Verdict("holds", detail + ".")
    return Verdict("does not hold", detail + ".")


def figure_sparsity(m: Measurement) -> go.Figure:
    v = m.values
    fig = go.Figure()
    for kind in ("none", "L1", "L2"):
        keys = [k for k in v["near_zero"] if k.startswith(kind)]
        fig.add_scatter(x=[_m(v["train_loss"][k]) for k in keys],
                        y=[_m(v["near_zero"][k]) for k in keys], text=keys,
                        mode="markers+lines+text", textposition="top center",
                        error_y={"type": "data", "array": [
                            mean_ci(v["near_zero"][k]).half_width for k in keys]},
                        name=kind)
    fig.update_layout(title="Logistic regression on breast cancer: sparsity at equal fit",
                      xaxis_title="training loss (mean over seeds)",
                      yaxis_title=f"share of weights with |w| < {v['threshold']}")
    return fig


SPARSITY = Claim(
    10, "l1-sparse-l2-dense", "L1 regularization gives sparse weights (many exactly or nearly "
    "zero); L2 gives small but dense ones.", "note 003, Difference between L1 and L2; note "
    "002, L1 Regularization",
    "at the L1 and L2 strengths with the closest training loss: share of near-zero weights "
    "L1 > L2, and weight norm without penalty > with L2, each by a one-sided paired t-test "
    "over data splits (p < 0.05)",
    measure_sparsity, decide_sparsity, figure_sparsity)


# -- 11: an L1 penalty on activations gives sparse representations -----------------------

ACT_L1 = 0.003


def hidden_outputs(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs h of the model's activation modules on ``x`` (eval mode, no grad)."""
    outs: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: outs.append(out.detach()))
               for m in reg.hidden_activations(model)]
    try:
        with torch.no_grad(), eval_mode(model):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def _representation(run: Run) -> tuple[float, float]:
    """(share of hidden activations exactly 0, mean ||h||_1 per example) on the test set."""
    problem = problem_for_run(run, "test")
    h = torch.cat([o.reshape(len(problem.x), -1) for o in hidden_outputs(run.model, problem.x)],
                  dim=1)
    return float((h == 0).float().mean()), float(h.abs().sum(1).mean())


def measure_activation_l1(ctx: Context) -> Measurement:
    """A ReLU MLP on digits with and without lambda ||h||_1 on its hidden activations."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    runs = _train(ctx, base, {"none": {},
                              "activation L1": {"regularization.activation_l1": ACT_L1}})
    rep = {k: [_representation(r) if _ok(r) else (math.nan, math.nan) for r in rs]
           for k, rs in runs.items()}
    return Measurement(values={"zero_share": {k: [z for z, _ in v] for k, v in rep.items()},
                               "l1_per_example": {k: [a for _, a in v] for k, v in rep.items()},
                               "lambda": ACT_L1,
                               "test_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()}})


def decide_activation_l1(m: Measurement) -> Verdict:
    z, acc = m.values["zero_share"], m.values["test_acc"]
    c = _paired_greater(z["activation L1"], z["none"])
    detail = (f"on test digits {_m(z['activation L1']):.0%} of the hidden ReLU outputs are "
              f"exactly zero with the penalty against {_m(z['none']):.0%} without "
              f"({c.text()}); test accuracy {_m(acc['activation L1']):.3f} against "
              f"{_m(acc['none']):.3f}")
    return Verdict("holds" if c.significant else "does not hold", detail + ".")


def figure_activation_l1(m: Measurement) -> go.Figure:
    v = m.values
    fig = make_subplots(1, 2, subplot_titles=("share of exactly-zero activations",
                                              "mean ||h||_1 per test example"))
    for col, key in ((1, "zero_share"), (2, "l1_per_example")):
        bar = _ci_bar(key, v[key])
        bar.showlegend = col == 1
        bar.name = "mean, 95% CI over seeds"
        fig.add_trace(bar, row=1, col=col)
    fig.update_yaxes(title_text="share", row=1, col=1)
    fig.update_yaxes(title_text="||h||_1", row=1, col=2)
    fig.update_xaxes(title_text="penalty", row=1, col=1)
    fig.update_xaxes(title_text="penalty", row=1, col=2)
    fig.update_layout(title=f"Hidden representations of a ReLU MLP on digits "
                      f"(lambda = {v['lambda']})")
    return fig


ACTIVATION_L1 = Claim(
    11, "activation-l1-sparse", "An L1 penalty on the hidden activations gives sparse "
    "representations: most units output exactly zero on a given input.",
    "note 003, Sparse Representations (Omega(h) = ||h||_1)",
    "share of exactly-zero hidden activations on the test set larger with the penalty, "
    "one-sided paired t-test over seeds (p < 0.05)",
    measure_activation_l1, decide_activation_l1, figure_activation_l1)


# -- overfitting setting shared by claims 12, 17 and 19 ---------------------------------


def overfit_base(ctx: Context) -> RunConfig:
    """A wide MLP trained long on 60 noisy two-moons points: it fits the noise."""
    return RunConfig.model_validate({
        "data": {"name": "moons", "noise": 0.3, "n_samples": 1000, "train_size": 60},
        "model": {"depth": 2, "width": 128}, "optimizer": {"name": "adam", "lr": 0.01},
        "budget": {"epochs": ctx.epochs(200), "batch_size": 0}})


def _gap_values(runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Accuracies and the two generalization gaps: train - test accuracy, and test - train
    cross-entropy (the loss the network minimizes)."""
    return {"gap": {k: _gap(rs) for k, rs in runs.items()},
            "loss_gap": {k: _per_run(rs, lambda r: r.metrics["test_loss"] -
                                     r.metrics["train_loss"]) for k, rs in runs.items()},
            "train_acc": {k: _metric(rs, "train_acc") for k, rs in runs.items()},
            "test_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()}}


def _decide_gap(m: Measurement, name: str) -> tuple[bool, str, str]:
    """(narrowed in at least one measure, condition or "", reason): holds when the gap
    narrows in both accuracy and cross-entropy; with only one of them significant the
    claim holds only when the gap is measured that way."""
    v = m.values
    acc = _paired_greater(v["gap"]["none"], v["gap"][name])
    loss = _paired_greater(v["loss_gap"]["none"], v["loss_gap"][name])
    detail = (f"the accuracy gap (train - test) is {_m(v['gap'][name]):.3f} with {name} against "
              f"{_m(v['gap']['none']):.3f} without ({acc.text()}); the cross-entropy gap (test - "
              f"train) {_m(v['loss_gap'][name]):.3f} against {_m(v['loss_gap']['none']):.3f} "
              f"({loss.text()}); test accuracy {_m(v['test_acc'][name]):.3f} against "
              f"{_m(v['test_acc']['none']):.3f}")
    condition = ("" if acc.significant == loss.significant else
                 "the gap is measured in cross-entropy (in accuracy it is not significantly "
                 "narrower)" if loss.significant else
                 "the gap is measured in accuracy (in cross-entropy it is not significantly "
                 "narrower)")
    return acc.significant or loss.significant, condition, detail


def _gap_verdict(m: Measurement, name: str) -> Verdict:
    narrowed, condition, detail = _decide_gap(m, name)
    if not narrowed:
        return Verdict("does not hold", detail + ".")
    return Verdict("holds only when", detail + ".", condition) if condition else \
        Verdict("holds", detail + ".")


def _gap_figure(m: Measurement, title: str) -> go.Figure:
    """Train and test accuracy per training, and the cross-entropy gap beside them."""
    v = m.values
    fig = make_subplots(1, 2, column_widths=[0.65, 0.35], subplot_titles=(
        "accuracy", "cross-entropy gap (test - train)"))
    for bar in (_ci_bar("train accuracy", v["train_acc"]),
                _ci_bar("test accuracy", v["test_acc"])):
        fig.add_trace(bar, row=1, col=1)
    fig.add_trace(_ci_bar("cross-entropy gap", v["loss_gap"]), row=1, col=2)
    fig.update_xaxes(title_text="training")
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="test loss - train loss", row=1, col=2)
    fig.update_layout(barmode="group", title=title,
                      legend_title_text="mean, 95% CI over seeds")
    return fig


# -- 12: L2 narrows the generalization gap ------------------------------------------------

GAP_L2 = 0.01


def measure_l2_gap(ctx: Context) -> Measurement:
    runs = _train(ctx, overfit_base(ctx), {"none": {}, "L2": {"regularization.l2": GAP_L2}})
    return Measurement(values={**_gap_values(runs), "lambda": GAP_L2})


def decide_l2_gap(m: Measurement) -> Verdict:
    return _gap_verdict(m, "L2")


L2_GAP = Claim(
    12, "l2-narrows-gap", "An L2 penalty narrows the generalization gap of an overfitting "
    "network.", "note 003, Regularization and L2 Regularization; note 002, Overfitting "
    "before/after L2",
    "gaps (train - test accuracy; test - train cross-entropy) without L2 > with L2, each by "
    "a one-sided paired t-test over seeds (p < 0.05); holds when both narrow, "
    "holds only when measured one way when only that one does",
    measure_l2_gap, decide_l2_gap,
    lambda m: _gap_figure(m, f"Wide MLP on 60 noisy moons points, L2 lambda = "
                             f"{m.values['lambda']}"))


# -- 13: data augmentation helps when images are few -------------------------------------

AUGMENT = {"rotate_deg": 15.0, "translate": 0.1, "scale": 0.1}


def measure_augmentation(ctx: Context) -> Measurement:
    """An MLP on 50 digits images, with and without random rotation, shift and zoom."""
    base = RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 50}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(60), "batch_size": 25}})
    runs = _train(ctx, base, {"none": {}, "augmented": {"regularization.augment": AUGMENT}},
                  resplit=True)
    return Measurement(values={**_gap_values(runs), "augment": AUGMENT,
                               "train_size": base.data.train_size})


def decide_augmentation(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    c = _paired_greater(acc["augmented"], acc["none"])
    detail = (f"with {m.values['train_size']} training images, test accuracy is "
              f"{_m(acc['augmented']):.3f} with augmentation against {_m(acc['none']):.3f} "
              f"without ({c.text()})")
    return Verdict("holds" if c.significant else "does not hold", detail + ".")


AUGMENTATION = Claim(
    13, "augmentation-few-images", "Data augmentation (rotating, shifting, zooming the "
    "images) improves test accuracy when training images are few.",
    "note 003, Data Augmentation", "test accuracy with augmentation > without, one-sided "
    "paired t-test over seeds and training subsets (p < 0.05)",
    measure_augmentation, decide_augmentation,
    lambda m: _gap_figure(m, f"MLP on {m.values['train_size']} digits images: augmentation "
                             f"{m.values['augment']}"))


# -- 14: weight noise finds flatter minima -----------------------------------------------

WEIGHT_NOISE = 0.05
SHARPNESS_ALPHA = 0.2  # relative size of the random weight perturbations
SHARPNESS_SAMPLES = 32
FLATNESS_MEASURES = {"perturbation": "loss increase under perturbation",
                     "hessian": "top Hessian eigenvalue"}


def _sharpness(run: Run, measure: str) -> float:
    return sharpness_of_run(run, measure, alpha=SHARPNESS_ALPHA, samples=SHARPNESS_SAMPLES,
                            seed=0)


def measure_flatness(ctx: Context) -> Measurement:
    """An MLP on digits with and without Gaussian noise on its weights at every step; at
    the end, two sharpness measures on the training loss (``fitscope.landscape``)."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    runs = _train(ctx, base, {"none": {}, "weight noise": {
        "regularization.weight_noise": WEIGHT_NOISE}})
    return Measurement(values={
        **{measure: {k: _per_run(rs, lambda r, ms=measure: _sharpness(r, ms))
                     for k, rs in runs.items()} for measure in FLATNESS_MEASURES},
        "train_loss": {k: _metric(rs, "train_loss") for k, rs in runs.items()},
        "test_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()},
        "noise_std": WEIGHT_NOISE, "alpha": SHARPNESS_ALPHA})


def decide_flatness(m: Measurement) -> Verdict:
    """Decided on the notes' measure, the loss increase under perturbation; the top
    Hessian eigenvalue is reported beside it."""
    v = m.values
    c = {k: _paired_greater(v[k]["none"], v[k]["weight noise"]) for k in FLATNESS_MEASURES}
    detail = (f"perturbing every parameter by N(0, ({v['alpha']} theta)^2) raises the "
              f"training loss by {_m(v['perturbation']['weight noise']):.3g} after training "
              f"with weight noise against {_m(v['perturbation']['none']):.3g} without "
              f"({c['perturbation'].text()}); the top Hessian eigenvalue is "
              f"{_m(v['hessian']['weight noise']):.3g} against {_m(v['hessian']['none']):.3g} "
              f"({c['hessian'].text()}); training loss at the minimum "
              f"{_m(v['train_loss']['weight noise']):.3g} against "
              f"{_m(v['train_loss']['none']):.3g}")
    return Verdict("holds" if c["perturbation"].significant else "does not hold", detail + ".")


def figure_flatness(m: Measurement) -> go.Figure:
    v = m.values
    titles = [f"{name}{' (size ' + str(v['alpha']) + ')' if k == 'perturbation' else ''}"
              for k, name in FLATNESS_MEASURES.items()] + ["training loss at the minimum"]
    fig = make_subplots(1, 3, subplot_titles=titles)
    for col, key in enumerate((*FLATNESS_MEASURES, "train_loss"), start=1):
        bar = _ci_bar("mean, 95% CI over seeds", v[key])
        bar.showlegend = col == 1
        fig.add_trace(bar, row=1, col=col)
        fig.update_xaxes(title_text="training", row=1, col=col)
    fig.update_yaxes(title_text="loss increase", row=1, col=1)
    fig.update_yaxes(title_text="eigenvalue", row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy", row=1, col=3)
    fig.update_layout(title=f"Weight noise (std {v['noise_std']}) on an MLP on digits: "
                      "how sharp the minimum is")
    return fig


FLATNESS = Claim(
    14, "weight-noise-flat-minima", "Injecting noise into the weights during training finds "
    "minima surrounded by flat regions.", "note 003, Noise Robustness (noise on the weights)",
    "expected sharpness (mean training-loss increase under Gaussian parameter perturbations "
    "of relative size 0.2, Jiang et al. 2019) lower with weight noise, one-sided paired "
    "t-test over seeds (p < 0.05); the top Hessian eigenvalue is reported beside it",
    measure_flatness, decide_flatness, figure_flatness)


# -- 15: label smoothing and noisy labels -------------------------------------------------

LABEL_NOISE = 0.3
SMOOTHING = 0.3


def measure_label_smoothing(ctx: Context) -> Measurement:
    """An MLP on digits with ``LABEL_NOISE`` of its training labels wrong, with and
    without label smoothing; the same pair on clean labels for reference."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(20), "batch_size": 64}})
    variants = {f"{labels}{', smoothed' if ls else ''}": {
        "data.label_noise": noise, "regularization.label_smoothing": ls}
        for labels, noise in (("noisy", LABEL_NOISE), ("clean", 0.0)) for ls in (0.0, SMOOTHING)}
    runs = _train(ctx, base, variants)
    return Measurement(values={"test_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()},
                               "train_acc": {k: _metric(rs, "train_acc") for k, rs in runs.items()},
                               "label_noise": LABEL_NOISE, "smoothing": SMOOTHING})


def decide_label_smoothing(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    noisy = _paired_greater(acc["noisy, smoothed"], acc["noisy"])
    clean = _paired_greater(acc["clean, smoothed"], acc["clean"])
    detail = (f"with {m.values['label_noise']:.0%} wrong training labels, test accuracy is "
              f"{_m(acc['noisy, smoothed']):.3f} with smoothing {m.values['smoothing']} against "
              f"{_m(acc['noisy']):.3f} without ({noisy.text()}); on clean labels "
              f"{_m(acc['clean, smoothed']):.3f} against {_m(acc['clean']):.3f} ({clean.text()})")
    return Verdict("holds" if noisy.significant else "does not hold", detail + ".")


LABEL_SMOOTHING = Claim(
    15, "label-smoothing-noisy-labels", "Label smoothing makes training robust to wrong "
    "labels in the training set.", "note 003, Noise Robustness (noise at the output targets)",
    "test accuracy with smoothing > without when training labels are noisy, one-sided paired "
    "t-test over seeds (p < 0.05); the clean-label pair is reported beside it",
    measure_label_smoothing, decide_label_smoothing,
    lambda m: _bar_figure([_ci_bar("train accuracy (on the labels trained on)",
                                   m.values["train_acc"]),
                           _ci_bar("test accuracy", m.values["test_acc"])],
                          f"MLP on digits, {m.values['label_noise']:.0%} wrong labels, label "
                          f"smoothing {m.values['smoothing']}", "training labels", "accuracy"))


# -- 16: multi-task learning helps a task with few labels --------------------------------

MAIN_FRACTION = 0.05
AUX_TASKS = ("parity", "upper_half")


def measure_multitask(ctx: Context) -> Measurement:
    """A shared MLP trunk on digits whose main (10-class) labels are kept on 5% of the
    training set; auxiliary heads (parity, upper half) see every label. The baseline has
    the same heads with weight 0, so both train the same network on the same main labels."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "task": {"main_label_fraction": MAIN_FRACTION,
                 "aux": [{"kind": k, "weight": 0.0} for k in AUX_TASKS]},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    variants = {name: {"task.aux": [{"kind": k, "weight": w} for k in AUX_TASKS]}
                for name, w in (("main task only", 0.0), ("with auxiliary tasks", 1.0))}
    runs = _train(ctx, base, variants, resplit=True)
    return Measurement(values={**_gap_values(runs), "main_label_fraction": MAIN_FRACTION,
                               "aux": list(AUX_TASKS)})


def decide_multitask(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    c = _paired_greater(acc["with auxiliary tasks"], acc["main task only"])
    detail = (f"with main labels on {m.values['main_label_fraction']:.0%} of the training "
              f"set, main-task test accuracy is {_m(acc['with auxiliary tasks']):.3f} with the "
              f"auxiliary heads against {_m(acc['main task only']):.3f} without ({c.text()})")
    return Verdict("holds" if c.significant else "does not hold", detail + ".")


MULTITASK = Claim(
    16, "multitask-few-labels", "Multi-task learning with shared layers helps a task with "
    "little data: the shared layers learn from the pooled data of all tasks.",
    "note 003, Multi-Task Learning",
    "main-task test accuracy with auxiliary heads (weight 1) > with the same heads at weight "
    "0, one-sided paired t-test over seeds and data splits (p < 0.05)",
    measure_multitask, decide_multitask,
    lambda m: _gap_figure(m, f"Digits with main labels on {m.values['main_label_fraction']:.0%}"
                             f" of the training set; auxiliary tasks {m.values['aux']}"))


# -- 17: validation loss turns up; the best epoch beats the last --------------------------

PATIENCE = 50


def measure_early_stopping(ctx: Context) -> Measurement:
    """The overfitting MLP with early stopping on the validation loss (patience 50
    epochs), restoring the best epoch's weights or keeping the last ones. Both runs of a
    seed train identically; only the weights they end with differ."""
    es = {"enabled": True, "patience": ctx.epochs(PATIENCE)}
    runs = _train(ctx, overfit_base(ctx), {
        "best epoch": {"regularization.early_stopping": {**es, "restore_best": True}},
        "last epoch": {"regularization.early_stopping": {**es, "restore_best": False}}})
    last = runs["last epoch"]
    at = {k: _per_run(last, _history_at(k)) for k in
          ("val_loss best", "val_loss last", "train_loss best", "train_loss last")}
    return Measurement(
        values={**at, "test_loss": {k: _metric(rs, "test_loss") for k, rs in runs.items()},
                "test_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()},
                "best_epoch": _metric(last, "best_epoch"),
                "epochs_run": _metric(last, "epochs_run")},
        series={"curves": [{"train": r.column("train_loss"), "val": r.column("val_loss"),
                            "best": r.metrics["best_epoch"]} for r in last if _ok(r)]})


def _history_at(key: str) -> Callable[[Run], float]:
    """``"val_loss best"`` -> a function reading val_loss at the best epoch of a run's
    history (``"... last"``: at its last epoch)."""
    column, when = key.split()

    def read(run: Run) -> float:
        epoch = run.metrics["best_epoch"] if when == "best" else run.history[-1]["epoch"]
        return next(row[column] for row in run.history if row["epoch"] == epoch)
    return read


def _log(xs: Sequence[float]) -> list[float]:
    return [math.log(x) if x > 0 else math.nan for x in xs]


def decide_early_stopping(m: Measurement) -> Verdict:
    """Losses change by factors, so each comparison is a paired t-test on log losses."""
    v = m.values
    val_up = _paired_greater(_log(v["val_loss last"]), _log(v["val_loss best"]))
    train_down = _paired_greater(_log(v["train_loss best"]), _log(v["train_loss last"]))
    test = _paired_greater(_log(v["test_loss"]["last epoch"]), _log(v["test_loss"]["best epoch"]))
    acc = v["test_acc"]
    detail = (f"after the best epoch (mean {_m(v['best_epoch']):.0f}) the validation loss rose "
              f"from {_m(v['val_loss best']):.3f} to {_m(v['val_loss last']):.3f} "
              f"({val_up.text()}) while the training loss fell from "
              f"{_m(v['train_loss best']):.3f} to {_m(v['train_loss last']):.4f} "
              f"({train_down.text()}); test loss {_m(v['test_loss']['best epoch']):.3f} at the "
              f"restored best epoch against {_m(v['test_loss']['last epoch']):.3f} at the last "
              f"({test.text()}); test accuracy {_m(acc['best epoch']):.3f} against "
              f"{_m(acc['last epoch']):.3f}")
    ok = val_up.significant and train_down.significant and test.significant
    return Verdict("holds" if ok else "does not hold", detail + ".")


def figure_early_stopping(m: Measurement) -> go.Figure:
    fig = make_subplots(1, 2, column_widths=[0.7, 0.3],
                        subplot_titles=("loss per epoch (one line per seed)", "test loss"))
    for i, c in enumerate(m.series["curves"]):
        epochs = list(range(1, len(c["val"]) + 1))
        for key, dash in (("train", "dot"), ("val", "solid")):
            fig.add_scatter(x=epochs, y=c[key], mode="lines", line={"dash": dash},
                            name=f"{key}, seed {i}", legendgroup=str(i), row=1, col=1)
        fig.add_scatter(x=[c["best"]], y=[c["val"][int(c["best"]) - 1]], mode="markers",
                        marker={"symbol": "star", "size": 12}, name=f"best epoch, seed {i}",
                        legendgroup=str(i), row=1, col=1)
    bar = _ci_bar("test loss (mean, 95% CI)", m.values["test_loss"])
    fig.add_trace(bar, row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="weights kept", row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy", type="log", row=1, col=1)
    fig.update_yaxes(title_text="cross-entropy", row=1, col=2)
    fig.update_layout(title="Early stopping on 60 noisy moons points (patience "
                      f"{PATIENCE} epochs)")
    return fig


EARLY_STOPPING = Claim(
    17, "early-stopping-best-epoch", "The validation loss turns up while the training loss "
    "keeps falling; going back to the epoch with the lowest validation loss beats the last "
    "epoch on the test set.", "note 003, Early Stopping (Goodfellow et al. fig. 7.3, alg. 7.1)",
    "validation loss at the last epoch > at the best, training loss at the best > at the last, "
    "and test loss of the last epoch's weights > of the restored best, each by a one-sided "
    "paired t-test on log losses over seeds (p < 0.05)",
    measure_early_stopping, decide_early_stopping, figure_early_stopping)


# -- 18: early stopping behaves like L2 for a linear model --------------------------------

GD_LR = 0.03
GD_STEPS = 100
GD_CHECKS = (3, 10, 30, 100)
RIDGE_TOL = 0.25    # relative distance below which two weight vectors "match"
LAMBDA_FACTOR = 3.0  # the best-fitting lambda must lie within this factor of 1/(eta t)
LAMBDA_GRID = np.logspace(-5, 3, 161)


class Ridge:
    """Ridge regression of the engine's MSE loss, in the eigenbasis of its Hessian.

    J(w, b) = mean((X w + b - y)^2) + lam / 2 ||w||^2 with the bias b free. With X centred
    (Xc = X - mean X), H = (2/n) Xc^T Xc = V diag(e) V^T and g = (2/n) Xc^T (y - mean y),
    the minimizer is w(lam) = (H + lam I)^{-1} g = V diag(1 / (e + lam)) V^T g
    (Goodfellow et al. 2016, 7.1.1); lam = 0 is least squares. Directions whose e + lam
    is below ``RCOND`` times the largest eigenvalue are left out (the minimum-norm
    solution, as ``numpy.linalg.lstsq`` does on a rank-deficient H).
    """

    RCOND = 1e-12

    def __init__(self, x: np.ndarray, y: np.ndarray):
        xc, n = x - x.mean(0), len(x)
        self.e, self.v = np.linalg.eigh(2 / n * xc.T @ xc)
        self.gv = self.v.T @ (2 / n * xc.T @ (y - y.mean()))

    def solve(self, lam: float) -> np.ndarray:
        denom = self.e + lam
        keep = denom > self.RCOND * self.e.max()
        return self.v @ np.divide(self.gv, denom, out=np.zeros_like(self.gv), where=keep)


def _compare_to_ridge(run: Run) -> dict[int, tuple[float, float, float]]:
    """For each checked step t: (||w_t - w_ridge(1/(eta t))|| / ||w_t||,
    ||w_t - w_ls|| / ||w_t||, lam* eta t) with lam* the best-fitting lambda on a grid."""
    s = problem_for_run(run)
    ridge = Ridge(s.x.double().numpy(), s.y.double().numpy())
    eta, is_weight = run.config.optimizer.lr, _weight_entries(run.model)
    snaps = {int(p["step"]): p["params"][is_weight].double().numpy() for p in run.snapshots}
    grid = [ridge.solve(lam) for lam in LAMBDA_GRID]
    out = {}
    for t in GD_CHECKS:
        w, norm = snaps[t], np.linalg.norm(snaps[t])
        best = LAMBDA_GRID[int(np.argmin([np.linalg.norm(w - r) for r in grid]))]
        out[t] = (float(np.linalg.norm(w - ridge.solve(1 / (eta * t))) / norm),
                  float(np.linalg.norm(w - ridge.solve(0.0)) / norm), float(best * eta * t))
    return out


def measure_early_stopping_l2(ctx: Context) -> Measurement:
    """Linear regression (MSE) on breast cancer by full-batch gradient descent from zero;
    the weights after t steps against the ridge solutions (closed form)."""
    base = RunConfig.model_validate({
        "data": {"name": "breast_cancer"}, "task": {"kind": "regression"},
        "model": {"depth": 0}, "init": {"scheme": "zeros"},
        "optimizer": {"name": "sgd", "lr": GD_LR},
        "budget": {"epochs": GD_STEPS, "batch_size": 0}, "observe": {"snapshot_every": 1}})
    runs = _train(ctx, base, {"gd": {}}, resplit=True)["gd"]
    per_run = [_compare_to_ridge(r) for r in runs if _ok(r)]
    pick = lambda i: {str(t): [c[t][i] for c in per_run] for t in GD_CHECKS}  # noqa: E731
    return Measurement(values={"to_ridge": pick(0), "to_least_squares": pick(1),
                               "best_lambda_times_eta_t": pick(2), "eta": GD_LR,
                               "diverged": len(runs) - len(per_run)})


def decide_early_stopping_l2(m: Measurement) -> Verdict:
    """Holds when every checked t is within ``RIDGE_TOL``; holds only from some t on when
    the misses are the earliest steps only."""
    v = m.values
    steps = list(v["to_ridge"])
    ridge = [d for t in steps for d in v["to_ridge"][t]]
    ls = [d for t in steps for d in v["to_least_squares"][t]]
    ratios = [r for rs in v["best_lambda_times_eta_t"].values() for r in rs]
    closer = _paired_greater(ls, ridge)
    near = [t for t in steps if v["to_ridge"][t] and max(v["to_ridge"][t]) < RIDGE_TOL]
    lam_ok = bool(ratios) and all(1 / LAMBDA_FACTOR <= r <= LAMBDA_FACTOR for r in ratios)
    worst = ", ".join(f"{max(v['to_ridge'][t], default=math.nan):.0%}" for t in steps)
    detail = (f"after t = {', '.join(steps)} steps (eta = {v['eta']}) the weights lie within "
              f"{worst} (relative, worst split) of the ridge solution with lambda = 1/(eta t), and "
              f"{min(ls, default=math.nan):.3g} or more from least squares ({closer.text()}); "
              f"the best-fitting lambda is {min(ratios, default=math.nan):.2f} to "
              f"{max(ratios, default=math.nan):.2f} times 1/(eta t)")
    if not (lam_ok and closer.significant and near) or v["diverged"]:
        return Verdict("does not hold", detail + ".")
    if len(near) == len(steps):
        return Verdict("holds", detail + ".")
    if near == steps[len(steps) - len(near):]:
        return Verdict("holds only when", detail + ".", f"t >= {near[0]} steps: earlier, "
                       f"the weights are more than {RIDGE_TOL:.0%} from that ridge solution")
    return Verdict("does not hold", detail + ".")


def figure_early_stopping_l2(m: Measurement) -> go.Figure:
    v = m.values
    steps = [int(t) for t in v["to_ridge"]]
    fig = make_subplots(1, 2, subplot_titles=("distance of w_t to ...",
                                              "best-fitting lambda times eta t"))
    for key, name in (("to_ridge", "ridge, lambda = 1/(eta t)"),
                      ("to_least_squares", "least squares (no penalty)")):
        _add_ci_line(fig, steps, [v[key][str(t)] for t in steps], name, row=1, col=1)
    _add_ci_line(fig, steps, [v["best_lambda_times_eta_t"][str(t)] for t in steps],
                 "lambda* eta t (1 = the notes' rule)", row=1, col=2)
    fig.update_xaxes(title_text="gradient-descent steps t", type="log")
    fig.update_yaxes(title_text="||w_t - w|| / ||w_t||", type="log", row=1, col=1)
    fig.update_yaxes(title_text="lambda* eta t", row=1, col=2)
    fig.update_layout(title=f"Linear regression on breast cancer, gradient descent from 0 "
                      f"(eta = {v['eta']})")
    return fig


EARLY_STOPPING_L2 = Claim(
    18, "early-stopping-is-l2", "For a linear model with a quadratic loss and gradient "
    "descent from zero, stopping after t steps gives about the L2-regularized solution with "
    "lambda = 1/(eta t).", "note 003, Advantages of Early Stopping (Goodfellow et al. 7.8)",
    f"at t = {', '.join(map(str, GD_CHECKS))}: relative distance to the ridge solution with "
    f"lambda = 1/(eta t) below {RIDGE_TOL} on every data split, best-fitting lambda within a "
    f"factor {LAMBDA_FACTOR:g} of 1/(eta t), and least squares farther than that ridge "
    "solution by a one-sided paired t-test over (split, t) (p < 0.05)",
    measure_early_stopping_l2, decide_early_stopping_l2, figure_early_stopping_l2)


# -- 19: dropout narrows the gap; test-time scaling matches the training expectation -------

DROPOUT = 0.5
MASKS = 500  # dropout masks drawn per test input for the Monte Carlo expectation
MASK_CHUNK = 250  # masks evaluated in one batched forward pass
MC_INPUTS = 100  # test inputs the expectation is checked on
Z2_MAX = 1.5  # mean squared standardized difference that Monte Carlo noise explains


def _mc_match(forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
              test_out: torch.Tensor) -> dict[str, Any]:
    """Compare the mean of ``MASKS`` training-mode outputs with the test-mode output.

    ``forward`` maps a stack of ``MASK_CHUNK`` copies of ``inputs`` (N rows each) to
    outputs with fresh dropout masks per row. z = (mean - test) / (sd / sqrt(MASKS)) per
    entry; with no true difference each z is about N(0, 1), so ``z2`` = mean z^2 is near 1
    (sum z^2 is chi-square with one degree of freedom per entry: for 100 entries, mean z^2
    > ``Z2_MAX`` = 1.5 has probability 0.001). ``relative`` = mean |mean - test| / mean |test|.
    """
    n = len(inputs)
    stacked = inputs.repeat(MASK_CHUNK, 1)
    draws = torch.cat([forward(stacked).view(MASK_CHUNK, n, -1).double()
                       for _ in range(MASKS // MASK_CHUNK)])  # (MASKS, N, out)
    avg, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    z2 = ((avg - test_out.double()) / se.clamp_min(1e-12)).pow(2)
    return {"z2": float(z2.mean()),
            "relative": float((avg - test_out).abs().mean() / test_out.abs().mean()),
            "test": test_out[:, 0].tolist(), "train_mean": avg[:, 0].tolist()}


@torch.no_grad()
def dropout_expectation(run: Run) -> dict[str, dict[str, Any]]:
    """Training-time expectation against the test-time output of a trained MLP with
    dropout, on its test inputs: at the layer after the last dropout (``out`` applied to
    the dropped-out last hidden layer; exact in expectation for inverted dropout,
    Srivastava et al. 2014) and for the whole network (an approximation through the
    non-linearities)."""
    model, x = run.model, problem_for_run(run, "test").x[:MC_INPUTS]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.config.budget.seed)
        with eval_mode(model):
            h = x
            for layer in model.hidden:
                h = layer(h)  # eval mode: dropout is the identity
            test_layer, test_net = model.out(h), model(x)
        drop = model.hidden[-1].dropout
        with eval_mode(model):
            drop.train()
            layer = _mc_match(lambda hs: model.out(drop(hs)), h, test_layer)
        model.train()
        try:
            net = _mc_match(model, x, test_net)
        finally:
            model.eval()
    return {"layer": layer, "network": net}


def measure_dropout(ctx: Context) -> Measurement:
    runs = _train(ctx, overfit_base(ctx), {"none": {}, "dropout": {"model.dropout": DROPOUT}})
    checks = [dropout_expectation(r) for r in runs["dropout"] if _ok(r)]
    return Measurement(
        values={**_gap_values(runs), "p": DROPOUT,
                "layer_z2": [c["layer"]["z2"] for c in checks],
                "layer_relative": [c["layer"]["relative"] for c in checks],
                "network_z2": [c["network"]["z2"] for c in checks],
                "network_relative": [c["network"]["relative"] for c in checks]},
        series={"expectation": checks[0] if checks else {}})


def decide_dropout(m: Measurement) -> Verdict:
    v = m.values
    narrowed, gap_condition, detail = _decide_gap(m, "dropout")
    layer_ok = bool(v["layer_z2"]) and max(v["layer_z2"]) <= Z2_MAX
    net_ok = bool(v["network_z2"]) and max(v["network_z2"]) <= Z2_MAX
    detail += (f"; over {MASKS} dropout masks the mean training-time input to the output "
               f"layer is within {max(v['layer_relative'], default=math.nan):.2%} of its "
               f"test-time value (mean squared standardized difference at most "
               f"{max(v['layer_z2'], default=math.nan):.2f}; Monte Carlo noise alone gives 1); "
               f"through the whole network it is off by {_m(v['network_relative']):.1%} (mean "
               f"squared standardized difference {_m(v['network_z2']):.3g})")
    if not (narrowed and layer_ok):
        return Verdict("does not hold", detail + ".")
    conditions = [c for c in (gap_condition, "" if net_ok else (
        "the expectation is taken at the layer right after dropout: through the non-linear "
        "network, test-time scaling only approximates the mean training-time output")) if c]
    if conditions:
        return Verdict("holds only when", detail + ".", "; and ".join(conditions))
    return Verdict("holds", detail + ".")


def figure_dropout(m: Measurement) -> go.Figure:
    v, e = m.values, m.series["expectation"]
    fig = make_subplots(1, 2, subplot_titles=("accuracy", "mean training-time output - "
                                              "test-time output (one seed)"))
    for bar in (_ci_bar("train accuracy", v["train_acc"]), _ci_bar("test accuracy",
                                                                   v["test_acc"])):
        fig.add_trace(bar, row=1, col=1)
    for key, name in (("layer", "at the output layer (exact in theory)"),
                      ("network", "through the whole network")):
        if key in e:
            fig.add_scatter(x=e[key]["test"], mode="markers", name=name, row=1, col=2,
                            y=[a - b for a, b in zip(e[key]["train_mean"], e[key]["test"])])
    fig.update_xaxes(title_text="training", row=1, col=1)
    fig.update_yaxes(title_text="accuracy (mean, 95% CI)", row=1, col=1)
    fig.update_xaxes(title_text="test-time logit", row=1, col=2)
    fig.update_yaxes(title_text=f"mean over {MASKS} masks - test-time logit", row=1, col=2)
    fig.update_layout(barmode="group", title=f"Dropout p = {v['p']} on the overfitting MLP "
                      "(60 noisy moons points)")
    return fig


DROPOUT_CLAIM = Claim(
    19, "dropout-gap-and-scaling", "Dropout narrows the generalization gap, and the test-time "
    "network (all units, weights scaled by the keep probability) outputs the expected "
    "training-time output.", "note 003, Dropout (Srivastava et al. 2014)",
    "gaps (train - test accuracy; test - train cross-entropy) without dropout > with, "
    "one-sided paired t-tests over seeds (p < 0.05); the mean over 500 dropout masks equals "
    "the test-time output on 100 test inputs when the mean squared standardized difference "
    "is at most 1.5 (Monte Carlo noise alone gives 1; chi-square upper tail 0.001), at the "
    "output layer and through the whole network",
    measure_dropout, decide_dropout, figure_dropout)


# -- 20: FGSM examples flip predictions; adversarial training resists them ---------------

FGSM_EPS = 0.2  # in standardized pixel units
FGSM_CURVE = (0.0, 0.05, 0.1, 0.2, 0.3)


def _attacked(run: Run, eps: float) -> dict[str, float]:
    """On the test set: accuracy under FGSM of size ``eps`` against the run's own model,
    and the share of correctly classified inputs whose prediction an FGSM step flips,
    against a random-sign step of the same size (seeded)."""
    problem, model = problem_for_run(run, "test"), run.model
    x, y = problem.x, problem.y
    g = torch.Generator().manual_seed(run.config.budget.seed)
    noise = eps * torch.sign(torch.randn(x.shape, generator=g))
    with eval_mode(model):
        adv = reg.fgsm(model, x, y, problem.loss_fn, eps)
        with torch.no_grad():
            clean, p_adv, p_rand = (reg.predictions(model(t)) for t in (x, adv, x + noise))
    right = clean == y
    share = lambda p: float((p[right] != clean[right]).float().mean())  # noqa: E731
    return {"fgsm_acc": float((p_adv == y).float().mean()), "random_acc":
            float((p_rand == y).float().mean()), "flip_fgsm": share(p_adv),
            "flip_random": share(p_rand)}


def measure_fgsm(ctx: Context) -> Measurement:
    """An MLP on digits trained normally and with half of each batch replaced by FGSM
    examples (epsilon ``FGSM_EPS``); both attacked on the test set."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    runs = _train(ctx, base, {"standard": {}, "adversarial": {
        "regularization.fgsm_epsilon": FGSM_EPS}})
    per_run = {k: [[_attacked(r, e) for e in FGSM_CURVE] for r in rs if _ok(r)]
               for k, rs in runs.items()}
    at = {k: [a[FGSM_CURVE.index(FGSM_EPS)] for a in v] for k, v in per_run.items()}
    curve = {k: {kind: [[a[i][f"{kind}_acc"] for a in v] for i in range(len(FGSM_CURVE))]
                 for kind in ("fgsm", "random")} for k, v in per_run.items()}
    s = problem_for_run(runs["standard"][0])
    return Measurement(
        values={"epsilon": FGSM_EPS, "pixel_range": float(s.x.max() - s.x.min()),
                "clean_acc": {k: _metric(rs, "test_acc") for k, rs in runs.items()},
                **{key: {k: [a[key] for a in v] for k, v in at.items()}
                   for key in ("fgsm_acc", "flip_fgsm", "flip_random")}},
        series={"eps": list(FGSM_CURVE), "curve": curve})


def decide_fgsm(m: Measurement) -> Verdict:
    v = m.values
    flips = _paired_greater(v["flip_fgsm"]["standard"], v["flip_random"]["standard"])
    robust = _paired_greater(v["fgsm_acc"]["adversarial"], v["fgsm_acc"]["standard"])
    detail = (f"an FGSM step of epsilon = {v['epsilon']} ({v['epsilon'] / v['pixel_range']:.0%} "
              f"of the pixel range) flips {_m(v['flip_fgsm']['standard']):.0%} of the correct "
              f"test predictions, a random-sign step of the same size "
              f"{_m(v['flip_random']['standard']):.0%} ({flips.text()}); accuracy on FGSM "
              f"examples is {_m(v['fgsm_acc']['adversarial']):.3f} after adversarial training "
              f"against {_m(v['fgsm_acc']['standard']):.3f} ({robust.text()}); clean accuracy "
              f"{_m(v['clean_acc']['adversarial']):.3f} against "
              f"{_m(v['clean_acc']['standard']):.3f}")
    ok = flips.significant and robust.significant
    return Verdict("holds" if ok else "does not hold", detail + ".")


def figure_fgsm(m: Measurement) -> go.Figure:
    fig = go.Figure()
    for model, curves in m.series["curve"].items():
        for kind, dash in (("fgsm", "solid"), ("random", "dot")):
            _add_ci_line(fig, m.series["eps"], curves[kind], f"{model} training, {kind} step",
                         line={"dash": dash})
    fig.update_layout(title="Test accuracy of an MLP on digits under FGSM and random-sign "
                      "steps (mean, 95% CI over seeds)", xaxis_title="epsilon (standardized "
                      "pixel units)", yaxis_title="test accuracy")
    return fig


FGSM = Claim(
    20, "fgsm-adversarial-training", "A fast-gradient-sign step with a small epsilon flips "
    "predictions; adversarial training makes the model more robust to such examples.",
    "note 003, Adversarial Training (Goodfellow et al. fig. 7.8)",
    "share of correct test predictions flipped by FGSM > by a random-sign step of the same "
    "size, and accuracy on FGSM test examples after adversarial training > after standard "
    "training, each by a one-sided paired t-test over seeds (p < 0.05)",
    measure_fgsm, decide_fgsm, figure_fgsm)

CLAIMS = [WEIGHT_DECAY, SPARSITY, ACTIVATION_L1, L2_GAP, AUGMENTATION, FLATNESS,
          LABEL_SMOOTHING, MULTITASK, EARLY_STOPPING, EARLY_STOPPING_L2, DROPOUT_CLAIM, FGSM]
