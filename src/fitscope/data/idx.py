"""IDX files (the MNIST format) and the MNIST / Fashion-MNIST directories built on them.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the values in C order, big-endian. A file may be
gzip-compressed; :func:`read_idx` recognizes gzip by its magic bytes ``1f 8b``,
whatever the file is called. fitscope never downloads data: the files must already be
on disk.
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np

from fitscope.data.raw import Raw

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
N_CLASSES = 10


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of its stored shape."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {data[:4].hex()})")
    dtype, ndim = _DTYPES[data[2]], data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(f"{path}: IDX header is truncated")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    count = math.prod(dims)
    if len(data) != offset + count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX header promises shape {dims} ({count * dtype.itemsize} bytes of "
            f"data) but the file holds {len(data) - offset} bytes"
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Supported dtypes are those IDX defines: uint8, int8, int16, int32, float32, float64
    (MNIST itself is uint8). Returns the path written.
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: IDX cannot store dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(_DTYPES[code]).tobytes()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def find_idx(directory: str | Path, stem: str, dataset: str) -> Path:
    """The file ``directory/stem`` or ``directory/stem.gz``, raw preferred."""
    raw = Path(directory) / stem
    packed = raw.with_name(stem + ".gz")
    for candidate in (raw, packed):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{dataset}: IDX file not found: expected {raw} or {packed}. fitscope never "
        f"downloads data; put the four IDX files in data.path yourself (see docs/data.md)"
    )


def _read_part(directory: str | Path, part: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 in [0, 1], shape (N, H, W), and int64 labels in 0..9."""
    image_file, label_file = (find_idx(directory, stem, dataset) for stem in IDX_FILES[part])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{dataset}: {image_file} has shape {images.shape} and {label_file} shape "
            f"{labels.shape}; expected (N, H, W) images and N labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"{dataset}: labels in {label_file} must lie in 0..{N_CLASSES - 1}")
    return images.astype(np.float32) / np.float32(255.0), labels.astype(np.int64)


def load_idx_set(directory: str | Path, dataset: str) -> Raw:
    """MNIST-style data: train from the ``train-*`` files, the fixed test set from ``t10k-*``."""
    x, y = _read_part(directory, "train", dataset)
    x_test, y_test = _read_part(directory, "test", dataset)
    if x.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"{dataset}: train images are {x.shape[1:]} but t10k images are {x_test.shape[1:]}"
        )
    return Raw(
        x=x.reshape(len(x), -1), y=y, input_shape=(1, *x.shape[1:]), is_image=True,
        n_classes=N_CLASSES, x_test=x_test.reshape(len(x_test), -1), y_test=y_test,
    )
