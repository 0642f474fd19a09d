"""The population engine: N runs of one shape trained as one batched program.

    from fitscope.population import group_by_shape, train
    for group in group_by_shape(configs):
        runs = train(group)          # one Run per config, engine="population"
    runs = train(configs, models=[MyNet() for _ in configs])   # a user's modules

:func:`fitscope.train_many` does the grouping and returns the runs in input order. The
built-in MLP trains on the hand-written :mod:`~fitscope.population.stacked` program,
any other model on the :mod:`~fitscope.population.functional` stack (``torch.func``).
See :mod:`fitscope.population.engine` for the step order and how it mirrors the
sequential engine, and ``docs/population.md`` for what may differ between members.
"""

from .engine import train
from .functional import NotVmappable
from .shape import ShapeKey, group_by_shape, shape_key, unsupported_reason

__all__ = ["NotVmappable", "ShapeKey", "group_by_shape", "shape_key", "train", "unsupported_reason"]
