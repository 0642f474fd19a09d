"""Data: built-in sets, user files, splits and preprocessing (see ``docs/data.md``).

:func:`load_data` turns a :class:`~fitscope.config.DataConfig` into :class:`DataSplits`,
in this order:

1. read or generate the examples (:mod:`fitscope.data.sources`);
2. encode the targets (:func:`~fitscope.data.prepare.encode_targets`);
3. polynomial features when ``poly_degree > 1`` (vector data only);
4. split: test first (``test_fraction`` of all rows; MNIST-style sets use their t10k
   files instead), then validation (``val_fraction`` of all rows), stratified for
   classification when the class counts allow, seeded by ``split_seed``;
5. ``train_size``: a (stratified) random subset of the train rows;
6. ``label_noise``: that share of the train labels replaced by a different class
   (seed ``split_seed + 1``); validation and test labels stay clean;
7. ``standardize``: statistics of the train rows applied to every split; per feature for
   vectors, one global mean/std for images and mnist1d signals so they keep their shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from fitscope.config import DataConfig
from fitscope.data import prepare
from fitscope.data.idx import read_idx, write_idx
from fitscope.data.raw import Raw
from fitscope.data.sources import load_raw

__all__ = ["DataSplits", "load_data", "read_idx", "write_idx"]

TASK_KINDS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train, validation and test examples, flat, as torch tensors.

    ``x_*`` are float32 of shape (N, n_features). ``y_*`` are int64 class ids for
    classification and float32 for regression. ``x_val`` may have 0 rows
    (``val_fraction == 0``). ``input_shape`` is ``(F,)`` for vectors, ``(C, H, W)`` for
    images and ``(1, L)`` for mnist1d signals; ``n_classes`` is 1 for regression.

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


def _tensor(array: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype))


def _features(raw: Raw, cfg: DataConfig) -> tuple[np.ndarray, tuple[int, ...]]:
    """The feature matrix and input shape, after the polynomial expansion if asked."""
    if cfg.poly_degree == 1:
        return raw.x, raw.input_shape
    if raw.is_image:
        raise ValueError(f"data.poly_degree={cfg.poly_degree} needs vector data; "
                         f"data {cfg.name!r} is images")
    x = prepare.poly_features(raw.x, cfg.poly_degree)
    return x, (x.shape[1],)


@functools.lru_cache(maxsize=16)
def load_data(cfg: DataConfig, task_kind: str = "classification") -> DataSplits:
    """Load, split and preprocess the data ``cfg`` describes (see the module docstring).

    ``task_kind`` is ``"classification"`` or ``"regression"``. The result is cached on
    ``(cfg, task_kind)``: the returned tensors are shared and must not be modified in
    place. Files are read once per cache entry; call ``load_data.cache_clear()`` after
    changing a file on disk.
    """
    if task_kind not in TASK_KINDS:
        raise ValueError(f"task_kind must be one of {TASK_KINDS}, got {task_kind!r}")
    classify = task_kind == "classification"
    if cfg.label_noise and not classify:
        raise ValueError("data.label_noise needs task.kind='classification'")
    raw = load_raw(cfg)
    source = cfg.path if cfg.name in ("csv", "npz") else cfg.name
    y, n_classes = prepare.encode_targets(raw.y, raw.n_classes, task_kind, source)
    x, input_shape = _features(raw, cfg)

    fixed_test = raw.x_test is not None
    train, val, test = prepare.split_indices(
        y, None if fixed_test else cfg.test_fraction, cfg.val_fraction, cfg.split_seed, classify)
    if cfg.train_size is not None:
        train = prepare.subsample(train, y, cfg.train_size, cfg.split_seed, classify)
    if fixed_test:
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
    y_dtype = np.int64 if classify else np.float32
    return DataSplits(
        x_train=_tensor(xs[0], np.float32), y_train=_tensor(y_train, y_dtype),
        x_val=_tensor(xs[1], np.float32), y_val=_tensor(y[val], y_dtype),
        x_test=_tensor(xs[2], np.float32), y_test=_tensor(y_test, y_dtype),
        n_features=x.shape[1], n_classes=n_classes, input_shape=input_shape,
        is_image=raw.is_image, name=cfg.name,
    )
