"""fitscope.data: built-in sets, IDX/CSV/NPZ files, splits and preprocessing."""

from __future__ import annotations

import gzip
import math
import random
import re

import numpy as np
import pytest
import torch

from fitscope.config import DataConfig
from fitscope.data import DataSplits, load_data, read_idx, write_idx

TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@pytest.fixture(autouse=True)
def _fresh_cache():
    load_data.cache_clear()
    yield
    load_data.cache_clear()


def _sizes(d: DataSplits) -> tuple[int, int, int]:
    return len(d.x_train), len(d.x_val), len(d.x_test)


# -- built-in sets --------------------------------------------------------------------
BUILT_IN = {  # name: (total rows, n_features, n_classes, input_shape, is_image)
    "moons": (200, 2, 2, (2,), False),
    "circles": (200, 2, 2, (2,), False),
    "xor": (200, 2, 2, (2,), False),
    "spiral": (200, 2, 2, (2,), False),
    "gaussians": (200, 2, 2, (2,), False),
    "digits": (1797, 64, 10, (1, 8, 8), True),
    "breast_cancer": (569, 30, 2, (30,), False),
    "mnist1d": (200, 40, 10, (1, 40), False),
}


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_built_in_sets_load_with_right_shapes(name):
    total, n_features, n_classes, input_shape, is_image = BUILT_IN[name]
    d = load_data(DataConfig(name=name, n_samples=200, val_fraction=0.15, test_fraction=0.25))
    assert (d.n_features, d.n_classes, d.input_shape, d.is_image, d.name) == (
        n_features, n_classes, input_shape, is_image, name)
    if name == "mnist1d":  # the package's own test set (its last 20%); val from the rest
        n_test = total // 5
        n_val = round(0.15 * (total - n_test))
    else:
        n_test, n_val = round(0.25 * total), round(0.15 * total)
    assert _sizes(d) == (total - n_test - n_val, n_val, n_test)
    for field in TENSORS:
        t = getattr(d, field)
        if field.startswith("x"):
            assert t.dtype == torch.float32 and t.shape[1] == n_features
            assert torch.isfinite(t).all()
        else:
            assert t.dtype == torch.int64 and t.ndim == 1
            assert t.min() >= 0 and t.max() < n_classes
    assert len(torch.unique(d.y_train)) == n_classes


def test_two_d_sets_are_balanced_and_noise_matters():
    for name in ("moons", "circles", "spiral", "gaussians"):
        d = load_data(DataConfig(name=name, n_samples=400, val_fraction=0.0, standardize=False))
        labels = torch.cat([d.y_train, d.y_test])
        assert labels.bincount().tolist() == [200, 200]
    clean = load_data(DataConfig(name="gaussians", noise=0.0, standardize=False))
    assert torch.equal(clean.x_train[:, 0].abs(), torch.ones(len(clean.x_train)))
    assert torch.equal(clean.x_train[:, 0] > 0, clean.y_train == 1)


def test_xor_labels_follow_quadrants_without_noise():
    d = load_data(DataConfig(name="xor", noise=0.0, standardize=False))
    assert torch.equal(d.y_train == 1, d.x_train[:, 0] * d.x_train[:, 1] > 0)


def test_split_is_stratified():
    d = load_data(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2))
    everything = torch.cat([d.y_train, d.y_val, d.y_test]).bincount().double()
    for part in (d.y_val, d.y_test):
        expected = everything * len(part) / everything.sum()
        assert (part.bincount(minlength=10) - expected).abs().max() <= 1.0


def test_loading_is_cached_and_deterministic():
    cfg = DataConfig(name="digits", train_size=300, label_noise=0.1)
    first = load_data(cfg)
    assert load_data(cfg) is first
    load_data.cache_clear()
    again = load_data(cfg)
    assert again is not first
    for field in TENSORS:
        assert torch.equal(getattr(first, field), getattr(again, field)), field


def test_split_seed_changes_the_split():
    a = load_data(DataConfig(name="digits", split_seed=0))
    b = load_data(DataConfig(name="digits", split_seed=1))
    assert a.x_train.shape == b.x_train.shape
    assert not torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.y_test, b.y_test)


def test_mnist1d_leaves_global_random_state_alone():
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    load_data(DataConfig(name="mnist1d", n_samples=100))
    assert (random.random(), np.random.rand()) == expected


def test_unknown_task_kind_is_refused():
    with pytest.raises(ValueError, match="task_kind must be one of"):
        load_data(DataConfig(), "ranking")


# -- splits on data with row ids ------------------------------------------------------
def _id_npz(tmp_path, n=100, classes=4):
    """An npz whose first feature is the row id and whose label is id mod classes."""
    ids = np.arange(n, dtype=np.float64)
    x = np.stack([ids, np.sin(ids)], axis=1)
    path = tmp_path / "ids.npz"
    np.savez(path, x=x, y=(ids % classes).astype(np.int64))
    return str(path)


def _ids(t: torch.Tensor) -> list[int]:
    return t[:, 0].round().long().tolist()


def test_splits_partition_the_rows(tmp_path):
    d = load_data(DataConfig(name="npz", path=_id_npz(tmp_path), standardize=False,
                             val_fraction=0.3, test_fraction=0.1))
    parts = [set(_ids(t)) for t in (d.x_train, d.x_val, d.x_test)]
    assert [len(p) for p in parts] == [60, 30, 10]
    assert set.union(*parts) == set(range(100))
    for t, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert torch.equal(y, t[:, 0].round().long() % 4)


def test_empty_validation_split(tmp_path):
    d = load_data(DataConfig(name="moons", val_fraction=0.0))
    assert d.x_val.shape == (0, 2) and d.y_val.shape == (0,)
    assert _sizes(d) == (800, 0, 200)


def test_train_size_keeps_a_stratified_subset_of_train(tmp_path):
    path = _id_npz(tmp_path)
    full = load_data(DataConfig(name="npz", path=path, standardize=False))
    small = load_data(DataConfig(name="npz", path=path, standardize=False, train_size=20))
    assert len(small.x_train) == 20
    assert set(_ids(small.x_train)) <= set(_ids(full.x_train))
    assert small.y_train.bincount().tolist() == [5, 5, 5, 5]
    assert torch.equal(small.x_test, full.x_test) and torch.equal(small.x_val, full.x_val)
    with pytest.raises(ValueError, match=re.escape("data.train_size=61 exceeds the 60 train")):
        load_data(DataConfig(name="npz", path=path, train_size=61))


# -- label noise ----------------------------------------------------------------------
@pytest.mark.parametrize("share", [0.1, 0.37, 1.0])
def test_label_noise_changes_exactly_that_share_of_train_labels(share):
    clean = load_data(DataConfig(name="digits"))
    noisy = load_data(DataConfig(name="digits", label_noise=share))
    assert torch.equal(clean.x_train, noisy.x_train)
    changed = int((clean.y_train != noisy.y_train).sum())
    assert changed == math.floor(share * len(clean.y_train) + 0.5)
    assert torch.equal(clean.y_val, noisy.y_val) and torch.equal(clean.y_test, noisy.y_test)
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() < 10


def test_label_noise_needs_classification():
    with pytest.raises(ValueError,
                       match=re.escape("data.label_noise needs task.kind='classification'")):
        load_data(DataConfig(label_noise=0.1), "regression")


# -- polynomial features --------------------------------------------------------------
@pytest.mark.parametrize("degree", [2, 3, 6])
def test_poly_degree_expands_two_inputs(degree):
    d = load_data(DataConfig(name="moons", poly_degree=degree, standardize=False))
    assert d.n_features == math.comb(2 + degree, degree) - 1
    assert d.input_shape == (d.n_features,) and d.x_train.shape[1] == d.n_features
    x1, x2 = d.x_train[:, 0], d.x_train[:, 1]
    columns = d.x_train.T
    for monomial in (x1 * x2, x2**degree, x1**degree):
        assert any(torch.allclose(c, monomial, rtol=1e-5, atol=1e-6) for c in columns)


def test_poly_degree_is_refused_for_images_and_when_too_large():
    with pytest.raises(ValueError,
                       match=re.escape("data.poly_degree=2 needs vector data; data 'digits'")):
        load_data(DataConfig(name="digits", poly_degree=2))
    with pytest.raises(ValueError, match=re.escape("data.poly_degree=5 on 30 features")):
        load_data(DataConfig(name="breast_cancer", poly_degree=5))


# -- standardization ------------------------------------------------------------------
def test_vectors_are_standardized_per_feature_with_train_statistics():
    raw = load_data(DataConfig(name="breast_cancer", standardize=False))
    d = load_data(DataConfig(name="breast_cancer"))
    assert torch.allclose(d.x_train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(30), atol=1e-4)
    train = raw.x_train.double()
    mean, std = train.mean(0), train.std(0, unbiased=False)
    for part, raw_part in ((d.x_val, raw.x_val), (d.x_test, raw.x_test)):
        assert torch.allclose(part.double(), (raw_part.double() - mean) / std, atol=1e-4)


def test_images_are_standardized_with_one_global_mean_and_std():
    raw = load_data(DataConfig(name="digits", standardize=False))
    d = load_data(DataConfig(name="digits"))
    assert raw.x_train.min() >= 0.0 and raw.x_train.max() == 1.0
    assert abs(float(d.x_train.mean())) < 1e-5
    assert abs(float(d.x_train.std(unbiased=False)) - 1.0) < 1e-4
    assert d.x_train.std(0).min() < 0.1  # one scale for all pixels, not one per pixel
    mean, std = raw.x_train.double().mean(), raw.x_train.double().std(unbiased=False)
    assert torch.allclose(d.x_test.double(), (raw.x_test.double() - mean) / std, atol=1e-4)


def test_constant_feature_gets_unit_std(tmp_path):
    x = np.stack([np.linspace(0, 1, 30), np.full(30, 3.7)], axis=1)
    path = tmp_path / "const.npz"
    np.savez(path, x=x, y=np.arange(30) % 2)
    d = load_data(DataConfig(name="npz", path=str(path)))
    for part in (d.x_train, d.x_val, d.x_test):
        assert part[:, 1].abs().max() < 1e-6


# -- regression -----------------------------------------------------------------------
def test_built_in_set_as_regression_uses_the_label_as_a_number():
    d = load_data(DataConfig(name="moons"), "regression")
    assert d.n_classes == 1 and d.y_train.dtype == torch.float32
    assert set(d.y_train.tolist()) == {0.0, 1.0}


# -- IDX ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.random.default_rng(0).normal(size=(3, 5, 7)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx{suffix}", array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == (3, 5, 7)
    assert np.array_equal(back, array)


def test_idx_header_layout_and_gzip_detected_by_content(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    raw = write_idx(tmp_path / "raw", array).read_bytes()
    assert raw == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5])
    disguised = tmp_path / "no-suffix"
    disguised.write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(disguised), array)


def test_idx_bad_files_are_refused(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(write_idx(tmp_path / "ok", np.zeros((4, 4), np.uint8)).read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"promises shape \(4, 4\)"):
        read_idx(short)
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def _mnist_dir(directory, n_train=60, n_test=20, gz=("t10k-images-idx3-ubyte",), seed=0):
    """Tiny random MNIST-format files; the names in ``gz`` are written gzip-compressed."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if stem in gz else "")), array)
    return arrays


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_directories_load_with_t10k_as_test_set(tmp_path, name):
    arrays = _mnist_dir(tmp_path / name)
    cfg = DataConfig(name=name, path=str(tmp_path / name), val_fraction=0.25, standardize=False)
    d = load_data(cfg)
    assert (d.input_shape, d.is_image, d.n_features, d.n_classes) == ((1, 28, 28), True, 784, 10)
    assert _sizes(d) == (45, 15, 20)
    t10k = torch.from_numpy(arrays["t10k-images-idx3-ubyte"].reshape(20, 784) / 255.0).float()
    assert torch.equal(d.x_test, t10k)
    assert d.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    other = load_data(cfg.model_copy(update={"test_fraction": 0.5, "n_samples": 10}))
    assert _sizes(other) == (45, 15, 20) and torch.equal(other.x_test, d.x_test)

    std = load_data(cfg.model_copy(update={"standardize": True}))
    mean, sd = d.x_train.double().mean(), d.x_train.double().std(unbiased=False)
    assert torch.allclose(std.x_test.double(), (t10k.double() - mean) / sd, atol=1e-4)


def test_missing_idx_file_names_the_expected_paths(tmp_path):
    _mnist_dir(tmp_path / "m")
    missing = tmp_path / "m" / "t10k-images-idx3-ubyte.gz"
    missing.unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_data(DataConfig(name="mnist", path=str(tmp_path / "m")))
    message = str(info.value)
    assert str(missing) in message and str(missing.with_suffix("")) in message
    assert "never downloads" in message


# -- CSV and NPZ ----------------------------------------------------------------------
def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


SPECIES = ("cat", "dog", "bird")  # sorted: bird=0, cat=1, dog=2


def test_csv_with_header_and_string_labels(tmp_path):
    code = {"bird": 0, "cat": 1, "dog": 2}
    lines = ["size,species,code"] + [
        f"{i * 0.5},{SPECIES[i % 3]},{code[SPECIES[i % 3]]}" for i in range(30)]
    path = _write(tmp_path, "\n".join(lines) + "\n\n")
    d = load_data(DataConfig(name="csv", path=path, target="species", standardize=False))
    assert (d.n_features, d.n_classes, d.input_shape) == (2, 3, (2,))
    assert sum(_sizes(d)) == 30
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert torch.equal(y, x[:, 1].long())


def test_csv_without_header_target_by_index_and_numeric_labels(tmp_path):
    labels = (10, 2, 5)  # numeric order: 2 -> 0, 5 -> 1, 10 -> 2
    lines = [f"{labels[i % 3]},{i},{[2, 0, 1][i % 3]}" for i in range(24)]
    path = _write(tmp_path, "\n".join(lines))
    d = load_data(DataConfig(name="csv", path=path, target=0, standardize=False))
    assert sum(_sizes(d)) == 24 and d.n_classes == 3
    assert torch.equal(d.y_train, d.x_train[:, 1].long())


def test_csv_without_header_with_string_labels_keeps_the_first_row(tmp_path):
    path = _write(tmp_path, "\n".join(f"{i},{SPECIES[i % 3]}" for i in range(12)))
    d = load_data(DataConfig(name="csv", path=path, val_fraction=0.0, test_fraction=0.25))
    assert sum(_sizes(d)) == 12 and d.n_classes == 3


def test_csv_regression_target(tmp_path):
    path = _write(tmp_path, "a,b,t\n" + "\n".join(f"{i},{i % 4},{i * 1.5}" for i in range(20)))
    d = load_data(DataConfig(name="csv", path=path, target="t", standardize=False), "regression")
    assert d.n_classes == 1 and d.y_train.dtype == torch.float32
    assert torch.allclose(d.y_train, d.x_train[:, 0] * 1.5)


@pytest.mark.parametrize(("text", "target", "match"), [
    ("a,b,label\n" + "1,2,x\n" * 12, "kind", r"no column named 'kind'; columns: \['a', 'b'"),
    ("a,b,label\n" + "1,2,x\n" * 5 + "1,oops,x\n" + "1,2,y\n" * 6, -1,
     r"feature column 'b' has the non-numeric value 'oops' on line 7"),
    ("1,2,0\n1,2\n" + "1,2,1\n" * 12, -1, "line 2 has 2 cells, expected 3"),
    ("a,b,label\n" + "1,2,0\n" * 9, -1, "has 9 examples; fitscope needs at least 10"),
    ("1,2,0\n" * 12, "label", "names a column but the file has no header row"),
    ("1,2,0\n" * 12, 3, "data.target=3 is out of range for 3 columns"),
    ("1,2,0\n" * 12, -1, "classification needs at least 2 classes, found 1"),
])
def test_csv_errors_name_the_file_and_problem(tmp_path, text, target, match):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as info:
        load_data(DataConfig(name="csv", path=path, target=target))
    assert path in str(info.value)


def test_csv_regression_needs_a_numeric_target(tmp_path):
    path = _write(tmp_path, "a,label\n" + "\n".join(f"{i},{SPECIES[i % 3]}" for i in range(12)))
    with pytest.raises(ValueError,
                       match=re.escape("task.kind='regression' needs a numeric target")):
        load_data(DataConfig(name="csv", path=path), "regression")


def test_npz_with_capital_x_string_labels_and_images_flattened(tmp_path):
    path = tmp_path / "d.npz"
    y = np.array(SPECIES * 5)
    np.savez(path, X=np.random.default_rng(0).normal(size=(15, 2, 3)), y=y)
    d = load_data(DataConfig(name="npz", path=str(path), val_fraction=0.0))
    assert (d.n_features, d.n_classes, d.input_shape, d.is_image) == (6, 3, (6,), False)
    assert sum(_sizes(d)) == 15


@pytest.mark.parametrize(("arrays", "match"), [
    ({"x": np.zeros((12, 2)), "y": np.zeros(11)}, "x has 12 rows but y has 11"),
    ({"x": np.zeros((12, 2))}, r"needs arrays 'x' \(or 'X'\) and 'y'; found \['x'\]"),
    ({"x": np.array([["a", "b"]] * 12), "y": np.zeros(12)}, "x must be a numeric array"),
    ({"x": np.full((12, 2), np.nan), "y": np.arange(12) % 2}, "NaN or infinite"),
    ({"x": np.zeros((12, 2)), "y": np.zeros((12, 2))}, "y must be one-dimensional"),
])
def test_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match) as info:
        load_data(DataConfig(name="npz", path=str(path)))
    assert str(path) in str(info.value)


def test_missing_user_file(tmp_path):
    for name in ("csv", "npz"):
        with pytest.raises(FileNotFoundError, match=f"{name} file not found: .*nowhere"):
            load_data(DataConfig(name=name, path=str(tmp_path / "nowhere")))
