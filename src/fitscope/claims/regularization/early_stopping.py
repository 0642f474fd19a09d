"""Regularization claims 17 and 18: early stopping, and its likeness to L2."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...config import RunConfig
from ...landscape import problem_for_run
from ...run import Run
from ..base import Context, Measurement, Verdict, declared, metric, metrics
from ..plots import finish
from ..tests import greater
from .common import (
    OVERFIT_SIZES,
    _add_ci_line,
    _ci_bar,
    _m,
    _ok,
    _per_run,
    _size_verdict,
    _train_sizes,
    _weight_entries,
    overfit_base,
)

# -- 17: validation loss turns up; the best epoch beats the last --------------------------

PATIENCE = 50


def measure_early_stopping(ctx: Context) -> Measurement:
    """The overfitting MLP with early stopping on the validation loss (patience 50
    epochs), restoring the best epoch's weights or keeping the last ones, at each
    training-set size; each seed draws its own split. Both runs of a seed train
    identically; only the weights they end with differ."""
    es = {"enabled": True, "patience": ctx.epochs(PATIENCE)}
    by_size = _train_sizes(ctx, overfit_base(ctx), {
        "best epoch": {"regularization.early_stopping": {**es, "restore_best": True}},
        "last epoch": {"regularization.early_stopping": {**es, "restore_best": False}}})
    values: dict = {"size": {}}
    for n, runs in by_size.items():
        last = runs["last epoch"]
        at: dict[str, Any] = {column: {when: _per_run(last, _history_at(column, when))
                                       for when in ("best", "last")}
                              for column in ("val_loss", "train_loss")}
        values["size"][n] = at | metrics(runs, "test_loss", "test_acc") | {
            "best_epoch": metric(last, "best_epoch"), "epochs_run": metric(last, "epochs_run")}
    shown = OVERFIT_SIZES[len(OVERFIT_SIZES) // 2]
    return Measurement(
        values=values,
        series={"size": shown, "curves": [
            {"train": r.column("train_loss"), "val": r.column("val_loss"),
             "best": r.metrics["best_epoch"]} for r in by_size[shown]["last epoch"] if _ok(r)]})


def _history_at(column: str, when: str) -> Callable[[Run], float]:
    """A function reading ``column`` (e.g. "val_loss") of a run's history at its best
    epoch (``when`` "best") or at its last ("last")."""

    def read(run: Run) -> float:
        epoch = run.metrics["best_epoch"] if when == "best" else run.history[-1]["epoch"]
        return next(row[column] for row in run.history if row["epoch"] == epoch)
    return read


def _log(xs: Sequence[float]) -> list[float]:
    return [math.log(x) if x > 0 else math.nan for x in xs]


def decide_early_stopping(m: Measurement) -> Verdict:
    """At each training-set size: the validation loss rises after the best epoch, the
    training loss falls, and the restored best epoch has the lower test loss. Losses change
    by factors, so each comparison is a sign-flip permutation test on log losses."""
    sizes = m.values["size"]
    held, parts = [], []
    for n, v in sizes.items():
        at, val, train = f"{n} points: ", v["val_loss"], v["train_loss"]
        val_up = greater(_log(val["last"]), _log(val["best"]), paired=True,
                         label=f"{at}log validation loss, last > best epoch")
        train_down = greater(_log(train["best"]), _log(train["last"]),
                             paired=True, label=f"{at}log training loss, best > last epoch")
        test = greater(_log(v["test_loss"]["last epoch"]), _log(v["test_loss"]["best epoch"]),
                       paired=True, label=f"{at}log test loss, last > restored best")
        acc = v["test_acc"]
        parts.append(
            f"{at}after the best epoch (mean {_m(v['best_epoch']):.0f}) the validation loss "
            f"rose from {_m(val['best']):.3f} to {_m(val['last']):.3f} "
            f"({val_up.text()}) while the training loss fell from "
            f"{_m(train['best']):.3f} to {_m(train['last']):.4f} "
            f"({train_down.text()}); test loss {_m(v['test_loss']['best epoch']):.3f} at the "
            f"restored best epoch against {_m(v['test_loss']['last epoch']):.3f} at the last "
            f"({test.text()}); test accuracy {_m(acc['best epoch']):.3f} against "
            f"{_m(acc['last epoch']):.3f}")
        if val_up.significant and train_down.significant and test.significant:
            held.append(n)
    return _size_verdict("; ".join(parts), held, sorted(sizes))


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
    bar = _ci_bar("test loss (mean, 95% CI)",
                  m.values["size"][m.series["size"]]["test_loss"])
    fig.add_trace(bar, row=1, col=2)
    return finish(fig, f"Early stopping on {m.series['size']} noisy moons points (patience "
                  f"{PATIENCE} epochs)", x=["epoch", "weights kept"],
                  y=[("cross-entropy", "log"), "cross-entropy"])


EARLY_STOPPING = declared(
    17, measure_early_stopping, decide_early_stopping, figure_early_stopping,
    OVERFIT_SIZES=OVERFIT_SIZES, sizes=", ".join(map(str, OVERFIT_SIZES)))


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
    eta, is_weight = run.config.optimizer.lr, _weight_entries(run.trained_model())
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
    runs = ctx.train_variants(base, {"gd": {}}, resplit=True)["gd"]
    per_run = [_compare_to_ridge(r) for r in runs if _ok(r)]
    pick = lambda i: {t: [c[t][i] for c in per_run] for t in GD_CHECKS}  # noqa: E731
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
    closer = greater(ls, ridge, paired=True)
    near = [t for t in steps if v["to_ridge"][t] and max(v["to_ridge"][t]) < RIDGE_TOL]
    lam_ok = bool(ratios) and all(1 / LAMBDA_FACTOR <= r <= LAMBDA_FACTOR for r in ratios)
    worst = ", ".join(f"{max(v['to_ridge'][t], default=math.nan):.0%}" for t in steps)
    detail = (f"after t = {', '.join(map(str, steps))} steps (eta = {v['eta']}) the weights "
              f"lie within {worst} (relative, worst split) of the ridge solution with lambda = "
              f"1/(eta t), and "
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
    steps = list(v["to_ridge"])
    fig = make_subplots(1, 2, subplot_titles=("distance of w_t to ...",
                                              "best-fitting lambda times eta t"))
    for key, name in (("to_ridge", "ridge, lambda = 1/(eta t)"),
                      ("to_least_squares", "least squares (no penalty)")):
        _add_ci_line(fig, steps, [v[key][t] for t in steps], name, row=1, col=1)
    _add_ci_line(fig, steps, [v["best_lambda_times_eta_t"][t] for t in steps],
                 "lambda* eta t (1 = the notes' rule)", row=1, col=2)
    return finish(fig, f"Linear regression on breast cancer, gradient descent from 0 (eta = "
                  f"{v['eta']})", x=[("gradient-descent steps t", "log")] * 2,
                  y=[("||w_t - w|| / ||w_t||", "log"), "lambda* eta t"])


EARLY_STOPPING_L2 = declared(
    18, measure_early_stopping_l2, decide_early_stopping_l2, figure_early_stopping_l2,
    checks=", ".join(map(str, GD_CHECKS)), RIDGE_TOL=RIDGE_TOL, LAMBDA_FACTOR=LAMBDA_FACTOR)


