"""Optimization claim 27: AdaGrad's rate stalls, RMSProp's does not, and Adam's bias
correction."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch.func import grad, vmap

from ...config import RunConfig
from ...landscape import problem_for_run
from ...run import Run
from ..base import Context, Measurement, Verdict, declared, mean, metric
from ..tests import versus
from .common import _band, _parts_verdict, best_lr

# -- 27: AdaGrad stalls, RMSProp does not, Adam's bias correction -------------------------

ADAPTIVE = ("adagrad", "rmsprop", "adam")
ADAPTIVE_BASE = RunConfig.model_validate({
    "data": {"name": "digits", "train_size": 300}, "model": {"depth": 1, "width": 32},
    "optimizer": {"lr": 0.005}, "observe": {"snapshot_every": 1},
    "budget": {"epochs": 100_000, "max_steps": 100, "batch_size": 0}})
SHRINK = 0.5        # AdaGrad's rate must end below this share of its first value ...
FLOOR = 0.5         # ... and RMSProp's never fall below this share of its value at 1/(1-rho)
BIAS_EFFECT = 1.5   # Adam: the uncorrected first step is off by at least this factor
FORMULA_TOL = 1e-3  # relative error allowed between a measured Adam step and the formula


def path_and_gradients(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters at every step ``(K + 1, D)`` (the run's snapshots) and the full-batch
    training gradient at each of the first K ``(K, D)``: with ``batch_size = 0`` exactly
    the gradient the optimizer stepped on."""
    path = torch.stack([s["params"] for s in run.snapshots]).double()
    problem = problem_for_run(run)
    return path, vmap(grad(problem.loss_at))(path[:-1].float()).double()


def step_rates(path: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """|theta_{k+1} - theta_k| / |g_k| per step and parameter ``(K, D)`` (NaN where
    g_k = 0): the learning rate each parameter actually got; for AdaGrad and RMSProp it is
    eps / (delta + sqrt(r_k)) (:mod:`fitscope.optim`)."""
    steps, g = (path[1:] - path[:-1]).abs(), grads.abs()
    return torch.where(g > 0, steps / g.clamp_min(1e-30), torch.nan)


def rise_share(rates: torch.Tensor, tol: float = 0.01) -> float:
    """Share of (step, parameter) pairs whose rate rose by more than ``tol`` (relative)
    from one step to the next, among pairs defined at both steps."""
    a, b = rates[:-1], rates[1:]
    defined = a.isfinite() & b.isfinite()
    return float(((b > a * (1 + tol)) & defined).sum() / defined.sum().clamp_min(1))


def adam_steps(grads: torch.Tensor, lr: float, beta1: float, beta2: float,
               eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrected, uncorrected) Adam steps ``(K, D)`` for the gradients ``grads``: Adam's
    rule as in :mod:`fitscope.optim`, and the same without the bias correction
    (s_hat, r_hat replaced by s, r: delta theta = -eps s / (sqrt(r) + delta))."""
    s, r = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    corrected, uncorrected = [], []
    for t, g in enumerate(grads, 1):
        s, r = beta1 * s + (1 - beta1) * g, beta2 * r + (1 - beta2) * g * g
        corrected.append(-lr * (s / (1 - beta1**t)) / ((r / (1 - beta2**t)).sqrt() + eps))
        uncorrected.append(-lr * s / (r.sqrt() + eps))
    return torch.stack(corrected), torch.stack(uncorrected)


def adam_bias(run: Run, path: torch.Tensor, grads: torch.Tensor) -> dict[str, list[float]]:
    """Per step: ||uncorrected|| / ||corrected|| (Adam's step without and with the bias
    correction, from the gradients the run stepped on) and the relative error between the
    step the run took and the corrected formula."""
    o = run.config.optimizer
    corrected, uncorrected = adam_steps(grads, o.lr, o.beta1, o.beta2, o.eps)
    taken = path[1:] - path[:-1]
    return {"ratio": (uncorrected.norm(dim=1) / corrected.norm(dim=1)).tolist(),
            "formula_error": ((taken - corrected).norm(dim=1) / taken.norm(dim=1)).tolist()}


ADAPTIVE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def measure_adaptive(ctx: Context) -> Measurement:
    """AdaGrad and RMSProp each at its own best learning rate from a grid (chosen on other
    seeds by final training loss: one shared rate would compare effective rates, not the
    accumulation); Adam at eps = 0.005 for the bias-correction demonstration."""
    steps = round(100 * ctx.scale)
    base = ADAPTIVE_BASE.with_overrides({"budget.max_steps": steps})
    lr, table = best_lr(ctx, base, ("adagrad", "rmsprop"),
                        dict.fromkeys(("adagrad", "rmsprop"), ADAPTIVE_GRID))
    lr["adam"] = base.optimizer.lr
    groups = ctx.train_variants(base, {n: {"optimizer.name": n, "optimizer.lr": lr[n]}
                                       for n in ADAPTIVE})
    warm = math.ceil(1 / (1 - base.optimizer.rho))  # RMSProp's average covers ~1/(1-rho) steps
    accumulating = ("adagrad", "rmsprop")
    values: dict[str, Any] = {k: [] for k in (
        "adagrad_end_over_start", "rmsprop_min_over_warm", "adam_first_ratio",
        "adam_last_ratio", "adam_peak_ratio", "adam_formula_error")}
    values["rise_share"] = {name: [] for name in accumulating}
    values["final_train_loss"] = {name: metric(groups[name], "train_loss")
                                  for name in accumulating}
    series: dict[str, list[list[float]]] = {"adagrad": [], "rmsprop": [], "adam_ratio": []}
    for name in accumulating:
        for run in groups[name]:
            rates = step_rates(*path_and_gradients(run))
            values["rise_share"][name].append(rise_share(rates))
            series[name].append(rates.nanmedian(dim=1).values.tolist())
    values["adagrad_end_over_start"] = [r[-1] / r[0] for r in series["adagrad"]]
    values["rmsprop_min_over_warm"] = [min(r[warm:]) / r[warm] for r in series["rmsprop"]]
    for run in groups["adam"]:
        bias = adam_bias(run, *path_and_gradients(run))
        series["adam_ratio"].append(bias["ratio"])
        values["adam_first_ratio"].append(bias["ratio"][0])
        values["adam_last_ratio"].append(bias["ratio"][-1])
        values["adam_peak_ratio"].append(max(bias["ratio"], key=lambda x: abs(math.log(x))))
        values["adam_formula_error"].append(max(bias["formula_error"]))
    o = base.optimizer
    reference = [(1 - o.beta1**t) / math.sqrt(1 - o.beta2**t) for t in range(1, steps + 1)]
    return Measurement(values=values, series={**series, "adam_reference": reference}, notes=[
        f"Full-batch training on {base.data.train_size} digits, {base.budget.max_steps} steps; "
        f"AdaGrad at eps = {lr['adagrad']}, RMSProp at eps = {lr['rmsprop']}, each the best of "
        f"{ADAPTIVE_GRID} on 3 selection seeds (mean final training loss: "
        + "; ".join(f"{n}: " + ", ".join(f"{k:g} -> {v:.3g}" for k, v in t.items())
                    for n, t in table.items()) + f"); Adam at eps = {lr['adam']};"
        f" rho = {o.rho}, beta1 = {o.beta1}, beta2 = {o.beta2}. "
        f"RMSProp's floor is taken from step {warm} = 1/(1 - rho), once its average has "
        "warmed up. Adam's uncorrected steps are computed from the gradients of the "
        "corrected run (the two rules see the same gradients)."])


def decide_adaptive(m: Measurement) -> Verdict:
    v = m.values
    loss, rises = v["final_train_loss"], v["rise_share"]
    stalls, stall_text = versus(loss, "adagrad", "rmsprop", "its final training loss is",
                                ("", "with RMSProp"), ".4f")
    shrinks = max(v["adagrad_end_over_start"]) < SHRINK
    bounded = min(v["rmsprop_min_over_warm"]) >= FLOOR
    matches = max(v["adam_formula_error"]) < FORMULA_TOL
    first = mean(v["adam_first_ratio"])
    bias = matches and min(abs(math.log(x)) for x in v["adam_first_ratio"]) >= math.log(BIAS_EFFECT)
    detail = (f"AdaGrad's effective rate (median over parameters) ends at "
              f"{mean(v['adagrad_end_over_start']):.2f} of its first value (a parameter's rate "
              f"rose by over 1% in {mean(rises['adagrad']):.1%} of steps, RMSProp's in "
              f"{mean(rises['rmsprop']):.1%}), and {stall_text}; RMSProp's rate never "
              f"falls below {min(v['rmsprop_min_over_warm']):.2f} of its warmed-up value; Adam's "
              f"steps match the corrected rule to {max(v['adam_formula_error']):.1g} (relative), "
              f"and without the correction step 1 would be {first:.2f} times as long (peak "
              f"{mean(v['adam_peak_ratio']):.2f}, last step {mean(v['adam_last_ratio']):.2f})")
    changes = "changes" if bias else "does not change"
    detail += (f" (shown, not tested: Adam's bias correction {changes} its first steps by a "
               f"factor {BIAS_EFFECT} or more: an identity of the update rule)")
    return _parts_verdict(detail, {
        "AdaGrad's rate shrinks and it stalls behind RMSProp": shrinks and stalls.significant,
        "RMSProp's rate stays bounded away from zero": bounded})


def figure_adaptive(m: Measurement) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "effective rate |delta theta| / |g| (median over parameters)",
        "Adam: uncorrected / corrected step length"))
    for name, color in (("adagrad", "#cf222e"), ("rmsprop", "#0969da")):
        per_seed = m.series[name]
        _band(fig, list(range(1, len(per_seed[0]) + 1)), per_seed, name, color, 1, 1)
    ratios = m.series["adam_ratio"]
    steps = list(range(1, len(ratios[0]) + 1))
    _band(fig, steps, ratios, "Adam, measured gradients", "#8250df", 1, 2)
    fig.add_scatter(x=steps, y=m.series["adam_reference"], mode="lines", name="(1 - beta1^t) / "
                    "sqrt(1 - beta2^t)", line={"dash": "dot", "color": "gray"}, row=1, col=2)
    fig.update_xaxes(title="step", type="log")
    fig.update_yaxes(type="log", row=1, col=1, title="effective learning rate")
    fig.update_yaxes(row=1, col=2, title="ratio")
    fig.update_layout(title="Adaptive learning rates, full-batch MLP on digits (band: range "
                      "over seeds)")
    return fig


ADAPTIVE_RATES = declared(
    27, measure_adaptive, decide_adaptive, figure_adaptive, SHRINK=SHRINK, FLOOR=FLOOR)
