"""Diagnosis: the notes' initialization scenarios, a user's own CNN, and run histories."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fitscope
from fitscope import RunConfig, train
from fitscope.config import InitConfig
from fitscope.data import load_data
from fitscope.init import apply_init
from fitscope.models import build_model
from fitscope.probe.findings import Finding

NINE_LAYER = RunConfig.model_validate({
    "data": {"name": "spiral", "n_samples": 600, "noise": 0.2},
    "model": {"depth": 8, "width": 16, "activation": "tanh"},  # 8 hidden + output = 9 layers
})


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def nine_layer(init: dict):
    """The notes' nine-layer tanh network at init, and a batch of its training data."""
    cfg = NINE_LAYER.with_overrides({"init": init})
    data = load_data(cfg.data)
    model = build_model(cfg, data.n_features, data.n_classes, data.input_shape)
    apply_init(model, InitConfig(**init), generator=torch.Generator().manual_seed(0))
    x, y = data.x_train[:256], data.y_train[:256].float()
    return model, (x, y)


def bce(out, y):
    return F.binary_cross_entropy_with_logits(out[:, 0], y)


def test_nine_layer_tanh_with_unit_normal_weights_is_saturated_or_exploding():
    model, batch = nine_layer({"scheme": "normal", "std": 1.0})
    found = fitscope.diagnose(model, batch=batch, loss_fn=bce)
    assert {"saturated_units", "exploding_activations"} & set(codes(found))
    f = next(f for f in found if f.code == "saturated_units")
    assert f.evidence["saturated_fraction"][f.layer] > 0.2 and "Xavier" in f.fix


def test_nine_layer_tanh_with_tiny_weights_has_vanishing_gradients():
    model, batch = nine_layer({"scheme": "normal", "std": 0.01})
    found = fitscope.diagnose(model, batch=batch, loss_fn=bce)
    f = next(f for f in found if f.code == "vanishing_gradients")
    assert f.severity == "error" and f.layer == "hidden.0.linear"
    assert f.evidence["ratio"] < 1e-6


def test_nine_layer_tanh_with_xavier_gets_no_finding():
    model, batch = nine_layer({"scheme": "xavier_normal"})
    found = fitscope.diagnose(model, batch=batch, loss_fn=bce)
    assert codes(found) == ["healthy"]
    assert found[0].severity == "info"


def test_zero_init_is_flagged_as_symmetric():
    model, batch = nine_layer({"scheme": "zeros"})
    found = fitscope.diagnose(model, batch=batch, loss_fn=bce)
    f = next(f for f in found if f.code == "symmetric_units")
    assert f.evidence["unit_distance"][f.layer] == 0.0 and "symmetry" in f.fix


class SmallCNN(nn.Module):
    """A user's own model: nothing fitscope-specific in it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu = nn.ReLU()  # used twice
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.relu(self.conv2(x))
        return self.head(x.flatten(1))


def digits_images():
    data = load_data(RunConfig.model_validate({"data": {"name": "digits"}}).data)
    return data.x_train[:128].view(-1, 1, 8, 8), data.y_train[:128]


def test_a_users_cnn_is_probed_in_a_plain_loop_and_diagnosed():
    torch.manual_seed(0)
    model = SmallCNN()
    x, y = digits_images()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with fitscope.probe(model, every=2) as p:
        for _ in range(4):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            p.step()
    layers = {r["layer"] for r in p.records if r["step"] == 2}
    assert {"conv1", "bn1", "conv2", "relu", "relu#2", "head"} <= layers
    dead = [r for r in p.records if r["quantity"] == "act_dead" and r["layer"] == "relu#2"]
    assert [r["step"] for r in dead] == [0, 2]
    assert codes(fitscope.diagnose(model, batch=(x, y))) == ["healthy"]
    with torch.no_grad():
        model.conv2.weight.fill_(0.01)  # constant init: the 16 channels are identical
    found = fitscope.diagnose(model, batch=(x, y))
    assert next(f for f in found if f.code == "symmetric_units").layer == "conv2"


def test_diagnosing_a_model_leaves_its_gradients_and_statistics_as_they_were():
    torch.manual_seed(0)
    model = SmallCNN().train()
    x, y = digits_images()
    F.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    stats = model.bn1.running_mean.clone()
    fitscope.diagnose(model, batch=(x * 3 + 1, y))
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert torch.equal(stats, model.bn1.running_mean)
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def moons(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 300}, "model": {"depth": 2, "width": 32},
        "budget": {"epochs": 8, "batch_size": 32}, "observe": {"probe_every": 10}})
    return base.with_overrides(overrides)


def test_a_healthy_run_says_so():
    found = fitscope.diagnose(train(moons()))
    assert codes(found) == ["healthy"]
    assert "Nothing looks wrong" in str(found[0])


def test_divergence_is_an_error_with_the_reason():
    run = train(moons(**{"optimizer.name": "sgd", "optimizer.lr": 20.0}))
    f = fitscope.diagnose(run)[0]
    assert (f.code, f.severity) == ("diverged", "error")
    assert f.evidence["reason"] == run.reason and "learning rate" in f.fix


def test_an_oscillating_loss_means_the_learning_rate_is_too_high():
    run = train(moons(**{"optimizer.name": "sgd", "optimizer.lr": 3.0, "budget.epochs": 15}))
    f = next(f for f in fitscope.diagnose(run) if f.code == "lr_too_high")
    assert f.evidence["epochs_loss_rose"] >= 2 and "Lower the learning rate" in f.fix


def test_a_steady_but_slow_loss_means_the_learning_rate_is_too_low():
    run = train(moons(**{"optimizer.name": "sgd", "optimizer.lr": 1e-4}))
    found = fitscope.diagnose(run)
    assert "lr_too_low" in codes(found)
    assert next(f for f in found if f.code == "lr_too_low").evidence["median_update_ratio"] < 1e-3


def test_vanishing_gradients_explain_a_flat_loss_and_the_run_underfits():
    run = train(NINE_LAYER.with_overrides({
        "init": {"scheme": "normal", "std": 0.01}, "budget.epochs": 4,
        "observe.probe_every": 20}))
    found = codes(fitscope.diagnose(run))
    assert "vanishing_gradients" in found and "underfitting" in found
    assert "lr_too_low" not in found  # the init, not the learning rate, is the cause


@pytest.mark.slow
def test_validation_loss_rising_while_training_loss_falls_is_overfitting():
    run = train(RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 60}, "model": {"depth": 2, "width": 256},
        "optimizer": {"lr": 0.01}, "budget": {"epochs": 60, "batch_size": 32}}))
    f = next(f for f in fitscope.diagnose(run) if f.code == "overfitting")
    assert f.evidence["final_val_loss"] > 1.1 * f.evidence["best_val_loss"]
    assert f.evidence["gap"] > 0 and "Early stopping" in f.fix


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch"):
        fitscope.diagnose(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="target"):
        fitscope.diagnose("run.json")


def test_a_healthy_trained_tanh_net_gets_no_false_alarm():
    """Minibatch noise around a minimum is not an oscillating learning rate, and logits
    that grow as the net grows confident are not exploding activations."""
    run = train(RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 1000},
        "model": {"depth": 5, "width": 32, "activation": "tanh"},
        "init": {"scheme": "xavier_normal"}, "optimizer": {"name": "adam", "lr": 0.01},
        "budget": {"epochs": 40}, "observe": {"probe_every": 50}}))
    found = codes(fitscope.diagnose(run))
    assert "lr_too_high" not in found and "exploding_activations" not in found, found
