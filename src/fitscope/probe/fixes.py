"""Verified fixes: apply the findings' config changes, retrain, compare.

:func:`verify` takes a diagnosed :class:`~fitscope.run.Run`, merges the config changes
its findings recommend (:func:`recommended_change`), and retrains the changed config
with the same budget on ``seeds`` seeds (the run's own seed first), beside the
unchanged config on the same seeds. The fix *helps* when the mean validation loss over
the seeds falls by more than its spread over the seeds after the fix (the standard
deviation of the fixed config's runs; a diverged run's loss is infinite): the issue's
rule, "improves by more than its spread over 3 seeds", and
*succeeds* when it helps and the findings it was made for are gone from the retrained
run (the first seed's).
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..run import Run
from .findings import Finding

_RANK = {"error": 0, "warning": 1, "possible": 2, "info": 3}


def recommended_change(findings: list[Finding]) -> dict[str, Any]:
    """The config changes of the findings at warning or error, merged: the surest
    finding (errors first, then by confidence) decides a field that several change."""
    change: dict[str, Any] = {}
    for f in sorted(findings, key=lambda f: (_RANK[f.severity], -f.confidence)):
        if f.severity in ("warning", "error"):
            for key, value in f.change.items():
                change.setdefault(key, value)
    return change


def val_loss(run: Run) -> float:
    """The run's final validation loss; infinite for a diverged run or a missing one."""
    v = run.metrics.get("val_loss")
    return float(v) if run.status != "diverged" and v is not None and math.isfinite(v) \
        else math.inf


@dataclass
class Verification:
    """Before and after a fix: ``change`` (config fields), the validation losses over the
    seeds, the findings before and after (codes at warning or error), ``gone`` (each
    finding it was made for: gone after?), and whether it ``helped`` and ``succeeded``."""

    change: dict[str, Any]
    seeds: list[int]
    before: list[float]
    after: list[float]
    findings_before: list[str]
    findings_after: list[str]
    gone: dict[str, bool] = field(default_factory=dict)

    @property
    def improvement(self) -> float:
        """Mean validation loss before minus after (inf - inf counts as 0)."""
        b, a = _mean(self.before), _mean(self.after)
        return 0.0 if math.isinf(b) and math.isinf(a) else b - a

    @property
    def spread(self) -> float:
        """The standard deviation of the validation loss over the seeds after the fix
        (the fixed config's own noise; 0 for one seed, infinite if one diverged)."""
        if len(self.after) < 2:
            return 0.0
        if not all(math.isfinite(x) for x in self.after):
            return math.inf
        return statistics.stdev(self.after)

    @property
    def helped(self) -> bool:
        """The mean validation loss fell by more than the spread (:attr:`spread`)."""
        return bool(self.change) and self.improvement > self.spread

    @property
    def every_seed(self) -> bool:
        """Each seed's validation loss fell (a stricter reading than :attr:`helped`, which
        the benchmark also counts)."""
        return bool(self.change) and all(a < b for b, a in zip(self.before, self.after))

    @property
    def succeeded(self) -> bool:
        return self.helped and all(self.gone.values())

    def __str__(self) -> str:
        if not self.change:
            return "no config change to try: the findings name none"
        changes = ", ".join(f"{k}={v!r}" for k, v in self.change.items())
        lines = [f"fix: {changes}",
                 (f"validation loss over seeds {self.seeds}: before {_fmt(self.before)}, "
                  f"after {_fmt(self.after)} (improvement {self.improvement:.3g}, spread "
                  f"{self.spread:.3g})")]
        for code, gone in self.gone.items():
            lines.append(f"{code}: {'gone' if gone else 'still there'}")
        verdict = ("the fix worked" if self.succeeded else
                   "the loss improved but findings remain" if self.helped else
                   "the fix did not help")
        return "\n".join([*lines, verdict])


def _mean(values: list[float]) -> float:
    return math.inf if any(math.isinf(v) for v in values) else statistics.fmean(values)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"


def _codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings if f.severity in ("warning", "error")]


def verify(run: Run, findings: list[Finding] | None = None, seeds: int = 3,
           model_factory: Callable[[], nn.Module] | None = None,
           change: dict[str, Any] | None = None) -> Verification:
    """Apply the findings' changes (or ``change``) to ``run``'s config, retrain on
    ``seeds`` seeds and compare (see the module docstring).

    A run of a user's model retrains a fresh ``model_factory()``, or a copy of the
    run's model re-initialized by the config's init; with ``init.scheme = "default"``
    the copy would keep its trained weights, so a factory is then required.
    """
    from ..engine import train
    from .findings import diagnose

    if seeds < 1:
        raise ValueError(f"Argument `seeds` must be at least 1. Received: seeds={seeds}")
    findings = diagnose(run) if findings is None else findings
    change = recommended_change(findings) if change is None else change
    builtin = run.model_spec.get("builtin", True)
    if not builtin and model_factory is None and run.config.init.scheme == "default":
        raise ValueError("verify() of a run of your own model with init.scheme='default' "
                         "needs model_factory=... (a copy would keep the trained weights)")
    first = run.config.budget.seed
    seed_list = [first + i for i in range(seeds)]

    def retrain(overrides: dict[str, Any]) -> Run:
        model = None
        if not builtin:
            model = model_factory() if model_factory else copy.deepcopy(run.model)
        return train(run.config.with_overrides(overrides), model=model)

    before = [val_loss(run)] + [val_loss(retrain({"budget.seed": s})) for s in seed_list[1:]]
    codes = _codes(findings)
    if not change:
        return Verification(change, seed_list, before, before, codes, codes,
                            dict.fromkeys(codes, False))
    after_runs = [retrain({**change, "budget.seed": s}) for s in seed_list]
    after_codes = _codes(diagnose(after_runs[0]))
    return Verification(change, seed_list, before, [val_loss(r) for r in after_runs],
                        codes, after_codes, {c: c not in after_codes for c in codes})
