"""Hand-made per-seed numbers for the claims' decide tests, at a seed count where an exact
permutation test can reach significance (with 3 seeds its smallest one-sided p is 1/8)."""

from fitscope.claims.base import Measurement

SEEDS = 12


def widen(value, seeds: int = SEEDS):
    """Every list of numbers shorter than ``seeds`` repeated until it has ``seeds`` values
    (nested dicts too): seed i's numbers recur as seeds i + n, i + 2n, ..."""
    if isinstance(value, dict):
        return {k: widen(v, seeds) for k, v in value.items()}
    if isinstance(value, list) and value and len(value) < seeds and all(
            isinstance(x, (int, float)) for x in value):
        return [value[i % len(value)] for i in range(seeds)]
    return value


def measurement(**values) -> Measurement:
    return Measurement(values=widen(values))
