"""Targets, splits and preprocessing, as pure functions of numpy arrays.

Counts: a fraction ``f`` of ``n`` examples is ``floor(f * n + 1/2)`` of them, at least
one when ``f > 0`` (:func:`share`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import PolynomialFeatures

MAX_POLY_FEATURES = 20_000


def share(fraction: float, n: int) -> int:
    """``floor(fraction * n + 1/2)``, at least 1 when ``fraction > 0``."""
    return 0 if fraction == 0 else max(1, math.floor(fraction * n + 0.5))


def encode_targets(y: np.ndarray, n_classes: int | None, task_kind: str,
                   source: str) -> tuple[np.ndarray, int]:
    """Targets and the class count: class ids (int64) for classification, float for regression.

    A built-in set's ids pass through (``n_classes`` given). File targets (``n_classes``
    None) map their sorted unique values to 0..k-1 (numbers sort numerically, strings
    alphabetically). Regression uses the values themselves (a built-in set's class id as
    a number) and reports one "class".
    """
    if task_kind == "regression":
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{source}: task.kind='regression' needs a numeric target, got "
                             f"values such as {y[0]!r}")
        return y.astype(np.float64), 1
    if n_classes is not None:
        return y.astype(np.int64), n_classes
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{source}: the target contains NaN or infinite values")
    classes, ids = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{source}: classification needs at least 2 classes, found "
                         f"{len(classes)}")
    return ids.astype(np.int64), len(classes)


def _can_stratify(labels: np.ndarray, n_out: int) -> bool:
    """sklearn's stratified split needs >= 2 per class and >= 1 per class on each side."""
    counts = np.unique(labels, return_counts=True)[1]
    k = len(counts)
    return counts.min() >= 2 and n_out >= k and len(labels) - n_out >= k


def carve(idx: np.ndarray, y: np.ndarray, n_out: int, seed: int,
          stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (kept, carved-out) with ``n_out`` carved rows.

    ``sklearn.model_selection.train_test_split`` with ``random_state=seed``, stratified
    by ``y[idx]`` when ``stratify`` and the class counts allow it.
    """
    if n_out == 0:
        return idx, idx[:0]
    labels = y[idx] if stratify and _can_stratify(y[idx], n_out) else None
    kept, out = train_test_split(idx, test_size=n_out, random_state=seed, stratify=labels)
    return kept, out


def split_indices(y: np.ndarray, test_fraction: float | None, val_fraction: float, seed: int,
                  stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices: test first, then validation, both shares of all rows.

    ``test_fraction=None`` means the data has a fixed test set: no test rows are carved.
    """
    rows = np.arange(len(y))
    test = rows[:0]
    if test_fraction is not None:
        rows, test = carve(rows, y, share(test_fraction, len(y)), seed, stratify)
    train, val = carve(rows, y, share(val_fraction, len(y)), seed, stratify)
    return train, val, test


def subsample(train: np.ndarray, y: np.ndarray, size: int, seed: int,
              stratify: bool) -> np.ndarray:
    """Keep ``size`` of the ``train`` rows (a stratified random subset when possible)."""
    if size > len(train):
        raise ValueError(f"data.train_size={size} exceeds the {len(train)} train examples "
                         f"left after the test/validation split")
    return carve(train, y, len(train) - size, seed, stratify)[0]


def corrupt_labels(y: np.ndarray, fraction: float, n_classes: int, seed: int) -> np.ndarray:
    """A copy of ``y`` with ``share(fraction, len(y))`` labels, chosen at random, replaced.

    Each chosen label ``c`` becomes ``(c + k) mod n_classes`` with ``k`` uniform in
    1..n_classes-1: a uniformly random *different* class. Seeded by ``seed``.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(y), size=share(fraction, len(y)), replace=False)
    out = y.copy()
    out[chosen] = (y[chosen] + rng.integers(1, n_classes, size=len(chosen))) % n_classes
    return out


def poly_features(x: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of the features of degree 1..``degree`` (no constant term).

    ``n`` inputs give ``C(n + degree, degree) - 1`` features; more than
    :data:`MAX_POLY_FEATURES` is refused.
    """
    n_out = math.comb(x.shape[1] + degree, degree) - 1
    if n_out > MAX_POLY_FEATURES:
        raise ValueError(f"data.poly_degree={degree} on {x.shape[1]} features gives {n_out} "
                         f"features, more than the {MAX_POLY_FEATURES} allowed")
    return PolynomialFeatures(degree, include_bias=False).fit_transform(x)


def standardize(parts: list[np.ndarray], per_feature: bool) -> list[np.ndarray]:
    """``(x - mean) / std`` with mean and std (ddof 0) of ``parts[0]``, the train rows.

    ``per_feature``: one mean/std per column; otherwise a single mean/std over all
    values. A (near-)constant feature, ``std <= 1e-10 * |mean|``, gets ``std = 1``.
    Works in each array's own dtype.
    """
    train = parts[0]
    axis = 0 if per_feature else None
    mean = train.mean(axis=axis, dtype=np.float64)
    std = train.std(axis=axis, dtype=np.float64)
    std = np.where(std <= 1e-10 * np.abs(mean), 1.0, std)
    return [((p - mean.astype(p.dtype)) / std.astype(p.dtype)) for p in parts]
