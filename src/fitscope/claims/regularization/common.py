"""What the regularization claims share: training variants, per-run values, paired
comparisons, figure pieces, and the overfitting setting of claims 12, 17 and 19."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...config import RunConfig
from ...landscape.directions import weight_mask
from ...run import Run
from ..base import Context, K, Measurement, Verdict, metrics
from ..base import finite_mean as _m
from ..tests import mean_ci, versus

# -- shared pieces ---------------------------------------------------------------------


def _ok(run: Run) -> bool:
    return run.status != "diverged"


def _per_run(runs: Sequence[Run], fn: Callable[[Run], float]) -> list[float]:
    """``fn(run)`` for each run, NaN for a diverged one (so seeds stay aligned)."""
    return [float(fn(r)) if _ok(r) else math.nan for r in runs]


def _gap(runs: Sequence[Run]) -> list[float]:
    """Generalization gap in accuracy: train accuracy - test accuracy."""
    return _per_run(runs, lambda r: r.metrics["train_acc"] - r.metrics["test_acc"])


def _ci_bar(name: str, groups: dict[str, Sequence[float]]) -> go.Bar:
    """Bars of the means over seeds with 95% Student-t intervals."""
    est = [mean_ci(v) for v in groups.values()]
    up = [e.high - e.mean if e.n > 1 else 0.0 for e in est]
    down = [e.mean - e.low if e.n > 1 else 0.0 for e in est]
    return go.Bar(name=name, x=[str(k) for k in groups], y=[e.mean for e in est],
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
    model = run.trained_model()
    return _flat(model.parameters())[_weight_entries(model)]



# -- overfitting setting shared by claims 12, 17 and 19 ---------------------------------


OVERFIT_SIZES = (30, 60, 120)  # training-set sizes the overfitting claims are mapped over
OVERFIT_TRAIN = 60  # training-set size of overfit_base


def overfit_base(ctx: Context) -> RunConfig:
    """A wide MLP trained long on 60 noisy two-moons points: it fits the noise."""
    return RunConfig.model_validate({
        "data": {"name": "moons", "noise": 0.3, "n_samples": 1000, "train_size": OVERFIT_TRAIN},
        "model": {"depth": 2, "width": 128}, "optimizer": {"name": "adam", "lr": 0.01},
        "budget": {"epochs": ctx.epochs(200), "batch_size": 0}})


def _gap_values(runs: dict[K, list[Run]]) -> dict[str, dict[K, list[float]]]:
    """Accuracies and the two generalization gaps: train - test accuracy, and test - train
    cross-entropy (the loss the network minimizes)."""
    return {"gap": {k: _gap(rs) for k, rs in runs.items()},
            "loss_gap": {k: _per_run(rs, lambda r: r.metrics["test_loss"] -
                                     r.metrics["train_loss"]) for k, rs in runs.items()},
            **metrics(runs, "train_acc", "test_acc")}


def _decide_gap(m: Measurement | dict[str, Any], name: str,
                where: str = "") -> tuple[bool, str, str]:
    """(narrowed in at least one measure, condition or "", reason): holds when the gap
    narrows in both accuracy and cross-entropy; with only one of them significant the
    claim holds only when the gap is measured that way. ``m`` is a measurement or one
    size's values (:func:`_train_sizes`); ``where`` prefixes the tests' labels."""
    v = m.values if isinstance(m, Measurement) else m
    said = (f"with {name}", "without")
    acc, acc_text = versus(v["gap"], name, "none", "the accuracy gap (train - test) is", said,
                           lower=True, label=f"{where}accuracy gap without > with {name}")
    loss, loss_text = versus(v["loss_gap"], name, "none", "the cross-entropy gap (test - "
                             "train)", said, lower=True,
                             label=f"{where}cross-entropy gap without > with {name}")
    detail = (f"{acc_text}; {loss_text}; test accuracy {_m(v['test_acc'][name]):.3f} against "
              f"{_m(v['test_acc']['none']):.3f}")
    condition = ("" if acc.significant == loss.significant else
                 "the gap is measured in cross-entropy (in accuracy it is not significantly "
                 "narrower)" if loss.significant else
                 "the gap is measured in accuracy (in cross-entropy it is not significantly "
                 "narrower)")
    return acc.significant or loss.significant, condition, detail


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




# -- the overfitting claims over training-set sizes --------------------------------------


def _train_sizes(ctx: Context, base: RunConfig, variants: dict[str, dict[str, Any]],
                 sizes: Sequence[int] = OVERFIT_SIZES) -> dict[int, dict[str, list[Run]]]:
    """:meth:`~fitscope.claims.base.Context.train_variants` with every seed drawing its
    own split (``resplit``), at each training-set size; all in one ``ctx.train_many``
    call. Runs by size, then variant."""
    runs = ctx.train_variants(base, {(n, name): {**o, "data.train_size": n}
                                     for n in sizes for name, o in variants.items()},
                              resplit=True)
    return {n: {name: runs[n, name] for name in variants} for n in sizes}


def _points(n: int) -> str:
    """A training-set size as a figure names it."""
    return f"{n} points"


def _size_verdict(detail: str, held: Sequence[int], sizes: Sequence[int],
                  condition: str = "") -> Verdict:
    """``holds`` where the claim held at every size; ``holds only when`` the training set
    has one of the sizes ``held`` at (``condition`` joined to it); else ``does not hold``
    (which the three-way rule keeps only where a test shows it)."""
    if not held:
        return Verdict("does not hold", detail + ".")
    if list(held) == list(sizes):
        return Verdict("holds only when", detail + ".", condition) if condition else \
            Verdict("holds", detail + ".")
    rest = [n for n in sizes if n not in held]
    where = (f"the training set has {', '.join(map(str, held))} points (at "
             f"{', '.join(map(str, rest))} it is not shown)")
    return Verdict("holds only when", detail + ".",
                   where + (f"; and {condition}" if condition else ""))


def _gap_map(m: Measurement, name: str) -> tuple[list[int], str, str]:
    """:func:`_decide_gap` at each training-set size: (sizes where the gap narrowed in
    both measures, a condition naming the one measure where it narrowed in one only at
    every such size, the reason)."""
    sizes = m.values["size"]
    held, one_way, parts = [], set(), []
    for n, v in sizes.items():
        narrowed, condition, detail = _decide_gap(v, name, f"{n} points: ")
        parts.append(f"{n} points: {detail}")
        if narrowed:
            held.append(n)
            if condition:
                one_way.add(condition)
    condition = one_way.pop() if len(one_way) == 1 else (
        "the gap is measured in accuracy or in cross-entropy (at some sizes only one "
        "narrows)" if one_way else "")
    return held, condition, "; ".join(parts)


def _gap_size_figure(m: Measurement, title: str) -> go.Figure:
    """Accuracy and cross-entropy gaps per training-set size, one bar per training."""
    sizes = m.values["size"]
    names = list(next(iter(sizes.values()))["gap"])
    fig = make_subplots(1, 2, subplot_titles=("accuracy gap (train - test)",
                                              "cross-entropy gap (test - train)"))
    for col, key in ((1, "gap"), (2, "loss_gap")):
        for name in names:
            bar = _ci_bar(name, {_points(n): v[key][name] for n, v in sizes.items()})
            bar.showlegend, bar.legendgroup = col == 1, name
            fig.add_trace(bar, row=1, col=col)
    fig.update_xaxes(title_text="training set")
    fig.update_layout(barmode="group", title=title,
                      legend_title_text="mean, 95% CI over seeds and splits")
    return fig
