"""Fuzz corpus: bad data files (CSV, NPZ, IDX raw and gzip) given to ``fitscope train``.

Every bad file must end with exit 2 and a message naming the file and the problem
(:func:`tests.fuzz.harness.expect_rejected`); never a traceback, a bare "Aborted.", or a
run that "completes" with a NaN loss. The table below holds the known bad files; the
hypothesis tests corrupt valid files (truncate, flip bytes, change shapes and dtypes,
insert NaN / inf / huge values) and accept either outcome the rule allows: a rejection
naming the file, or a run with finite losses when the corrupted file is still valid data.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitscope.data import idx as idx_module
from fitscope.data import tabular, write_idx
from tests.fuzz.harness import CASES, expect_rejected, runner

TINY = ["--set", "budget.epochs=1", "--set", "model.depth=1", "--set", "model.width=4",
        "--set", "budget.batch_size=0", "-q"]


@pytest.fixture(autouse=True)
def _own_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FITSCOPE_CACHE", str(tmp_path / "cache"))


# -- valid files, to corrupt ----------------------------------------------------------------
def csv_text(n: int = 30, labels: list[str] | None = None) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    labels = labels or [str(int(v > 0)) for v in x[:, 0]]
    rows = [",".join(f"{v:.4f}" for v in r) + f",{lab}" for r, lab in zip(x, labels)]
    return "a,b,c,label\n" + "\n".join(rows) + "\n"


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_xy(n: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return {"x": x, "y": (x[:, 0] > 0).astype(np.int64)}


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed IDX file's bytes (write_idx's layout)."""
    buffer = io.BytesIO()
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    code = codes[array.dtype]
    buffer.write(bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape))
    buffer.write(array.astype(array.dtype.newbyteorder(">")).tobytes())
    return buffer.getvalue()


def mnist_dir(root: Path, n: int = 30, n_test: int = 10, **replace: bytes | None) -> Path:
    """A tiny MNIST-style directory (gzip files, 4x4 images); ``replace`` maps a file's
    stem (dashes as underscores) to the bytes written instead, or None to leave it out."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for stem, array in files.items():
        key = stem.replace("-", "_")
        target = root / f"{stem}.gz"
        if key in replace:
            if replace[key] is not None:
                target.write_bytes(replace[key])
        else:
            write_idx(target, array)
    return root


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# -- the table of bad files ----------------------------------------------------------------
@dataclass
class Bad:
    """A bad data file: ``make(tmp)`` writes it and returns data.path; ``name`` is the
    data.name; the message must name ``mentions`` (the file's name is added)."""

    id: str
    name: str
    make: Callable[[Path], Path]
    mentions: tuple[str, ...]
    extra: tuple[str, ...] = ()
    names_file: str | None = None  # the file the message must name (default: data.path's)
    sets: list[str] = field(default_factory=list)


def text_file(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text.encode(encoding))
        return path
    return make


def bytes_file(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data() if callable(data) else data)
        return path
    return make


def csv_case(id_: str, text: str, *mentions: str, extra: tuple[str, ...] = (),
             encoding: str = "utf-8") -> Bad:
    return Bad(id_, "csv", text_file(f"{id_}.csv", text, encoding), mentions, extra)


def npz_case(id_: str, data: bytes | Callable[[], bytes], *mentions: str,
             extra: tuple[str, ...] = ()) -> Bad:
    return Bad(id_, "npz", bytes_file(f"{id_}.npz", data), mentions, extra)


def idx_case(id_: str, stem: str, data: bytes | None, *mentions: str,
             extra: tuple[str, ...] = (), **kwargs) -> Bad:
    def make(tmp: Path) -> Path:
        return mnist_dir(tmp / id_, **{stem.replace("-", "_"): data}, **kwargs)
    return Bad(id_, "mnist", make, mentions, extra, names_file=stem)


def _with_row(text: str, row: str, at: int = 5) -> str:
    lines = text.splitlines()
    lines[at] = row
    return "\n".join(lines) + "\n"


def _npz_truncated() -> bytes:
    data = npz_bytes(**good_xy())
    return data[: len(data) // 2]


def _npz_crc_broken() -> bytes:
    data = bytearray(npz_bytes(**good_xy()))
    data[200] ^= 0xFF  # inside x.npy's stored bytes: the CRC no longer matches
    return bytes(data)


def _npz_object() -> bytes:
    return npz_bytes(x=np.array([object()] * 20, dtype=object), y=np.zeros(20))


def _npz_empty_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


def _npz_raw_member() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x", b"not an array")
        archive.writestr("y", b"nor this")
    return buffer.getvalue()


def huge_csv(n: int = 60, scale: float = 1e300) -> str:
    """Two classes told apart by the first feature, every value near ``scale``."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 2))
    rows = [f"{a * scale:.6e},{b * scale:.6e},{int(a > 0)}" for a, b in x]
    return "a,b,label\n" + "\n".join(rows) + "\n"


HUGE = huge_csv()
RANDOM_IMAGES_GZ = gz(idx_bytes(np.random.default_rng(0).integers(0, 256, (30, 4, 4),
                                                                  dtype=np.uint8)))
LABELS_10 = (np.arange(30) % 10).astype(np.uint8)
GOOD = csv_text()
BAD_FILES: list[Bad] = [
    # CSV
    csv_case("csv_empty", "", "empty"),
    csv_case("csv_blank_lines", "\n\n  \n", "empty"),
    csv_case("csv_header_only", "a,b,label\n", "0 examples"),
    csv_case("csv_one_column", "\n".join(str(i) for i in range(20)) + "\n", "feature column"),
    csv_case("csv_ragged_row", _with_row(GOOD, "1,2"), "line 6", "2 cells"),
    csv_case("csv_text_feature", _with_row(GOOD, "1,zz,3,0"), "non-numeric", "zz"),
    csv_case("csv_nan_feature", _with_row(GOOD, "1,nan,3,0"), "NaN or infinite"),
    csv_case("csv_inf_feature", _with_row(GOOD, "1,-inf,3,0"), "NaN or infinite"),
    csv_case("csv_overflowing_number", _with_row(GOOD, "1,1e400,3,0"), "NaN or infinite"),
    csv_case("csv_huge_cell", _with_row(GOOD, "1,2," + "9" * 131_073 + ",0"),
             "line 6", "131072 characters"),
    csv_case("csv_latin1", GOOD.replace("label", "étiquette"), "not UTF-8",
             encoding="latin-1"),
    csv_case("csv_binary", "\x00\xff\xfe garbage", "not UTF-8", encoding="latin-1"),
    csv_case("csv_empty_label", _with_row(GOOD, "1,2,3,"), "line 6", "target cell",
             "empty"),
    csv_case("csv_one_class", csv_text(labels=["a"] * 30), "at least 2 classes"),
    csv_case("csv_too_few_rows", "a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(5)),
             "5 examples", "at least 10"),
    csv_case("csv_fractional_labels", csv_text(labels=[f"{0.37 * i:.2f}" for i in range(30)]),
             "non-integer", "regression"),
    csv_case("csv_numeric_target_as_classes", csv_text(labels=[str(i) for i in range(30)]),
             "30 distinct values", "regression"),
    csv_case("csv_nan_label", _with_row(GOOD, "1,2,3,nan"), "NaN or infinite"),
    csv_case("csv_unknown_target", GOOD, "no column named", "species",
             extra=("--set", "data.target='species'")),
    csv_case("csv_target_out_of_range", GOOD, "out of range", extra=("--set", "data.target=9")),
    csv_case("csv_named_target_no_header", "".join(f"{i},{i % 2}\n" for i in range(20)),
             "no header row", extra=("--set", "data.target='label'")),
    csv_case("csv_regression_text_target", csv_text(labels=["a", "b"] * 15), "numeric target",
             extra=("--set", "task.kind='regression'")),
    csv_case("csv_regression_nan_target", _with_row(csv_text(labels=[str(i) for i in range(30)]),
                                                    "1,2,3,nan"), "NaN or infinite",
             extra=("--set", "task.kind='regression'")),
    csv_case("csv_regression_huge_target", csv_text(labels=[f"{i}e30" for i in range(30)]),
             "standardize_targets", extra=("--set", "task.kind='regression'")),
    csv_case("csv_unstandardized_1e300", HUGE, "overflow 32-bit", "standardize",
             extra=("--set", "data.standardize=false")),
    csv_case("csv_poly_overflow", _with_row(GOOD, "1e200,2,3,0"), "overflow 32-bit",
             extra=("--set", "data.poly_degree=2")),
    Bad("csv_directory", "csv", lambda tmp: tmp, ("is a directory",)),
    Bad("csv_missing", "csv", lambda tmp: tmp / "nowhere.csv", ("not found",)),
    # NPZ
    npz_case("npz_is_npy", lambda: _npy(np.zeros((20, 3))), "single .npy", "numpy.savez"),
    npz_case("npz_truncated", _npz_truncated, "truncated or corrupt"),
    npz_case("npz_zero_bytes", b"", "empty"),
    npz_case("npz_crc_broken", _npz_crc_broken, "corrupt"),
    npz_case("npz_text", b"x,y\n1,2\n", "not an .npz archive"),
    npz_case("npz_no_arrays", npz_bytes, "needs arrays"),
    npz_case("npz_empty_zip", _npz_empty_archive, "needs arrays"),
    npz_case("npz_raw_members", _npz_raw_member, "not a .npy array"),
    npz_case("npz_missing_y", lambda: npz_bytes(x=np.zeros((20, 3))), "needs arrays", "'y'"),
    npz_case("npz_zero_features", lambda: npz_bytes(x=np.zeros((20, 0)), y=np.arange(20) % 2),
             "no feature columns"),
    npz_case("npz_object_array", _npz_object, "allow_pickle"),
    npz_case("npz_complex_x", lambda: npz_bytes(x=np.ones((20, 2), complex),
                                                y=np.arange(20) % 2), "numeric array"),
    npz_case("npz_scalar_x", lambda: npz_bytes(x=np.float64(1.0), y=np.arange(20) % 2),
             "numeric array"),
    npz_case("npz_y_2d", lambda: npz_bytes(x=np.zeros((20, 2)), y=np.zeros((20, 3))),
             "one-dimensional"),
    npz_case("npz_length_mismatch", lambda: npz_bytes(x=np.zeros((20, 2)), y=np.arange(19) % 2),
             "20 rows", "19"),
    npz_case("npz_nan_x", lambda: npz_bytes(x=np.where(np.eye(20, 2) > 0, np.nan, 1.0),
                                            y=np.arange(20) % 2), "NaN or infinite"),
    npz_case("npz_inf_x", lambda: npz_bytes(x=np.full((20, 2), np.inf), y=np.arange(20) % 2),
             "NaN or infinite"),
    npz_case("npz_empty_label", lambda: npz_bytes(x=np.zeros((20, 2)),
                                                  y=np.array(["a", "b"] * 9 + ["", "a"])),
             "empty label"),
    npz_case("npz_fractional_y", lambda: npz_bytes(x=np.ones((20, 2)),
                                                   y=np.linspace(0, 1, 20)), "non-integer"),
    npz_case("npz_datetime_y", lambda: npz_bytes(
        x=np.ones((20, 2)), y=np.arange(20).astype("datetime64[D]")), "numbers or strings"),
    npz_case("npz_too_few", lambda: npz_bytes(x=np.ones((5, 2)), y=np.arange(5) % 2),
             "at least 10"),
    npz_case("npz_x_empty_rows", lambda: npz_bytes(x=np.ones((0, 2)), y=np.zeros(0)),
             "0 examples"),
    # IDX (an MNIST-style directory; one file replaced)
    idx_case("idx_gz_truncated", "train-images-idx3-ubyte", RANDOM_IMAGES_GZ[:200],
             "truncated"),
    idx_case("idx_gz_trailer_cut", "train-images-idx3-ubyte", RANDOM_IMAGES_GZ[:-4],
             "truncated"),
    idx_case("idx_gz_zero_bytes", "train-images-idx3-ubyte", b"", "empty"),
    idx_case("idx_gz_garbage", "train-labels-idx1-ubyte", b"\x1f\x8b" + b"garbage!" * 20,
             "gzip data is corrupt"),
    idx_case("idx_gz_header_only", "train-labels-idx1-ubyte", gz(b"\x00\x00\x08"),
             "not an IDX file"),
    idx_case("idx_raw_truncated", "train-images-idx3-ubyte",
             idx_bytes(np.zeros((30, 4, 4), np.uint8))[:100], "promises shape"),
    idx_case("idx_raw_trailing", "train-images-idx3-ubyte",
             idx_bytes(np.zeros((30, 4, 4), np.uint8)) + b"\x00" * 7, "promises shape"),
    idx_case("idx_gz_trailing", "train-images-idx3-ubyte",
             gz(idx_bytes(np.zeros((30, 4, 4), np.uint8)) + b"\x00" * 100_000),
             "more than that"),
    idx_case("idx_bad_magic", "t10k-images-idx3-ubyte", b"PK\x03\x04" + b"\x00" * 64,
             "not an IDX file"),
    idx_case("idx_unknown_dtype", "t10k-images-idx3-ubyte", b"\x00\x00\x07\x01" + b"\x00" * 8,
             "not an IDX file"),
    idx_case("idx_zero_dims", "t10k-labels-idx1-ubyte", gz(b"\x00\x00\x08\x00"),
             "0 dimensions"),
    idx_case("idx_header_truncated", "t10k-labels-idx1-ubyte", gz(b"\x00\x00\x08\x03\x00\x00"),
             "header is truncated"),
    idx_case("idx_declares_3_gb", "train-images-idx3-ubyte",
             gz(b"\x00\x00\x08\x03" + struct.pack(">3I", 4_000_000, 28, 28) + b"\x00" * 1000),
             "2.92 GiB", "not read"),
    idx_case("idx_nan_labels", "train-labels-idx1-ubyte",
             gz(idx_bytes(np.where(np.arange(30) == 3, np.nan, LABELS_10).astype(np.float32))),
             "label 3", "whole numbers"),
    idx_case("idx_fractional_labels", "train-labels-idx1-ubyte",
             gz(idx_bytes(LABELS_10.astype(np.float64) + 0.5)), "whole numbers"),
    idx_case("idx_label_10", "t10k-labels-idx1-ubyte",
             gz(idx_bytes(np.full(10, 10, np.uint8))), "0..9"),
    idx_case("idx_negative_label", "t10k-labels-idx1-ubyte",
             gz(idx_bytes(np.full(10, -1, np.int8))), "0..9"),
    idx_case("idx_nan_pixels", "train-images-idx3-ubyte",
             gz(idx_bytes(np.where(np.eye(4) > 0, np.nan, 0.5)[None].repeat(30, 0)
                          .astype(np.float32))), "NaN"),
    idx_case("idx_huge_pixels", "train-images-idx3-ubyte",
             gz(idx_bytes(np.full((30, 4, 4), 1e300))), "too large for 32-bit"),
    idx_case("idx_count_mismatch", "train-labels-idx1-ubyte", gz(idx_bytes(LABELS_10[:29])),
             "one label per image", "30 images"),
    idx_case("idx_labels_2d", "train-labels-idx1-ubyte",
             gz(idx_bytes(LABELS_10.reshape(30, 1))), "one label per image"),
    idx_case("idx_images_2d", "train-images-idx3-ubyte",
             gz(idx_bytes(np.zeros((30, 16), np.uint8))), "(N, H, W)"),
    idx_case("idx_no_images", "t10k-images-idx3-ubyte", gz(idx_bytes(np.zeros((0, 4, 4),
                                                                             np.uint8))),
             "(N, H, W)"),
    idx_case("idx_test_size_differs", "t10k-images-idx3-ubyte",
             gz(idx_bytes(np.zeros((10, 5, 5), np.uint8))), "t10k images"),
    idx_case("idx_missing_labels", "t10k-labels-idx1-ubyte", None, "not found"),
    Bad("idx_path_is_a_file", "mnist", bytes_file("f.gz", b"x"),
        ("not found",), names_file="train-images-idx3-ubyte"),
]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_the_table_has_fifty_distinct_bad_files():
    assert len({b.id for b in BAD_FILES}) == len(BAD_FILES) >= 50


@pytest.mark.parametrize("bad", BAD_FILES, ids=[b.id for b in BAD_FILES])
def test_bad_data_file_is_rejected_naming_it(bad, tmp_path):
    path = bad.make(tmp_path)
    args = ["train", "--set", f"data.name={bad.name!r}", "--set", f"data.path={str(path)!r}",
            *bad.extra, *TINY]
    expect_rejected(args, bad.names_file or path.name, *bad.mentions, case=f"data {bad.id}")


def test_a_header_that_declares_too_much_is_refused_before_reading(tmp_path, monkeypatch):
    """The limits are read from the headers: with them lowered, files far below the real
    ones are refused the same way (an npz member's declared size, an IDX shape)."""
    monkeypatch.setattr(tabular, "MAX_NPZ_BYTES", 100)
    path = tmp_path / "big.npz"
    path.write_bytes(npz_bytes(**good_xy(200)))
    expect_rejected(["train", "--set", "data.name='npz'", "--set", f"data.path={str(path)!r}",
                     *TINY], "big.npz", "declares", case="data npz over the size limit")
    monkeypatch.setattr(idx_module, "MAX_IDX_BYTES", 100)
    root = mnist_dir(tmp_path / "m")
    expect_rejected(["train", "--set", "data.name='mnist'", "--set", f"data.path={str(root)!r}",
                     *TINY], "train-images-idx3-ubyte", "not read",
                    case="data idx over the size limit")


def test_a_gzip_bomb_is_read_no_further_than_its_header_declares(tmp_path, monkeypatch):
    """A gzip IDX whose data goes on far beyond its header: decompression stops one byte
    past the declared size."""
    declared = 30 * 16
    data = gz(idx_bytes(np.zeros((30, 4, 4), np.uint8)) + b"\x00" * 50_000_000)
    assert len(data) < 100_000
    reads: list[int] = []
    original = idx_module._read_exact

    def counting(stream, n):
        out = original(stream, n)
        reads.append(len(out))
        return out

    monkeypatch.setattr(idx_module, "_read_exact", counting)
    root = mnist_dir(tmp_path / "bomb", train_images_idx3_ubyte=data)
    expect_rejected(["train", "--set", "data.name='mnist'", "--set", f"data.path={str(root)!r}",
                     *TINY], "train-images-idx3-ubyte", "more than that",
                    case="data idx gzip bomb")
    assert sum(reads) <= 4 + 12 + declared + 1


def test_truncated_gzip_through_a_real_process(tmp_path):
    """The case that printed a bare "Aborted." (EOFError) end to end, in a subprocess."""
    root = mnist_dir(tmp_path / "t", train_images_idx3_ubyte=RANDOM_IMAGES_GZ[:200])
    CASES.append("data idx truncated gzip (subprocess)")
    done = subprocess.run(
        [sys.executable, "-c", "from fitscope.cli import main; main()", "train", "--set",
         "data.name='mnist'", "--set", f"data.path={str(root)!r}", *TINY],
        capture_output=True, text=True, timeout=120, check=False,
        env={**__import__("os").environ, "FITSCOPE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 2, done.stderr
    assert "train-images-idx3-ubyte" in done.stderr and "truncated" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "Aborted" not in done.stderr


# -- corrupted valid files (hypothesis) ------------------------------------------------------
def check_rule(args: list[str], path: Path, out: Path, case: str) -> None:
    """Exit 2 naming the file, or exit 0 with a run whose losses are finite (or that is
    reported diverged); nothing else."""
    from fitscope.cli import app

    out.unlink(missing_ok=True)
    result = runner.invoke(app, [*args, "--out", str(out)], catch_exceptions=True)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case}: raised {result.exception!r}\n{text}")
    assert "Traceback" not in text and "Aborted" not in text, f"{case}:\n{text}"
    if result.exit_code == 2:
        CASES.append(case)
        assert path.name in text or str(path) in text, f"{case}: no file named:\n{text}"
        return
    assert result.exit_code == 0, f"{case}: exit {result.exit_code}\n{text}"
    record = json.loads(out.read_text())
    if record["status"] != "diverged":
        losses = [record["metrics"][f"{s}_loss"] for s in ("train", "val", "test")]
        assert all(v is not None and math.isfinite(v) for v in losses), (
            f"{case}: status {record['status']} with losses {losses}")


FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SPECIAL = st.sampled_from(["nan", "inf", "-inf", "1e300", "-1e300", "1e-320", "", "x", "1e39"])


def _corrupt_bytes(data: bytes, how: str, at: float, value: int) -> bytes:
    i = min(int(at * len(data)), len(data) - 1)
    if how == "truncate":
        return data[:i]
    if how == "flip":
        return data[:i] + bytes([data[i] ^ (value or 1)]) + data[i + 1:]
    if how == "insert":
        return data[:i] + bytes([value]) + data[i:]
    return data[:i] + data[i + 1:]  # delete


CORRUPTION = st.tuples(st.sampled_from(["truncate", "flip", "insert", "delete"]),
                       st.floats(0, 1), st.integers(0, 255))


@FUZZ
@given(cell=st.tuples(st.integers(1, 29), st.integers(0, 3)), value=SPECIAL,
       corruption=st.one_of(st.none(), CORRUPTION))
def test_corrupted_csv(tmp_path, cell, value, corruption):
    lines = GOOD.splitlines()
    row, col = cell
    cells = lines[row].split(",")
    cells[col] = value
    lines[row] = ",".join(cells)
    data = ("\n".join(lines) + "\n").encode()
    if corruption:
        data = _corrupt_bytes(data, *corruption)
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    check_rule(["train", "--set", "data.name='csv'", "--set", f"data.path={str(path)!r}", *TINY],
               path, tmp_path / "run.json", f"data csv fuzz {cell} {value!r} {corruption}")


@FUZZ
@given(n=st.integers(0, 40), features=st.integers(0, 3),
       x_dtype=st.sampled_from(["float64", "float32", "int8", "uint8", "bool", "complex64"]),
       y_kind=st.sampled_from(["int", "float", "half", "str", "2d"]),
       special=st.one_of(st.none(), st.sampled_from([np.nan, np.inf, 1e300, -1e300])),
       corruption=st.one_of(st.none(), CORRUPTION))
def test_corrupted_npz(tmp_path, n, features, x_dtype, y_kind, special, corruption):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, features)) * 3
    if special is not None and x.size:
        x.flat[rng.integers(x.size)] = special
    with np.errstate(invalid="ignore", over="ignore"):
        x = x.astype(x_dtype)
    base = np.arange(n) % 2
    y = {"int": base, "float": base.astype(float), "half": base / 2,
         "str": np.array(["ab"[i] for i in base]), "2d": np.stack([base, base], 1)}[y_kind]
    data = npz_bytes(x=x, y=y)
    if corruption:
        data = _corrupt_bytes(data, *corruption)
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    check_rule(["train", "--set", "data.name='npz'", "--set", f"data.path={str(path)!r}", *TINY],
               path, tmp_path / "run.json",
               f"data npz fuzz n={n} f={features} {x_dtype} {y_kind} {special} {corruption}")


@FUZZ
@given(which=st.sampled_from(["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
       dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"]),
       shape_change=st.sampled_from(["same", "fewer", "more", "flat", "extra_dim"]),
       special=st.one_of(st.none(), st.sampled_from([np.nan, np.inf, 1e30, 300.0, -1.0])),
       packed=st.booleans(), corruption=st.one_of(st.none(), CORRUPTION))
def test_corrupted_idx(tmp_path, which, dtype, shape_change, special, packed, corruption):
    rng = np.random.default_rng(0)
    n = 10 if which.startswith("t10k") else 30
    images = which.endswith("idx3-ubyte")
    array = rng.integers(0, 256, (n, 4, 4)) if images else np.arange(n) % 10
    if shape_change == "fewer":
        array = array[:-1]
    elif shape_change == "more":
        array = np.concatenate([array, array[:1]])
    elif shape_change == "flat":
        array = array.reshape(len(array), -1) if images else array.reshape(-1, 1)
    elif shape_change == "extra_dim":
        array = array[..., None]
    array = array.astype(np.float64)
    if special is not None:
        array.flat[rng.integers(array.size)] = special
    with np.errstate(invalid="ignore", over="ignore"):
        array = array.astype(dtype)
    data = idx_bytes(array)
    if packed:
        data = gz(data)
    if corruption:
        data = _corrupt_bytes(data, *corruption)
    root = mnist_dir(tmp_path / "idx", **{which.replace("-", "_"): data})
    check_rule(["train", "--set", "data.name='mnist'", "--set", f"data.path={str(root)!r}", *TINY],
               root / f"{which}.gz", tmp_path / "run.json",
               f"data idx fuzz {which} {dtype} {shape_change} {special} {packed} {corruption}")
