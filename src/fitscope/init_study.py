"""The notes' initialization experiment: a nine-layer network under five inits.

Deeplearning.ai's note trains a nine-layer network on a 2-D set with zero, too-small,
too-large, Xavier and He initialization; this runs the same comparison over seeds.
"""

from __future__ import annotations

import statistics

from rich.progress import track
from rich.table import Table

from .config import RunConfig

NINE_LAYER = RunConfig(
    data={"name": "spiral", "n_samples": 1000, "noise": 0.2},
    model={"depth": 8, "width": 16, "activation": "tanh"},  # 8 hidden + output = 9 layers
    optimizer={"name": "adam", "lr": 0.01},
    budget={"epochs": 40, "batch_size": 64},
)

INITS: dict[str, dict] = {
    "zeros": {"scheme": "zeros"},
    "too small N(0, 0.01^2)": {"scheme": "normal", "std": 0.01},
    "too large N(0, 1)": {"scheme": "normal", "std": 1.0},
    "xavier": {"scheme": "xavier_normal"},
    "he": {"scheme": "kaiming_normal"},
}


def init_configs(epochs: int, seeds: int) -> dict[str, list[RunConfig]]:
    return {
        label: [NINE_LAYER.with_overrides({"init": init, "budget.epochs": epochs,
                                           "budget.seed": seed, "name": label})
                for seed in range(seeds)]
        for label, init in INITS.items()
    }


def init_study_table(epochs: int = 40, seeds: int = 2) -> Table:
    """Train every init over ``seeds`` seeds; a table of mean results per init."""
    from .engine import train

    configs = init_configs(epochs, seeds)
    jobs = [(label, cfg) for label, cfgs in configs.items() for cfg in cfgs]
    runs: dict[str, list] = {label: [] for label in configs}
    for label, cfg in track(jobs, description="nine-layer network, five inits"):
        runs[label].append(train(cfg))
    table = Table(title=f"Nine-layer tanh MLP on the spiral, {epochs} epochs, {seeds} seeds "
                        "(mean over seeds)")
    for col in ("init", "final train loss", "train acc", "test acc", "diverged"):
        table.add_column(col, justify="left" if col == "init" else "right")
    for label, rs in runs.items():
        ok = [r for r in rs if r.status != "diverged"]
        mean = lambda key: statistics.fmean(r.metrics[key] for r in ok) if ok else float("nan")  # noqa: E731
        table.add_row(label, f"{mean('train_loss'):.3f}", f"{mean('train_acc'):.3f}",
                      f"{mean('test_acc'):.3f}", f"{len(rs) - len(ok)}/{len(rs)}")
    return table
