"""Has a run converged? Judged from its own training-loss history, for the trained
landscape page, whose sharpness numbers describe a minimum only if the run reached one.

The rule (:func:`convergence`): a run has converged when it completed (did not diverge
or stop early), has at least :data:`MIN_EPOCHS` epochs, and over the last
:data:`TAIL_SHARE` of its epochs (at least :data:`MIN_EPOCHS` of them) the least-squares
line through its training loss falls by less than :data:`STILL_FALLING` of that
stretch's mean loss. A line, not the first and last epoch, so that one noisy epoch does
not decide. Measured on the page's runs (two moons, 2-32-32-1): after 30 epochs Adam at
batch 64 still falls 12%, at batch 512 18%, SGD at lr 0.1 10% (none converged); after
100 epochs Adam at batch 64 falls 4% (converged).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TAIL_SHARE = 1 / 3  # the last third of the epochs
MIN_EPOCHS = 4
STILL_FALLING = 0.05  # the trend's fall over the tail, as a share of the tail's mean loss


def convergence(train_loss: list[float | None], status: str) -> dict[str, Any]:
    """``{"converged": bool, "reason": str, "fall": share or None, "epochs": tail length}``
    for a run's per-epoch training losses (epoch 1 first) and its final status; the rule
    is the module docstring's."""
    if status != "completed":
        return {"converged": False, "reason": f"the run {status}", "fall": None, "epochs": 0}
    losses = [v for v in train_loss if v is not None and math.isfinite(v)]
    if len(losses) < MIN_EPOCHS:
        return {"converged": False, "fall": None, "epochs": len(losses),
                "reason": f"{len(losses)} epochs are too few to tell (at least {MIN_EPOCHS})"}
    k = max(MIN_EPOCHS, math.ceil(TAIL_SHARE * len(losses)))
    tail = np.asarray(losses[-k:], dtype=float)
    slope = np.polyfit(np.arange(k), tail, 1)[0]
    fall = float(-slope * (k - 1) / tail.mean()) if tail.mean() > 0 else 0.0
    converged = fall < STILL_FALLING
    trend = (f"its training loss fell {100 * fall:.0f}% over its last {k} epochs"
             if fall > 0 else f"its training loss did not fall over its last {k} epochs")
    limit = f"{100 * STILL_FALLING:.0f}%"
    reason = (f"{trend} (under {limit}: a plateau)" if converged
              else f"{trend} (still falling: {limit} or more)")
    return {"converged": converged, "reason": reason, "fall": fall, "epochs": k}
