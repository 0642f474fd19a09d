"""The sequential engine: ``train(config) -> Run``.

One minibatch step, in order: the batch (augmented, input noise, FGSM examples); weight
noise on; forward; data loss (+ auxiliary tasks, + activation L1); backward; then the
update half that the population engine runs too (:class:`fitscope.core.loop.Updater`:
learning rate from the schedule; weight noise off; penalty gradients (L2, L1);
clipping; decoupled weight decay; the optimizer's update, all as transforms of
:mod:`fitscope.core.transforms` over the model's parameters viewed as one (1, D)
buffer, :func:`fitscope.core.loop.population_of_one`). The epochs around the steps are
the loop both engines run (:func:`fitscope.epoch_loop.run_epochs`, a :class:`Trainer`
being an engine of one run). A non-finite loss, or one 1000
times that of a constant prediction (log k for k classes, Var(y) for regression), ends
the run as ``diverged`` (:func:`fitscope.core.loop.divergence`): a result, never an
exception. Regression runs also report RMSE (in
the target's units) and R2 per split (:func:`fitscope.run_state.regression_metrics`).

Determinism: the seed fixes the init (its own generator), the data order (its own
generator, one ``randperm`` per epoch) and everything drawn from torch's global RNG
(dropout, noise), which is forked so the caller's RNG state is untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from . import regularize as reg
from .config import RunConfig
from .core.loop import Callback, Updater, population_of_one
from .core.loop import EarlyStopping as EarlyStopping  # re-exported: its old home
from .core.losses import mean_loss
from .data import DataSplits, load_data
from .data.augment import augment_batch, check_augment
from .epoch_loop import fit_epochs, run_epochs
from .init import apply_init
from .models import MultiTaskNet, build_model
from .run import Run
from .run_state import RunState, finish, restore_best, split_metrics
from .run_state import label_names as label_names  # re-exported: their old home
from .run_state import regression_metrics as regression_metrics
from .sizing import EVAL_BATCH, check_fits


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor  # positions in the training set (for per-example masks)


class Trainer(RunState):
    """State of one run; :func:`train` is the way to use it. Its bookkeeping (status,
    history, snapshots, epoch and step, early stopping, the data order) is a
    :class:`~fitscope.run_state.RunState`'s, as a population member's is, and its epochs
    run in the loop both engines run (:func:`fitscope.epoch_loop.run_epochs`) as an engine
    of one run (:class:`fitscope.epoch_loop.Engine`: N = 1, its rows the (1, D)
    parameter buffer, the step's autograd its own)."""

    def __init__(self, config: RunConfig, model: nn.Module | None = None,
                 callbacks: Sequence[Callback] = (), splits: DataSplits | None = None):
        self.config, self.callbacks = config, list(callbacks)
        cfg = config
        self.device = torch.device(check_device(cfg.budget.device))
        self.splits = splits or load_data(cfg.data, cfg.task.kind)
        check_augment(cfg.regularization.augment, self.splits)
        n = len(self.splits.x_train)
        bs = cfg.budget.batch_size
        self.batch_size = n if bs == 0 or bs >= n else bs
        check_fits(cfg, self.splits, self.batch_size, model)  # before a byte is allocated
        self.classify = cfg.task.kind == "classification"
        self.n_classes = self.splits.n_classes
        builtin = model is None
        if model is None:
            model = build_model(cfg, self.splits.n_features, self.n_classes,
                                self.splits.input_shape)
        model = model.cpu()  # init draws from a CPU generator, then the model moves
        apply_init(model, cfg.init, generator=torch.Generator().manual_seed(cfg.budget.seed))
        if not builtin:
            shape_inputs(model, self.splits)
        self.model = model.to(self.device)
        self.model_spec = {"builtin": builtin, "n_features": self.splits.n_features,
                           "n_classes": self.n_classes,
                           "input_shape": list(self.splits.input_shape)}
        self.weights, self.others = reg.weights_and_others(self.model)
        self.params = self.weights + self.others
        # the parameters as one (1, D) buffer, updated as a population of one
        self.flat, self.grads, self.masks = population_of_one(self.weights, self.others)
        rc = cfg.regularization
        self.updater = Updater([cfg.optimizer], [rc], self.flat, self.masks)
        self.act_l1 = (reg.ActivationL1(reg.hidden_activations(self.model), rc.activation_l1)
                       if rc.activation_l1 else None)
        RunState.__init__(self, cfg)  # early stopping: a callback, run last
        self.x_train, self.y_train = self._to(self.splits.x_train), self._to(self.splits.y_train)
        self.main_mask = self._main_label_mask()
        self.augment_gen = torch.Generator().manual_seed(cfg.budget.seed + 1)
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.total_steps = min(cfg.budget.epochs * self.steps_per_epoch,
                               cfg.budget.max_steps or math.inf)
        self.stop = False
        self.baseline_loss = self._constant_prediction_loss()
        self.snapshot_every = cfg.observe.snapshot_every
        self.alive: list[RunState] = [self]  # the engine's runs: this one, until it ends

    # -- pieces -----------------------------------------------------------------------
    def _to(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device)

    def _main_label_mask(self) -> torch.Tensor | None:
        frac = self.config.task.main_label_fraction
        if frac >= 1.0:
            return None
        g = torch.Generator().manual_seed(self.config.data.split_seed + 7)
        return self._to(torch.rand(len(self.splits.y_train), generator=g) < frac)

    def data_loss(self, out: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Cross-entropy (classification) or mean squared error (regression)."""
        if self.classify:
            return reg.classification_loss(out, y, self.n_classes, smoothing)
        return mean_loss(out, y, False)

    def batches(self):
        """One epoch's batches (in train mode): one gather of the shuffled data, then
        slices of it."""
        self.model.train()
        perm = self.order(len(self.x_train)).to(self.device)
        x, y = self.x_train[perm], self.y_train[perm]
        size = self.batch_size
        for bx, by, bi in zip(x.split(size), y.split(size), perm.split(size)):
            yield Batch(bx, by, bi)

    def _prepare(self, b: Batch) -> torch.Tensor:
        """The batch's inputs after augmentation, input noise and FGSM replacement."""
        rc, x = self.config.regularization, b.x
        if rc.augment.active:
            x = augment_batch(x, self.splits.input_shape, rc.augment, self.augment_gen)
        if rc.input_noise:
            x = x + torch.randn_like(x) * rc.input_noise
        if rc.fgsm_epsilon and rc.adversarial_fraction:
            k = round(len(x) * rc.adversarial_fraction)
            if k:
                adv = reg.fgsm(self.model, x[:k], b.y[:k], self.data_loss, rc.fgsm_epsilon)
                x = torch.cat([adv, x[k:]])
        return x

    def _loss(self, x: torch.Tensor, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(objective to minimize, outputs of the main task)."""
        smoothing = self.config.regularization.label_smoothing
        if not self.config.task.aux:
            out = self.model(x)
            return self.data_loss(out, b.y, smoothing), out
        outs = cast(MultiTaskNet, self.model).forward_tasks(x)
        out = outs["main"]
        if self.main_mask is None:
            loss = self.data_loss(out, b.y, smoothing)
        else:
            keep = self.main_mask[b.idx]
            loss = (self.data_loss(out[keep], b.y[keep], smoothing) if keep.any()
                    else out.sum() * 0.0)
        for aux in self.config.task.aux:
            target = aux_target(b.y, aux.kind, self.n_classes, b.x,
                                self.splits.input_shape).to(out.dtype)
            loss = loss + aux.weight * mean_loss(outs[aux.kind][:, :1], target, True)
        return loss, out

    def train_step(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch; returns, as an engine of one run
        (:class:`fitscope.epoch_loop.Engine`), the data loss (1,) and the main task's
        outputs (B, k)."""
        rc = self.config.regularization
        x = self._prepare(b)
        noise = reg.add_weight_noise_(self.weights, rc.weight_noise) if rc.weight_noise else ()
        loss, out = self._loss(x, b)
        objective = loss + self.act_l1.pop() if self.act_l1 else loss
        for g in self.grads:  # the (1, D) gradient buffer autograd accumulates into
            g.zero_()
        objective.backward()
        self.updater.step(self.step, self.total_steps, self.flat, self.grads,
                          list(zip(self.weights, noise)))
        return loss.detach().view(1), out.detach()

    def _constant_prediction_loss(self) -> float:
        """Loss of the best constant guess: log k (uniform over k classes) or Var(y)."""
        if self.classify:
            return math.log(max(self.n_classes, 2))
        return max(float(self.splits.y_train.var()), 1e-8)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
        """(mean data loss, accuracy) in eval mode; accuracy is None for regression."""
        if len(x) == 0:
            return math.nan, None
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct = 0.0, 0
        for s in range(0, len(x), EVAL_BATCH):
            xb, yb = self._to(x[s:s + EVAL_BATCH]), self._to(y[s:s + EVAL_BATCH])
            out = self.model(xb)
            loss_sum += self.data_loss(out, yb).item() * len(xb)
            if self.classify:
                correct += int((reg.predictions(out) == yb).sum())
        self.model.train(was_training)
        return loss_sum / len(x), (correct / len(x) if self.classify else None)

    # -- the loop: an engine of one run (fitscope.epoch_loop.Engine) ----------------
    def run_epochs(self, epochs: int) -> None:
        """Train for at most ``epochs`` more epochs (:func:`fitscope.epoch_loop.run_epochs`)."""
        self.alive = [self]
        run_epochs(self, epochs)

    def step_end(self, losses: list[float], gone: list[int]) -> None:
        """The callbacks' ``on_step_end``, unless the step diverged (the run ends)."""
        if not gone:
            for cb in self.callbacks:
                cb.on_step_end(self, self.step, losses[0])

    def leave(self, rows: list[int]) -> torch.Tensor:
        """The run has ended: no row is kept."""
        self.alive = []
        return torch.zeros(0, dtype=torch.long)

    def parameter_rows(self) -> torch.Tensor:
        return _flat(self.model).view(1, -1)

    def evaluate_runs(self, x: torch.Tensor, y: torch.Tensor
                      ) -> tuple[list[float], list[float | None]]:
        """:meth:`evaluate` as a population of one."""
        loss, acc = self.evaluate(x, y)
        return [loss], [acc]

    def host(self, i: int) -> Trainer:
        return self

    def fit(self) -> Run:
        t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.on_train_start(self)
        self.init_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        fit_epochs(self, self.config.budget.epochs)
        es = self.config.regularization.early_stopping
        restore_best(self, self.model)
        if self.early and self.status != "diverged" and es.after != "none":
            after_all_data(self, es.after)
        train_seconds = time.perf_counter() - t0
        run = finish(self, self.model, self._evaluated_metrics(),
                     model_spec=self.model_spec, splits=self.splits, seconds=train_seconds)
        if self.act_l1:
            self.act_l1.remove()
        for cb in self.callbacks:
            cb.on_train_end(self, run)
        return run

    def final_metrics(self) -> dict:
        """The run's metrics as they stand (``Run.metrics``)."""
        return {**self.base_metrics(), **self._evaluated_metrics()}

    def _evaluated_metrics(self) -> dict:
        """Loss and accuracy (RMSE and R2 for regression) per split; none once diverged."""
        if self.status == "diverged":
            return {}
        return split_metrics(self.splits, self.classify, self.evaluate_runs, 1)[0]


def _first_layer(model: nn.Module) -> str:
    """``name (Module(...))`` of the first module with a weight, for error messages."""
    for name, m in model.named_modules():
        if isinstance(getattr(m, "weight", None), torch.Tensor):
            return f"{name or 'root'} ({m!r})"
    return type(model).__name__


def shape_inputs(model: nn.Module, splits: DataSplits) -> None:
    """Make a user's ``model`` see batches in the data's shape: ``(B, C, H, W)`` for
    images, ``(B, C, L)`` for signals, ``(B, F)`` for vectors.

    The engine keeps data flat (augmentation, penalties and landscapes work on rows); a
    forward pre-hook on ``model`` reshapes a batch to ``(B, *splits.input_shape)`` when
    the model accepts that shape. A model that takes flat rows only (an MLP on images)
    gets them as before, and so does one that accepts the shaped batch but returns more
    than ``(batch, outputs)`` (a Linear applied along the last axis of ``(B, 1, L)``).
    Tried on two training rows in eval mode without gradients, so no batch-norm
    statistic or random number is used. A model that accepts neither
    raises ValueError naming its first layer and the data's shape.
    """
    shape = tuple(splits.input_shape)
    x = splits.x_train[:2]

    def accepts(batch: torch.Tensor) -> Exception | None:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(batch)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            return exc
        finally:
            model.train(was_training)
        if not isinstance(out, torch.Tensor) or out.dim() > 2 or out.shape[0] != len(batch):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            return ValueError(f"it returned {shape} for a batch of {len(batch)}, not "
                              "(batch, outputs)")
        return None

    if len(shape) > 1 and accepts(x.view(len(x), *shape)) is None:
        model.register_forward_pre_hook(
            lambda _, args: (args[0].view(len(args[0]), *shape), *args[1:]))
        return
    error = accepts(x)
    if error is not None:
        shapes = f"(batch, {', '.join(map(str, shape))})"
        also = f" or flat (batch, {splits.n_features})" if len(shape) > 1 else ""
        raise ValueError(
            f"the model does not accept the data's shape: data {splits.name!r} gives inputs "
            f"{shapes}{also}, and the model's first layer is {_first_layer(model)}; the "
            f"model raised: {str(error).splitlines()[0]}") from None


def aux_target(y: torch.Tensor, kind: str, n_classes: int, x: torch.Tensor | None = None,
               input_shape: tuple[int, ...] = ()) -> torch.Tensor:
    """Auxiliary binary targets. From the class label: ``parity`` is y mod 2,
    ``upper_half`` is y >= n_classes / 2 (both reveal part of the main label). From the
    input alone, so they carry no label information beyond the input (self-supervised):
    ``ink_left`` is 1 where the left half of the image (the last axis of ``input_shape``;
    the first half of the features for vectors) has a larger sum than the right half,
    ``ink_top`` the same for the top half against the bottom (the second-last axis)."""
    if kind == "parity":
        return y % 2
    if kind == "upper_half":
        return (y >= n_classes / 2).long()
    if x is None:
        raise ValueError(f"the auxiliary target {kind!r} is computed from the inputs x")
    img = x.reshape(len(x), *input_shape) if len(input_shape) > 1 else x.reshape(len(x), 1, -1)
    axis = -1 if kind == "ink_left" else -2
    if kind == "ink_top" and len(input_shape) < 2:
        img, axis = x.reshape(len(x), -1, 1), -2
    half = img.shape[axis] // 2
    first, second = img.narrow(axis, 0, half), img.narrow(axis, img.shape[axis] - half, half)
    dims = tuple(range(1, img.dim()))
    return (first.sum(dim=dims) > second.sum(dim=dims)).long()


def after_all_data(trainer: Trainer, how: str) -> None:
    """Use the validation data too, once early stopping has chosen (Goodfellow et al.
    2016, alg. 7.2 and 7.3).

    ``retrain_all``: re-initialize to the same init and train on train+val for the
    number of steps early stopping found best. ``continue_all``: from the best weights,
    keep training on train+val until the validation loss falls below the training loss
    at the best epoch (at most as many more epochs as the first phase ran).
    """
    s, early = trainer.splits, trainer.early
    assert early is not None  # called only for a run with early stopping
    target = next(r["train_loss"] for r in trainer.history if r["epoch"] == early.best_epoch)
    trainer.x_train = trainer._to(torch.cat([s.x_train, s.x_val]))
    trainer.y_train = trainer._to(torch.cat([s.y_train, s.y_val]))
    trainer.main_mask, trainer.early = None, None
    trainer.stop = False  # early stopping's stop ends the first phase only
    trainer.steps_per_epoch = math.ceil(len(trainer.x_train) / trainer.batch_size)
    first_phase_epochs = trainer.epoch
    if how == "retrain_all":
        trainer.model.load_state_dict(trainer.init_state)
        trainer.updater.reset(trainer.flat)
        trainer.step, trainer.total_steps = 0, early.best_step
        trainer.run_epochs(first_phase_epochs)
    else:
        trainer.total_steps = math.inf
        for _ in range(first_phase_epochs):
            trainer.run_epochs(1)
            if trainer.status == "diverged" or trainer.history[-1]["val_loss"] < target:
                break
    trainer.early = early


def _flat(model: nn.Module) -> torch.Tensor:
    """The model's parameters as one flat CPU vector (a copy), in ``parameters()`` order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu()


class DeviceUnavailable(ValueError):
    """``budget.device`` names a device this machine does not have."""


def check_device(name: str) -> str:
    """``name`` if this machine has it; else :class:`DeviceUnavailable` naming the field."""
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("budget.device='cuda' was asked for but no CUDA device is "
                                "available (torch was built without CUDA or sees no GPU); "
                                "use budget.device='cpu'")
    return name



def train(config: RunConfig, *, model: nn.Module | None = None,
          callbacks: Sequence[Callback] = (), live: bool = False) -> Run:
    """Train ``config`` and return its :class:`Run`.

    ``live=True`` redraws the loss curves (and a probed run's histograms) in a notebook
    cell while training (:class:`fitscope.live.LiveDisplay`, throttled to about 5% of the
    training time); the config, and so the run, stay the same.

    ``model`` replaces the built-in architecture with any ``nn.Module``; it gets batches
    in the data's shape (images ``(B, C, H, W)``, signals ``(B, C, L)``, vectors
    ``(B, F)``), or flat ``(B, n_features)`` rows when it takes only those
    (:func:`shape_inputs`). The config's init is applied to it unless
    ``init.scheme = "default"``. Same config and seed on the CPU give the same numbers,
    bit for bit. With ``observe.probe_every > 0`` the run is probed
    (:func:`fitscope.probe.training.fit_with_probe`) and ``Run.probes`` holds the records.

    Before the model is built, :func:`fitscope.sizing.check_fits` estimates the run's
    memory and raises :class:`~fitscope.sizing.NotEnoughMemory` (a ``ValueError``) when
    it would not fit; a ``budget.device`` this machine lacks raises
    :class:`DeviceUnavailable` (a ``ValueError``).
    """
    if live:
        from .live import LiveDisplay

        callbacks = [*callbacks, LiveDisplay()]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.budget.seed)
        trainer = Trainer(config, model, callbacks)
        if config.observe.probe_every:
            from .probe.training import fit_with_probe
            return fit_with_probe(trainer)
        return trainer.fit()
