"""The common form every data source is read into before splitting and preprocessing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Raw:
    """Examples of one data source, flat, before any split.

    ``y`` holds class ids 0..n_classes-1 when ``n_classes`` is set (built-in sets), else
    the file's own target values (numbers or strings) still to be encoded. ``x_test`` /
    ``y_test`` are set only for sets with a fixed test split (MNIST's t10k files).
    """

    x: np.ndarray
    y: np.ndarray
    input_shape: tuple[int, ...]
    is_image: bool
    n_classes: int | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
