"""Theory beside measurement: the variance each layer of an MLP should have at init.

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
output is scaled by exactly scale^(L-1).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import RunConfig

REGIMES = ("gaussian", "linear")
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
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
    moment = input_moment
    for i in range(n):
        z_var = fan_in[i] * var_w[i] * moment
        last = i == n - 1
        moment, slope = (None, None) if last else activation_moments(activation, z_var, regime)
        rows.append({"z_var": z_var, "a_moment": moment, "slope": slope,
                     "grad_a_var": None, "grad_z_var": None})
    grad_z = output_grad_var
    rows[-1]["grad_z_var"] = grad_z
    for i in range(n - 1, 0, -1):
        grad_a = fan_out[i] * var_w[i] * grad_z
        grad_z = rows[i - 1]["slope"] * grad_a
        rows[i - 1]["grad_a_var"], rows[i - 1]["grad_z_var"] = grad_a, grad_z
    for row in rows:
        del row["slope"]
    return rows


# -- measurement -----------------------------------------------------------------------
def _measured(records: list[dict], step: int = 0) -> dict[tuple[str, str], float]:
    return {(r["layer"], r["quantity"]): r["value"] for r in records
            if r["step"] == step and not isinstance(r["value"], dict)}


def mlp_layers(records: list[dict], step: int = 0) -> list[tuple[str, str | None]]:
    """The (weight layer, activation layer) pairs of an MLP in forward order, from a
    probe's records: every pre-activation layer followed by the activation after it;
    the last one (the output) has none."""
    order: list[tuple[str, str]] = []
    for r in records:
        if r["step"] == step and r["quantity"] in ("preact_mean", "act_mean"):
            order.append((r["layer"], r["quantity"].split("_")[0]))
    pairs: list[tuple[str, str | None]] = []
    for (layer, role), nxt in zip(order, order[1:] + [("", "")]):
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
