"""Bad ``data.input_shape`` declarations: exit 2 naming the field and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fuzz.harness import expect_rejected

TINY = ["--set", "budget.epochs=1", "--set", "model.width=4", "-q"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """40 examples of (8, 8) images, 2 classes, as an npz file."""
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(path, x=rng.normal(size=(40, 8, 8)), y=np.arange(40) % 2)
    return path


def _npz(path: Path, *sets: str) -> list[str]:
    out = ["train", "--set", "data.name='npz'", "--set", f"data.path={str(path)!r}"]
    for s in sets:
        out += ["--set", s]
    return out + TINY


@pytest.mark.parametrize(("sets", "mentions"), [
    (["data.input_shape=[1, 8, 9]"], ["images.npz", "data.input_shape=[1, 8, 9]",
                                      "72 values", "64 features"]),
    (["data.input_shape=[65]"], ["images.npz", "data.input_shape", "65 values"]),
    (["data.input_shape=[1, 1, 8, 8]"], ["data.input_shape", "1 to 3 entries"]),
    (["data.input_shape=[]"], ["data.input_shape", "1 to 3 entries"]),
    (["data.input_shape=[0, 8, 8]"], ["data.input_shape"]),
    (["data.input_shape=[1, 8.5, 8]"], ["data.input_shape"]),
    (["data.input_shape='1x8x8'"], ["data.input_shape"]),
    (["data.input_shape=[1, 8, 8]", "data.poly_degree=2"], ["data.poly_degree",
                                                            "data.input_shape", "images"]),
    (["model.kind='cnn'"], ["model.kind='cnn'", "data.input_shape"]),
    (["model.kind='cnn'", "data.input_shape=[64]"], ["model.kind='cnn'",
                                                     "data.input_shape=[64]"]),
    (["model.kind='cnn'", "data.input_shape=[1, 8, 9]"], ["data.input_shape", "64 features"]),
])
def test_a_bad_input_shape_is_refused_naming_the_field(images, sets, mentions):
    expect_rejected(_npz(images, *sets), *mentions, case=f"input_shape {' '.join(sets)}")


def test_input_shape_on_a_built_in_set_is_refused():
    expect_rejected(["train", "--set", "data.name='digits'", "--set",
                     "data.input_shape=[1, 8, 8]", *TINY], "data.input_shape", "csv and npz",
                    case="input_shape on digits")


def test_a_csv_whose_features_do_not_fill_the_shape_is_refused(tmp_path):
    path = tmp_path / "five.csv"
    rows = ["a,b,c,d,e,label"] + [f"{i},{i},{i},{i},{i},{i % 2}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    expect_rejected(["train", "--set", "data.name='csv'", "--set", f"data.path={str(path)!r}",
                     "--set", "data.input_shape=[1, 2, 3]", *TINY],
                    "five.csv", "data.input_shape=[1, 2, 3]", "6 values", "5 features",
                    case="input_shape csv mismatch")
