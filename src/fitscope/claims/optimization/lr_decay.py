"""Optimization claim 25: linear learning-rate decay ends lower than a constant rate."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...config import RunConfig
from ..base import Claim, Context, Measurement, Verdict, mean, metric
from ..tests import greater
from .common import _band, _chunks

# -- 25: linear learning-rate decay ends lower than a constant rate -----------------------

DECAY_BASE = RunConfig.model_validate({
    "data": {"name": "moons", "noise": 0.3, "n_samples": 500},
    "model": {"depth": 2, "width": 16}, "optimizer": {"name": "sgd", "lr": 2.0},
    "budget": {"epochs": 100_000, "max_steps": 399}})  # 21 whole epochs of 19 steps at batch 16
SCHEDULES = ("constant", "linear")
DECAY_BATCHES = (16, 0)  # minibatch SGD, and full-batch gradient descent (0) as the contrast


def _batch_name(b: int) -> str:
    return "full batch" if b == 0 else f"batch {b}"


def measure_decay(ctx: Context) -> Measurement:
    base = DECAY_BASE.with_overrides({"budget.max_steps": round(399 * ctx.scale)})
    settings = [(b, k) for b in DECAY_BATCHES for k in SCHEDULES]
    configs = [c for b, k in settings for c in ctx.seeded(
        base, **{"budget.batch_size": b, "optimizer.schedule.kind": k})]
    groups = dict(zip(settings, _chunks(ctx.train_many(configs), ctx.seeds)))
    sched = base.optimizer.schedule
    return Measurement(
        values={f"final_train_loss b={b} {k}": metric(rs, "train_loss")
                for (b, k), rs in groups.items()},
        series={f"b={b} {k}": {"steps": [row["step"] for row in rs[0].history],
                               "loss": [[row["train_loss"] for row in r.history] for r in rs]}
                for (b, k), rs in groups.items()},
        notes=[f"eps_0 = {base.optimizer.lr}, {base.budget.max_steps} steps, on noisy moons (no "
               f"network reaches loss 0 there, so the minibatch gradient stays noisy at the "
               f"minimum); linear: eps_tau = {sched.final_fraction} eps_0 reached at the last "
               f"step (tau = all steps). Full-batch gradient descent is the notes' contrast: "
               f"its gradient vanishes at a minimum, so a fixed rate should do."])


def decide_decay(m: Measurement) -> Verdict:
    v = m.values
    tests = {b: greater(v[f"final_train_loss b={b} constant"], v[f"final_train_loss b={b} linear"],
                        paired=True) for b in DECAY_BATCHES}
    detail = "; ".join(
        f"{_batch_name(b)}: final training loss {mean(v[f'final_train_loss b={b} linear']):.4f} "
        f"with linear decay vs {mean(v[f'final_train_loss b={b} constant']):.4f} constant "
        f"({c.text()})" for b, c in tests.items())
    sgd, full = tests[DECAY_BATCHES[0]], tests[0]
    contrast = ("full-batch descent gains nothing significant from the decay, as the notes "
                "expect" if not full.significant else "full-batch descent gains from it too, so "
                "the gain is not only from the gradient noise")
    if sgd.significant:
        return Verdict("holds", f"{detail}. With SGD the decay ends lower; {contrast}.")
    return Verdict("does not hold", f"{detail}. With SGD the decay does not end significantly "
                   "lower.")


def figure_decay(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(DECAY_BATCHES), shared_yaxes=True,
                        subplot_titles=[_batch_name(b) for b in DECAY_BATCHES])
    for col, b in enumerate(DECAY_BATCHES, 1):
        for kind, color in zip(SCHEDULES, ("#cf222e", "#0969da")):
            s = m.series[f"b={b} {kind}"]
            _band(fig, s["steps"], s["loss"], f"{kind} rate, {_batch_name(b)}", color, 1, col)
        fig.update_xaxes(title="step", row=1, col=col)
    fig.update_yaxes(title="training loss (epoch mean)", type="log", row=1, col=1)
    fig.update_layout(title="Noisy moons: constant rate against the notes' linear decay, "
                      "minibatch and full batch (band: range over seeds)")
    return fig


DECAY = Claim(
    25, "linear-lr-decay", "SGD's gradient noise does not vanish at a minimum, so decaying the "
    "learning rate linearly (eps_k = (1 - a) eps_0 + a eps_tau) ends at a lower training loss "
    "than keeping it constant.", "note 003, Learning rate of SGD",
    f"SGD with batch {DECAY_BATCHES[0]}: final training loss (whole training set) higher with "
    "the constant rate than with linear decay from the same eps_0, by a one-sided paired "
    "sign-flip permutation test over seeds (Holm-adjusted p < 0.05); full-batch descent, the same "
    "test, reported as the "
    "contrast",
    measure_decay, decide_decay, figure_decay,
    smallest_effect=0.5,
    protocol=('MLP 2x16 on noisy moons, SGD eps_0 = 2, constant against linearly decayed rate '
              'at equal steps, with batch 16 and full batch; each seed varies init and data '
              'order'), factors=('batch size',))
