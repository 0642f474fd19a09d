"""User data from a CSV or NPZ file.

CSV: UTF-8 text (a byte-order mark is allowed), cells separated by commas; blank lines
are skipped; a cell may hold at most :data:`MAX_CELL_CHARS` characters. The first row is a header
when one of its cells is not a number while every cell below it in that column is (so
a header is found even when the label column holds strings). ``data.target`` picks the
label column by header name or by index (negative counts from the end, ``-1`` is the
last column); every other column is a feature and must be numeric.

NPZ: a zip archive (``numpy.savez``) with arrays ``x`` (or ``X``) and ``y``. ``x`` with
more than two dimensions is flattened per example and treated as vectors (unless the
config declares ``data.input_shape``: :func:`fitscope.data.load.declared_shape`); it needs
at least one feature. The archive's declared sizes are checked before an array is read (at
most :data:`MAX_NPZ_BYTES` per array), and reading is bounded by them.

Both need at least :data:`MIN_ROWS` examples and finite features, and no empty label.
Every problem is a :class:`~fitscope.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fitscope.data.errors import DataError
from fitscope.data.raw import Raw

MIN_ROWS = 10
MAX_CELL_CHARS = csv.field_size_limit()
"""Python's csv module's limit on one cell (131 072 characters)."""
MAX_NPZ_BYTES = 2**31
"""The most bytes one array of an NPZ file may declare (2 GiB)."""
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


def _existing(path: str, kind: str) -> Path:
    file = Path(path)
    if file.is_dir():
        raise DataError(f"{file}: is a directory; data.path must name a {kind} file")
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
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                rows = [(reader.line_num, [c.strip() for c in row]) for row in reader
                        if any(c.strip() for c in row)]
            except csv.Error as exc:
                line = reader.line_num
                if "field larger than field limit" in str(exc):
                    raise DataError(f"{file}: line {line}: a cell is longer than "
                                    f"{MAX_CELL_CHARS} characters") from None
                raise DataError(f"{file}: line {line}: not readable as CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                        f"{exc.start}); save the CSV as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    if not rows:
        raise DataError(f"{file}: the csv file is empty")
    width = len(rows[0][1])
    for line, cells in rows:
        if len(cells) != width:
            raise DataError(f"{file}: line {line} has {len(cells)} cells, expected {width}")
    if width < 2:
        raise DataError(f"{file}: needs at least one feature column and a target column")
    return rows


def _has_header(rows: list[tuple[int, list[str]]]) -> bool:
    first, body = rows[0][1], [cells for _, cells in rows[1:]]
    return any(not _is_number(cell) and all(_is_number(r[j]) for r in body)
               for j, cell in enumerate(first))


def _target_column(file: Path, header: list[str] | None, target: str | int, width: int) -> int:
    if isinstance(target, int):
        if not -width <= target < width:
            raise DataError(f"{file}: data.target={target} is out of range for {width} columns")
        return target % width
    if header is None:
        raise DataError(f"{file}: data.target={target!r} names a column but the file has no "
                         f"header row")
    if target not in header:
        raise DataError(f"{file}: no column named {target!r}; columns: {header}")
    return header.index(target)


def _features(file: Path, rows: list[tuple[int, list[str]]], columns: list[int],
              names: list[str]) -> np.ndarray:
    x = np.empty((len(rows), len(columns)))
    for i, (line, cells) in enumerate(rows):
        for k, j in enumerate(columns):
            try:
                x[i, k] = float(cells[j])
            except ValueError:
                raise DataError(f"{file}: feature column {names[j]!r} has the non-numeric "
                                 f"value {cells[j]!r} on line {line}") from None
    return x


def _labels(file: Path, rows: list[tuple[int, list[str]]], col: int, name: str) -> np.ndarray:
    """The target column: numbers when every value is one, else strings; no empty cell."""
    values = [cells[col] for _, cells in rows]
    for line, cells in rows:
        if not cells[col]:
            raise DataError(f"{file}: line {line}: the target cell ({name}) is empty")
    if all(_is_number(v) for v in values):
        return np.array([float(v) for v in values])
    return np.array(values, dtype=str)


def _check(file: Path, x: np.ndarray, y: np.ndarray) -> Raw:
    if len(x) != len(y):
        raise DataError(f"{file}: x has {len(x)} rows but y has {len(y)}")
    if len(x) < MIN_ROWS:
        raise DataError(f"{file}: has {len(x)} examples; fitscope needs at least {MIN_ROWS}")
    if x.shape[1] == 0:
        raise DataError(f"{file}: x has no feature columns (shape {x.shape})")
    if not np.isfinite(x).all():
        row = int(np.argmax(~np.isfinite(x).all(axis=1)))
        raise DataError(f"{file}: features contain NaN or infinite values (first in example "
                        f"{row})")
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
    return _check(file, x, _labels(file, body, col, names[col]))


def load_npz(path: str) -> Raw:
    """Read arrays ``x`` (or ``X``) and ``y`` from an NPZ file; see the module docstring."""
    file = _existing(path, "npz")
    try:
        with file.open("rb") as handle:
            head = handle.read(6)
        if not head:
            raise DataError(f"{file}: the npz file is empty")
        if head.startswith(NPY_MAGIC):
            raise DataError(f"{file}: is a single .npy array, not an .npz archive; save x and "
                            f"y with numpy.savez(path, x=x, y=y)")
        if head[:4] not in ZIP_MAGIC:
            raise DataError(f"{file}: not an .npz archive (no zip header; it starts with "
                            f"{head[:4].hex()})")
        x, y = _npz_arrays(file)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as exc:
        if isinstance(exc, (DataError, FileNotFoundError)):
            raise
        raise DataError(f"{file}: not a readable .npz archive, truncated or corrupt "
                        f"({type(exc).__name__}: {exc})") from None
    if x.dtype.kind not in "biuf" or x.ndim == 0:
        raise DataError(f"{file}: x must be a numeric array with one row per example, "
                        f"got dtype {x.dtype} and shape {x.shape}")
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{file}: y must hold numbers or strings, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{file}: y must be one-dimensional, got shape {y.shape}")
    if y.dtype.kind in "US":
        empty = np.char.str_len(np.char.strip(y)) == 0
        if empty.any():
            raise DataError(f"{file}: y holds an empty label (example {int(np.argmax(empty))})")
    x = x.reshape(len(x), math.prod(x.shape[1:]))
    return _check(file, x.astype(np.float64), y)


def _npz_arrays(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` of the archive, each refused before reading when it declares more
    than :data:`MAX_NPZ_BYTES` (zip reading stops at the declared size)."""
    with np.load(file, allow_pickle=False) as archive:
        keys = set(archive.files)
        x_key = next((k for k in ("x", "X") if k in keys), None)
        if x_key is None or "y" not in keys:
            raise DataError(f"{file}: needs arrays 'x' (or 'X') and 'y'; found {sorted(keys)}")
        members = set(archive.zip.namelist())
        for key in (x_key, "y"):
            size = archive.zip.getinfo(f"{key}.npy" if f"{key}.npy" in members else key).file_size
            if size > MAX_NPZ_BYTES:
                raise DataError(f"{file}: array {key!r} declares {size / 2**30:.3g} GiB, more "
                                f"than the {MAX_NPZ_BYTES / 2**30:g} GiB fitscope reads")
        try:
            arrays = archive[x_key], archive["y"]
        except ValueError as exc:  # object arrays (refused without pickle), bad headers
            raise DataError(f"{file}: {exc}") from None
    for key, array in zip((x_key, "y"), arrays):
        if not isinstance(array, np.ndarray):
            raise DataError(f"{file}: member {key!r} is not a .npy array")
    return arrays
