"""A measured comparison of sharpness between two groups of runs (e.g. with and without
weight noise, or small against large batches, over seeds), with a named test.

Each config is trained with :func:`fitscope.train` (a :class:`~fitscope.run.Run` is used
as it is), its sharpness measured on the training data with the same measurement seed
for every run, and the two groups compared by Student's t-test: paired
(``scipy.stats.ttest_rel``) when the groups pair up seed by seed, Welch's unequal-variance
test (``scipy.stats.ttest_ind(equal_var=False)``) otherwise. Diverged runs count as NaN
and are left out of the test (a pair is left out whole).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from scipy import stats

from fitscope.config import RunConfig
from fitscope.engine import train
from fitscope.run import Run

from .runs import problem_for_run
from .sharpness import expected_sharpness, top_hessian_eigenvalue

MEASURES = ("hessian", "perturbation")


def sharpness_of_run(run: Run, measure: str = "hessian", *, split: str = "train",
                     alpha: float = 0.05, samples: int = 32, seed: int = 0) -> float:
    """``hessian``: the top Hessian eigenvalue; ``perturbation``: the expected loss increase
    under relative Gaussian noise of size ``alpha`` (:mod:`fitscope.landscape.sharpness`).
    NaN for a diverged run."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if run.status == "diverged":
        return math.nan
    problem = problem_for_run(run, split)
    if measure == "hessian":
        return top_hessian_eigenvalue(problem, seed=seed)["eigenvalue"]
    return expected_sharpness(problem, alpha=alpha, samples=samples, seed=seed)["increase"]


def _group(label: str, runs: list[Run], values: list[float]) -> dict:
    finite = [v for v in values if math.isfinite(v)]
    return {"label": label, "run_ids": [r.run_id for r in runs],
            "seeds": [r.config.budget.seed for r in runs],
            "statuses": [r.status for r in runs], "values": values,
            "mean": statistics.fmean(finite) if finite else math.nan,
            "std": statistics.stdev(finite) if len(finite) > 1 else math.nan}


def compare_sharpness(configs_a: Sequence[RunConfig | Run], configs_b: Sequence[RunConfig | Run],
                      *, measure: str = "hessian", labels: tuple[str, str] = ("a", "b"),
                      paired: bool | None = None, alternative: str = "two-sided",
                      split: str = "train", alpha: float = 0.05, samples: int = 32,
                      seed: int = 0) -> dict:
    """Train both groups, measure each run's sharpness and test the difference of means.

    ``paired`` defaults to True when both groups have the same length and the same
    ``budget.seed`` position by position. ``alternative`` is scipy's: ``"two-sided"``,
    ``"less"`` (group a less sharp) or ``"greater"``. Returns ``measure``, ``test`` (its
    name), ``alternative``, ``statistic``, ``p_value``, ``mean_difference`` (a - b) and
    per group ``label, run_ids, seeds, statuses, values, mean, std``.
    """
    if len(configs_a) < 2 or len(configs_b) < 2:
        raise ValueError(f"each group needs at least 2 runs, got {len(configs_a)} "
                         f"and {len(configs_b)}")
    runs_a = [c if isinstance(c, Run) else train(c) for c in configs_a]
    runs_b = [c if isinstance(c, Run) else train(c) for c in configs_b]
    measure_kw: dict[str, Any] = {"split": split, "alpha": alpha, "samples": samples,
                                  "seed": seed}
    a = [sharpness_of_run(r, measure, **measure_kw) for r in runs_a]
    b = [sharpness_of_run(r, measure, **measure_kw) for r in runs_b]
    if paired is None:
        paired = [r.config.budget.seed for r in runs_a] == [r.config.budget.seed for r in runs_b]
    if paired:
        result = stats.ttest_rel(a, b, alternative=alternative, nan_policy="omit")
        test = "paired t-test (scipy.stats.ttest_rel)"
    else:
        result = stats.ttest_ind(a, b, equal_var=False, alternative=alternative,
                                 nan_policy="omit")
        test = "Welch's t-test (scipy.stats.ttest_ind, equal_var=False)"
    ga, gb = _group(labels[0], runs_a, a), _group(labels[1], runs_b, b)
    return {"measure": measure, "test": test, "alternative": alternative,
            "statistic": float(result.statistic), "p_value": float(result.pvalue),
            "mean_difference": ga["mean"] - gb["mean"], labels[0]: ga, labels[1]: gb,
            "groups": list(labels)}
