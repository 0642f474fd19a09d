"""The notes' Fashion-MNIST chapter (note 002): a plain MLP against early stopping, L2,
L1 and Xavier initialization. Runs only with ``fitscope demo --fashion-mnist DIR``; the
IDX files are the user's own (fitscope never downloads data)."""

from __future__ import annotations

import plotly.graph_objects as go

from ..config import RunConfig
from ..data.idx import find_idx, read_idx
from .base import Context, Measurement, Verdict, declared, mean, metric
from .tests import versus

VARIANTS: dict[str, dict] = {
    "plain": {},
    "early stopping": {"regularization.early_stopping": {"enabled": True, "patience": 3}},
    "L2 1e-4": {"regularization.l2": 1e-4},
    "L1 1e-5": {"regularization.l1": 1e-5},
    "Xavier": {"init.scheme": "xavier_normal"},
}


def base_config(path: str, scale: float) -> RunConfig:
    """784-256-128-10 ReLU MLP with PyTorch's default init, Adam, as in the notes' notebook;
    6000 training images in quick mode (all of them from ``scale`` 10 on)."""
    n_train = len(read_idx(find_idx(path, "train-labels-idx1-ubyte", "fashion_mnist")))
    val = 0.1
    available = n_train - max(1, round(val * n_train))
    wanted = round(6000 * scale)
    return RunConfig.model_validate({
        "data": {"name": "fashion_mnist", "path": path, "val_fraction": val,
                 "train_size": wanted if wanted < available else None},
        "model": {"depth": 2, "width": [256, 128], "activation": "relu"},
        "init": {"scheme": "default"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "budget": {"epochs": max(2, round(10 * scale)), "batch_size": 128}})


def measure_fashion(ctx: Context) -> Measurement:
    if not ctx.fashion_mnist:
        raise ValueError("the Fashion-MNIST chapter needs --fashion-mnist DIR")
    base = base_config(ctx.fashion_mnist, ctx.scale)
    runs = ctx.train_variants(base, VARIANTS)
    return Measurement(values={
        "test_acc": {k: metric(rs, "test_acc") for k, rs in runs.items()},
        "gap": {k: [a - b for a, b in zip(metric(rs, "train_acc"), metric(rs, "test_acc"))]
                for k, rs in runs.items()}}, series={"variants": list(VARIANTS)})


def decide_fashion(m: Measurement) -> Verdict:
    gaps, accs = m.values["gap"], m.values["test_acc"]
    helped, lines = [], []
    for label in list(VARIANTS)[1:]:
        gap, gap_text = versus(gaps, label, "plain", f"{label}: gap", ("", "plain"),
                               lower=True, paired=False)
        acc, acc_text = versus(accs, label, "plain", "test accuracy", ("", "plain"), ".4f",
                               paired=False)
        lines.append(f"{gap_text}, {acc_text}")
        if gap.significant or acc.significant:
            helped.append(label)
    detail = "; ".join(lines)
    if len(helped) == len(VARIANTS) - 1:
        return Verdict("holds", detail + ".")
    if helped:
        return Verdict("holds only when", detail + ".", f"using {', '.join(helped)}")
    return Verdict("does not hold", detail + ".")


def figure_fashion(m: Measurement) -> go.Figure:
    labels = m.series["variants"]
    fig = go.Figure([go.Bar(name="test accuracy", x=labels,
                            y=[mean(m.values["test_acc"][k]) for k in labels]),
                     go.Bar(name="train - test accuracy", x=labels,
                            y=[mean(m.values["gap"][k]) for k in labels])])
    fig.update_layout(barmode="group", title="Fashion-MNIST MLP: regularizers against a "
                      "plain baseline (mean over seeds)")
    return fig


FASHION = declared(50, measure_fashion, decide_fashion, figure_fashion)
