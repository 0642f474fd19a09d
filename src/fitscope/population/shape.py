"""Which configs can share one batched program.

Configs share a program when every field in :data:`SHARED_FIELDS` is equal: the model's
shape, the data, the task, the batch size and budget, the optimizer's name and the probe
cadence. Everything else (seed, init, learning rate and schedule, optimizer
hyperparameters, penalties, dropout rates, noise, label smoothing, clipping, early
stopping) may differ from member to member, except that members on the functional
stack (:func:`functional`: a CNN, or a user's module) also share the fields in
:data:`FUNCTIONAL_FIELDS` (the dropout rates are attributes of the module that runs
every member).

A config the population engine cannot run at all gets a key with ``engine ==
"sequential"`` and ``reason`` naming the field; :func:`group_by_shape` puts each such
config in a group of its own, for the sequential engine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..config import RunConfig

SHARED_FIELDS: tuple[str, ...] = (
    "data", "task.kind", "model.kind", "model.depth", "model.widths", "model.activation",
    "model.batch_norm", "model.bias", "budget.epochs", "budget.max_steps",
    "budget.batch_size", "budget.device", "optimizer.name", "observe.probe_every",
    "observe.histogram_bins", "observe.snapshot_every",
)
"""Dotted config paths whose values all members of one population share."""

FUNCTIONAL_FIELDS: tuple[str, ...] = (
    "model.channels", "model.kernel_size", "model.dropout", "model.input_dropout")
"""Dotted config paths that members on the functional stack share as well."""


def functional(config: RunConfig, custom: bool = False) -> bool:
    """Whether ``config``'s members train on the functional stack
    (:class:`~fitscope.population.functional.FunctionalStack`): a user's module
    (``custom``) or a built-in model other than the MLP, which has the hand-written
    :class:`~fitscope.population.stacked.StackedMLP` (the fast path)."""
    return custom or config.model.kind != "mlp"


def shared_fields(config: RunConfig, custom: bool = False) -> tuple[str, ...]:
    """The fields members of ``config``'s population share."""
    return SHARED_FIELDS + (FUNCTIONAL_FIELDS if functional(config, custom) else ())


class ShapeKey(NamedTuple):
    """The grouping key of a config.

    ``engine`` is ``"population"`` or ``"sequential"`` (the population engine cannot run
    it; ``reason`` says which field). ``shape`` holds the :data:`SHARED_FIELDS` values, or
    the run id for a sequential-only config.
    """

    engine: str
    reason: str
    shape: tuple


def field_value(config: RunConfig, dotted: str) -> Any:
    """The value at a dotted path (``"model.widths"``), as a hashable plain value."""
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(mode="json"), sort_keys=True)
    return value


def unsupported_reason(config: RunConfig, custom: bool = False) -> str:
    """Why the population engine cannot run ``config`` (naming the field), or ``""``;
    ``custom``: the members are a user's modules."""
    rc, es = config.regularization, config.regularization.early_stopping
    checks = (
        (bool(config.task.aux), "task.aux (multi-task nets)"),
        (functional(config, custom) and config.observe.probe_every > 0,
         (f"observe.probe_every={config.observe.probe_every} (the population's probes "
          "need the built-in MLP)")),
        (rc.augment.active, "regularization.augment (data augmentation)"),
        (rc.fgsm_epsilon > 0 and rc.adversarial_fraction > 0,
         f"regularization.fgsm_epsilon={rc.fgsm_epsilon} (adversarial training)"),
        (rc.activation_l1 > 0, f"regularization.activation_l1={rc.activation_l1}"),
        (es.enabled and es.after != "none",
         f"regularization.early_stopping.after={es.after!r}"),
    )
    return next((reason for bad, reason in checks if bad), "")


def shape_key(config: RunConfig, custom: bool = False) -> ShapeKey:
    """The key under which ``config`` groups with others (see :class:`ShapeKey`);
    ``custom``: its model is a user's module."""
    reason = unsupported_reason(config, custom)
    if reason:
        return ShapeKey("sequential", reason, (config.run_id,))
    fields = shared_fields(config, custom)
    return ShapeKey("population", "", tuple(field_value(config, f) for f in fields))


def group_by_shape(configs: Sequence[RunConfig], custom: bool = False
                   ) -> list[list[RunConfig]]:
    """Configs grouped by :func:`shape_key`, groups in order of first appearance and
    configs in input order; each sequential-only config is a group of its own."""
    groups: dict[Any, list[RunConfig]] = {}
    for i, config in enumerate(configs):
        key = shape_key(config, custom)
        groups.setdefault(key if key.engine == "population" else (key, i), []).append(config)
    return list(groups.values())


def check_population(configs: Sequence[RunConfig], custom: bool = False) -> None:
    """Raise ``ValueError`` unless ``configs`` can train as one population, naming the
    field (and the member) that prevents it."""
    if not configs:
        raise ValueError("configs must hold at least one RunConfig, got an empty sequence")
    for i, config in enumerate(configs):
        reason = unsupported_reason(config, custom)
        if reason:
            raise ValueError(f"configs[{i}] has {reason}, which the population engine does "
                             f"not support; train it with fitscope.engine.train")
    first = configs[0]
    for i, config in enumerate(configs[1:], start=1):
        for dotted in shared_fields(first, custom):
            a, b = field_value(first, dotted), field_value(config, dotted)
            if a != b:
                raise ValueError(
                    f"configs[0] and configs[{i}] differ in {dotted} ({a!r} vs {b!r}); "
                    f"one population shares {dotted}: split them with group_by_shape")
