"""Optimization claim 28: batch normalization trains at higher learning rates and is less
sensitive to the init."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...config import RunConfig
from ...run import Run
from ..base import Context, Measurement, Verdict, declared, mean
from ..plots import finish
from ..tests import greater, versus
from .common import _errorbars, _parts_verdict

# -- 28: batch norm: higher learning rates, less sensitive to init -------------------------

BN_LRS = (0.1, 0.3, 1.0, 3.0)
BN_INIT_STDS = (0.01, 0.1, 0.3, 1.0)
BN_INIT_LR = 0.1
BN_INIT_LRS = (0.03, 0.1, 0.3)  # the init sweep is repeated at each of these rates
BN_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 512}, "model": {"depth": 6, "width": 32},
    "optimizer": {"name": "sgd", "lr": BN_INIT_LR}, "budget": {"epochs": 10, "batch_size": 64}})


def capped_loss(run: Run) -> float:
    """Final training loss, at most log k (a constant prediction's); a diverged run counts
    as log k: it learned nothing a constant would not."""
    worst = math.log(max(run.model_spec["n_classes"], 2))
    return worst if run.status == "diverged" else min(run.metrics["train_loss"], worst)


def trains(run: Run) -> bool:
    """The run ended below half a constant prediction's loss (log k / 2)."""
    return capped_loss(run) < math.log(max(run.model_spec["n_classes"], 2)) / 2


def measure_batch_norm(ctx: Context) -> Measurement:
    base = BN_BASE.with_overrides({"budget.epochs": ctx.epochs(10)})
    settings = [(bn, "lr", lr, lr) for bn in (False, True) for lr in BN_LRS] + [
        (bn, "std", std, lr) for lr in BN_INIT_LRS for bn in (False, True)
        for std in BN_INIT_STDS]
    groups = ctx.train_variants(base, {
        (bn, kind, x) if kind == "lr" else (bn, kind, x, lr): {
            "model.batch_norm": bn, "optimizer.lr": lr,
            **({} if kind == "lr" else {"init.scheme": "normal", "init.std": x})}
        for bn, kind, x, lr in settings})
    values: dict[str, dict[str, Any]] = {"largest_lr": {}, "init_scales_trained": {},
                                         "init_range": {}}
    series: dict[str, dict[str, Any]] = {"std": {}, "lr": {}}
    for bn in (False, True):
        tag = "bn" if bn else "plain"
        lr_runs = [groups[(bn, "lr", lr)] for lr in BN_LRS]
        # largest learning rate that trains, per seed (0 if none does)
        values["largest_lr"][tag] = [max([lr for lr, rs in zip(BN_LRS, lr_runs) if trains(rs[i])],
                                         default=0.0) for i in range(ctx.seeds)]
        trained: dict[float, list[float]] = {}
        spread: dict[float, list[float]] = {}
        values["init_scales_trained"][tag], values["init_range"][tag] = trained, spread
        for lr in BN_INIT_LRS:
            std_runs = [groups[(bn, "std", std, lr)] for std in BN_INIT_STDS]
            trained[lr] = [float(sum(trains(rs[i]) for rs in std_runs))
                           for i in range(ctx.seeds)]
            std_losses = [[capped_loss(r) for r in rs] for rs in std_runs]
            spread[lr] = [float(np.ptp([ls[i] for ls in std_losses])) for i in range(ctx.seeds)]
            if lr == BN_INIT_LR:
                series["std"][tag] = std_losses
        series["lr"][tag] = [[capped_loss(r) for r in rs] for rs in lr_runs]
    return Measurement(values=values, series=series, notes=[
        (f"MLP with {base.model.depth} ReLU hidden layers of {base.model.width} on "
         f"{base.data.train_size} digits, SGD, batch {base.budget.batch_size}, "
         f"{base.budget.epochs} epochs; the init sweep draws weights from N(0, std^2) at "
         f"eps in {BN_INIT_LRS} (the figure shows eps = {BN_INIT_LR}). A run trains when its final "
         "training loss is below log(10) / 2; "
         "a diverged run counts as loss log(10). init_range = highest minus lowest final "
         "loss over the init scales.")])


def decide_batch_norm(m: Measurement) -> Verdict:
    """Higher learning rates train with batch norm (paired by seed, on log10 of the largest
    rate that trains); and, at each rate of the init sweep, more init scales train with it.
    The init half's verdict is mapped over those rates."""
    largest, trained, spread = (m.values[k] for k in ("largest_lr", "init_scales_trained",
                                                       "init_range"))
    lr_test = greater(np.log10(np.add(largest["bn"], 1e-3)),
                      np.log10(np.add(largest["plain"], 1e-3)), paired=True,
                      label="log10 largest learning rate that trains, bn > plain")
    rates = sorted(trained["bn"])
    insensitive, parts = [], []
    for lr in rates:
        bn, plain = trained["bn"][lr], trained["plain"][lr]
        c, text = versus({"bn": bn, "plain": plain}, "bn", "plain", f"at eps = {lr:g},",
                         ("with", "without"), ".2g",
                         label=f"eps = {lr:g}: init scales that train, bn > plain")
        if c.significant:
            insensitive.append(lr)
        parts.append(f"{text}, range of final losses {mean(spread['bn'][lr]):.3f} vs "
                     f"{mean(spread['plain'][lr]):.3f}")
    detail = (f"largest learning rate that trains: {mean(largest['bn']):.3g} with batch "
              f"norm vs {mean(largest['plain']):.3g} without (on log10: {lr_test.text()}); "
              f"init scales (of {len(BN_INIT_STDS)}) that train: " + "; ".join(parts))
    if lr_test.significant and insensitive and len(insensitive) < len(rates):
        return Verdict("holds only when", detail + ".",
                       "the init sweep is trained at eps = "
                       + " or ".join(f"{lr:g}" for lr in insensitive) + " (not at "
                       + ", ".join(f"{lr:g}" for lr in rates if lr not in insensitive) + ")")
    return _parts_verdict(detail, {"higher learning rates train": lr_test.significant,
                                   "less sensitive to init": len(insensitive) == len(rates)})


def figure_batch_norm(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=(
        "learning rate (kaiming init)", f"init std of N(0, std^2) (eps = {BN_INIT_LR})"))
    for tag, name, color in (("plain", "without batch norm", "#cf222e"),
                             ("bn", "with batch norm", "#0969da")):
        _errorbars(fig, BN_LRS, m.series["lr"][tag], f"{name}, lr sweep", 1, 1, color)
        _errorbars(fig, BN_INIT_STDS, m.series["std"][tag], f"{name}, init sweep", 1, 2, color)
    return finish(fig, "Batch norm in a deep ReLU MLP on digits (95% CI over seeds)",
                  x=[("learning rate", "log"), ("init std", "log")],
                  y=["final training loss (diverged = log 10)"])


BATCH_NORM = declared(
    28, measure_batch_norm, decide_batch_norm, figure_batch_norm, BN_INIT_STDS=BN_INIT_STDS,
    BN_INIT_LRS=BN_INIT_LRS)
