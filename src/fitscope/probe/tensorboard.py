"""TensorBoard export of probe records and training history (optional extra).

Needs ``pip install 'fitscope[tensorboard]'``. Scalars are tagged ``quantity/layer``
(``act_std/hidden.0.act``), so one TensorBoard section shows a quantity across layers;
the history goes under ``history/<column>`` at the step each epoch ended. Histograms keep
the probe's fixed bins: bucket i spans edges[i]..edges[i+1]; TensorBoard also wants a sum
and a sum of squares, estimated from the bin midpoints, and a min and a max, the outer
edges of the non-empty bins.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run import Run

if TYPE_CHECKING:
    from .hooks import Probe

HISTORY_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "grad_norm")
INSTALL_HINT = "TensorBoard export needs the optional extra: pip install 'fitscope[tensorboard]'"


def summary_writer(logdir: str | Path) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter``; ImportError with the install hint."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return SummaryWriter(log_dir=str(logdir))


def _histogram(writer: Any, tag: str, value: dict, step: int) -> None:
    edges, counts = value["edges"], value["counts"]
    filled = [i for i, c in enumerate(counts) if c]
    if not filled:
        return  # nothing counted (all NaN): TensorBoard cannot show an empty histogram
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    writer.add_histogram_raw(
        tag, min=edges[filled[0]], max=edges[filled[-1] + 1], num=sum(counts),
        sum=sum(c * m for c, m in zip(counts, mids)),
        sum_squares=sum(c * m * m for c, m in zip(counts, mids)),
        bucket_limits=edges[1:], bucket_counts=counts, global_step=step)


def write_records(writer: Any, records: list[dict]) -> None:
    """Probe records as scalars (``quantity/layer``) and histograms."""
    for r in records:
        tag = f"{r['quantity']}/{r['layer']}"
        if isinstance(r["value"], dict):
            _histogram(writer, tag, r["value"], r["step"])
        elif math.isfinite(r["value"]):
            writer.add_scalar(tag, r["value"], r["step"])


def export_tensorboard(target: Run | Probe | list[dict], logdir: str | Path) -> Path:
    """Write probe records as TensorBoard event files in ``logdir`` (created); returns
    it. ``target`` is a :class:`~fitscope.run.Run` (its probes and history), a
    :class:`~fitscope.probe.hooks.Probe` from your own loop (its records) or a list of
    records. ``tensorboard --logdir DIR`` shows them."""
    from .hooks import Probe

    if isinstance(target, Run):
        records, history = target.probes, target.history
    elif isinstance(target, Probe):
        records, history = target.records, []
    elif isinstance(target, list):
        records, history = target, []
    else:
        raise TypeError(f"Argument `target` must be a Run, a Probe or a list of records. "
                        f"Received: target={type(target).__name__}")
    logdir = Path(logdir)
    writer = summary_writer(logdir)
    try:
        write_records(writer, records)
        for row in history:
            for column in HISTORY_COLUMNS:
                v = row.get(column)
                if v is not None and math.isfinite(v):
                    writer.add_scalar(f"history/{column}", v, row["step"])
    finally:
        writer.close()
    return logdir
