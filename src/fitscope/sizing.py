"""How large a run is before it trains: its model's footprint, the memory its training
takes (:func:`training_bytes`, shared by the sequential and population engines), the
memory this machine has free, and the guard that refuses a run that would not fit.

A config's model is sized without allocating it: :func:`config_footprint` builds it on
PyTorch's ``meta`` device (shapes only) and runs one forward pass there, so a config of
4e9 parameters is measured in milliseconds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

EVAL_BATCH = 4096  # rows per evaluation pass of the sequential engine
EVAL_FLOATS = 1 << 24  # cap on N * rows * width of one population evaluation (64 MiB)
GIB = 1 << 30


class NotEnoughMemory(ValueError):
    """A run whose estimated memory is above what the machine has available."""


@dataclass(frozen=True)
class Footprint:
    """A model's size per example: ``params`` (D), ``units`` (U: the outputs of its
    linear and convolution layers, summed), ``widest`` (W: the widest input or output of
    one of them) and ``macs`` (the multiply-adds of their forward pass)."""

    params: int
    units: int
    widest: int
    macs: int


_CONVS = (nn.Conv1d, nn.Conv2d)


def footprint(model: nn.Module, input_shape: tuple[int, ...]) -> Footprint:
    """The :class:`Footprint` of ``model`` for inputs of ``input_shape`` (flattened, as
    the engines feed them). Linear layers are sized from their shapes. A model with
    convolutions is run once on two zero rows (eval mode, no gradients, on its own
    device, every head of a multi-task net) to see its layers' output sizes; if that
    forward pass fails, it is sized from its linear layers alone. (The first forward
    pass on the ``meta`` device in a process takes about a second while PyTorch loads
    its shape functions: MLPs skip it.)"""
    params = sum(p.numel() for p in model.parameters())
    seen: list[tuple[nn.Module, int, int]] = [
        (m, m.in_features, m.out_features) for m in model.modules()
        if isinstance(m, nn.Linear)]  # (layer, inputs, outputs) per example
    if any(isinstance(m, _CONVS) for m in model.modules()):
        seen = _forward_sizes(model, input_shape) or seen
    units = sum(n_out for _, _, n_out in seen)
    widest = max((max(n_in, n_out) for _, n_in, n_out in seen), default=1)
    macs = sum(_macs(layer, n_out) for layer, _, n_out in seen)
    return Footprint(params=params, units=units, widest=widest, macs=macs)


def _forward_sizes(model: nn.Module, input_shape: tuple[int, ...]
                   ) -> list[tuple[nn.Module, int, int]]:
    """(layer, inputs, outputs) per example of every linear and convolution layer that
    one forward pass reaches; empty if the pass fails."""
    seen: list[tuple[nn.Module, int, int]] = []

    def hook(layer, args, out):
        seen.append((layer, args[0][0].numel(), out[0].numel()))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, *_CONVS))]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            forward = getattr(model, "forward_tasks", model)
            forward(torch.zeros(2, math.prod(input_shape), device=device))
    except Exception:  # noqa: BLE001 (a user's model that wants other inputs)
        seen = []
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return seen


def _macs(layer: nn.Module, n_out: int) -> int:
    """Multiply-adds of one example through ``layer``: each output sums over its inputs."""
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    assert isinstance(layer, _CONVS)  # the layers sized are linear or convolutions
    return n_out * layer.in_channels // layer.groups * math.prod(layer.kernel_size)


def config_footprint(config, splits) -> Footprint:
    """The footprint of the model ``config`` builds for ``splits``, built on the ``meta``
    device: nothing is allocated."""
    from .models import build_model

    with torch.device("meta"):
        model = build_model(config, splits.n_features, splits.n_classes, splits.input_shape)
    return footprint(model, splits.input_shape)


def largest_split(splits) -> int:
    """R: the rows of the largest of the train, validation and test splits."""
    return max(len(splits.x_train), len(splits.x_val), len(splits.x_test))


def snapshots_kept(config, train_rows: int, batch_size: int) -> int:
    """S: the parameter snapshots a run of ``config`` keeps (``observe.snapshot_every``):
    one at step 0 and one every that many of its steps, as the engines take them."""
    every = config.observe.snapshot_every
    if not every:
        return 0
    steps = config.budget.epochs * math.ceil(train_rows / max(batch_size, 1))
    if config.budget.max_steps:
        steps = min(steps, config.budget.max_steps)
    return 1 + steps // every


def training_bytes(fp: Footprint, rows: int, batch_size: int, n: int = 1,
                   snapshots: int = 0) -> int:
    """An upper estimate of the memory, in bytes, that ``n`` runs of footprint ``fp``
    take while they train together (float32; ``n = 1`` for the sequential engine):

        4 (n ((10 + S) D + 5 U B + 2 R) + 2 min(EVAL_FLOATS, n W min(R, EVAL_BATCH)))

    with D parameters per run, S the parameter snapshots each keeps, U the units of its
    layers' outputs summed, B the batch size, R the rows of the largest split and W the
    widest layer. Ten (n, D) tensors at most besides the snapshots: while the final
    metrics are computed, the parameters, gradients, weight-gradient scratch and up to
    three optimizer states, the members' own modules (population), the initial and best
    weights (sequential), and the final evaluation's stack of their rows with its
    gradient and scratch. Five (n, U, B) buffers of a step (outputs, input gradients,
    dropout masks and outputs after dropout); an evaluation's per-example losses (n, R)
    and its two layer buffers. ``benchmarks/population.py`` prints it beside the
    measured peak."""
    d, u, w = fp.params, fp.units, fp.widest
    evaluation = min(EVAL_FLOATS, n * w * min(rows, EVAL_BATCH))
    return 4 * (n * ((10 + snapshots) * d + 5 * u * batch_size + 2 * rows) + 2 * evaluation)


def available_bytes(device: str = "cpu") -> int | None:
    """Memory a new run may use now: for ``cuda``, the GPU's free memory; for the CPU,
    ``MemAvailable`` from ``/proc/meminfo`` (else free pages from ``os.sysconf``), lowered
    to what this process's cgroup (v2) still allows. None where none of these is known."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0] if torch.cuda.is_available() else None
    have = _meminfo_available()
    if have is None:
        try:
            have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            have = None
    limit = _cgroup_room()
    if limit is not None:
        have = limit if have is None else min(have, limit)
    return have


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """``memory.max - memory.current`` of this process's cgroup v2, if it has a limit."""
    try:
        rel = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[1]
        base = Path("/sys/fs/cgroup") / rel.lstrip("/")
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text()))
    except (OSError, ValueError, IndexError):
        return None


def check_fits(config, splits, batch_size: int, model: nn.Module | None = None) -> int:
    """Refuse a run that would not fit: raises :class:`NotEnoughMemory` with the estimate
    when :func:`training_bytes` of ``config`` (or of ``model``, a user's own) is above
    :func:`available_bytes` of its device; returns the estimate otherwise."""
    fp = (footprint(model, splits.input_shape) if model is not None
          else config_footprint(config, splits))
    kept = snapshots_kept(config, len(splits.x_train), batch_size)
    need = training_bytes(fp, largest_split(splits), batch_size, snapshots=kept)
    have = available_bytes(config.budget.device)
    if have is not None and need > have:
        m = config.model
        raise NotEnoughMemory(
            f"this run needs about {need / GIB:.3g} GiB (parameters, optimizer state and "
            f"activations of {fp.params:.3g} parameters at budget.batch_size={batch_size}"
            f"{f', {kept} snapshots (observe.snapshot_every)' if kept else ''}; "
            f"model.depth={m.depth}, model.width={m.width}) but {have / GIB:.3g} GiB of "
            f"{config.budget.device} memory is available; use a smaller model or batch")
    return need
