"""npz / csv data that declares its input shape (``data.input_shape``): a CNN trains on it,
a user's model gets batches in that shape, and run ids without the field stay the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from fitscope import RunConfig, train
from fitscope.data import load_data
from fitscope.probe.cases import UserCNN


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """The digits as (N, 8, 8) images in an npz file, as a user would save them."""
    b = load_digits()
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, x=b.images.astype(np.float32), y=b.target)
    return str(path)


def _cfg(path: str, **data) -> RunConfig:
    return RunConfig.model_validate({
        "data": {"name": "npz", "path": path, **data},
        "model": {"kind": "cnn"}, "budget": {"epochs": 3, "batch_size": 64}})


def test_declared_images_keep_their_shape_and_train_a_cnn(digits_npz):
    cfg = _cfg(digits_npz, input_shape=[1, 8, 8])
    splits = load_data(cfg.data, "classification")
    assert splits.input_shape == (1, 8, 8) and splits.is_image
    assert splits.n_features == 64 and splits.x_train.shape[1] == 64
    # the features are the images in row-major order: example 0 is digits' image 0, split
    # and standardized (one global mean and std, as for the built-in images)
    run = train(cfg)
    assert run.status == "completed" and run.metrics["val_acc"] > 0.8
    assert run.model.input_shape == (1, 8, 8)


def test_a_users_cnn_gets_image_batches_from_a_declared_npz(digits_npz):
    seen = []
    model = UserCNN(10)
    model.conv1.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape)))
    cfg = _cfg(digits_npz, input_shape=[1, 8, 8]).with_overrides({"budget.epochs": 1})
    train(cfg, model=model)
    # (fitscope first tries the model on two rows, flat and then shaped, to see which it
    # accepts); every training batch arrives as images
    batches = [s for s in seen if s[0] == 64]
    assert batches and all(s == (64, 1, 8, 8) for s in batches)


def test_a_signal_shape_gives_conv1d():
    cfg = RunConfig.model_validate({
        "data": {"name": "csv", "path": "unused.csv", "input_shape": [2, 4]},
        "model": {"kind": "cnn"}})
    assert cfg.data.input_shape == (2, 4)
    from fitscope.models import CNN

    net = CNN((2, 4), 3, cfg.model)
    assert isinstance(net.features[0].conv, torch.nn.Conv1d)
    assert net(torch.randn(5, 8)).shape == (5, 3)


def test_run_ids_without_an_input_shape_are_unchanged(digits_npz):
    plain = RunConfig.model_validate({"data": {"name": "npz", "path": digits_npz}})
    assert "input_shape" not in plain.identity(None)["data"]
    shaped = plain.with_overrides({"data.input_shape": [1, 8, 8]})
    assert shaped.identity(None)["data"]["input_shape"] == [1, 8, 8]
    assert shaped.run_id != plain.run_id
