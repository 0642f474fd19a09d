"""Regularization claim 19: dropout, and test-time weight scaling."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...landscape import problem_for_run
from ...landscape.evaluate import eval_mode
from ...run import Run
from ..base import Context, Measurement, Verdict, declared
from ..plots import finish
from .common import (
    OVERFIT_SIZES,
    _ci_bar,
    _gap_map,
    _gap_values,
    _m,
    _ok,
    _points,
    _size_verdict,
    _train_sizes,
    overfit_base,
)

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
    model, x = run.trained_model(), problem_for_run(run, "test").x[:MC_INPUTS]
    hidden, out = list(model.get_submodule("hidden").children()), model.get_submodule("out")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.config.budget.seed)
        with eval_mode(model):
            h = x
            for block in hidden:
                h = block(h)  # eval mode: dropout is the identity
            test_layer, test_net = out(h), model(x)
        drop = hidden[-1].get_submodule("dropout")
        with eval_mode(model):
            drop.train()
            layer = _mc_match(lambda hs: out(drop(hs)), h, test_layer)
        model.train()
        try:
            net = _mc_match(model, x, test_net)
        finally:
            model.eval()
    return {"layer": layer, "network": net}


def measure_dropout(ctx: Context) -> Measurement:
    """The overfitting MLP with and without dropout at each training-set size (each seed
    draws its own split); test-time scaling is checked on the dropout runs of the middle
    size (the Monte Carlo check does not depend on the size)."""
    by_size = _train_sizes(ctx, overfit_base(ctx),
                           {"none": {}, "dropout": {"model.dropout": DROPOUT}})
    checked = OVERFIT_SIZES[len(OVERFIT_SIZES) // 2]
    checks = [dropout_expectation(r) for r in by_size[checked]["dropout"] if _ok(r)]
    return Measurement(
        values={"size": {n: _gap_values(r) for n, r in by_size.items()}, "p": DROPOUT,
                "checked_size": checked,
                "layer_z2": [c["layer"]["z2"] for c in checks],
                "layer_relative": [c["layer"]["relative"] for c in checks],
                "network_z2": [c["network"]["z2"] for c in checks],
                "network_relative": [c["network"]["relative"] for c in checks]},
        series={"expectation": checks[0] if checks else {}})


def decide_dropout(m: Measurement) -> Verdict:
    v = m.values
    held, gap_condition, detail = _gap_map(m, "dropout")
    layer_ok = bool(v["layer_z2"]) and max(v["layer_z2"]) <= Z2_MAX
    net_ok = bool(v["network_z2"]) and max(v["network_z2"]) <= Z2_MAX
    detail += (f"; on {v['checked_size']} points, over {MASKS} dropout masks the mean "
               f"training-time input to the output "
               f"layer is within {max(v['layer_relative'], default=math.nan):.2%} of its "
               f"test-time value (mean squared standardized difference at most "
               f"{max(v['layer_z2'], default=math.nan):.2f}; Monte Carlo noise alone gives 1); "
               f"through the whole network it is off by {_m(v['network_relative']):.1%} (mean "
               f"squared standardized difference {_m(v['network_z2']):.3g})")
    if not layer_ok:
        return Verdict("does not hold", detail + ": test-time scaling does not give the "
                       "expected output even at the layer after dropout.")
    conditions = [c for c in (gap_condition, "" if net_ok else (
        "the expectation is taken at the layer right after dropout: through the non-linear "
        "network, test-time scaling only approximates the mean training-time output")) if c]
    return _size_verdict(detail, held, sorted(v["size"]), "; and ".join(conditions))


def figure_dropout(m: Measurement) -> go.Figure:
    v, e = m.values, m.series["expectation"]
    sizes = v["size"]
    fig = make_subplots(1, 2, subplot_titles=("accuracy gap (train - test)", ("mean "
                                               "training-time output - test-time output "
                                               "(one seed)")))
    for name in ("none", "dropout"):
        fig.add_trace(_ci_bar(name, {_points(n): s["gap"][name] for n, s in sizes.items()}),
                      row=1, col=1)
    for key, name in (("layer", "at the output layer (exact in theory)"),
                      ("network", "through the whole network")):
        if key in e:
            fig.add_scatter(x=e[key]["test"], mode="markers", name=name, row=1, col=2,
                            y=[a - b for a, b in zip(e[key]["train_mean"], e[key]["test"])])
    return finish(fig, f"Dropout p = {v['p']} on the overfitting MLP (noisy moons), by "
                  "training-set size", x=["training set", "test-time logit"],
                  y=["gap (mean, 95% CI)", f"mean over {MASKS} masks - test-time logit"],
                  barmode="group")


DROPOUT_CLAIM = declared(
    19, measure_dropout, decide_dropout, figure_dropout, OVERFIT_SIZES=OVERFIT_SIZES,
    sizes=", ".join(map(str, OVERFIT_SIZES)))


