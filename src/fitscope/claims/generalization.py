"""Claims from the generalization slides (note 003, "Underfitting and overfitting")."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import plotly.graph_objects as go
import torch
from sklearn.neighbors import KNeighborsClassifier

from ..config import DataConfig, RunConfig
from ..data import load_data
from .base import Context, Measurement, Verdict, declared, mean, metric
from .tests import greater, versus

KS = (1, 3, 9, 27)


def _knn_errors(seed: int, scale: float) -> dict[int, tuple[float, float]]:
    """(train error, test error) of k-NN for each k on one split of noisy moons."""
    s = load_data(DataConfig(name="moons", noise=0.35, n_samples=round(600 * scale),
                             split_seed=seed))
    out = {}
    for k in KS:
        clf = KNeighborsClassifier(n_neighbors=k).fit(s.x_train.numpy(), s.y_train.numpy())
        out[k] = (_error(clf, s.x_train, s.y_train), _error(clf, s.x_test, s.y_test))
    return out


def _error(clf: KNeighborsClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of the examples ``x`` that the fitted ``clf`` labels other than ``y``."""
    return float((clf.predict(x.numpy()) != y.numpy()).mean())


def measure_one_nn(ctx: Context) -> Measurement:
    per_seed = [_knn_errors(seed, ctx.scale) for seed in range(max(ctx.seeds, 3))]
    train = {k: [e[k][0] for e in per_seed] for k in KS}
    test = {k: [e[k][1] for e in per_seed] for k in KS}
    return Measurement(
        values={"train_error_1nn": train[1], "test_error_1nn": test[1],
                "test_error_best_k": min(mean(test[k]) for k in KS),
                "gap": {k: [b - a for a, b in zip(train[k], test[k])] for k in KS}},
        series={"k": list(KS), "train": {k: mean(v) for k, v in train.items()},
                "test": {k: mean(v) for k, v in test.items()}})


def decide_one_nn(m: Measurement) -> Verdict:
    v = m.values
    c = greater(v["test_error_1nn"], v["train_error_1nn"], paired=True)
    zero = max(v["train_error_1nn"]) == 0.0
    gap = v["gap"]
    ks = sorted(k for k in gap if k != 1)
    said = [versus(gap, 1, k, "gap", ("with 1-NN", f"with {k}-NN"),
                   label=f"gap of 1-NN > gap of {k}-NN") for k in ks]
    widest = [w for w, _ in said]
    detail = (f"1-NN training error is {'0 on every split' if zero else 'not always 0'}, its "
              f"test error {mean(v['test_error_1nn']):.3f} ({c.text()}); "
              + "; ".join(text for _, text in said))
    if zero and c.significant and all(w.significant for w in widest):
        return Verdict("holds", detail + ".")
    if zero and c.significant:
        return Verdict("holds only when", detail + ".", "'widest' is left out: the gap is "
                       "not significantly wider than every larger k's")
    return Verdict("does not hold", detail + ".")


def figure_one_nn(m: Measurement) -> go.Figure:
    s = m.series
    fig = go.Figure([go.Bar(name="train error", x=[f"k={k}" for k in s["k"]],
                            y=[s["train"][k] for k in s["k"]]),
                     go.Bar(name="test error", x=[f"k={k}" for k in s["k"]],
                            y=[s["test"][k] for k in s["k"]])])
    fig.update_layout(barmode="group", yaxis_title="error", title="k-NN on noisy moons")
    return fig


ONE_NN = declared(1, measure_one_nn, decide_one_nn, figure_one_nn)


DEGREES = (1, 2, 3, 5, 7, 10)


def measure_capacity(ctx: Context) -> Measurement:
    """Polynomial logistic regression of growing degree on few noisy points. Seed s draws
    its own split (``data.split_seed = s``) and its own init: with a zero init, full batch
    and one split every seed would be the same run (pseudo-replication)."""
    base = RunConfig.model_validate({
        "data": {"name": "circles", "noise": 0.25, "n_samples": 400, "train_size": 40},
        "model": {"depth": 0}, "init": {"scheme": "xavier_normal"},
        "optimizer": {"name": "adam", "lr": 0.05},
        "budget": {"epochs": ctx.epochs(300), "batch_size": 0}})
    by_degree = ctx.train_variants(base, {d: {"data.poly_degree": d} for d in DEGREES},
                                   resplit=True)
    train = {d: [1 - a for a in metric(rs, "train_acc")] for d, rs in by_degree.items()}
    test = {d: [1 - a for a in metric(rs, "test_acc")] for d, rs in by_degree.items()}
    return Measurement(values={"train": train, "test": test},
                       series={"degrees": list(DEGREES)})


def decide_capacity(m: Measurement) -> Verdict:
    train, test = m.values["train"], m.values["test"]
    degrees = sorted(train)
    tr = [mean(train[d]) for d in degrees]
    te = [mean(test[d]) for d in degrees]
    falls = all(b <= a + 0.01 for a, b in pairwise(tr))
    best = int(np.argmin(te))
    rise = greater(test[degrees[-1]], test[degrees[best]], paired=True)
    u_shape = 0 < best < len(degrees) - 1 and rise.significant
    detail = (f"training error by degree {[round(x, 3) for x in tr]}, test error "
              f"{[round(x, 3) for x in te]}; best test at degree {degrees[best]}; "
              f"rise after it: {rise.text()}")
    if falls and u_shape:
        return Verdict("holds", detail + ".")
    if falls:
        return Verdict("does not hold", detail + "; training error falls, but test error did "
                       "not rise significantly past its minimum.")
    return Verdict("does not hold", detail + "; training error did not fall steadily.")


def figure_capacity(m: Measurement) -> go.Figure:
    degrees = m.series["degrees"]
    fig = go.Figure()
    for key, name in (("train", "training error"), ("test", "test error")):
        fig.add_scatter(x=degrees, y=[mean(m.values[key][d]) for d in degrees],
                        mode="lines+markers", name=name)
    fig.update_layout(xaxis_title="polynomial degree (capacity)", yaxis_title="error",
                      title="Capacity against error, 40 training points")
    return fig


CAPACITY = declared(2, measure_capacity, decide_capacity, figure_capacity)

CLAIMS = [ONE_NN, CAPACITY]
