"""Theory beside measurement: the variance each layer of an MLP should have at init, and
where the derivation stops applying (skip connections, batch norm).

The notes' derivation (Glorot and Bengio 2010; He et al. 2015), for layers l = 1..L with
``n[l]`` units, zero-mean independent weights and inputs, zero biases::

    z[l] = W[l] a[l-1],  a[l] = g(z[l]),  a[0] = x

    forward:   Var(z[l]) = n[l-1] Var(W[l]) E[a[l-1]^2]
    backward:  Var(dL/da[l-1]) = n[l] Var(W[l]) Var(dL/dz[l])
               Var(dL/dz[l]) = E[g'(z[l])^2] Var(dL/da[l])

E[a^2] equals Var(a) for a zero-mean activation (the notes' form); ReLU outputs are not
zero-mean, so He's form with E[a^2] is the one used. The activation enters through two
numbers, E[g(z)^2] and E[g'(z)^2] for z ~ N(0, v) (:func:`activation_moments`):

- ``linear``: v and 1;
- ``relu``: v / 2 and 1 / 2, exact for any z symmetric about 0 (He et al. 2015);
- ``tanh``, ``sigmoid`` in the ``"linear"`` regime (the notes: tanh(z) ~ z for small z,
  so Var(a) ~ Var(z); sigmoid(z) ~ 1/2 + z/4): v and 1 for tanh, 1/4 + v/16 and 1/16
  for sigmoid;
- ``tanh``, ``sigmoid`` in the ``"gaussian"`` regime: the same expectations computed
  exactly for a Gaussian z by Gauss-Hermite quadrature, without the small-z
  approximation (the mean-field view: Poole et al. 2016). The linear regime overstates
  the variance once Var(z) is near 1, where tanh already bends.

:func:`theory_table` puts the predictions beside a probe's measurements at
initialization; :func:`linear_toy_network` is the notes' deep linear network whose
output is scaled by exactly scale^(L-1). :func:`residual_table` (skip connections: the
second moments add, the notes' recursion holds for the input layer only) and
:func:`batchnorm_cnn_table` (the recursion holds for each conv up to its batch norm,
which resets the variance to 1) say where the derivation applies and where it does not.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..core.activations import TABLE

REGIMES = ("gaussian", "linear")
ACTIVATIONS = tuple(TABLE)  # the activation table's names
_QUADRATURE_NODES = 64


@functools.lru_cache(maxsize=1)
def _hermite() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.hermite.hermgauss(_QUADRATURE_NODES)


def gaussian_expectation(f, v: float) -> float:
    """E[f(z)] for z ~ N(0, v): (1 / sqrt(pi)) sum_i w_i f(sqrt(2 v) x_i), with the
    Gauss-Hermite nodes x_i and weights w_i (64 nodes)."""
    x, w = _hermite()
    return float(np.dot(w, f(math.sqrt(2.0 * v) * x)) / math.sqrt(math.pi))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def activation_moments(activation: str, v: float, regime: str = "gaussian") -> tuple[float, float]:
    """(E[g(z)^2], E[g'(z)^2]) for z ~ N(0, v); see the module docstring for each case."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"Argument `activation` must be one of {ACTIVATIONS}. "
                         f"Received: activation={activation!r}")
    if regime not in REGIMES:
        raise ValueError(f"Argument `regime` must be one of {REGIMES}. Received: regime={regime!r}")
    if activation == "linear":
        return v, 1.0
    if activation == "relu":
        return v / 2.0, 0.5
    if regime == "linear":
        return (v, 1.0) if activation == "tanh" else (0.25 + v / 16.0, 1.0 / 16.0)
    if activation == "tanh":
        return (gaussian_expectation(lambda z: np.tanh(z) ** 2, v),
                gaussian_expectation(lambda z: (1.0 - np.tanh(z) ** 2) ** 2, v))
    return (gaussian_expectation(lambda z: _sigmoid(z) ** 2, v),
            gaussian_expectation(lambda z: (_sigmoid(z) * (1.0 - _sigmoid(z))) ** 2, v))


def propagate(fan_in: list[int], fan_out: list[int], var_w: list[float], activation: str,
              input_moment: float, output_grad_var: float,
              regime: str = "gaussian") -> list[dict[str, float | None]]:
    """Predicted statistics of layers 1..L of an MLP (formulas in the module docstring).

    ``fan_in[l]``, ``fan_out[l]`` and ``var_w[l]`` describe W[l+1]; ``input_moment`` is
    E[x^2] of the input; ``output_grad_var`` is Var(dL/dz[L]) at the output, where the
    backward pass starts. Returns one dict per layer: ``z_var`` = Var(z[l]),
    ``a_moment`` = E[a[l]^2], ``grad_a_var`` = Var(dL/da[l]), ``grad_z_var`` =
    Var(dL/dz[l]); the output layer has no activation (``a_moment``, ``grad_a_var`` None).
    """
    n = len(var_w)
    if not n == len(fan_in) == len(fan_out):
        raise ValueError(f"fan_in, fan_out and var_w need one entry per layer; got lengths "
                         f"{len(fan_in)}, {len(fan_out)}, {len(var_w)}")
    rows: list[dict[str, float | None]] = []
    slopes: list[float] = []  # E[g'(z)^2] of each hidden layer, for the backward pass
    moment = input_moment
    for i in range(n):
        z_var = fan_in[i] * var_w[i] * moment
        if i == n - 1:  # the output layer: no activation
            rows.append({"z_var": z_var, "a_moment": None, "grad_a_var": None,
                         "grad_z_var": None})
            break
        moment, slope = activation_moments(activation, z_var, regime)
        slopes.append(slope)
        rows.append({"z_var": z_var, "a_moment": moment, "grad_a_var": None,
                     "grad_z_var": None})
    grad_z = output_grad_var
    rows[-1]["grad_z_var"] = grad_z
    for i in range(n - 1, 0, -1):
        grad_a = fan_out[i] * var_w[i] * grad_z
        grad_z = slopes[i - 1] * grad_a
        rows[i - 1]["grad_a_var"], rows[i - 1]["grad_z_var"] = grad_a, grad_z
    return rows


# -- measurement -----------------------------------------------------------------------
def _measured(records: list[dict], step: int = 0) -> dict[tuple[str, str], float]:
    return {(r["layer"], r["quantity"]): r["value"] for r in records
            if r["step"] == step and not isinstance(r["value"], dict)}


def mlp_layers(records: list[dict], step: int = 0) -> list[tuple[str, str | None]]:
    """The (weight layer, activation layer) pairs of an MLP in forward order, from a
    probe's records: every pre-activation layer followed by the activation after it;
    the last one (the output) has none."""
    order: list[tuple[str, str]] = [
        (r["layer"], r["quantity"].split("_")[0]) for r in records
        if r["step"] == step and r["quantity"] in ("preact_mean", "act_mean")]
    pairs: list[tuple[str, str | None]] = []
    for (layer, role), nxt in zip(order, [*order[1:], ("", "")]):
        if role == "preact":
            pairs.append((layer, nxt[0] if nxt[1] == "act" else None))
    return pairs


def compare(model: nn.Module, records: list[dict], activation: str, input_moment: float,
            regime: str = "gaussian") -> list[dict[str, Any]]:
    """Theory beside measurement for a probed MLP at step 0.

    ``records`` come from one probed forward and backward pass of ``model`` (an MLP of
    Linear layers, each hidden one followed by an ``activation`` module); Var(W) is each
    weight's mean square, the input's E[x^2] is ``input_moment``, and the backward
    theory starts from the measured Var(dL/dz) at the output. Each row has ``layer``,
    ``fan_in``, ``var_w`` and, for z_var, a_moment, grad_a_var, grad_z_var, the keys
    ``<name>`` (theory) and ``<name>_measured``.
    """
    got = _measured(records)
    pairs = mlp_layers(records)
    modules = dict(model.named_modules())
    weights = [modules[layer].weight.detach() for layer, _ in pairs]
    out_std = got[(pairs[-1][0], "preact_grad_std")]
    theory = propagate([w.shape[1] for w in weights], [w.shape[0] for w in weights],
                       [float(w.square().mean()) for w in weights], activation,
                       input_moment, out_std**2, regime)
    rows = []
    for (layer, act), w, th in zip(pairs, weights, theory):
        measured = {
            "z_var": got[(layer, "preact_std")] ** 2,
            "grad_z_var": got[(layer, "preact_grad_std")] ** 2,
            "a_moment": (got[(act, "act_std")] ** 2 + got[(act, "act_mean")] ** 2) if act else None,
            "grad_a_var": got[(act, "act_grad_std")] ** 2 if act else None,
        }
        row = {"layer": layer, "fan_in": w.shape[1], "var_w": float(w.square().mean()), **th}
        row.update({f"{k}_measured": v for k, v in measured.items()})
        rows.append(row)
    return rows


def probe_table(p: Any, activation: str, input_moment: float,
                regime: str = "gaussian") -> list[dict[str, Any]]:
    """:func:`compare` for a :class:`~fitscope.probe.hooks.Probe` from your own loop:
    its model and the records of its first probed step (probe the step before the first
    update; an MLP of Linear layers and ``activation`` modules), with E[x^2] of its
    inputs ``input_moment``."""
    return compare(p.model, p.records, activation, input_moment, regime)


def theory_table(config: RunConfig, regime: str = "gaussian",
                 max_examples: int = 512) -> list[dict[str, Any]]:
    """:func:`compare` for the MLP ``config`` describes, at its initialization.

    Builds the model and its init (seed ``budget.seed``) as training would, runs one
    probed forward and backward pass on up to ``max_examples`` training examples in
    eval mode (dropout off), and compares. Needs ``model.kind = "mlp"`` without batch
    norm or auxiliary tasks.
    """
    from ..engine import Trainer
    from .hooks import probe

    m = config.model
    if m.kind != "mlp" or m.batch_norm or config.task.aux:
        raise ValueError("theory_table covers plain MLPs: it needs model.kind='mlp', "
                         f"model.batch_norm=false and no task.aux; got model.kind={m.kind!r}, "
                         f"model.batch_norm={m.batch_norm}, task.aux={len(config.task.aux)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.budget.seed)
        trainer = Trainer(config)
    x = trainer.x_train[:max_examples]
    y = trainer.y_train[:max_examples]
    model = trainer.model.eval()
    with probe(model, every=1, bins=2) as p:
        trainer.data_loss(model(x), y).backward()
    return compare(model, p.records, m.activation, float(x.square().mean()), regime)


def linear_toy_network(depth: int, scale: float, width: int = 2) -> nn.Sequential:
    """The notes' deep linear network: L = ``depth`` bias-free Linear(width, width)
    layers, W[1] = ... = W[L-1] = scale * I and W[L] = I, identity activations, so

        y_hat = W[L] W^(L-1) x = scale^(L-1) x

    exactly: the output explodes for scale = 1.5 and vanishes for scale = 0.5.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"Argument `depth` must be an int >= 1. Received: depth={depth!r}")
    layers = []
    for i in range(depth):
        layer = nn.Linear(width, width, bias=False)
        with torch.no_grad():
            layer.weight.copy_(torch.eye(width) * (scale if i < depth - 1 else 1.0))
        layers.append(layer)
    return nn.Sequential(*layers)


# -- beyond the plain MLP: skip connections and batch norm -------------------------------
def residual_propagate(input_moment: float, fan_in: list[int], var_w: list[float],
                       activation: str, regime: str = "gaussian") -> list[dict[str, float]]:
    """Predicted E[h^2] through a residual MLP ``h[0] = W[0] x``, ``h[k+1] = h[k] +
    g(W[k+1] h[k])`` (zero biases, zero-mean input), one dict per stage (the input
    layer, then each block):

        E[h[0]^2]   = n[0] Var(W[0]) E[x^2],  E[h[0]] = 0        (the notes' formula)
        Var(z[k+1]) = n[k+1] Var(W[k+1]) E[h[k]^2]
        E[h[k+1]]   = E[h[k]] + E[g(z[k+1])]
        E[h[k+1]^2] = E[h[k]^2] + E[g(z[k+1])^2] + 2 E[h[k]] E[g(z[k+1])]

    with z ~ N(0, Var(z)) for the activation's moments (:func:`activation_mean`,
    :func:`activation_moments`). The cross term is a product of means because z[k+1]_i
    depends on h[k]_i only through the one weight W_ii (an O(1/n) correlation); it is not
    small for ReLU, whose branches all add a positive mean. The second moments *add* at
    each block instead of being multiplied, so the notes' condition n Var(W) E[g'^2] = 1
    no longer keeps the scale: with He and ReLU E[h^2] more than doubles per block.
    ``plain`` is what the notes' derivation gives for the same layers without the skips.
    """
    if len(fan_in) != len(var_w) or not fan_in:
        raise ValueError(f"fan_in and var_w need one entry per stage; got lengths "
                         f"{len(fan_in)}, {len(var_w)}")
    moment, mean = fan_in[0] * var_w[0] * input_moment, 0.0
    plain = moment
    rows = [{"h_moment": moment, "h_mean": mean, "plain": plain}]
    for n, v in zip(fan_in[1:], var_w[1:]):
        z_var = n * v * moment
        branch, branch_mean = (activation_moments(activation, z_var, regime)[0],
                               activation_mean(activation, z_var))
        plain = activation_moments(activation, n * v * plain, regime)[0]
        moment = moment + branch + 2 * mean * branch_mean
        mean = mean + branch_mean
        rows.append({"h_moment": moment, "h_mean": mean, "plain": plain})
    return rows


def activation_mean(activation: str, v: float) -> float:
    """E[g(z)] for z ~ N(0, v): 0 for linear and tanh (odd), 1/2 for sigmoid
    (sigmoid(z) - 1/2 is odd), sqrt(v / (2 pi)) for ReLU (half the mean of |z|)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"Argument `activation` must be one of {ACTIVATIONS}. "
                         f"Received: activation={activation!r}")
    return {"relu": math.sqrt(v / (2 * math.pi)), "sigmoid": 0.5}.get(activation, 0.0)


def residual_table(model: nn.Module, x: torch.Tensor, activation: str,
                   regime: str = "gaussian") -> list[dict[str, Any]]:
    """Theory beside measurement for a residual MLP at init (:func:`residual_propagate`).

    ``model`` has ``inp`` (a Linear), ``blocks`` (each ``Sequential(Linear, activation)``,
    added to its input) and ``out``, as :class:`fitscope.probe.cases.ResidualMLP`. One
    forward pass on ``x`` (no gradient) measures E[h^2] and E[h] after the input layer
    and after each block. Each row: ``stage``, ``fan_in``, ``var_w`` (the weight's mean
    square), ``h_moment`` and ``h_mean`` (theory), ``h_moment_measured``,
    ``h_mean_measured``, ``plain`` (the notes' derivation without the skips) and
    ``applies``: whether the notes' multiplicative recursion holds there (the input
    layer only).
    """
    blocks = list(model.get_submodule("blocks").children())
    layers = [("inp", model.get_parameter("inp.weight"))] + [
        (f"blocks.{i}", b.get_parameter("0.weight")) for i, b in enumerate(blocks)]
    seen: list[torch.Tensor] = []
    hooks = [b.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
             for b in [*blocks, model.get_submodule("out")]]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    weights = [w.detach() for _, w in layers]
    theory = residual_propagate(float(x.square().mean()), [w.shape[1] for w in weights],
                                [float(w.square().mean()) for w in weights], activation, regime)
    return [{"stage": name, "fan_in": w.shape[1], "var_w": float(w.square().mean()),
             **th, "h_moment_measured": float(h.square().mean()),
             "h_mean_measured": float(h.mean()), "applies": name == "inp"}
            for (name, _), w, th, h in zip(layers, weights, theory, seen)]


def batchnorm_cnn_table(model: nn.Module, x: torch.Tensor) -> list[dict[str, Any]]:
    """Theory beside measurement for a CNN with batch norm at init, in training mode (the
    batch's own statistics), one row per conv block of :class:`fitscope.models.CNN`
    (conv -> batch norm -> activation [-> pool]).

    - ``conv_var``: E[z^2] of the conv = fan_in Var(W) E[a^2] of its input, fan_in =
      C_in k^d: the notes' formula, the conv being a Linear map applied at every position.
      It applies inside the image; zero padding leaves border outputs fewer terms, so
      the measured value is a little lower. E[a^2] is the *measured* input of the block
      (after the previous pooling, which the derivation does not cover). It holds on
      average over the weights: after a ReLU every input shares a positive mean, and one
      fixed filter's response to that mean, (sum of its weights)^2, varies from filter to
      filter, so few channels give a noisy measurement.
    - ``bn_var``: 1 (gamma = 1, beta = 0 at init; measured: the mean over channels of
      each channel's variance): batch norm divides each channel by
      its batch spread, so the output's variance no longer depends on Var(W) or on
      depth: the notes' per-layer recursion stops at every batch-norm layer.
    - ``act_moment``: E[g(z)^2] for z ~ N(0, 1) (:func:`activation_moments`).

    ``x`` is a batch in the model's flat input layout; the model is put back in the mode
    it was in, and its batch-norm running statistics are restored.
    """
    rows: list[dict[str, Any]] = []
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    blocks = list(model.get_submodule("features").children())
    for i, block in enumerate(blocks):
        for part in ("conv", "bn", "act"):
            if not hasattr(block, part):
                raise ValueError("batchnorm_cnn_table needs conv blocks with batch norm "
                                 "(model.batch_norm = true)")
            hooks.append(getattr(block, part).register_forward_hook(
                lambda _, args, out, key=f"{i}.{part}": captured.update(
                    {key: out, f"{key}.in": args[0]})))
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    act_name = next(n for n, a in TABLE.items()
                    if isinstance(blocks[0].get_submodule("act"), a.module))
    for i, block in enumerate(blocks):
        w = block.get_parameter("conv.weight").detach()
        fan_in = w[0].numel()
        a_in = float(captured[f"{i}.conv.in"].square().mean())
        var_w = float(w.square().mean())
        conv = captured[f"{i}.conv"]
        bn = captured[f"{i}.bn"]
        rows.append({
            "block": i, "fan_in": fan_in, "var_w": var_w, "input_moment_measured": a_in,
            "conv_var": fan_in * var_w * a_in, "conv_var_measured": float(conv.square().mean()),
            "bn_var": 1.0, "bn_var_measured": float(bn.transpose(0, 1).flatten(1).var(1).mean()),
            "act_moment": activation_moments(act_name, 1.0)[0],
            "act_moment_measured": float(captured[f"{i}.act"].square().mean())})
    return rows
