"""What one live training may cost the server: the lab's per-run budget.

A :class:`Budget` holds the limits ``fitscope lab`` enforces on every training started
from a page (set by its ``--max-*`` options, served at ``/api/form`` under ``limits``):

- ``max_run_seconds``: seconds of training compute per run: the CPU time of the run's
  thread while it holds a turn to compute (:class:`~fitscope.lab.session.Turns`), so
  time paused, waiting in line or waiting for a busy machine is free;
- ``max_probe_mb``: megabytes of probe records a run may keep (see :func:`record_bytes`),
  and also the memory one probed step may use while it is recorded (see
  :func:`probe_step_bytes`: a full batch of 3000 rows through a probed 20 x 256 net
  took 1.6 GB);
- ``max_histogram_bins``: ``observe.histogram_bins`` at most this;
- ``max_steps``: optimizer steps per run (epochs times steps per epoch, as the engine
  counts them in ``Trainer.total_steps``): batch size 1 must not make 500 epochs into
  hundreds of thousands of steps.

A run over a limit is refused with :class:`OverBudget`, whose text names the setting,
the value, the limit and the server option that sets it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from fitscope.config import RunConfig

MB = 1_000_000
PROBE_BYTES_PER_VALUE = 64  # a probed step's peak memory per output value (53 to 71 measured)


class OverBudget(ValueError):
    """A training over the lab's budget; the text is shown on the page."""


@dataclass(frozen=True)
class Budget:
    """The per-run limits (see the module docstring)."""

    max_run_seconds: float = 60.0
    max_probe_mb: float = 50.0
    max_histogram_bins: int = 100
    max_steps: int = 25_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_config(self, cfg: RunConfig) -> None:
        """What is known before training: the histogram bins."""
        bins = cfg.observe.histogram_bins
        if bins > self.max_histogram_bins:
            raise OverBudget(f"observe.histogram_bins is {bins}; the lab allows at most "
                             f"{self.max_histogram_bins} (the server's --max-bins)")

    def check_steps(self, steps: float) -> None:
        """``steps``: the run's optimizer steps (``Trainer.total_steps``)."""
        if steps > self.max_steps:
            raise OverBudget(f"this run makes {steps:,.0f} optimizer steps (budget.epochs "
                             f"times steps per epoch); the lab allows at most "
                             f"{self.max_steps:,} per run (the server's --max-steps): raise "
                             f"budget.batch_size or lower budget.epochs")

    def check_seconds(self, seconds: float, step: int, steps: float) -> None:
        """``seconds`` of compute used after ``step`` of ``steps`` optimizer steps."""
        if seconds > self.max_run_seconds:
            raise OverBudget(f"this run used its {self.max_run_seconds:g} s of training "
                             f"compute (the server's --max-run-seconds) after {step:,} of "
                             f"{steps:,.0f} optimizer steps: make it smaller or shorter")

    def check_probe_step(self, step_bytes: int, rows: int, units: int) -> None:
        """``step_bytes``: the memory of one probed step (:func:`probe_step_bytes`)."""
        if step_bytes > self.max_probe_mb * MB:
            raise OverBudget(f"a probed step of this run needs about {step_bytes / MB:,.0f} MB "
                             f"({rows:,} rows a step through {units:,} probed outputs); the "
                             f"lab allows at most {self.max_probe_mb:g} MB (the server's "
                             f"--max-probe-mb): lower budget.batch_size or the model's size")

    def check_probes(self, step_bytes: int, probed_steps: int, every: int) -> None:
        """Probe records of ``probed_steps`` steps of ``step_bytes`` each (the run's
        whole probing, projected once its first probed step is recorded)."""
        total = step_bytes * probed_steps
        if total > self.max_probe_mb * MB:
            raise OverBudget(f"this run's probe records would take about {total / MB:,.0f} MB "
                             f"({probed_steps:,} probed steps of {step_bytes / 1000:,.0f} kB, "
                             f"observe.probe_every = {every}); the lab allows at most "
                             f"{self.max_probe_mb:g} MB (the server's --max-probe-mb): probe "
                             f"less often or with fewer histogram bins")


def probe_step_bytes(rows: int, units: int) -> int:
    """Peak memory of one probed step: ``rows`` examples a step, ``units`` output values
    per example over the probed layers (each linear layer's output and its activation's),
    :data:`PROBE_BYTES_PER_VALUE` bytes each (the probe copies outputs and gradients and
    bins every value; measured 53 to 71 bytes per value for nets from 4 x 64 to 20 x 256
    and batches from 500 to 3000 rows)."""
    return rows * units * PROBE_BYTES_PER_VALUE


def record_bytes(records: list[dict[str, Any]]) -> int:
    """Memory held by probe records: each record dict, its values, and a histogram's
    counts list and numbers (``sys.getsizeof`` of each; the shared ``edges`` list,
    the interned layer and quantity names and small ints are counted once per record
    anyway, so this errs on the high side)."""
    total = 0
    for r in records:
        total += sys.getsizeof(r) + sys.getsizeof(r["step"])
        value = r["value"]
        total += sys.getsizeof(value)
        if isinstance(value, dict):
            counts = value.get("counts", [])
            total += sys.getsizeof(counts) + sum(map(sys.getsizeof, counts))
    return total
