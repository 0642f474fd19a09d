"""fitscope.core against torch's own: losses against F.cross_entropy and friends, output
gradients against autograd, activations against torch.nn modules and their autograd
derivatives; over populations of one and of three members."""

from __future__ import annotations

import inspect
import typing

import pytest
import torch
import torch.nn.functional as F

from fitscope import config, models, regularize
from fitscope.core import activations, losses
from fitscope.landscape import batched_mlp
from fitscope.landscape import losses as landscape_losses
from fitscope.population import engine as population_engine
from fitscope.population import stacked

MEMBERS = (1, 3)


def outputs(n: int, k: int, b: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, k, b, generator=torch.Generator().manual_seed(seed)) * 3


def labels(n: int, k: int, b: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, max(k, 2), (n, b), generator=torch.Generator().manual_seed(seed))


def eps_column(n: int) -> torch.Tensor:
    return torch.tensor([0.0, 0.1, 0.25][:n], dtype=torch.float64).view(-1, 1) + 0.05


def reference_losses(out: torch.Tensor, y: torch.Tensor, classify: bool,
                     eps: torch.Tensor | None) -> torch.Tensor:
    """(N, B) per-example losses member by member with torch's loss functions on (B, k)
    rows; smoothed targets built by hand from the notes' form."""
    rows = []
    for i in range(out.shape[0]):
        o, t = out[i].T, y[i]  # (B, k), (B,)
        if not classify:
            rows.append(F.mse_loss(o[:, 0], t, reduction="none"))
        elif o.shape[1] == 1:
            target = t.float() if eps is None else t.float() * (1 - 2 * float(eps[i])) + float(
                eps[i])
            rows.append(F.binary_cross_entropy_with_logits(o[:, 0], target, reduction="none"))
        elif eps is None:
            rows.append(F.cross_entropy(o, t, reduction="none"))
        else:
            k, e = o.shape[1], float(eps[i])
            one_hot = F.one_hot(t, k).float()
            soft = one_hot * (1 - e) + (1 - one_hot) * (e / (k - 1))
            rows.append(F.cross_entropy(o, soft, reduction="none"))
    return torch.stack(rows)


CASES = [("k-class", True, 4, False), ("k-class smoothed", True, 4, True),
         ("binary", True, 1, False), ("binary smoothed", True, 1, True),
         ("regression", False, 1, False)]


@pytest.mark.parametrize("n", MEMBERS)
@pytest.mark.parametrize("name,classify,k,smooth", CASES, ids=[c[0] for c in CASES])
def test_example_losses_and_output_gradients_match_torch(n, name, classify, k, smooth):
    out = outputs(n, k, 9)
    y = labels(n, k, 9) if classify else torch.randn(n, 9)
    eps = eps_column(n) if smooth else None
    smoothing = losses.Smoothing(eps, max(k, 2)) if smooth else None
    expected = reference_losses(out, y, classify, eps)
    torch.testing.assert_close(losses.example_losses(out, y, classify, smoothing), expected)
    leaf = out.clone().requires_grad_()
    reference_losses(leaf, y, classify, eps).mean(1).sum().backward()
    mean, grad = losses.losses_and_grad(out.clone(), y, classify, smoothing)
    torch.testing.assert_close(mean, expected.mean(1))
    torch.testing.assert_close(grad, leaf.grad)


@pytest.mark.parametrize("n", MEMBERS)
def test_each_member_gets_its_own_smoothing(n):
    eps = eps_column(n)
    y = labels(n, 5, 6)
    soft = losses.Smoothing(eps, 5).soft(y, 5)  # (N, k, B)
    for i in range(n):
        e = float(eps[i])
        expected = torch.full((6, 5), e / 4)
        expected[torch.arange(6), y[i]] = 1 - e
        torch.testing.assert_close(soft[i].T, expected)
        torch.testing.assert_close(losses.Smoothing(eps, 2).binary(y.clamp(max=1))[i],
                                   y[i].clamp(max=1).float() * (1 - 2 * e) + e)
    torch.testing.assert_close(soft.sum(1), torch.ones(n, 6))


@pytest.mark.parametrize("n", MEMBERS)
@pytest.mark.parametrize("k", [1, 4])
def test_predictions_are_sign_or_argmax_per_member(n, k):
    out = outputs(n, k, 11)
    got = losses.predictions(out)
    for i in range(n):
        o = out[i].T
        expected = (o[:, 0] > 0).long() if k == 1 else o.argmax(1)
        assert torch.equal(got[i], expected)


def test_a_sequential_run_is_a_population_of_one():
    logits, y = torch.randn(7, 3), torch.randint(0, 3, (7,))
    torch.testing.assert_close(losses.mean_loss(logits, y, True), F.cross_entropy(logits, y))
    torch.testing.assert_close(regularize.classification_loss(logits, y, 3),
                               F.cross_entropy(logits, y))
    assert torch.equal(regularize.predictions(logits), logits.argmax(1))
    target = torch.randn(7)
    torch.testing.assert_close(landscape_losses.SquaredError()(logits, target),
                               F.mse_loss(logits[:, 0], target))
    # smoothed, one model's (B, k) layout against the same model as a population of one
    for k in (1, 3):
        out, yk = torch.randn(7, k), torch.randint(0, max(k, 2), (7,))
        smoothing = losses.smoothing_of(0.2, max(k, 2))
        torch.testing.assert_close(
            losses.example_losses(out, yk, True, smoothing),
            losses.example_losses(out.T[None], yk[None], True, smoothing)[0])
        torch.testing.assert_close(regularize.classification_loss(out, yk, max(k, 2), 0.2),
                                   reference_losses(out.T[None], yk[None], True,
                                                    torch.tensor([[0.2]])).mean())
    assert losses.smoothing_of(0.0, 3) is None
    assert losses.smoothing_of(0.1, 3) is losses.smoothing_of(0.1, 3)  # cached


def test_old_names_are_the_cores():
    assert population_engine.example_losses is losses.example_losses
    assert population_engine.losses_and_grad is losses.losses_and_grad
    assert population_engine.predictions is losses.predictions
    assert population_engine.Smoothing is losses.Smoothing
    assert models.ACTIVATIONS is activations.MODULES


# -- activations ----------------------------------------------------------------------
NAMES = list(activations.TABLE)


def test_the_config_lists_the_tables_activations():
    assert typing.get_args(config.Activation) == tuple(activations.TABLE)
    for name in NAMES:
        cfg = config.ModelConfig(activation=name, depth=1, width=3)
        assert type(models.MLP(2, 1, cfg).hidden[0].act) is activations.MODULES[name]


def z_values(n: int) -> torch.Tensor:
    z = torch.randn(n, 6, 8, generator=torch.Generator().manual_seed(n)) * 3
    z[0, 0, :3] = torch.tensor([0.0, -0.0, 1e-8])  # the kink of relu
    return z


@pytest.mark.parametrize("n", MEMBERS)
@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_its_module(n, name):
    act, z = activations.TABLE[name], z_values(n)
    expected = act.module()(z)
    # tanh through the sigmoid: a few float32 ulps of 1 from torch.tanh
    tol = {"atol": 3e-7, "rtol": 0.0} if name == "tanh" else {"atol": 0.0, "rtol": 0.0}
    torch.testing.assert_close(act.function(z), expected, **tol)
    torch.testing.assert_close(activations.ACTIVATIONS[name](z.clone()), expected, **tol)
    torch.testing.assert_close(act.activate_(z * act.prescale, prescaled=True), expected,
                               **tol)
    zc = z.clone()
    assert act.activate_(zc).data_ptr() == zc.data_ptr()  # in place


@pytest.mark.parametrize("n", MEMBERS)
@pytest.mark.parametrize("name", NAMES)
def test_derivative_from_the_output_matches_autograd(n, name):
    act, z = activations.TABLE[name], z_values(n)
    g = torch.randn(z.shape, generator=torch.Generator().manual_seed(5))
    leaf = z.clone().requires_grad_()
    act.module()(leaf).backward(g)
    y = act.module()(z)
    for scratch in (None, torch.full_like(g, float("nan"))):
        torch.testing.assert_close(activations.DERIVATIVES[name](g.clone(), y, scratch),
                                   leaf.grad, atol=1e-6, rtol=1e-5)
    # the differentiable function (torch's op, or the table's through autograd)
    leaf2 = z.clone().requires_grad_()
    act.function(leaf2).backward(g)
    torch.testing.assert_close(leaf2.grad, leaf.grad, atol=1e-6, rtol=1e-5)


def test_the_table_is_the_one_list_of_activations():
    assert set(activations.MODULES.values()) <= set(activations.ELEMENTWISE)
    model = torch.nn.Sequential(*(torch.nn.Sequential(torch.nn.Linear(2, 2), cls())
                                  for cls in activations.ELEMENTWISE))
    assert [type(m) for m in regularize.hidden_activations(model)] == list(
        activations.ELEMENTWISE)
    chain = batched_mlp.layers_of(model)
    assert chain is not None and sum(layer.kind == "act" for layer in chain) == len(
        activations.ELEMENTWISE)


@pytest.mark.parametrize("module", [activations, losses, stacked, batched_mlp,
                                    landscape_losses, models])
def test_no_private_torch_api(module):
    source = inspect.getsource(module)
    assert "torch.ops" not in source and "torch._" not in source
