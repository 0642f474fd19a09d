"""How the demo trains a claim's configs: batched by shape, stored as it goes.

Configs that share a shape and that the population engine supports are trained together;
the rest run on the sequential engine (:func:`fitscope.many.train_many`, as a study's
``--engine auto`` trains them). Each finished run's record goes to the study store, so
``fitscope runs list`` and the lab's Runs page show what the demo trained. Runs keep
their models in memory: claims measure the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..config import RunConfig
from ..many import train_many
from ..run import Run
from ..study.store import Store, store_record


def train_batched(configs: Sequence[RunConfig]) -> list[Run]:
    """Runs for ``configs`` in their order: :func:`fitscope.many.train_many` with
    ``engine="auto"`` (same-shape groups of two or more on the population engine,
    everything else sequentially)."""
    return train_many(configs, "auto")


def demo_trainer(store: Store | None) -> Callable[[Sequence[RunConfig]], list[Run]]:
    """A ``Context.trainer`` that trains with :func:`train_batched` and stores each run."""

    def train_and_store(configs: Sequence[RunConfig]) -> list[Run]:
        runs = train_batched(configs)
        if store is not None:
            for run in runs:
                store.put(store_record(run))
        return runs

    return train_and_store
