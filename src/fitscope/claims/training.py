"""How the demo trains a claim's configs: batched by shape, stored as it goes.

Configs that share a shape and that the population engine supports are trained together
(:mod:`fitscope.population`); the rest run on the sequential engine. Each finished run's
record goes to the study store, so ``fitscope runs list`` and the lab's Runs page show
what the demo trained. Runs keep their models in memory: claims measure the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..config import RunConfig
from ..run import Run
from ..study.runner import make_tasks, store_record, train_configs
from ..study.store import Store


def train_batched(configs: Sequence[RunConfig]) -> list[Run]:
    """Runs for ``configs`` in their order, grouped as a study's ``--engine auto`` groups
    them in one worker (:func:`fitscope.study.runner.make_tasks`): same-shape groups of
    two or more on the population engine, everything else sequentially."""
    position = {id(c): i for i, c in enumerate(configs)}
    if len(position) != len(configs):
        raise ValueError("train_batched needs distinct config objects")
    runs: dict[int, Run] = {}
    for task in make_tasks(configs, "auto", slots=1):
        trained = train_configs(list(task.configs), task.engine)
        runs.update({position[id(c)]: r for c, r in zip(task.configs, trained)})
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
