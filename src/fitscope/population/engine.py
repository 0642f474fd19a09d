"""The population engine: ``train(configs) -> list[Run]``, N runs of one shape as one program.

A lead :class:`fitscope.engine.Trainer` (built like the first member's, never trained)
gives what the members share: data, batch size, step budget and the divergence rule.
Each member's model is built and initialized as ``Trainer.__init__`` does it, under the
same forked and seeded RNG as :func:`fitscope.engine.train`; then the members'
parameters are stacked (:func:`program`: the hand-written
:class:`~fitscope.population.stacked.StackedMLP` for the built-in MLP, the
:class:`~fitscope.population.functional.FunctionalStack` for any other model) and
trained together. One step mirrors the sequential engine's order, for all members at
once: the batch (each member's own data order, from its own seed, gathered into
(N, B, F)); input noise; weight noise on; forward; data loss per member; backward (of
the sum of the members' losses, so each member gets exactly its own gradient); then the
update half, the same code as the sequential engine's
(:class:`fitscope.core.loop.Updater`: learning rate from each member's schedule; weight
noise off; penalty gradients (L2, L1); clipping, each member by its own norm; decoupled
weight decay; the optimizer's update).

The epochs run in the loop both engines run (:func:`fitscope.epoch_loop.run_epochs`:
a :class:`Population` is a :class:`fitscope.epoch_loop.Engine` of N runs, the
sequential ``Trainer`` one of one run). Per member, as in the sequential engine:
divergence (:func:`fitscope.core.loop.divergence`), early stopping
(:class:`fitscope.core.loop.EarlyStopping` on the member's own validation metric,
restoring its best weights), history rows, final metrics, snapshots and probe records;
each member is a :class:`fitscope.run_state.RunState`, as the sequential ``Trainer`` is,
and its history rows, end-of-epoch decision and ``Run`` go through the same functions
(:mod:`fitscope.epoch_loop`, :mod:`fitscope.run_state`).
A member whose run has ended leaves the stacked program (its rows are dropped, so it
costs nothing more and its numbers, even NaNs, can reach no other member); its weights
stay as they were when it left.

Where it differs from the sequential engine: dropout masks and input and weight noise
are drawn from one population generator (seeded by the members' run ids), not from each
member's own torch RNG, so with those switched on a member's numbers match the
sequential run's in distribution, not bit for bit; without them they match up to float
rounding (batched kernels sum in another order). ``seconds`` in the history is the
population's epoch time, and ``timings`` share the population's time among its members.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from torch import Tensor, nn

from ..config import RunConfig
from ..core.loop import Updater
from ..core.losses import Smoothing, example_losses, losses_and_grad, predictions
from ..core.transforms import column
from ..engine import EVAL_BATCH, Batch, Trainer, shape_inputs
from ..epoch_loop import fit_epochs
from ..init import apply_init
from ..models import build_model, clone_module
from ..run import Run
from ..run_state import RunState, finish, restore_best, split_metrics
from ..sizing import EVAL_FLOATS, footprint, largest_split, snapshots_kept, training_bytes
from .functional import check_same_architecture, stack
from .probes import PopulationProbe
from .rows import Program
from .shape import check_population
from .stacked import MemberView, StackedMLP

POPULATION_BYTES = 2 << 30  # default cap on one stacked program's estimated memory (2 GiB)


def train(configs: Sequence[RunConfig], max_bytes: int | None = None, *,
          models: Sequence[nn.Module] | None = None) -> list[Run]:
    """Train ``configs`` (which share a :func:`~fitscope.population.shape.shape_key`) as
    one population; returns their :class:`~fitscope.run.Run` s in input order, with
    ``engine="population"``. Raises ``ValueError`` naming the field when a config is
    outside what the population engine supports or the configs differ in shape.

    ``models``: one user ``nn.Module`` per config, all of one architecture, in place of
    the built-in model (each member as ``fitscope.engine.train(config, model=module)``
    would train it: the config's init applied with the member's seed, batches in the
    data's shape); they train on the functional stack
    (:class:`~fitscope.population.functional.FunctionalStack`), and a module that cannot
    run under ``vmap`` raises :class:`~fitscope.population.functional.NotVmappable` (a
    ``ValueError``) before any step.

    The members train as one stacked program unless :func:`estimated_bytes` puts that
    above ``max_bytes`` (default ``POPULATION_BYTES``, 2 GiB); then they train as
    consecutive programs of equal size (within one member), each as large as fits, at
    least one member: many runs of a wide net stay within memory, as they would one by
    one on the sequential engine."""
    configs = list(configs)
    check_population(configs, custom=models is not None)
    if models is not None:
        if len(models) != len(configs):
            raise ValueError(f"models must hold one module per config: {len(models)} "
                             f"modules for {len(configs)} configs")
        if len({id(m) for m in models}) != len(models):
            raise ValueError("models must be distinct modules: each member trains its own")
        check_same_architecture(models)
    if max_bytes is not None and max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes}")
    with gc_paused():
        lead = lead_trainer(configs[0], models[0] if models is not None else None)
        size = program_size(lead, len(configs), max_bytes or POPULATION_BYTES)
        runs = []
        for start in range(0, len(configs), size):
            chunk = configs[start:start + size]
            own = None if models is None else list(models[start:start + size])
            runs += Population(chunk, lead if start == 0 else None, own).fit()
        return runs


def estimated_bytes(lead: Trainer, n: int) -> int:
    """An upper estimate of the memory, in bytes, that a population of ``n`` members of
    ``lead``'s shape takes while it trains: :func:`fitscope.sizing.training_bytes` (the
    formula, shared with the sequential engine's memory guard) of the lead's model."""
    fp = footprint(lead.model, lead.splits.input_shape)
    kept = snapshots_kept(lead.config, len(lead.splits.x_train), lead.batch_size)
    return training_bytes(fp, largest_split(lead.splits), lead.batch_size, n, kept)


def program_size(lead: Trainer, n: int, max_bytes: int) -> int:
    """Members per stacked program for ``n`` members: all of them if
    :func:`estimated_bytes` allows, else the size that splits them into the fewest
    programs that fit, as evenly as possible (at least one member)."""
    lo, hi = 1, n  # the largest size that fits, by bisection (the estimate grows with n)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimated_bytes(lead, mid) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return math.ceil(n / math.ceil(n / lo))


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off for the block (back on after the last
    overlapping block ends, if it was on before the first began).

    A population builds N models at once and keeps them while it trains; collections
    during the run walk all their modules again and again (the toy benchmark at N = 128:
    1.41 s with them, 1.29 s with one collection after the run, which the first
    allocation after this block triggers). The training loop makes no reference cycles
    worth collecting before it returns. The collector is process-wide: populations
    trained from several threads share one pause (a count), so the first to finish does
    not turn it back on under the others."""
    with _GC_PAUSE.lock:
        if _GC_PAUSE.count == 0:
            _GC_PAUSE.was_enabled = gc.isenabled()
            gc.disable()
        _GC_PAUSE.count += 1
    try:
        yield
    finally:
        with _GC_PAUSE.lock:
            _GC_PAUSE.count -= 1
            if _GC_PAUSE.count == 0 and _GC_PAUSE.was_enabled:
                gc.enable()


@dataclass
class _GCPause:
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0  # blocks inside gc_paused now
    was_enabled: bool = False  # the collector's state when the first of them began


_GC_PAUSE = _GCPause()


@dataclass(eq=False, kw_only=True)
class Member(RunState):
    """One run: its model, and the bookkeeping the sequential ``Trainer`` keeps (the same
    :class:`~fitscope.run_state.RunState`)."""

    model: nn.Module
    params: list[Tensor] = field(default_factory=list)  # list(model.parameters()), once

    def __post_init__(self) -> None:
        super().__post_init__()
        self.params = list(self.model.parameters())

    def row(self) -> Tensor:
        """The model's parameters as one flat vector, in ``parameters()`` order."""
        return torch.cat([p.detach().reshape(-1) for p in self.params])


def lead_trainer(config: RunConfig, model: nn.Module | None = None) -> Trainer:
    """The sequential engine's :class:`Trainer` for ``config`` (on a copy of the user's
    ``model``, if given), built under the forked, seeded RNG of
    :func:`fitscope.engine.train`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.budget.seed)
        return Trainer(config, None if model is None else copy.deepcopy(model))


def members(configs: Sequence[RunConfig], lead: Trainer,
            models: Sequence[nn.Module] | None = None) -> list[Member]:
    """The members, each model built (or taken from the user's ``models``, one per
    config) and initialized as ``Trainer.__init__`` does it, under a forked RNG seeded
    with the member's seed as in :func:`fitscope.engine.train` (so ``init.scheme =
    "default"`` draws PyTorch's own init from the same seed). One fork for all of them:
    the caller's RNG is left as it was."""
    splits, built = lead.splits, []
    templates: dict[str, nn.Module] = {}  # per model config: a module to clone
    with torch.random.fork_rng(devices=[]):
        for k, config in enumerate(configs):
            seed = config.budget.seed
            torch.default_generator.manual_seed(seed)  # the models are built on the CPU
            if models is not None:  # a user's module sees batches in the data's shape
                model = models[k].cpu()
                shape_inputs(model, splits)
            elif config.init.scheme == "default":  # PyTorch's init, drawn as it builds
                model = build_model(config, splits.n_features, splits.n_classes,
                                    splits.input_shape)
            else:  # every weight and bias is set below: a clone is as good and faster
                key = config.model.model_dump_json()
                if key not in templates:
                    templates[key] = build_model(config, splits.n_features,
                                                 splits.n_classes, splits.input_shape)
                model = clone_module(templates[key])
            apply_init(model, config.init, generator=torch.Generator().manual_seed(seed))
            if lead.device.type != "cpu":
                model = model.to(lead.device)
            built.append(Member(config, model=model))
    return built


def program(members: Sequence[Member], lead: Trainer, direct: bool | None = None) -> Program:
    """The stacked program of ``members`` (:func:`fitscope.population.functional.stack`:
    the hand-written MLP or the functional stack, on the path ``direct`` if given, else
    the one its trial chooses), from their modules' parameters."""
    return stack([m.model for m in members], [m.config for m in members],
                 not lead.model_spec["builtin"], lead.splits.input_shape,
                 torch.stack([m.row() for m in members]), direct)


def population_seed(configs: Sequence[RunConfig]) -> int:
    """Seed of the population's dropout and noise generator: a hash of the run ids."""
    text = ",".join(c.run_id for c in configs)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


class Population:
    """The members and the stacked program of those still training (``self.alive``, in
    row order): a :class:`fitscope.epoch_loop.Engine` of N runs, trained by the loop
    the sequential engine runs too (:func:`fitscope.epoch_loop.run_epochs`)."""

    def __init__(self, configs: list[RunConfig], lead: Trainer | None = None,
                 models: list[nn.Module] | None = None):
        # a lead of these configs' shape, untrained
        lead = lead or lead_trainer(configs[0], models[0] if models else None)
        self.members = members(configs, lead, models)
        self.alive = list(self.members)
        self.lead, self.classify, self.splits = lead, lead.classify, lead.splits
        self.x_train, self.y_train = lead.x_train, lead.y_train
        self.total_steps, self.baseline_loss = lead.total_steps, lead.baseline_loss
        self.snapshot_every = configs[0].observe.snapshot_every
        self.callbacks: tuple = ()  # no per-run callbacks: see step_end
        self.stop = False
        self._perms: Tensor | None = None  # the epoch's data orders, (N, n), of self.alive
        cfg = configs[0]
        self.net = program(self.members, lead)
        self.updater = Updater([c.optimizer for c in configs],
                               [c.regularization for c in configs], [self.net.flat],
                               [self.net.weight_mask])
        self._set_columns(self._columns(configs))
        self.gen = torch.Generator(device=self.net.flat.device)
        self.gen.manual_seed(population_seed(configs))
        self.step, self.epoch = 0, 0
        obs = cfg.observe
        self.probe: PopulationProbe | None = None
        if obs.probe_every:  # only on the hand-written MLP (shape.py: functional ones run alone)
            assert isinstance(self.net, StackedMLP)
            self.probe = PopulationProbe(self.net, obs.probe_every, obs.histogram_bins,
                                         cfg.model.activation)

    def _columns(self, configs: list[RunConfig]) -> dict[str, Tensor]:
        """Per-member settings the forward pass uses, as float64 (N, 1) columns (those of
        the update live in ``self.updater``'s state)."""
        rcs = [c.regularization for c in configs]
        like = self.net.flat
        values = {
            "input_noise": [r.input_noise for r in rcs],
            "weight_noise": [r.weight_noise for r in rcs],
            "label_smoothing": [r.label_smoothing for r in rcs],
        }
        return {k: column(v, like, torch.float64) for k, v in values.items()}

    def _set_columns(self, cols: dict[str, Tensor]) -> None:
        """Per-member settings, and the names of those some member uses (nonzero, finite)."""
        self.cols, self.cols32 = cols, {k: v.float() for k, v in cols.items()}
        self._smooth: Smoothing | None = None
        self.used = {k for k, v in cols.items() if bool(((v != 0) & torch.isfinite(v)).any())}

    def uses(self, name: str) -> bool:
        """Whether any member still training has a nonzero (finite) setting ``name``."""
        return name in self.used

    # -- one step ---------------------------------------------------------------------
    def train_step(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """One optimizer step of every member on its (N, B, F) inputs and (N, B) targets;
        returns (losses (N,), outputs (N, k, B)). A classifier's outputs are copied out
        of the program's workspace (which the next step overwrites): the epoch loop
        counts their hits at the epoch's end.

        The forward and backward passes are :class:`StackedMLP`'s own (no autograd
        graph), except on the steps a probe samples, which go through autograd so that
        every layer's output gradient can be read."""
        x, y = batch.x, batch.y
        if self.uses("input_noise"):
            std = self.cols32["input_noise"].unsqueeze(2)
            x = x + torch.randn(x.shape, generator=self.gen, device=x.device) * std
        net, probe = self.net, self.probe
        probing = probe is not None and probe.sampled(self.step)
        taps = probe.begin(net.flat, self.step) if probe is not None and probing else None
        noise = self._weight_noise()
        smoothing = self._smoothing()
        if probe is not None and probing:
            assert isinstance(net, StackedMLP)
            leaf = net.flat.detach().requires_grad_()
            out = net.forward(x, train=True, gen=self.gen, taps=taps, flat=leaf)
            losses = example_losses(out, y, self.classify, smoothing).mean(1)
            losses.sum().backward()  # d(sum)/d(loss_i) = 1: member i's own gradient
            assert leaf.grad is not None
            net.grad.copy_(leaf.grad)
            probe.gradients(net.grad)
            losses, out = losses.detach(), out.detach()
        else:
            out, tape = net.forward_train(x, self.gen)
            losses, grad_out = losses_and_grad(out, y, self.classify, smoothing)
            net.backward(tape, grad_out)
        p = net.flat
        self.updater.step(self.step, self.total_steps, [p], [net.grad],
                          [(p, noise)] if noise is not None else ())
        return losses, (out.clone() if self.classify else out)

    def _smoothing(self) -> Smoothing | None:
        """The label-smoothing columns, when some member smooths its labels."""
        if not self.uses("label_smoothing"):
            return None
        if self._smooth is None:
            self._smooth = Smoothing(self.cols["label_smoothing"], self.lead.n_classes)
        return self._smooth

    def _weight_noise(self) -> Tensor | None:
        """Add N(0, std_i^2) noise to member i's weights (not biases); return it
        (:func:`fitscope.regularize.add_weight_noise_`, per member)."""
        if not self.uses("weight_noise"):
            return None
        p = self.net.flat
        std = self.cols32["weight_noise"] * self.net.weight_mask
        noise = torch.randn(p.shape, generator=self.gen, device=p.device) * std
        p.add_(noise)
        return noise

    # -- epochs: an engine of N runs (fitscope.epoch_loop.Engine) --------------------
    def fit(self) -> list[Run]:
        t0 = time.perf_counter()
        fit_epochs(self, self.lead.config.budget.epochs)
        seconds = time.perf_counter() - t0
        return self._runs(seconds)

    @property
    def flat(self) -> list[Tensor]:
        return [self.net.flat]

    @property
    def grads(self) -> list[Tensor]:
        return [self.net.grad]

    @property
    def masks(self) -> list[Tensor]:
        return [self.net.weight_mask]

    def batches(self) -> Iterator[Batch]:
        """One epoch's batches: each member's own data order, (N, B) positions gathered
        into (N, B, F) inputs and (N, B) targets per step (members that leave mid-epoch
        leave ``self._perms`` too)."""
        n = len(self.x_train)
        self._perms = torch.stack([m.order(n) for m in self.alive]).to(self.x_train.device)
        for start in range(0, n, self.lead.batch_size):
            idx = self._perms[:, start:start + self.lead.batch_size]  # (N, B)
            x, y = self._batch(idx)
            yield Batch(x, y, idx)

    def step_end(self, losses: list[float], gone: list[int]) -> None:
        """The probe's end of a step (before the members at ``gone`` leave). A population
        runs no per-step callbacks: a :class:`~fitscope.core.loop.Callback` sees one
        run's trainer and loss, and the engine takes none (its
        :class:`~fitscope.population.probes.PopulationProbe` is its per-step instrument)."""
        if self.probe is not None:
            self.probe.end(self.net.flat, gone)

    def parameter_rows(self) -> Tensor:
        return self.net.flat.cpu()

    def evaluate_runs(self, x: Tensor, y: Tensor) -> tuple[list[float], list[float | None]]:
        return evaluate(self.net, x, y, self.classify)

    def host(self, i: int) -> SimpleNamespace | None:
        """Early stopping reads member ``i``'s weights in the stacked program."""
        return SimpleNamespace(model=MemberView(self.net, i)) if self.alive[i].early else None

    def _batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Each member's batch, (N, B, F) inputs and (N, B) targets: one gather each."""
        flat = idx.reshape(-1)
        x = self.x_train.index_select(0, flat).view(*idx.shape, *self.x_train.shape[1:])
        return x, self.y_train.index_select(0, flat).view(idx.shape)

    def leave(self, rows: list[int]) -> Tensor:
        """Members at ``rows`` stop training: their weights go to their own modules and
        their rows leave the program. Returns the kept rows' indices."""
        for i in rows:
            self.net.copy_to(i, self.alive[i].model, self.alive[i].params)
        keep = [i for i in range(len(self.alive)) if i not in set(rows)]
        index = torch.tensor(keep, dtype=torch.long, device=self.net.flat.device)
        self.alive = [self.alive[i] for i in keep]
        if self._perms is not None:
            self._perms = self._perms[index]
        self.net.keep(index)
        self.updater.keep(index)
        self._set_columns({k: v[index] for k, v in self.cols.items()})
        if self.probe is not None:
            self.probe.keep(keep)
        return index.cpu()

    # -- the records ------------------------------------------------------------------
    def _runs(self, seconds: float) -> list[Run]:
        """Restore best weights, evaluate every member that did not diverge, and build
        the runs (as ``Trainer.fit`` does, :mod:`fitscope.run_state`)."""
        for m in self.members:
            restore_best(m, m.model)
        metrics = final_metrics([m for m in self.members if m.status != "diverged"], self.lead,
                                getattr(self.net, "direct", None))
        share = seconds / len(self.members)
        extra = {"population_seconds": seconds, "population_size": len(self.members)}
        return [finish(m, m.model, metrics.get(id(m), {}), model_spec=self.lead.model_spec,
                       splits=self.lead.splits, seconds=share, timings=extra,
                       probes=self.probe.records[i] if self.probe else None,
                       engine="population")
                for i, m in enumerate(self.members)]


@torch.no_grad()
def evaluate(net: Program, x: Tensor, y: Tensor,
             classify: bool) -> tuple[list[float], list[float | None]]:
    """Each member's (mean data loss, accuracy) in eval mode, as ``Trainer.evaluate``
    computes them (means of chunks of ``EVAL_BATCH`` rows, weighted by their size)."""
    n = net.n
    if len(x) == 0:
        return [math.nan] * n, [None] * n
    x, y = x.to(net.flat.device), y.to(net.flat.device)
    rows = max(1, min(EVAL_BATCH, EVAL_FLOATS // (n * max(net.widest, 1))))
    losses, correct = [], torch.zeros(n, dtype=torch.long, device=x.device)
    for s in range(0, len(x), rows):
        xb, yb = x[s:s + rows], y[s:s + rows]
        out = net.forward_eval(xb.expand(n, *xb.shape))
        yb = yb.expand(n, *yb.shape)
        losses.append(example_losses(out, yb, classify))
        if classify:
            correct += (predictions(out) == yb).sum(1)
    per_example = torch.cat(losses, dim=1)  # (N, len(x))
    loss_sum = torch.zeros(n, dtype=torch.float64)
    for s in range(0, len(x), EVAL_BATCH):
        chunk = per_example[:, s:s + EVAL_BATCH]
        loss_sum += chunk.mean(1).double().cpu() * chunk.shape[1]
    acc = (correct.double() / len(x)).tolist() if classify else [None] * n
    return (loss_sum / len(x)).tolist(), acc


def final_metrics(members: list[Member], lead: Trainer,
                  direct: bool | None = None) -> dict[int, dict]:
    """``Trainer.final_metrics``' train, val and test loss and accuracy of each member,
    evaluated as one stacked program (``direct``: the training program's path, reused
    without a second trial step; see :func:`program`); keyed by ``id(member)``."""
    if not members:
        return {}
    net = program(members, lead, direct)
    each = split_metrics(lead.splits, lead.classify,
                         lambda x, y: evaluate(net, x, y, lead.classify), len(members))
    return {id(m): metrics for m, metrics in zip(members, each)}
