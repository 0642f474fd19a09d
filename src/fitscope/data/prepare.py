"""Targets, splits and preprocessing, as pure functions of numpy arrays.

Counts: a fraction ``f`` of ``n`` examples is ``floor(f * n + 1/2)`` of them, at least
one when ``f > 0`` (:func:`share`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import PolynomialFeatures

from fitscope.data.errors import DataError

MAX_POLY_FEATURES = 20_000


def share(fraction: float, n: int) -> int:
    """``floor(fraction * n + 1/2)``, at least 1 when ``fraction > 0``."""
    return 0 if fraction == 0 else max(1, math.floor(fraction * n + 0.5))


def encode_targets(y: np.ndarray, n_classes: int | None, task_kind: str,
                   source: str) -> tuple[np.ndarray, int, tuple[str, ...] | None]:
    """Targets, the class count and the class names.

    Classification: class ids (int64). A built-in set's ids pass through (``n_classes``
    given, no names). File targets (``n_classes`` None) map their sorted unique values to
    0..k-1 (numbers sort numerically, strings alphabetically) and the names are those
    values as text, so class id ``i`` is ``names[i]``; numbers must be whole (a label
    0.37 means a numeric target: regression) and finite, and there may be at most half as
    many classes as examples (more means a numeric target too). Regression: the values
    themselves as float64 (a built-in set's class id as a number), one "class", no
    names; they must be finite. Problems are :class:`DataError` naming ``source``.
    """
    if task_kind == "regression":
        if y.dtype.kind not in "biuf":
            raise DataError(f"{source}: task.kind='regression' needs a numeric target, got "
                            f"values such as {y[0]!r}")
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise DataError(f"{source}: the target contains NaN or infinite values (first in "
                            f"example {int(np.argmax(~np.isfinite(y)))})")
        return y, 1, None
    if n_classes is not None:
        return y.astype(np.int64), n_classes, None
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataError(f"{source}: the target contains NaN or infinite values")
        fractional = y != np.round(y)
        if fractional.any():
            raise DataError(f"{source}: classification needs class labels, but the target "
                            f"holds non-integer numbers such as {y[np.argmax(fractional)]!r}; "
                            f"use task.kind='regression' for a numeric target")
    classes, ids = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{source}: classification needs at least 2 classes, found "
                        f"{len(classes)}")
    if len(classes) > len(y) / 2:
        raise DataError(f"{source}: the target has {len(classes)} distinct values among "
                        f"{len(y)} examples, too many to be classes (at most half as many); "
                        f"use task.kind='regression' for a numeric target")
    return ids.astype(np.int64), len(classes), tuple(_name(c) for c in classes)


def _name(value: object) -> str:
    """A class value as text: whole numbers without ``.0``, bytes decoded."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.floating):
        return str(int(value))
    return str(value)


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


def moments(train: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (ddof 0, float64) of ``train`` along ``axis``.

    Where the largest magnitude ``s`` (per column for ``axis=0``) is above 1e100 or below
    1e-100, they are computed as ``s * mean(x / s)`` and ``s * std(x / s)``: the same
    values up to rounding, but the squares of values near 1e300 would overflow float64
    (``std = inf``) and those of values near 1e-300 underflow to 0.
    """
    with np.errstate(over="ignore"):
        size = np.abs(train).max(axis=axis, initial=0.0).astype(np.float64)
    scale = np.where((size > 1e100) | ((size < 1e-100) & (size > 0)), size, 1.0)
    if (scale == 1.0).all():
        return train.mean(axis=axis, dtype=np.float64), train.std(axis=axis, dtype=np.float64)
    scaled = train / scale
    return scale * scaled.mean(axis=axis), scale * scaled.std(axis=axis)


def standardize(parts: list[np.ndarray], per_feature: bool) -> list[np.ndarray]:
    """``(x - mean) / std`` with mean and std of ``parts[0]``, the train rows
    (:func:`moments`).

    ``per_feature``: one mean/std per column; otherwise a single mean/std over all
    values. A (near-)constant feature, ``std <= 1e-10 * |mean|``, gets ``std = 1``.
    Works in each array's own dtype.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # inf in, NaN out: the caller checks
        mean, std = moments(parts[0], 0 if per_feature else None)
        std = np.where(std <= 1e-10 * np.abs(mean), 1.0, std)
        return [((p - mean.astype(p.dtype)) / std.astype(p.dtype)) for p in parts]
