"""The training engine: runs, statuses, determinism, early stopping, save and load."""

import math

import pytest
import torch
from torch import nn

from fitscope import RunConfig, load_run, train
from fitscope import regularize as reg
from fitscope.engine import Callback, Trainer


def cfg(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 300},
        "model": {"depth": 2, "width": 16},
        "budget": {"epochs": 5, "batch_size": 32},
    })
    return base.with_overrides(overrides) if overrides else base


def test_default_run_learns_moons():
    run = train(cfg(**{"budget.epochs": 30}))
    assert run.status == "completed"
    assert len(run.history) == 30
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    assert run.metrics["test_acc"] > 0.9
    assert set(run.history[0]) >= {"epoch", "step", "train_loss", "train_acc", "val_loss",
                                   "val_acc", "lr", "grad_norm", "seconds"}


def test_same_config_and_seed_give_identical_numbers():
    c = cfg(**{"model.dropout": 0.2, "regularization.input_noise": 0.1})
    a, b = train(c), train(c)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert a.metrics == b.metrics
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    other = train(c.with_overrides({"budget.seed": 1}))
    assert strip(other.history) != strip(a.history)


def test_caller_rng_state_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(cfg(**{"budget.epochs": 1}))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("scheme", [{"scheme": "zeros"}, {"scheme": "constant", "value": 0.3}])
def test_constant_init_keeps_hidden_units_identical(scheme):
    """The notes' symmetry problem: identical units get identical gradients forever."""
    run = train(cfg(init=scheme, **{"budget.epochs": 10, "model.activation": "tanh"}))
    for layer in run.model.hidden:
        w = layer.linear.weight.detach()
        assert torch.allclose(w, w[:1].expand_as(w), atol=1e-6), "units drifted apart"
    # a random init breaks the symmetry
    rnd = train(cfg(**{"budget.epochs": 2}))
    w = rnd.model.hidden[0].linear.weight.detach()
    assert not torch.allclose(w, w[:1].expand_as(w))


def test_early_stopping_restores_the_best_epoch():
    seen = {}

    class Grab(Callback):
        def on_epoch_end(self, trainer, row):
            seen[row["epoch"]] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    # a wide net on few noisy points overfits: validation loss turns up
    c = cfg(**{"data.n_samples": 120, "data.noise": 0.4, "model.width": 128,
               "optimizer.lr": 0.02, "budget.epochs": 200,
               "regularization.early_stopping": {"enabled": True, "patience": 5}})
    run = train(c, callbacks=[Grab()])
    assert run.status == "early_stopped"
    best = run.metrics["best_epoch"]
    assert run.stop_epoch == best + 5
    val = run.column("val_loss")
    assert val[best - 1] == min(val)
    for k, v in run.model.state_dict().items():
        assert torch.equal(v, seen[best][k])
    assert run.metrics["val_loss"] == pytest.approx(val[best - 1], rel=1e-5)


@pytest.mark.parametrize("after", ["retrain_all", "continue_all"])
def test_using_all_data_after_early_stopping(after):
    c = cfg(**{"data.n_samples": 120, "data.noise": 0.4, "model.width": 64,
               "optimizer.lr": 0.02, "budget.epochs": 100,
               "regularization.early_stopping": {"enabled": True, "patience": 3,
                                                 "after": after}})
    run = train(c)
    assert run.status == "early_stopped"
    assert len(run.history) > run.stop_epoch  # a second phase ran
    if after == "retrain_all":
        best_steps = run.history[run.metrics["best_epoch"] - 1]["step"]
        assert run.history[-1]["step"] == best_steps
    assert math.isfinite(run.metrics["test_loss"])


def test_too_large_learning_rate_diverges_as_a_result():
    run = train(cfg(**{"optimizer.name": "sgd", "optimizer.lr": 100.0,
                       "model.activation": "linear", "init.scheme": "normal",
                       "init.std": 3.0, "model.depth": 6, "budget.epochs": 20}))
    assert run.status == "diverged"
    assert run.diverged_step is not None and run.reason
    assert run.record()["status"] == "diverged"
    assert "test_acc" not in run.metrics


def test_too_large_init_diverges():
    run = train(cfg(**{"model.activation": "linear", "model.depth": 9, "model.width": 32,
                       "init.scheme": "normal", "init.std": 10.0}))
    assert run.status == "diverged"


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                  "adamw"])
def test_every_optimizer_reduces_the_loss(name):
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(name, 0.01)
    run = train(cfg(**{"optimizer.name": name, "optimizer.lr": lr, "budget.epochs": 8,
                       "regularization.weight_decay": 1e-3 if name == "adamw" else 0.0}))
    assert run.status == "completed"
    assert run.history[-1]["train_loss"] < 0.8 * run.history[0]["train_loss"]


@pytest.mark.parametrize("extra", [
    {"regularization.l2": 1e-3}, {"regularization.l1": 1e-4},
    {"regularization.l1": 1e-4, "regularization.l2": 1e-3},
    {"regularization.weight_decay": 1e-2},
    {"regularization.activation_l1": 1e-4}, {"regularization.input_noise": 0.1},
    {"regularization.weight_noise": 0.01}, {"regularization.label_smoothing": 0.1},
    {"regularization.fgsm_epsilon": 0.05}, {"model.dropout": 0.2, "model.input_dropout": 0.1},
    {"model.batch_norm": True}, {"optimizer.clip_norm": 0.5}, {"optimizer.clip_value": 0.1},
    {"optimizer.schedule": {"kind": "linear"}}, {"optimizer.schedule": {"kind": "cosine"}},
    {"budget.batch_size": 0, "budget.epochs": 150}
])
def test_regularizers_and_options_train(extra):
    run = train(cfg(**{"budget.epochs": 6, **extra}))
    assert run.status == "completed"
    assert run.metrics["test_acc"] > 0.75


def test_polynomial_logistic_regression_beats_the_linear_one():
    """The notes' polynomial classifier: logistic regression on x1^i x2^j features."""
    linear = train(cfg(**{"model.depth": 0, "budget.epochs": 40, "data.noise": 0.1,
                          "optimizer.lr": 0.05}))
    poly = train(cfg(**{"model.depth": 0, "budget.epochs": 40, "data.noise": 0.1,
                        "data.poly_degree": 5, "optimizer.lr": 0.05}))
    assert poly.metrics["train_acc"] > linear.metrics["train_acc"] + 0.05


def test_l1_gives_sparser_weights_than_l2():
    l1 = train(cfg(**{"regularization.l1": 3e-3, "budget.epochs": 30}))
    l2 = train(cfg(**{"regularization.l2": 3e-2, "budget.epochs": 30}))
    small = lambda r: float((r.model.hidden[1].linear.weight.abs() < 1e-2).float().mean())  # noqa: E731
    assert small(l1) > small(l2) + 0.1


def test_max_steps_and_regression_and_digits_cnn():
    run = train(cfg(**{"budget.max_steps": 7}))
    assert run.metrics["steps"] == 7
    reg = train(cfg(**{"task.kind": "regression", "data.name": "breast_cancer"}))
    assert reg.status == "completed" and reg.metrics["test_acc"] is None
    assert reg.metrics["test_loss"] < 0.5
    cnn = train(cfg(**{"data.name": "digits", "model.kind": "cnn", "budget.epochs": 3}))
    assert cnn.metrics["test_acc"] > 0.8


def test_multitask_heads_train():
    c = cfg(**{"data.name": "digits", "model.width": 64, "budget.epochs": 4,
               "task.aux": [{"kind": "parity"}], "task.main_label_fraction": 0.3})
    run = train(c)
    assert set(run.model.heads) == {"main", "parity"}
    assert run.metrics["test_acc"] > 0.6


def test_augmentation_on_digits():
    run = train(cfg(**{"data.name": "digits", "budget.epochs": 3,
                       "regularization.augment": {"rotate_deg": 10, "translate": 0.1}}))
    assert run.metrics["test_acc"] > 0.7


def test_save_and_load_round_trip(tmp_path):
    run = train(cfg())
    run.save(tmp_path / "r")
    back = load_run(tmp_path / "r")
    assert back.config == run.config and back.history == run.history
    assert back.metrics == run.metrics and back.status == run.status
    x = torch.randn(5, 2)
    torch.testing.assert_close(back.model(x), run.model.eval()(x))
    state = torch.load(tmp_path / "r" / "model.pt", weights_only=True)  # a plain checkpoint
    assert set(state) == set(run.model.state_dict())


def test_trained_model_is_the_model_or_a_clear_error(tmp_path):
    run = train(cfg())
    assert run.trained_model() is run.model
    run.save(tmp_path / "r")
    (tmp_path / "r" / "model.pt").unlink()
    with pytest.raises(ValueError, match="has no model"):
        load_run(tmp_path / "r").trained_model()


def test_users_own_module_trains_and_loads(tmp_path):
    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 24), nn.Linear(24, 1)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    run = train(cfg(**{"budget.epochs": 20}), model=Mine())
    assert run.metrics["test_acc"] > 0.85
    run.save(tmp_path)
    back = load_run(tmp_path, model=Mine())
    assert torch.equal(back.model.a.weight, run.model.a.weight)


def test_missing_idx_files_are_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        train(RunConfig(data={"name": "mnist", "path": str(tmp_path)}))


def test_train_accuracy_is_the_share_of_the_epochs_rows_predicted_right():
    c = cfg(**{"optimizer.name": "sgd", "optimizer.lr": 1e-12, "budget.epochs": 1,
               "budget.batch_size": 50})
    trainer = Trainer(c)
    with torch.no_grad():  # lr 1e-12: the weights stay put, so predictions are the init's
        hits = reg.predictions(trainer.model(trainer.x_train)) == trainer.y_train
    expected = int(hits.sum()) / len(hits)
    run = trainer.fit()
    assert run.history[0]["train_acc"] == expected
    assert 0.0 < expected < 1.0
