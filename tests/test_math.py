"""The notes' mathematics against the code: each test recomputes the formula by hand."""

import copy
import math

import pytest
import torch
from torch import nn

from fitscope import regularize as reg
from fitscope.config import RunConfig, ScheduleConfig
from fitscope.engine import Batch, Trainer
from fitscope.optim import clip_gradients_, lr_at


def tiny(**overrides) -> RunConfig:
    base = {"data": {"name": "moons", "n_samples": 200}, "model": {"depth": 1, "width": 8},
            "budget": {"epochs": 2, "batch_size": 32}}
    cfg = RunConfig.model_validate(base)
    return cfg.with_overrides(overrides) if overrides else cfg


def full_batch(trainer: Trainer) -> Batch:
    x, y = trainer.x_train, trainer.y_train
    return Batch(x, y, torch.arange(len(x)))


def grads_of_data_loss(trainer: Trainer, batch: Batch) -> dict[str, torch.Tensor]:
    model = copy.deepcopy(trainer.model)
    loss = trainer.data_loss(model(batch.x), batch.y)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_sgd_step_with_penalty_matches_the_notes(penalty):
    eta, lam = 0.1, 0.05
    trainer = Trainer(tiny(**{"optimizer.name": "sgd", "optimizer.lr": eta,
                              f"regularization.{penalty}": lam}))
    batch = full_batch(trainer)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    grads = grads_of_data_loss(trainer, batch)
    trainer.train_step(batch)
    for name, p in trainer.model.named_parameters():
        w, g = before[name], grads[name]
        if name.endswith("weight"):
            if penalty == "l2":  # w <- (1 - eta lambda) w - eta grad J
                expected = (1 - eta * lam) * w - eta * g
            else:  # w <- w - eta (grad J + lambda sign(w))
                expected = w - eta * (g + lam * torch.sign(w))
        else:  # biases are not penalized
            expected = w - eta * g
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6)


def test_l2_penalty_is_weight_decay_by_factor():
    """With a zero data gradient, one step multiplies the weights by exactly 1 - eta lambda."""
    w = nn.Parameter(torch.randn(5, 3))
    w.grad = torch.zeros_like(w)
    reg.add_penalty_grads_([w], l2=0.2)
    before = w.detach().clone()
    torch.optim.SGD([w], lr=0.5).step()
    torch.testing.assert_close(w.detach(), (1 - 0.5 * 0.2) * before)


def test_adam_first_steps_equal_bias_corrected_formulas():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    trainer = Trainer(tiny(**{"optimizer.name": "adam", "optimizer.lr": lr,
                              "model.depth": 0}))
    batch = full_batch(trainer)
    theta = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    s = {n: torch.zeros_like(t) for n, t in theta.items()}
    r = {n: torch.zeros_like(t) for n, t in theta.items()}
    for t in (1, 2, 3):
        grads = grads_of_data_loss(trainer, batch)
        trainer.train_step(batch)
        for n in theta:
            s[n] = b1 * s[n] + (1 - b1) * grads[n]
            r[n] = b2 * r[n] + (1 - b2) * grads[n] ** 2
            s_hat, r_hat = s[n] / (1 - b1**t), r[n] / (1 - b2**t)
            theta[n] = theta[n] - lr * s_hat / (r_hat.sqrt() + eps)
        for n, p in trainer.model.named_parameters():
            torch.testing.assert_close(p.detach(), theta[n], rtol=1e-5, atol=1e-7)
    # bias correction matters: the first step moves each weight by about lr
    assert not torch.allclose(s["out.weight"], s["out.weight"] / (1 - b1))


def test_linear_decay_schedule():
    cfg = ScheduleConfig(kind="linear", final_fraction=0.01, tau=100)
    eps0, eps_tau = 0.5, 0.005
    for k in (0, 1, 37, 99, 100, 250):
        a = min(1.0, k / 100)
        assert lr_at(k, eps0, cfg, total_steps=1000) == pytest.approx((1 - a) * eps0 + a * eps_tau)
    assert lr_at(500, eps0, cfg, 1000) == pytest.approx(eps_tau)  # constant after tau


def test_step_and_cosine_schedules():
    step = ScheduleConfig(kind="step", step_size=10, gamma=0.5)
    assert [lr_at(k, 1.0, step, 100) for k in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cos = ScheduleConfig(kind="cosine", final_fraction=0.0, tau=10)
    assert lr_at(0, 1.0, cos, 10) == pytest.approx(1.0)
    assert lr_at(5, 1.0, cos, 10) == pytest.approx(0.5)
    assert lr_at(10, 1.0, cos, 10) == pytest.approx(0.0, abs=1e-12)


def test_clipping_caps_the_norm_and_the_values():
    params = [nn.Parameter(torch.zeros(10)), nn.Parameter(torch.zeros(4, 4))]
    params[0].grad, params[1].grad = torch.full((10,), 3.0), torch.full((4, 4), -2.0)
    clip_gradients_(params, clip_norm=1.0, clip_value=None)
    total = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params))
    assert total == pytest.approx(1.0, rel=1e-5)
    # direction is kept
    assert params[0].grad[0] / params[1].grad[0, 0] == pytest.approx(3.0 / -2.0)
    params[0].grad = torch.linspace(-5, 5, 10)
    clip_gradients_(params[:1], clip_norm=None, clip_value=0.5)
    assert params[0].grad.abs().max() == pytest.approx(0.5)


def test_dropout_training_expectation_equals_test_output():
    """E[train output] = test output: each unit kept with probability p, scaled by 1/p
    (PyTorch's inverted dropout, equal to the notes' multiply-weights-by-p at test)."""
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Dropout(0.5), nn.Linear(20, 3))
    x = torch.randn(4, 20)
    layer.eval()
    test_out = layer(x)
    layer.train()
    with torch.no_grad():
        mean_train = torch.stack([layer(x) for _ in range(20000)]).mean(0)
    torch.testing.assert_close(mean_train, test_out, atol=0.03, rtol=0.0)


def test_label_smoothing_targets_match_the_notes():
    y = torch.tensor([0, 2, 1])
    t = reg.smoothed_targets(y, k=4, eps=0.1)
    assert t[0].tolist() == pytest.approx([0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3])
    assert t[1, 2] == pytest.approx(0.9)
    torch.testing.assert_close(t.sum(1), torch.ones(3))
    # the loss uses exactly those targets: -sum t log softmax
    logits = torch.randn(3, 4)
    expected = -(t * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(reg.classification_loss(logits, y, 4, 0.1), expected)


def test_binary_label_smoothing_targets():
    logits, y = torch.tensor([[2.0], [-1.0]]), torch.tensor([1, 0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], torch.tensor([0.9, 0.1]))
    torch.testing.assert_close(reg.classification_loss(logits, y, 2, 0.1), expected)


def test_activation_l1_adds_lambda_times_mean_abs_activation_sum():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1))
    pen = reg.ActivationL1([model[1]], lam=0.3)
    x = torch.randn(8, 3)
    model(x)
    expected = 0.3 * torch.relu(model[0](x)).abs().sum() / 8
    torch.testing.assert_close(pen.pop(), expected)
    assert pen.pop() == 0.0  # the store is cleared
    pen.remove()


def test_fgsm_moves_each_input_by_epsilon_along_the_gradient_sign():
    model = nn.Linear(4, 1)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 1, 0])
    loss_fn = lambda out, t: reg.classification_loss(out, t, 2)  # noqa: E731
    adv = reg.fgsm(model, x, y, loss_fn, epsilon=0.1)
    xr = x.clone().requires_grad_(True)
    loss_fn(model(xr), y).backward()
    torch.testing.assert_close(adv - x, 0.1 * xr.grad.sign())
    assert loss_fn(model(adv), y) > loss_fn(model(x), y)


def test_weight_noise_is_removed_after_the_step():
    w = [nn.Parameter(torch.randn(3, 3))]
    before = w[0].detach().clone()
    noise = reg.add_weight_noise_(w, 0.5)
    assert not torch.allclose(w[0], before)
    reg.remove_weight_noise_(w, noise)
    torch.testing.assert_close(w[0].detach(), before)
