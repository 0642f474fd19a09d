"""How the demo trains a claim's configs: batched by shape, stored as it goes.

Configs that share a shape and that the population engine supports are trained together
(:mod:`fitscope.population`); the rest run on the sequential engine. Each finished run's
record goes to the study store, so ``fitscope runs list`` and the lab's Runs page show
what the demo trained. Runs keep their models in memory: claims measure the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..config import RunConfig
from ..engine import train as train_sequential
from ..population import group_by_shape
from ..population import train as train_population
from ..run import Run
from ..study.runner import store_record
from ..study.store import Store


def train_batched(configs: Sequence[RunConfig]) -> list[Run]:
    """Runs for ``configs`` in their order; same-shape groups of two or more on the
    population engine, everything else sequentially."""
    position = {id(c): i for i, c in enumerate(configs)}
    if len(position) != len(configs):
        raise ValueError("train_batched needs distinct config objects")
    runs: dict[int, Run] = {}
    for group in group_by_shape(configs):  # unsupported configs come as groups of one
        trained = train_population(group) if len(group) > 1 else [train_sequential(group[0])]
        runs.update({position[id(c)]: r for c, r in zip(group, trained)})
    return [runs[i] for i in range(len(configs))]


def demo_trainer(store: Store | None) -> Callable[[Sequence[RunConfig]], list[Run]]:
    """A ``Context.trainer`` that trains with :func:`train_batched` and stores each run."""

    def train_many(configs: Sequence[RunConfig]) -> list[Run]:
        runs = train_batched(configs)
        if store is not None:
            for run in runs:
                store.put(store_record(run))
        return runs

    return train_many
