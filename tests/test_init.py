"""Tests of fitscope.init: formulas re-derived here, KS tests, and torch.nn.init as a reference."""

from __future__ import annotations

import math
import re
import typing

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from fitscope import init
from fitscope.config import InitConfig, InitScheme

LINEAR = (2000, 500)  # (out, in): n_in = 500, n_out = 2000
SQUARE = (1000, 1000)
CONV_BIG = (256, 128, 3, 3)  # 295k samples: the 2% variance check is ~8 sigma wide
CONV = (64, 32, 3, 3)  # n_in = 288, n_out = 576


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Re-derived: fan_in = in * prod(kernel), fan_out = out * prod(kernel)."""
    k = math.prod(shape[2:])
    return shape[1] * k, shape[0] * k


# Non-default parameters, so the test sees that init_tensor_ passes them on.
CFGS = {
    "zeros": InitConfig(scheme="zeros"),
    "constant": InitConfig(scheme="constant", value=0.7),
    "normal": InitConfig(scheme="normal", std=0.2),
    "uniform": InitConfig(scheme="uniform", a=0.3),
    "xavier_normal": InitConfig(scheme="xavier_normal"),
    "xavier_normal_in": InitConfig(scheme="xavier_normal", xavier_mode="in"),
    "xavier_uniform": InitConfig(scheme="xavier_uniform"),
    "kaiming_normal": InitConfig(scheme="kaiming_normal"),
    "kaiming_uniform": InitConfig(scheme="kaiming_uniform"),
    "lecun_normal": InitConfig(scheme="lecun_normal"),
    "orthogonal": InitConfig(scheme="orthogonal", gain=1.5),
}


def expected_var(name: str, shape: tuple[int, ...]) -> float:
    """Var(W) from the papers' formulas, written out independently of fitscope.init."""
    n_in, n_out = fans(shape)
    return {
        "zeros": 0.0,
        "constant": 0.0,
        "normal": 0.2**2,
        "uniform": 0.3**2 / 3,  # Var U(-a, a) = a^2 / 3
        "xavier_normal": 2 / (n_in + n_out),
        "xavier_normal_in": 1 / n_in,
        "xavier_uniform": math.sqrt(6 / (n_in + n_out)) ** 2 / 3,
        "kaiming_normal": 2 / n_in,
        "kaiming_uniform": math.sqrt(6 / n_in) ** 2 / 3,
        "lecun_normal": 1 / n_in,
        # sum of squares of a semi-orthogonal (rows, cols) matrix is gain^2 * min(rows, cols)
        "orthogonal": 1.5**2 / max(shape[0], n_in),
    }[name]


def expected_bound(name: str, shape: tuple[int, ...]) -> float:
    n_in, n_out = fans(shape)
    return {
        "uniform": 0.3,
        "xavier_uniform": math.sqrt(6 / (n_in + n_out)),
        "kaiming_uniform": math.sqrt(6 / n_in),
    }[name]


NORMAL = ["normal", "xavier_normal", "xavier_normal_in", "kaiming_normal", "lecun_normal"]
UNIFORM = ["uniform", "xavier_uniform", "kaiming_uniform"]


def draw(name: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    w = init.init_tensor_(torch.empty(shape), CFGS[name], gen(seed))
    return w.flatten().double().numpy()


# -- the registry ----------------------------------------------------------------------
def test_schemes_cover_config_names():
    assert list(init.SCHEMES) == list(typing.get_args(InitScheme))


# -- fans ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 3), CONV, (4, 2, 5), (6, 3, 2, 2, 2), SQUARE])
def test_fan_in_out(shape):
    assert init.fan_in_out(torch.empty(shape)) == fans(shape)
    torch_fans = getattr(nn.init, "_calculate_fan_in_and_fan_out", None)  # private in torch
    if torch_fans is not None:
        assert init.fan_in_out(torch.empty(shape)) == torch_fans(torch.empty(shape))


def test_fan_in_out_rejects_1d():
    with pytest.raises(ValueError, match=re.escape("Received: w.shape=(5,)")):
        init.fan_in_out(torch.empty(5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(torch.empty(5))


# -- variance and mean of every scheme ------------------------------------------------
@pytest.mark.parametrize("shape", [LINEAR, SQUARE, CONV_BIG], ids=["2000x500", "1000^2", "conv"])
@pytest.mark.parametrize("name", list(CFGS))
def test_variance_matches_formula(name, shape):
    w = draw(name, shape)
    var = expected_var(name, shape)
    if name in ("zeros", "constant"):
        assert w.var() == 0.0 and w[0] == np.float32(CFGS[name].value)
        return
    assert w.var() == pytest.approx(var, rel=0.02)
    assert abs(w.mean()) < 6 * math.sqrt(var / w.size)  # mean 0 within 6 standard errors


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_variance_scaling_general(scale, mode, distribution):
    n_in, n_out = fans(LINEAR)
    n = {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}[mode]
    w = init.variance_scaling_(torch.empty(LINEAR), scale, mode, distribution, gen())
    assert w.var().item() == pytest.approx(scale / n, rel=0.02)
    if distribution == "uniform":
        assert w.abs().max().item() <= math.sqrt(3 * scale / n)


def test_xavier_normal_modes_differ_as_the_formulas_say():
    n_in, n_out = fans(LINEAR)  # 500, 2000
    avg = init.xavier_normal_(torch.empty(LINEAR), mode="avg", generator=gen(1)).var().item()
    fan_in = init.xavier_normal_(torch.empty(LINEAR), mode="in", generator=gen(1)).var().item()
    assert avg == pytest.approx(2 / (n_in + n_out), rel=0.02)
    assert fan_in == pytest.approx(1 / n_in, rel=0.02)
    assert fan_in / avg == pytest.approx((n_in + n_out) / (2 * n_in), rel=0.03)  # 2.5


# -- Kolmogorov-Smirnov: the right distribution, and a wrong one rejected ------------------
@pytest.mark.parametrize("shape", [(500, 200), CONV], ids=["linear", "conv"])
@pytest.mark.parametrize("name", NORMAL)
def test_ks_normal(name, shape):
    w, std = draw(name, shape), math.sqrt(expected_var(name, shape))
    assert stats.kstest(w, "norm", args=(0, std)).pvalue > 1e-3
    assert stats.kstest(w, "norm", args=(0, 1.1 * std)).pvalue < 1e-4  # can fail
    assert stats.kstest(w, "uniform", args=(-std * 3**0.5, 2 * std * 3**0.5)).pvalue < 1e-4


@pytest.mark.parametrize("shape", [(500, 200), CONV], ids=["linear", "conv"])
@pytest.mark.parametrize("name", UNIFORM)
def test_ks_uniform(name, shape):
    w, b = draw(name, shape), expected_bound(name, shape)
    assert stats.kstest(w, "uniform", args=(-b, 2 * b)).pvalue > 1e-3
    assert stats.kstest(w, "uniform", args=(-1.1 * b, 2.2 * b)).pvalue < 1e-4  # can fail
    assert np.abs(w).max() <= b


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=4).map(tuple),
    name=st.sampled_from(UNIFORM),
    seed=st.integers(0, 2**31),
)
def test_uniform_schemes_stay_in_bounds(shape, name, seed):
    w = draw(name, shape, seed)
    assert np.isfinite(w).all() and np.abs(w).max() <= expected_bound(name, shape)


# -- orthogonal ------------------------------------------------------------------------
@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("shape", [(30, 100), (100, 30), (50, 50), (16, 8, 3, 3)])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain, gen()).flatten(1)
    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    torch.testing.assert_close(small, gain**2 * torch.eye(len(small), dtype=torch.float64))


def test_orthogonal_matches_torch_property():
    ours = init.orthogonal_(torch.empty(40, 90), 2.0, gen())
    theirs = nn.init.orthogonal_(torch.empty(40, 90), 2.0, generator=gen())
    for w in (ours, theirs):
        torch.testing.assert_close(w @ w.T, 4.0 * torch.eye(40), atol=1e-4, rtol=0)


# -- constants -------------------------------------------------------------------------
def test_zeros_and_constant_fill_every_element():
    assert (init.zeros_(torch.randn(5, 4)) == 0).all()
    assert (init.constant_(torch.randn(3, 4, 2, 2), -1.5) == -1.5).all()


def test_apply_init_constant_makes_rows_identical():
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    init.apply_init(net, InitConfig(scheme="constant", value=0.3))
    for layer in (net[0], net[2]):
        assert torch.equal(layer.weight, layer.weight[:1].expand_as(layer.weight))


# -- apply_init on a user's module ---------------------------------------------------------
class UserNet(nn.Module):
    """A user-defined model: conv block with batch norm, a nested MLP head, a custom layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4, bias=False))
        self.ln = nn.LayerNorm((4, 5))  # 2-D weight, but a normalization: untouched
        self.custom = Bilinear()

    def forward(self, x):  # not needed by the tests
        return self.head(self.bn(self.conv(x)).flatten(1)[:, :32])


class Bilinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(6, 7))
        self.bias = nn.Parameter(torch.full((6,), 9.0))


def snapshot(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_apply_init_user_module():
    torch.manual_seed(0)
    net = UserNet()
    with torch.no_grad():  # make the norm layers distinguishable from a fresh init
        net.bn.weight.fill_(3.0)
        net.ln.weight.fill_(2.0)
    before = snapshot(net)
    out = init.apply_init(net, InitConfig(scheme="kaiming_normal", bias=0.25), generator=gen(3))
    assert out is net
    after = net.state_dict()
    for name in ("conv.weight", "head.0.weight", "head.2.weight", "custom.weight"):
        assert not torch.equal(after[name], before[name]), name
    for name in ("conv.bias", "head.0.bias", "custom.bias"):
        assert (after[name] == 0.25).all(), name
    for name in before:
        if name.startswith(("bn.", "ln.")):
            assert torch.equal(after[name], before[name]), name
    # re-initialized means: exactly the scheme, drawn in module order from the generator
    g = gen(3)
    for name in ("conv.weight", "head.0.weight", "head.2.weight", "custom.weight"):
        expected = init.kaiming_normal_(torch.empty_like(before[name]), generator=g)
        assert torch.equal(after[name], expected), name
    for p in net.parameters():
        assert p.requires_grad and p.grad_fn is None


def test_apply_init_default_changes_nothing():
    net = UserNet()
    before = snapshot(net)
    init.apply_init(net, "default", generator=gen())
    init.apply_init(net, InitConfig(scheme="default", bias=5.0))
    after = net.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_apply_init_is_deterministic_given_the_generator():
    a, b, c = UserNet(), UserNet(), UserNet()
    for net, seed in ((a, 7), (b, 7), (c, 8)):
        init.apply_init(net, "orthogonal", generator=gen(seed))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith(("bn.", "ln.")))
    assert not torch.equal(sa["conv.weight"], sc["conv.weight"])


def test_apply_init_string_uses_default_parameters():
    net = nn.Linear(400, 300)
    init.apply_init(net, "uniform", generator=gen())
    assert net.weight.abs().max().item() <= InitConfig().a
    assert (net.bias == 0).all()


@pytest.mark.parametrize("conv", [nn.Conv1d(4, 6, 3), nn.Conv3d(2, 3, 2)])
def test_apply_init_conv1d_conv3d(conv):
    init.apply_init(conv, InitConfig(scheme="zeros", bias=-1.0))
    assert (conv.weight == 0).all() and (conv.bias == -1.0).all()


def test_unknown_scheme_error_lists_allowed_names():
    msg = r"Unknown init scheme.*xavier_uniform.*Received: cfg='glorot'"
    with pytest.raises(ValueError, match=msg):
        init.apply_init(nn.Linear(2, 2), "glorot")
    with pytest.raises(ValueError, match=msg):
        init.init_tensor_(torch.empty(2, 2), "glorot")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "fan_sum"}, ("Argument `mode` must be one of ('fan_in', 'fan_out', 'fan_avg'). "
                              "Received: mode='fan_sum'")),
        ({"distribution": "cauchy"}, ("Argument `distribution` must be one of "
                                     "('normal', 'uniform'). Received: distribution='cauchy'")),
        ({"scale": -1.0}, "Argument `scale` must be a positive float. Received: scale=-1.0"),
    ],
)
def test_variance_scaling_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        init.variance_scaling_(torch.empty(3, 3), **kwargs)


def test_preset_argument_errors():
    with pytest.raises(ValueError, match=re.escape("Received: mode='out'")):
        init.xavier_normal_(torch.empty(3, 3), mode="out")
    with pytest.raises(ValueError, match=re.escape("Received: std=0.0")):
        init.normal_(torch.empty(3, 3), 0.0)


def test_functions_work_on_parameters_outside_no_grad():
    layer = nn.Linear(3, 4)
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.zeros_):
        fn(layer.weight)  # in-place on a leaf that requires grad: needs no_grad inside
    assert layer.weight.requires_grad


def test_every_function_honours_the_generator():
    for name, fn in init.SCHEMES.items():
        if name in ("default", "zeros", "constant"):
            continue
        a, b = fn(torch.empty(20, 10), generator=gen(5)), fn(torch.empty(20, 10), generator=gen(5))
        assert torch.equal(a, b), name
        assert not torch.equal(a, fn(torch.empty(20, 10), generator=gen(6))), name


# -- torch.nn.init as the outside reference -----------------------------------------------
def test_xavier_uniform_bound_equals_torch():
    bound = math.sqrt(6 / (1000 + 1000))
    ours = init.xavier_uniform_(torch.empty(SQUARE), gen(0)).abs().max().item()
    theirs = nn.init.xavier_uniform_(torch.empty(SQUARE), generator=gen(1)).abs().max().item()
    for m in (ours, theirs):
        assert bound * (1 - 1e-4) < m <= bound  # 10^6 draws come within 1e-4 of the edge
    assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (init.kaiming_normal_,
         lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g)),
        (init.kaiming_uniform_,
         lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)),
        (init.xavier_normal_, lambda w, g: nn.init.xavier_normal_(w, generator=g)),
        (init.xavier_uniform_, lambda w, g: nn.init.xavier_uniform_(w, generator=g)),
    ],
    ids=["kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"],
)
def test_same_distribution_as_torch(ours, theirs):
    a = ours(torch.empty(CONV), generator=gen(0)).flatten().numpy()
    b = theirs(torch.empty(CONV), gen(1)).flatten().numpy()
    assert a.std() == pytest.approx(b.std(), rel=0.03)
    assert stats.ks_2samp(a, b).pvalue > 1e-3


def test_kaiming_normal_std_matches_torch_and_formula():
    fan_in = 500
    ours = init.kaiming_normal_(torch.empty(LINEAR), gen(0)).std().item()
    theirs = nn.init.kaiming_normal_(torch.empty(LINEAR), nonlinearity="relu", generator=gen(1))
    for s in (ours, theirs.std().item()):
        assert s == pytest.approx(math.sqrt(2 / fan_in), rel=0.01)
