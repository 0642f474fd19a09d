"""User data from a CSV or NPZ file.

CSV: cells are separated by commas; blank lines are skipped. The first row is a header
when one of its cells is not a number while every cell below it in that column is (so
a header is found even when the label column holds strings). ``data.target`` picks the
label column by header name or by index (negative counts from the end, ``-1`` is the
last column); every other column is a feature and must be numeric.

NPZ: arrays ``x`` (or ``X``) and ``y``. ``x`` with more than two dimensions is flattened
per example and treated as vectors.

Both need at least :data:`MIN_ROWS` examples and finite features.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fitscope.data.raw import Raw

MIN_ROWS = 10


def _existing(path: str, kind: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{kind} file not found: {file}")
    return file


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(file: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows as (line number, stripped cells), all of the same width."""
    with file.open(newline="") as handle:
        reader = csv.reader(handle)
        rows = [(reader.line_num, [c.strip() for c in row]) for row in reader
                if any(c.strip() for c in row)]
    if not rows:
        raise ValueError(f"{file}: the csv file is empty")
    width = len(rows[0][1])
    for line, cells in rows:
        if len(cells) != width:
            raise ValueError(f"{file}: line {line} has {len(cells)} cells, expected {width}")
    if width < 2:
        raise ValueError(f"{file}: needs at least one feature column and a target column")
    return rows


def _has_header(rows: list[tuple[int, list[str]]]) -> bool:
    first, body = rows[0][1], [cells for _, cells in rows[1:]]
    return any(not _is_number(cell) and all(_is_number(r[j]) for r in body)
               for j, cell in enumerate(first))


def _target_column(file: Path, header: list[str] | None, target: str | int, width: int) -> int:
    if isinstance(target, int):
        if not -width <= target < width:
            raise ValueError(f"{file}: data.target={target} is out of range for {width} columns")
        return target % width
    if header is None:
        raise ValueError(f"{file}: data.target={target!r} names a column but the file has no "
                         f"header row")
    if target not in header:
        raise ValueError(f"{file}: no column named {target!r}; columns: {header}")
    return header.index(target)


def _features(file: Path, rows: list[tuple[int, list[str]]], columns: list[int],
              names: list[str]) -> np.ndarray:
    x = np.empty((len(rows), len(columns)))
    for i, (line, cells) in enumerate(rows):
        for k, j in enumerate(columns):
            try:
                x[i, k] = float(cells[j])
            except ValueError:
                raise ValueError(f"{file}: feature column {names[j]!r} has the non-numeric "
                                 f"value {cells[j]!r} on line {line}") from None
    return x


def _labels(values: list[str]) -> np.ndarray:
    """Numbers when every value is one, else strings."""
    if all(_is_number(v) for v in values):
        return np.array([float(v) for v in values])
    return np.array(values, dtype=str)


def _check(file: Path, x: np.ndarray, y: np.ndarray) -> Raw:
    if len(x) != len(y):
        raise ValueError(f"{file}: x has {len(x)} rows but y has {len(y)}")
    if len(x) < MIN_ROWS:
        raise ValueError(f"{file}: has {len(x)} examples; fitscope needs at least {MIN_ROWS}")
    if not np.isfinite(x).all():
        raise ValueError(f"{file}: features contain NaN or infinite values")
    return Raw(x=x, y=y, input_shape=(x.shape[1],), is_image=False)


def load_csv(path: str, target: str | int) -> Raw:
    """Read a CSV file; see the module docstring for the format."""
    file = _existing(path, "csv")
    rows = _read_rows(file)
    width = len(rows[0][1])
    header = rows[0][1] if _has_header(rows) else None
    body = rows[1:] if header else rows
    names = header or [f"column {j}" for j in range(width)]
    col = _target_column(file, header, target, width)
    features = [j for j in range(width) if j != col]
    x = _features(file, body, features, names)
    return _check(file, x, _labels([cells[col] for _, cells in body]))


def load_npz(path: str) -> Raw:
    """Read arrays ``x`` (or ``X``) and ``y`` from an NPZ file."""
    file = _existing(path, "npz")
    with np.load(file, allow_pickle=False) as archive:
        keys = set(archive.files)
        x_key = next((k for k in ("x", "X") if k in keys), None)
        if x_key is None or "y" not in keys:
            raise ValueError(f"{file}: needs arrays 'x' (or 'X') and 'y'; found {sorted(keys)}")
        try:
            x, y = archive[x_key], archive["y"]
        except ValueError as exc:  # object arrays, refused without pickle
            raise ValueError(f"{file}: {exc}") from None
    if x.dtype.kind not in "biuf" or x.ndim == 0:
        raise ValueError(f"{file}: x must be a numeric array with one row per example, "
                         f"got dtype {x.dtype} and shape {x.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{file}: y must be one-dimensional, got shape {y.shape}")
    x = x.reshape(len(x), int(np.prod(x.shape[1:])))
    return _check(file, x.astype(np.float64), y)
