"""The training loop's shared pieces, used by the sequential engine
(:class:`fitscope.engine.Trainer`) and the population engine
(:class:`fitscope.population.engine.Population`):

- :class:`Updater`: the update half of a step, in the one order both engines run;
- :func:`divergence`: when a loss ends a run as ``diverged``;
- :class:`Callback` and :class:`EarlyStopping`, a callback (Keras' ``EarlyStopping``);
- :func:`population_of_one`: one model's parameters as a population of one, the
  (1, D) layout the transforms of :mod:`fitscope.core.transforms` update.

The epoch loop itself is :func:`fitscope.epoch_loop.run_epochs`, in the engine layer
(it records each run's history through :mod:`fitscope.run_state`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..config import EarlyStoppingConfig, OptimizerConfig, RegularizationConfig
from .transforms import Masks, apply_updates, column, from_configs, keep_members, learning_rates

DIVERGENCE_FACTOR = 1e3


def divergence(loss: float, baseline: float, step: int) -> str | None:
    """Why a run diverges at ``step`` with this minibatch ``loss``, or None: a non-finite
    loss, or one over ``DIVERGENCE_FACTOR`` (1000) times ``baseline``, the loss of a
    constant prediction (log k for k classes, Var(y) for regression)."""
    if not math.isfinite(loss):
        return f"non-finite loss ({loss}) at step {step}"
    if loss > DIVERGENCE_FACTOR * baseline:
        return (f"loss {loss:.3g} at step {step} is over {DIVERGENCE_FACTOR:g}x "
                f"that of a constant prediction ({baseline:.3g})")
    return None


def nonfinite_parameters(step: int) -> str:
    """The reason recorded when a run's parameters hold NaN or infinity after ``step``."""
    return f"non-finite parameters after step {step}"


class Updater:
    """The update half of one training step of N members whose parameters are (N, D_i)
    tensors, in the order both engines run it:

    1. the learning rate from each member's schedule
       (:func:`~fitscope.core.transforms.lr_at`);
    2. weight noise off (the noise the caller added before its forward pass);
    3. penalty gradients (L2, L1); 4. clipping (by value, then by each member's global
       norm); 5. decoupled weight decay; 6. the optimizer's update: the chain of
       :func:`~fitscope.core.transforms.from_configs`, one config per member.

    ``masks`` mark the weights (one (1, D_i) bool tensor per parameter tensor)."""

    def __init__(self, optimizers: Sequence[OptimizerConfig],
                 regularizations: Sequence[RegularizationConfig], params: Sequence[Tensor],
                 masks: Masks):
        self.optimizers = list(optimizers)
        self.transform = from_configs(self.optimizers, regularizations, masks)
        self.state = self.transform.init(params)
        self.scheduled = any(c.schedule.kind != "constant" for c in self.optimizers)
        self.lrs = [c.lr for c in self.optimizers]  # each member's latest learning rate
        self._column: Tensor | None = None  # self.lrs as an (N, 1) float64 column

    def reset(self, params: Sequence[Tensor]) -> None:
        """Fresh optimizer state (the moments at zero, step count 0)."""
        self.state = self.transform.init(params)

    def learning_rates(self, step: int, total_steps: float, like: Tensor) -> Tensor:
        """(N, 1) float64 learning rates at ``step`` of ``total_steps``."""
        if self.scheduled:
            self.lrs, self._column = learning_rates(self.optimizers, step, total_steps), None
        if self._column is None:
            self._column = column(self.lrs, like, torch.float64)
        return self._column

    @torch.no_grad()
    def step(self, step: int, total_steps: float, params: Sequence[Tensor],
             grads: Sequence[Tensor], noise: Sequence[tuple[Tensor, Tensor]] = ()) -> None:
        """Update ``params`` in place from ``grads`` (which penalties and clipping change
        in place); ``noise``: (parameter, noise) pairs to subtract first."""
        lr = self.learning_rates(step, total_steps, params[0])
        for p, z in noise:
            p.sub_(z)
        updates, self.state = self.transform.update(list(grads), self.state, params, lr)
        apply_updates(params, updates)

    def keep(self, index: Tensor) -> None:
        """Keep the members at ``index`` (a 1-D long tensor), in that order."""
        rows = index.tolist()
        self.state = keep_members(self.state, index)
        self.optimizers = [self.optimizers[i] for i in rows]
        self.lrs, self._column = [self.lrs[i] for i in rows], None


def population_of_one(weights: Sequence[Tensor], others: Sequence[Tensor]
                      ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """(params, grads, masks) of one model as a population of one: each parameter's data
    and ``.grad`` become views of one (1, D) buffer (weights first, then the others;
    ``masks`` True on weights), so a transform updates them all in one pass and
    autograd accumulates the gradients into the buffer in place (zero it before a
    backward pass). Parameters of several dtypes or devices keep their own storage, as
    one (1, D_i) view each."""
    params = [*weights, *others]
    if not params:
        raise ValueError("the model has no trainable parameters")
    is_weight = [True] * len(weights) + [False] * len(others)
    with torch.no_grad():
        if len({(p.dtype, p.device) for p in params}) == 1:
            flat = torch.cat([p.detach().reshape(-1) for p in params]).view(1, -1)
            grad = torch.zeros_like(flat)
            mask = torch.cat([torch.full((p.numel(),), w, device=flat.device)
                              for p, w in zip(params, is_weight)]).view(1, -1)
            offset = 0
            for p in params:
                n = p.numel()
                p.data = flat[0, offset:offset + n].view_as(p)
                p.grad = grad[0, offset:offset + n].view_as(p)
                offset += n
            return [flat], [grad], [mask]
        views, grads, masks = [], [], []
        for p, w in zip(params, is_weight):
            p.data = p.data.contiguous()
            p.grad = torch.zeros_like(p)
            views.append(p.data.view(1, -1))
            grads.append(p.grad.view(1, -1))
            masks.append(torch.full((1, p.numel()), w, device=p.device))
        return views, grads, masks


class Callback:
    """Hooks into a training run; every method is optional. Set ``trainer.stop = True``
    from a callback to end the run after the current step (status stays ``completed``).
    The sequential engine (:func:`fitscope.engine.train`) takes callbacks; ``on_step_end``
    comes after each step the run survives (not the one it diverged at), with the step
    count and that step's minibatch loss. The population engine takes none."""

    def on_train_start(self, trainer: Any) -> None: ...
    def on_step_end(self, trainer: Any, step: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer: Any, row: dict) -> None: ...
    def on_train_end(self, trainer: Any, run: Any) -> None: ...


class EarlyStopping(Callback):
    """Keras-style early stopping on a validation metric (Goodfellow et al. 2016, alg. 7.1).

    An epoch improves when the metric ``monitor`` (a history row's column; lower is
    better for a loss, higher otherwise) beats the best by more than ``min_delta``; after
    ``patience`` epochs without improvement counted from ``start_epoch`` on, the run
    stops (``stopped_epoch``); :meth:`restore` brings back the best epoch's weights when
    ``restore_best``. As a callback it reads ``trainer.model`` (anything with a
    ``state_dict()``) and sets ``trainer.stop``.
    """

    def __init__(self, monitor: str, patience: int, min_delta: float, start_epoch: int,
                 restore_best: bool = True):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.start_epoch, self.restore_best = start_epoch, restore_best
        self.sign = 1.0 if monitor.endswith("loss") else -1.0
        self.best, self.best_epoch, self.best_step, self.wait = math.inf, 0, 0, 0
        self.best_state: dict[str, Tensor] | None = None
        self.stopped_epoch: int | None = None

    @classmethod
    def from_config(cls, cfg: EarlyStoppingConfig) -> EarlyStopping | None:
        """The callback ``cfg`` asks for, or None when it is off."""
        if not cfg.enabled:
            return None
        return cls(cfg.monitor, cfg.patience, cfg.min_delta, cfg.start_epoch, cfg.restore_best)

    def update(self, epoch: int, step: int, value: float, model: Any) -> bool:
        """Record an epoch; True when training should stop."""
        if self.sign * value < self.best - self.min_delta:
            self.best, self.best_epoch = self.sign * value, epoch
            self.best_step, self.wait = step, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        if epoch >= self.start_epoch:
            self.wait += 1
        return self.wait >= self.patience

    def on_epoch_end(self, trainer: Any, row: dict) -> None:
        if self.update(row["epoch"], row["step"], row[self.monitor], trainer.model):
            self.stopped_epoch = row["epoch"]
            trainer.stop = True

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (with ``restore_best``)."""
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)
