"""The bottom training layer: the formulas every engine shares, each written once.

- :mod:`fitscope.core.losses`: per-example data losses and their gradients with respect
  to the outputs, predictions and label-smoothing targets, over a leading member axis
  (a sequential run is a population of one);
- :mod:`fitscope.core.activations`: the activation table (function, in-place function,
  derivative, ``nn.Module`` class per name);
- :mod:`fitscope.core.transforms`: the update rules (penalties, clipping, decay, SGD to
  AdamW, schedules) as composable ``(init, update)`` transforms over stacked parameters
  with per-member hyperparameters;
- :mod:`fitscope.core.loop`: the step order both engines run (``Updater``), early
  stopping as a callback and the divergence rule.

This package may import torch and :mod:`fitscope.config` only; the engines
(:mod:`fitscope.engine`, :mod:`fitscope.population`, :mod:`fitscope.landscape`,
:mod:`fitscope.probe`) import from it.
"""
