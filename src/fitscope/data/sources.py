"""Every data source read into a :class:`~fitscope.data.raw.Raw`.

The 2-D sets are generated with ``cfg.samples`` points (``n_samples``, default 1000) and
``cfg.noise``, seeded by
``cfg.split_seed``; each is binary with balanced classes (``n // 2`` and ``n - n // 2``
points), except ``xor`` whose classes are balanced only in expectation:

* ``moons``: :func:`sklearn.datasets.make_moons`.
* ``circles``: :func:`sklearn.datasets.make_circles` with inner radius ``factor=0.5``.
* ``xor``: points uniform in [-1, 1]^2, label ``x1 * x2 > 0`` taken before Gaussian noise
  of std ``noise`` is added to the coordinates.
* ``spiral``: two interleaved Archimedean spirals, angle ``t = 3 pi sqrt(u)`` with ``u``
  uniform in [0, 1] (1.5 turns, points about evenly spread along the arm), radius
  ``t / pi``, the second spiral rotated by ``pi``; neighbouring arms of the two classes
  are thus 1 apart. Gaussian noise of std ``noise`` is added.
* ``gaussians``: isotropic blobs of std ``noise`` centred at (-1, 0) and (1, 0); the Bayes
  error is ``Phi(-1 / noise)``.

``digits`` (sklearn's 8x8 images, pixels 0..16 scaled to [0, 1]) and ``breast_cancer``
are sklearn's shipped sets and ignore ``n_samples``. ``mnist1d`` is the data set of
Greydanus (2020) as its package makes it: ``mnist1d.data.make_dataset`` (never
``get_dataset``, which downloads) with the package's own arguments, its generation seed
:data:`~fitscope.config.MNIST1D_SEED` and ``num_samples = cfg.samples`` (by default
:data:`~fitscope.config.MNIST1D_SAMPLES`: ``10 * (num_samples // 10)`` signals), and its
own train/test split (``train_split = 0.8``) kept as the fixed test set; ``split_seed``
only carves the validation rows out of its train part.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_circles, make_moons

from fitscope.config import MNIST1D_SEED, DataConfig
from fitscope.data.idx import load_idx_set
from fitscope.data.raw import Raw
from fitscope.data.tabular import load_csv, load_npz


def _two_d(x: np.ndarray, y: np.ndarray) -> Raw:
    return Raw(x=x, y=y.astype(np.int64), input_shape=(2,), is_image=False, n_classes=2)


def _balanced_labels(n: int) -> np.ndarray:
    return np.repeat([0, 1], [n // 2, n - n // 2])


def _moons(cfg: DataConfig) -> Raw:
    return _two_d(*make_moons(cfg.samples, noise=cfg.noise, random_state=cfg.split_seed))


def _circles(cfg: DataConfig) -> Raw:
    x, y = make_circles(cfg.samples, noise=cfg.noise, factor=0.5, random_state=cfg.split_seed)
    return _two_d(x, y)


def _xor(cfg: DataConfig) -> Raw:
    rng = np.random.default_rng(cfg.split_seed)
    clean = rng.uniform(-1.0, 1.0, size=(cfg.samples, 2))
    y = clean[:, 0] * clean[:, 1] > 0
    return _two_d(clean + cfg.noise * rng.standard_normal(clean.shape), y)


def _spiral(cfg: DataConfig) -> Raw:
    rng = np.random.default_rng(cfg.split_seed)
    y = _balanced_labels(cfg.samples)
    t = 3 * np.pi * np.sqrt(rng.uniform(size=cfg.samples))
    angle = t + np.pi * y
    x = np.stack([np.cos(angle), np.sin(angle)], axis=1) * (t / np.pi)[:, None]
    return _two_d(x + cfg.noise * rng.standard_normal(x.shape), y)


def _gaussians(cfg: DataConfig) -> Raw:
    rng = np.random.default_rng(cfg.split_seed)
    y = _balanced_labels(cfg.samples)
    centers = np.array([[-1.0, 0.0], [1.0, 0.0]])[y]
    return _two_d(centers + cfg.noise * rng.standard_normal(centers.shape), y)


def _digits(cfg: DataConfig) -> Raw:
    bunch = load_digits()
    return Raw(x=bunch.data / 16.0, y=bunch.target.astype(np.int64), input_shape=(1, 8, 8),
               is_image=True, n_classes=10)


def _breast_cancer(cfg: DataConfig) -> Raw:
    bunch = load_breast_cancer()
    return Raw(x=bunch.data, y=bunch.target.astype(np.int64), input_shape=(30,),
               is_image=False, n_classes=2)


def _mnist1d(cfg: DataConfig) -> Raw:
    """Generate MNIST-1D offline as the package defines it; its seeding of the global
    RNGs is undone afterwards."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib)

    args = get_dataset_args()
    args.num_samples, args.seed = cfg.samples, MNIST1D_SEED
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        made = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    x = made["x"]
    return Raw(x=x, y=made["y"].astype(np.int64), input_shape=(1, x.shape[1]), is_image=False,
               n_classes=10, x_test=made["x_test"], y_test=made["y_test"].astype(np.int64))


_BUILT_IN: dict[str, Callable[[DataConfig], Raw]] = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spiral": _spiral,
    "gaussians": _gaussians,
    "digits": _digits,
    "breast_cancer": _breast_cancer,
    "mnist1d": _mnist1d,
}


def load_raw(cfg: DataConfig) -> Raw:
    """Read or generate the examples ``cfg`` names, before splitting."""
    if cfg.name in ("mnist", "fashion_mnist", "csv", "npz"):
        path = cfg.path
        assert path is not None  # DataConfig requires data.path for these sets
        if cfg.name == "csv":
            return load_csv(path, cfg.target)
        if cfg.name == "npz":
            return load_npz(path)
        return load_idx_set(path, cfg.name)
    return _BUILT_IN[cfg.name](cfg)
