"""``train_many(configs) -> list[Run]``: many runs, same-shape ones as one population.

    import fitscope
    runs = fitscope.train_many(configs)              # engine="auto"
    runs = fitscope.train_many(configs, models=[MyNet() for _ in configs])

The one way the library trains a list of configs (the study runner's workers, the
claims, scripts): :func:`plan` groups the configs, each group trains on its engine, and
the runs come back in input order. A study spreads the groups of :func:`plan` over its
workers, each worker training its share with :func:`train_many`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from .config import RunConfig
from .threads import Choice, for_config
from .threads import use as use_threads

if TYPE_CHECKING:
    from torch import nn

    from .run import Run

Engine = Literal["auto", "population", "sequential"]
ENGINES: tuple[str, ...] = ("auto", "population", "sequential")


class EngineUnavailable(RuntimeError):
    """``engine="population"`` asked for where :mod:`fitscope.population` is missing."""


def population_engine():
    """The ``fitscope.population`` module if it offers what grouping needs, else None."""
    try:
        from fitscope import population
    except ImportError:
        return None
    needed = ("train", "group_by_shape", "shape_key")
    return population if all(callable(getattr(population, n, None)) for n in needed) else None


def plan(configs: Sequence[RunConfig], engine: Engine = "auto", custom: bool = False
         ) -> list[tuple[str, list[int]]]:
    """The groups ``configs`` train in: ``(engine, positions)`` pairs, ``engine`` being
    ``"population"`` (the configs at ``positions`` as one population) or
    ``"sequential"`` (one position each), groups in order of first appearance.

    ``sequential``: every config alone. ``population`` and ``auto`` group the configs
    with :func:`fitscope.population.group_by_shape` (``custom``: the models are a user's
    modules); a config the population engine cannot run (its shape key says
    ``sequential``) trains alone on the sequential engine, and so does, under ``auto``,
    a group of one. Without ``fitscope.population``, ``auto`` is sequential and
    ``population`` raises :class:`EngineUnavailable`.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    alone = [("sequential", [i]) for i in range(len(configs))]
    if engine == "sequential":
        return alone
    population = population_engine()
    if population is None:
        if engine == "population":
            raise EngineUnavailable("engine 'population' needs fitscope.population (train "
                                    "and group_by_shape); it is not available")
        return alone
    position = {id(c): i for i, c in enumerate(configs)}
    if len(position) != len(configs):  # the same object twice: group by position instead
        configs = [c.model_copy() for c in configs]
        position = {id(c): i for i, c in enumerate(configs)}
    groups: list[tuple[str, list[int]]] = []
    for group in population.group_by_shape(configs, custom=custom):
        batched = population.shape_key(group[0], custom=custom).engine == "population"
        at = [position[id(c)] for c in group]
        if not batched or (engine == "auto" and len(group) == 1):
            groups += [("sequential", [i]) for i in at]
        else:
            groups.append(("population", at))
    return groups


def train_many(configs: Sequence[RunConfig], engine: Engine = "auto", *,
               models: Sequence[nn.Module] | None = None, max_threads: int | None = None,
               threads: Choice | int | None = None) -> list[Run]:
    """Train ``configs``; their :class:`~fitscope.run.Run` s in input order.

    ``engine``: ``"auto"`` trains each group of two or more configs that share a shape
    (:func:`plan`) as one population (:func:`fitscope.population.train`) and the rest on
    the sequential engine (:func:`fitscope.engine.train`); ``"population"`` puts groups
    of one on the population engine too; ``"sequential"`` trains every config alone.
    ``models``: one ``nn.Module`` per config in place of the built-in model (as
    ``fitscope.train(config, model=module)``; grouped by the configs, all members of a
    group one architecture). Under ``auto``, a group whose modules cannot run under
    ``torch.func.vmap`` (:class:`~fitscope.population.functional.NotVmappable`) trains
    sequentially instead.

    Each group trains on the torch threads :func:`fitscope.threads.for_config` picks for
    it (at most ``max_threads``); ``threads``, or ``--threads`` / ``FITSCOPE_THREADS``,
    sets the count exactly.
    """
    configs = list(configs)
    if models is not None and len(models) != len(configs):
        raise ValueError(f"models must hold one module per config: {len(models)} modules "
                         f"for {len(configs)} configs")
    if isinstance(threads, int):
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        threads = Choice(threads, f"train_many(threads={threads})")
    runs: dict[int, Run] = {}
    for kind, at in plan(configs, engine, custom=models is not None):
        group = [configs[i] for i in at]
        own = None if models is None else [models[i] for i in at]
        members = len(group) if kind == "population" else 1
        use_threads(for_config(group[0], members, max_threads, threads))
        runs.update(zip(at, _train_group(kind, group, own, fallback=engine == "auto")))
    return [runs[i] for i in range(len(configs))]


def _train_group(kind: str, configs: list[RunConfig], models: list[nn.Module] | None,
                 fallback: bool) -> list[Run]:
    """One group of :func:`plan` on its engine; with ``fallback``, a population whose
    modules vmap cannot map trains sequentially."""
    if kind == "population":
        from .population import NotVmappable, train

        try:
            return train(configs, models=models)
        except NotVmappable:
            if not fallback:
                raise
    from .engine import train as train_one

    return [train_one(c, model=None if models is None else models[k])
            for k, c in enumerate(configs)]
