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
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fitscope.data.errors import DataError
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
GZIP_MAGIC = b"\x1f\x8b"
MAX_IDX_BYTES = 2**31
"""The most value bytes an IDX file may declare (2 GiB; MNIST's train images are 47 MB)."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of its stored shape.

    The header is read first and the file is refused (:class:`DataError`) before its
    values are read when it declares more than :data:`MAX_IDX_BYTES` of values, when a raw
    file's size differs from what the header declares, or when the magic bytes are not
    IDX's. A gzip file is decompressed no further than the declared size plus one byte, so
    a small file that would expand to gigabytes is never expanded; fewer bytes than
    declared (truncated) or more (trailing data) are refused, as is corrupt gzip data.
    """
    path = Path(path)
    packed = False
    try:
        with path.open("rb") as raw:
            packed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not packed:
                return _read_stream(raw, path, path.stat().st_size)
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read_stream(stream, path, None)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        what = "gzip data is corrupt or truncated" if packed else "cannot be read"
        raise DataError(f"{path}: {what} ({exc})") from None


def _read_exact(stream: BinaryIO | gzip.GzipFile, n: int) -> bytes:
    """Up to ``n`` bytes; fewer only at the end of the stream."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_stream(stream: BinaryIO | gzip.GzipFile, path: Path,
                 size: int | None) -> np.ndarray:
    """The IDX array in ``stream``; ``size`` is the raw file's size (None for gzip)."""
    magic = _read_exact(stream, 4)
    if not magic:
        raise DataError(f"{path}: the file is empty (an IDX file starts with a 4-byte header)")
    if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file (magic bytes {magic.hex()}; IDX starts "
                        f"00 00, a type code and the number of dimensions)")
    dtype, ndim = _DTYPES[magic[2]], magic[3]
    if ndim == 0:
        raise DataError(f"{path}: the IDX header declares 0 dimensions")
    header = _read_exact(stream, 4 * ndim)
    if len(header) < 4 * ndim:
        raise DataError(f"{path}: the IDX header is truncated ({ndim} dimensions declared)")
    dims = struct.unpack(f">{ndim}I", header)
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes > MAX_IDX_BYTES:
        raise DataError(f"{path}: the IDX header declares shape {dims}, {nbytes / 2**30:.3g} "
                        f"GiB of values, more than the {MAX_IDX_BYTES / 2**30:g} GiB fitscope "
                        f"reads; the file was not read")
    offset = 4 + 4 * ndim
    if size is not None and size != offset + nbytes:
        raise DataError(f"{path}: the IDX header promises shape {dims} ({nbytes} bytes of "
                        f"data) but the file holds {size - offset} bytes")
    data = _read_exact(stream, nbytes + 1)
    if len(data) != nbytes:
        held = "more than that" if len(data) > nbytes else f"{len(data)} bytes"
        raise DataError(f"{path}: the IDX header promises shape {dims} ({nbytes} bytes of "
                        f"data) but the file holds {held}")
    values = np.frombuffer(data, dtype=dtype, count=math.prod(dims))
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
    """Images as float32 in [0, 1], shape (N, H, W), and int64 labels in 0..9.

    Refused (:class:`DataError`, naming the file): images that are not (N, H, W) with
    N >= 1, a label file that is not N labels, labels that are not whole numbers in 0..9
    (NaN included), and pixels that are not finite as float32.
    """
    image_file, label_file = (find_idx(directory, stem, dataset) for stem in IDX_FILES[part])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or 0 in images.shape:
        raise DataError(f"{dataset}: {image_file} has shape {images.shape}; expected (N, H, W) "
                        f"images with N, H, W at least 1")
    if labels.shape != (len(images),):
        raise DataError(f"{dataset}: {label_file} has shape {labels.shape} but {image_file} "
                        f"holds {len(images)} images; expected one label per image")
    whole = np.isfinite(labels) & (labels == np.round(labels)) if labels.dtype.kind == "f" \
        else np.ones(labels.shape, bool)
    bad = ~whole | (labels < 0) | (labels >= N_CLASSES)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{dataset}: {label_file}: label {i} is {labels[i]!r}; labels must be "
                        f"whole numbers in 0..{N_CLASSES - 1}")
    with np.errstate(over="ignore", invalid="ignore"):
        pixels = images.astype(np.float32) / np.float32(255.0)
    if not np.isfinite(pixels).all():
        n_bad = int((~np.isfinite(pixels)).sum())
        raise DataError(f"{dataset}: {image_file}: {n_bad} pixel values are NaN, infinite or "
                        f"too large for 32-bit floats")
    return pixels, labels.astype(np.int64)


def load_idx_set(directory: str | Path, dataset: str) -> Raw:
    """MNIST-style data: train from the ``train-*`` files, the fixed test set from ``t10k-*``."""
    x, y = _read_part(directory, "train", dataset)
    x_test, y_test = _read_part(directory, "test", dataset)
    if x.shape[1:] != x_test.shape[1:]:
        train_file, test_file = (find_idx(directory, IDX_FILES[part][0], dataset)
                                 for part in ("train", "test"))
        raise DataError(f"{dataset}: {train_file} holds {x.shape[1:]} images but {test_file} "
                        f"holds {x_test.shape[1:]} images (t10k images must match)")
    return Raw(
        x=x.reshape(len(x), -1), y=y, input_shape=(1, *x.shape[1:]), is_image=True,
        n_classes=N_CLASSES, x_test=x_test.reshape(len(x_test), -1), y_test=y_test,
    )
