"""The nearest-neighbour reference (fitscope.baselines) and the old lab import paths."""

import importlib
import sys

import pytest
import torch

from fitscope.baselines import nearest_neighbour_accuracy
from fitscope.config import DataConfig
from fitscope.data import load_data


def test_one_nearest_neighbour_is_perfect_on_its_training_points_and_k_counts():
    data = DataConfig(name="moons", n_samples=200, noise=0.3)
    one = nearest_neighbour_accuracy(data)
    assert one["train_acc"] == 1.0 and 0.5 < one["test_acc"] < 1.0
    # k = every training row: a vote of the whole training split, the majority class
    y = load_data(data).y_train
    everyone = nearest_neighbour_accuracy(data, k=len(y))
    majority = torch.bincount(y).max().item() / len(y)
    assert everyone["train_acc"] == pytest.approx(majority)


def test_an_empty_validation_split_has_no_accuracy():
    data = DataConfig(name="moons", n_samples=100, val_fraction=0.0)
    assert nearest_neighbour_accuracy(data)["val_acc"] is None


@pytest.mark.parametrize("old, new", [
    ("fitscope.lab.penalty", "fitscope.regularization_paths"),
    ("fitscope.lab.trajectory_runs", "fitscope.landscape.trajectory_records"),
])
def test_a_moved_module_still_imports_by_its_old_name_with_a_warning(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
