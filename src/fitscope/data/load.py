"""Load, split and preprocess: :func:`load_data` turns a :class:`~fitscope.config.DataConfig`
into :class:`DataSplits`, in this order:

1. read or generate the examples (:mod:`fitscope.data.sources`); a csv or npz file's
   examples take the shape ``data.input_shape`` declares (:func:`declared_shape`);
2. encode the targets (:func:`~fitscope.data.prepare.encode_targets`);
3. polynomial features when ``poly_degree > 1`` (vector data only);
4. split: test first (``test_fraction`` of all rows; MNIST-style sets and mnist1d use
   their own test set instead), then validation (``val_fraction`` of all rows), stratified
   for classification when the class counts allow, seeded by ``split_seed``;
5. ``train_size``: a (stratified) random subset of the train rows;
6. ``label_noise``: that share of the train labels replaced by a different class
   (seed ``split_seed + 1``); validation and test labels stay clean;
7. ``standardize``: statistics of the train rows applied to every split; per feature for
   vectors, one global mean/std for images and mnist1d signals so they keep their shape;
8. ``standardize_targets`` (regression): ``(y - mean) / std`` with the train targets'
   mean and std, kept in :attr:`DataSplits.target_mean` / ``target_std``;
9. every value must be finite as float32, else :class:`~fitscope.data.errors.DataError`
   (values near 1e300 without ``standardize``, or that a polynomial expansion overflows).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from fitscope.config import DataConfig
from fitscope.data import prepare
from fitscope.data.errors import DataError
from fitscope.data.fingerprint import data_hash
from fitscope.data.raw import Raw
from fitscope.data.sources import load_raw

__all__ = ["DataSplits", "load_data"]

TASK_KINDS = ("classification", "regression")
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_TARGET = 1e18
"""The largest regression target (after scaling) trained on: its square stays below
float32's largest value, 3.4e38."""


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train, validation and test examples, flat, as torch tensors.

    ``x_*`` are float32 of shape (N, n_features). ``y_*`` are int64 class ids for
    classification and float32 for regression. ``x_val`` may have 0 rows
    (``val_fraction == 0``). ``input_shape`` is ``(F,)`` for vectors, ``(C, H, W)`` for
    images and ``(1, L)`` for mnist1d signals; ``n_classes`` is 1 for regression.
    ``label_names[i]`` is the file's own name of class ``i`` (None for built-in sets and
    regression). Regression targets in the tensors are ``(y - target_mean) / target_std``
    in the file's units (0 and 1 unless ``data.standardize_targets``).

    :func:`load_data` caches its result, so the same tensors are handed to every caller:
    never modify them in place (clone first). Instances compare by identity (``eq=False``):
    tensors have no single truth value to compare fields with.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_features: int
    n_classes: int
    input_shape: tuple[int, ...]
    is_image: bool
    name: str
    label_names: tuple[str, ...] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0


def _tensor(array: np.ndarray, dtype: type[np.generic]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype))


def _features(raw: Raw, cfg: DataConfig) -> tuple[np.ndarray, tuple[int, ...]]:
    """The feature matrix and input shape, after the polynomial expansion if asked."""
    if cfg.poly_degree == 1:
        return raw.x, raw.input_shape
    if raw.is_image:
        raise ValueError(f"data.poly_degree={cfg.poly_degree} needs vector data; "
                         f"data {cfg.name!r} is images")
    with np.errstate(over="ignore", invalid="ignore"):
        x = prepare.poly_features(raw.x, cfg.poly_degree)
    return x, (x.shape[1],)


def declared_shape(raw: Raw, shape: tuple[int, ...], source: str) -> Raw:
    """``raw`` with the input shape ``data.input_shape`` declares: ``(C, H, W)`` images,
    ``(C, L)`` signals, ``(F,)`` vectors, each example's features in row-major order. The
    shape must hold exactly the file's features per example, else a DataError naming the
    field and both counts."""
    n = raw.x.shape[1]
    if math.prod(shape) != n:
        raise DataError(f"{source}: data.input_shape={list(shape)} holds {math.prod(shape)} "
                        f"values per example, but the file has {n} features per example")
    return replace(raw, input_shape=tuple(shape), is_image=len(shape) == 3)


def _fits_float32(source: str, what: str, parts: list[np.ndarray], hint: str) -> None:
    """Refuse values that are not finite, or not finite once stored as float32."""
    for part in parts:
        with np.errstate(over="ignore", invalid="ignore"):
            bad = ~np.isfinite(part) | (np.abs(part) > FLOAT32_MAX)
        if bad.any():
            raise DataError(f"{source}: {what} overflow 32-bit floats after preprocessing "
                            f"({int(bad.sum())} values); {hint}")


def load_data(cfg: DataConfig, task_kind: str = "classification") -> DataSplits:
    """Load, split and preprocess the data ``cfg`` describes (see the module docstring).

    ``task_kind`` is ``"classification"`` or ``"regression"``. The result is cached on
    ``(cfg, task_kind)`` and the data file's content hash
    (:func:`~fitscope.data.fingerprint.data_hash`), so a changed file is read again and
    the same one is not. The returned tensors are shared and must not be modified in place.
    """
    return _load(cfg, task_kind, data_hash(cfg))


@functools.lru_cache(maxsize=16)
def _load(cfg: DataConfig, task_kind: str, content: str | None) -> DataSplits:
    if task_kind not in TASK_KINDS:
        raise ValueError(f"task_kind must be one of {TASK_KINDS}, got {task_kind!r}")
    classify = task_kind == "classification"
    if cfg.label_noise and not classify:
        raise ValueError("data.label_noise needs task.kind='classification'")
    raw = load_raw(cfg)
    source = cfg.path if cfg.path and cfg.name in ("csv", "npz", "mnist", "fashion_mnist") \
        else cfg.name
    if cfg.input_shape is not None:
        raw = declared_shape(raw, cfg.input_shape, source)
    y, n_classes, names = prepare.encode_targets(raw.y, raw.n_classes, task_kind, source)
    x, input_shape = _features(raw, cfg)

    fixed_test = raw.x_test is not None
    train, val, test = prepare.split_indices(
        y, None if fixed_test else cfg.test_fraction, cfg.val_fraction, cfg.split_seed, classify)
    if cfg.train_size is not None:
        train = prepare.subsample(train, y, cfg.train_size, cfg.split_seed, classify)
    if raw.x_test is not None and raw.y_test is not None:  # fixed_test: Raw sets both
        x_test = raw.x_test
        y_test = prepare.encode_targets(raw.y_test, raw.n_classes, task_kind, source)[0]
    else:
        x_test, y_test = x[test], y[test]
    y_train = y[train]
    if cfg.label_noise:
        y_train = prepare.corrupt_labels(y_train, cfg.label_noise, n_classes, cfg.split_seed + 1)

    xs = [x[train], x[val], x_test]
    if cfg.standardize:
        xs = prepare.standardize(xs, per_feature=len(input_shape) == 1)
    _fits_float32(source, "feature values", xs,
                  "keep data.standardize=true or scale the features down" if not cfg.standardize
                  else "scale the features down or lower data.poly_degree")
    ys, mean, std = [y_train, y[val], y_test], 0.0, 1.0
    if cfg.standardize_targets:
        mean, std = (float(m) for m in prepare.moments(y_train, None))
        std = std if std > 1e-10 * abs(mean) else 1.0
        ys = [(t - mean) / std for t in ys]
    if not classify:
        hint = "set data.standardize_targets=true or scale the target down"
        _fits_float32(source, "target values", ys, hint)
        largest = max(float(np.abs(t).max(initial=0.0)) for t in ys)
        if largest > MAX_TARGET:
            raise DataError(f"{source}: target values up to {largest:.3g}: their squared errors "
                            f"overflow 32-bit floats; {hint}")
    y_dtype = np.int64 if classify else np.float32
    return DataSplits(
        x_train=_tensor(xs[0], np.float32), y_train=_tensor(ys[0], y_dtype),
        x_val=_tensor(xs[1], np.float32), y_val=_tensor(ys[1], y_dtype),
        x_test=_tensor(xs[2], np.float32), y_test=_tensor(ys[2], y_dtype),
        n_features=x.shape[1], n_classes=n_classes, input_shape=input_shape,
        is_image=raw.is_image, name=cfg.name, label_names=names,
        target_mean=mean, target_std=std,
    )


load_data.cache_clear = _load.cache_clear  # type: ignore[attr-defined]
