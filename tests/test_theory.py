"""Variance propagation at init: formulas, theory against measurement, the toy network."""

import math
from itertools import pairwise

import pytest
import torch
from torch import nn

from fitscope import RunConfig
from fitscope.config import InitConfig
from fitscope.init import apply_init
from fitscope.probe import probe
from fitscope.probe.theory import activation_moments, linear_toy_network, propagate, theory_table


def test_activation_moments_closed_forms_and_quadrature():
    assert activation_moments("relu", 3.0) == (1.5, 0.5)
    assert activation_moments("linear", 3.0) == (3.0, 1.0)
    assert activation_moments("tanh", 0.3, "linear") == (0.3, 1.0)
    assert activation_moments("sigmoid", 0.8, "linear") == (0.25 + 0.05, 1 / 16)
    # small v: the Gaussian regime tends to the linear one (tanh z ~ z - z^3/3)
    m2, slope = activation_moments("tanh", 1e-4)
    assert m2 == pytest.approx(1e-4, rel=1e-3) and slope == pytest.approx(1.0, rel=1e-3)
    # against Monte Carlo at v = 1
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m2, slope = activation_moments("tanh", 1.0)
    assert m2 == pytest.approx(float(torch.tanh(z).square().mean()), rel=3e-3)
    assert slope == pytest.approx(float((1 - torch.tanh(z) ** 2).square().mean()), rel=3e-3)
    m2, _ = activation_moments("sigmoid", 4.0)
    assert m2 == pytest.approx(float(torch.sigmoid(2 * z).square().mean()), rel=3e-3)
    with pytest.raises(ValueError, match="activation"):
        activation_moments("gelu", 1.0)
    with pytest.raises(ValueError, match="regime"):
        activation_moments("tanh", 1.0, "exact")


def test_propagate_follows_the_recursions():
    rows = propagate([4, 10, 10], [10, 10, 3], [0.5, 0.2, 0.1], "relu", 2.0, 0.01)
    assert rows[0]["z_var"] == pytest.approx(4 * 0.5 * 2.0)
    assert rows[0]["a_moment"] == pytest.approx(2.0)
    assert rows[1]["z_var"] == pytest.approx(10 * 0.2 * 2.0)
    assert rows[2]["z_var"] == pytest.approx(10 * 0.1 * 2.0)
    assert rows[2]["a_moment"] is None and rows[2]["grad_z_var"] == 0.01
    assert rows[1]["grad_a_var"] == pytest.approx(3 * 0.1 * 0.01)
    assert rows[1]["grad_z_var"] == pytest.approx(0.5 * 3 * 0.1 * 0.01)
    assert rows[0]["grad_a_var"] == pytest.approx(10 * 0.2 * rows[1]["grad_z_var"])


@pytest.mark.slow
@pytest.mark.parametrize("scheme, activation", [("xavier_normal", "tanh"),
                                                ("kaiming_normal", "relu")])
def test_theory_agrees_with_measurement_within_10_percent_on_wide_layers(scheme, activation):
    cfg = RunConfig.model_validate({
        "data": {"name": "digits"}, "init": {"scheme": scheme},
        "model": {"depth": 4, "width": 512, "activation": activation}})
    rows = theory_table(cfg)
    assert [r["layer"] for r in rows] == [f"hidden.{i}.linear" for i in range(4)] + ["out"]
    for r in rows[1:-1]:  # layers whose fan-in and width are both 512
        for key in ("z_var", "a_moment", "grad_a_var", "grad_z_var"):
            assert r[key] == pytest.approx(r[f"{key}_measured"], rel=0.10), (r["layer"], key)


def test_the_linear_regime_overstates_tanh_variance_at_unit_input():
    cfg = RunConfig.model_validate({
        "data": {"name": "digits"}, "init": {"scheme": "xavier_normal"},
        "model": {"depth": 3, "width": 256, "activation": "tanh"}})
    linear = theory_table(cfg, regime="linear")
    assert linear[1]["a_moment"] > 1.3 * linear[1]["a_moment_measured"]


def test_theory_table_names_what_it_cannot_cover():
    with pytest.raises(ValueError, match="batch_norm"):
        theory_table(RunConfig.model_validate({"model": {"batch_norm": True}}))


@pytest.mark.parametrize("scale", [1.5, 0.5])
def test_linear_toy_network_scales_the_output_by_scale_to_the_L_minus_1(scale):
    depth = 10
    net = linear_toy_network(depth, scale).double()
    x = torch.tensor([[1.0, -2.0], [0.3, 0.7]], dtype=torch.float64)
    assert torch.allclose(net(x), scale ** (depth - 1) * x, rtol=1e-12, atol=0)
    with probe(net, every=1) as p:  # layer by layer: each hidden layer multiplies by scale
        net(x).sum().backward()
    stds = [r["value"] for r in p.records if r["quantity"] == "preact_std"]
    for a, b in pairwise(stds[:-1]):
        assert b / a == pytest.approx(scale, rel=1e-5)
    assert stds[-1] == pytest.approx(stds[-2], rel=1e-5)  # W[L] = I


@pytest.mark.slow
def test_deep_relu_he_keeps_variance_and_xavier_halves_it_per_layer():
    """The derivation is about the expectation over weights: average E[a^2] per layer
    over draws (one draw of a finite-width deep net drifts by a random walk)."""
    depth, width, draws = 20, 256, 8
    x = torch.randn(128, width, generator=torch.Generator().manual_seed(99))
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    net = nn.Sequential(*layers)

    def second_moments(scheme, mode="avg"):
        per_draw = []
        for seed in range(draws):
            apply_init(net, InitConfig(scheme=scheme, xavier_mode=mode),
                       generator=torch.Generator().manual_seed(seed))
            with probe(net, every=1, bins=2) as p:
                net(x)
            got = {(r["layer"], r["quantity"]): r["value"] for r in p.records}
            # E[a^2] = std^2 + mean^2: the second moment He's derivation keeps
            per_draw.append([got[(str(i), "act_std")] ** 2 + got[(str(i), "act_mean")] ** 2
                             for i in range(1, 2 * depth, 2)])
        return [sum(col) / draws for col in zip(*per_draw)]

    he = second_moments("kaiming_normal")
    in_moment = float(x.square().mean())
    assert all(0.5 * in_moment < v < 2 * in_moment for v in he), he
    for mode in ("avg", "in"):  # square layers: both Xavier variants give Var(W) = 1/n
        xavier = second_moments("xavier_normal", mode)
        ratios = [b / a for a, b in pairwise(xavier)]
        assert all(0.35 < r < 0.65 for r in ratios), ratios
        per_layer = (xavier[-1] / xavier[0]) ** (1 / (depth - 1))
        assert per_layer == pytest.approx(0.5, rel=0.05)


# -- a residual network and a CNN with batch norm ----------------------------------------
def test_activation_mean_against_monte_carlo():
    from fitscope.probe.theory import activation_mean

    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for v in (0.5, 4.0):
        s = math.sqrt(v)
        assert activation_mean("relu", v) == pytest.approx(float(torch.relu(s * z).mean()),
                                                           rel=3e-3)
        assert activation_mean("sigmoid", v) == pytest.approx(
            float(torch.sigmoid(s * z).mean()), abs=2e-3)
        assert activation_mean("tanh", v) == 0.0


@pytest.mark.parametrize(("activation", "scheme", "tol"), [("relu", "kaiming_normal", 0.1),
                                                           ("tanh", "xavier_normal", 0.05)])
def test_residual_theory_follows_the_measurement_where_the_plain_derivation_fails(
        activation, scheme, tol):
    """Width 512, 4 blocks: the additive recursion (with ReLU's means) is within 10% at
    every stage; the notes' multiplicative one, right for the input layer, is several
    times too small by the last block."""
    from fitscope.probe.cases import ResidualMLP
    from fitscope.probe.theory import residual_table

    torch.manual_seed(0)
    model = ResidualMLP(16, 10, width=512, depth=4, activation=activation)
    apply_init(model, InitConfig(scheme=scheme))
    rows = residual_table(model, torch.randn(1024, 16), activation)
    assert [r["stage"] for r in rows] == ["inp", "blocks.0", "blocks.1", "blocks.2",
                                          "blocks.3"]
    assert [r["applies"] for r in rows] == [True, False, False, False, False]
    for r in rows:
        assert r["h_moment"] == pytest.approx(r["h_moment_measured"], rel=tol)
    assert rows[0]["plain"] == pytest.approx(rows[0]["h_moment_measured"], rel=0.05)
    assert rows[-1]["h_moment_measured"] > 3 * rows[-1]["plain"]
    if activation == "relu":  # each block at least doubles E[h^2] under He
        assert all(b["h_moment_measured"] > 2 * a["h_moment_measured"]
                   for a, b in pairwise(rows[1:]))
        assert rows[-1]["h_mean"] == pytest.approx(rows[-1]["h_mean_measured"], rel=0.05)


@pytest.mark.parametrize("init", [InitConfig(scheme="kaiming_normal"),
                                  InitConfig(scheme="normal", std=1.0),
                                  InitConfig(scheme="normal", std=0.01)])
def test_batch_norm_stops_the_variance_recursion_at_every_block(init):
    """Before batch norm the conv follows fan_in Var(W) E[a^2] (within 15%: zero padding
    thins the border); after it the variance is 1 whatever the init's scale, and the
    ReLU's E[a^2] is 1/2. The model's running statistics are left as they were."""
    from fitscope.config import ModelConfig
    from fitscope.models import CNN
    from fitscope.probe.theory import batchnorm_cnn_table

    torch.manual_seed(0)
    net = CNN((1, 16, 16), 10, ModelConfig(kind="cnn", batch_norm=True, channels=(64, 64)))
    apply_init(net, init)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    rows = batchnorm_cnn_table(net, torch.randn(256, 256))
    assert not net.training
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert [r["fan_in"] for r in rows] == [9, 64 * 9]
    # on white-noise input, the border's missing terms make the first conv a little lower
    assert rows[0]["conv_var_measured"] < rows[0]["conv_var"]
    for r in rows:
        assert r["conv_var_measured"] == pytest.approx(r["conv_var"], rel=0.15)
        assert r["bn_var_measured"] == pytest.approx(1.0, abs=0.02)
        assert r["act_moment_measured"] == pytest.approx(0.5, rel=0.03)


def test_the_batch_norm_table_needs_batch_norm():
    from fitscope.config import ModelConfig
    from fitscope.models import CNN
    from fitscope.probe.theory import batchnorm_cnn_table

    net = CNN((1, 8, 8), 10, ModelConfig(kind="cnn"))
    with pytest.raises(ValueError, match="batch_norm"):
        batchnorm_cnn_table(net, torch.randn(4, 64))
