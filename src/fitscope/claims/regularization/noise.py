"""Regularization claims 14 and 20: perturbed weights and inputs (weight noise and flat
minima, adversarial examples)."""

from __future__ import annotations

from functools import partial

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ... import regularize as reg
from ...config import RunConfig
from ...landscape import problem_for_run, sharpness_of_run
from ...landscape.evaluate import eval_mode
from ...run import Run
from ..base import Context, Measurement, Verdict, declared, metric, metrics, verdict_from
from ..tests import versus
from .common import _add_ci_line, _ci_bar, _m, _ok, _per_run

# -- 14: weight noise finds flatter minima -----------------------------------------------

WEIGHT_NOISE = 0.05
SHARPNESS_ALPHA = 0.2  # relative size of the random weight perturbations
SHARPNESS_SAMPLES = 32
FLATNESS_MEASURES = {"perturbation": "loss increase under perturbation",
                     "hessian": "top Hessian eigenvalue"}


def _digits_mlp(ctx: Context) -> RunConfig:
    """The base of claims 14 and 20: an MLP with two hidden layers of 64 on digits, Adam."""
    return RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})


def _sharpness(run: Run, measure: str) -> float:
    return sharpness_of_run(run, measure, alpha=SHARPNESS_ALPHA, samples=SHARPNESS_SAMPLES,
                            seed=0)


def measure_flatness(ctx: Context) -> Measurement:
    """An MLP on digits with and without Gaussian noise on its weights at every step; at
    the end, two sharpness measures on the training loss (``fitscope.landscape``)."""
    base = _digits_mlp(ctx)
    runs = ctx.train_variants(base, {"none": {}, "weight noise": {
        "regularization.weight_noise": WEIGHT_NOISE}})
    return Measurement(values={
        **{measure: {k: _per_run(rs, partial(_sharpness, measure=measure))
                     for k, rs in runs.items()} for measure in FLATNESS_MEASURES},
        **metrics(runs, "train_loss", "test_acc"),
        "noise_std": WEIGHT_NOISE, "alpha": SHARPNESS_ALPHA})


def decide_flatness(m: Measurement) -> Verdict:
    """Decided on the notes' measure, the loss increase under perturbation; the top
    Hessian eigenvalue is reported beside it."""
    v = m.values
    said = ("after training with weight noise", "without")
    rise, rise_text = versus(v["perturbation"], "weight noise", "none", "perturbing every "
                             f"parameter by N(0, ({v['alpha']} theta)^2) raises the training "
                             "loss by", said, ".3g", lower=True)
    _, top_text = versus(v["hessian"], "weight noise", "none", "the top Hessian eigenvalue is",
                         said, ".3g", lower=True)
    detail = (f"{rise_text}; {top_text}; training loss at the minimum "
              f"{_m(v['train_loss']['weight noise']):.3g} against "
              f"{_m(v['train_loss']['none']):.3g}")
    return verdict_from(detail, rise.significant)


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


FLATNESS = declared(14, measure_flatness, decide_flatness, figure_flatness)



# -- 20: FGSM examples flip predictions; adversarial training resists them ---------------

FGSM_EPS = 0.2  # in standardized pixel units
FGSM_CURVE = (0.0, 0.05, 0.1, 0.2, 0.3)


def _attacked(run: Run, eps: float) -> dict[str, float]:
    """On the test set: accuracy under FGSM of size ``eps`` against the run's own model,
    and the share of correctly classified inputs whose prediction an FGSM step flips,
    against a random-sign step of the same size (seeded)."""
    problem, model = problem_for_run(run, "test"), run.trained_model()
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
    base = _digits_mlp(ctx)
    runs = ctx.train_variants(base, {"standard": {}, "adversarial": {
        "regularization.fgsm_epsilon": FGSM_EPS}})
    per_run = {k: [[_attacked(r, e) for e in FGSM_CURVE] for r in rs if _ok(r)]
               for k, rs in runs.items()}
    at = {k: [a[FGSM_CURVE.index(FGSM_EPS)] for a in v] for k, v in per_run.items()}
    curve = {k: {kind: [[a[i][key] for a in v] for i in range(len(FGSM_CURVE))]
                 for kind, key in (("fgsm", "fgsm_acc"), ("random", "random_acc"))}
             for k, v in per_run.items()}
    s = problem_for_run(runs["standard"][0])
    return Measurement(
        values={"epsilon": FGSM_EPS, "pixel_range": float(s.x.max() - s.x.min()),
                "clean_acc": {k: metric(rs, "test_acc") for k, rs in runs.items()},
                **{key: {k: [a[key] for a in v] for k, v in at.items()}
                   for key in ("fgsm_acc", "flip_fgsm", "flip_random")}},
        series={"eps": list(FGSM_CURVE), "curve": curve})


def decide_fgsm(m: Measurement) -> Verdict:
    v = m.values
    steps = {"fgsm": v["flip_fgsm"]["standard"], "random": v["flip_random"]["standard"]}
    fgsm = (f"by an FGSM step of epsilon = {v['epsilon']} "
            f"({v['epsilon'] / v['pixel_range']:.0%} of the pixel range)")
    flips, flip_text = versus(steps, "fgsm", "random", "the share of correct test predictions "
                              "flipped is", (fgsm, "by a random-sign step of the same size"),
                              ".0%")
    robust, robust_text = versus(v["fgsm_acc"], "adversarial", "standard", "accuracy on FGSM "
                                 "examples is", ("after adversarial training", "without"))
    detail = (f"{flip_text}; {robust_text}; clean accuracy "
              f"{_m(v['clean_acc']['adversarial']):.3f} against "
              f"{_m(v['clean_acc']['standard']):.3f}")
    return verdict_from(detail, flips.significant, robust.significant)


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


FGSM = declared(20, measure_fgsm, decide_fgsm, figure_fgsm)
