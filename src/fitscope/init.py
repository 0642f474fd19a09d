"""Weight initialization: one general rule (variance scaling) and the named schemes as presets.

Every function fills a tensor in place, returns it and takes an optional
``torch.Generator`` (same generator state, same weights), like :mod:`torch.nn.init`.
Each formula is written once, in the docstring of the function that computes it.
Notation: for a weight ``w`` of shape ``(out, in, *kernel)``, ``n_in = fan_in`` and
``n_out = fan_out`` are given by :func:`fan_in_out`.

The presets are settings of :func:`variance_scaling_` (Keras' ``VarianceScaling``)::

    scheme                    scale  mode      distribution
    xavier_normal (mode avg)  1      fan_avg   normal
    xavier_normal (mode in)   1      fan_in    normal
    xavier_uniform            1      fan_avg   uniform
    kaiming_normal            2      fan_in    normal
    kaiming_uniform           2      fan_in    uniform
    lecun_normal              1      fan_in    normal

:func:`apply_init` applies an :class:`~fitscope.config.InitConfig` (or a scheme name)
to every weight layer of any ``nn.Module``; biases are set to ``cfg.bias`` (0 unless set).

Example::

    model = MyNet()
    apply_init(model, "xavier_uniform", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn

from fitscope.config import InitConfig

__all__ = [
    "SCHEMES", "apply_init", "constant_", "fan_in_out", "init_tensor_", "kaiming_normal_",
    "kaiming_uniform_", "lecun_normal_", "normal_", "orthogonal_", "uniform_",
    "variance_scaling_", "xavier_normal_", "xavier_uniform_", "zeros_",
]

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "uniform")
_XAVIER_MODES = ("avg", "in")


# -- argument checks (Keras-style messages: argument name and received value) -----------
def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"Argument `{name}` must be one of {allowed}. Received: {name}={value!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"Argument `{name}` must be a positive float. Received: {name}={value!r}")


def _check_matrix(w: Tensor, fn: str) -> None:
    if w.dim() < 2:
        raise ValueError(
            f"{fn} needs a weight with at least 2 dimensions (out, in, *kernel). "
            f"Received: w.shape={tuple(w.shape)}"
        )


# -- fans and the general rule ---------------------------------------------------------
def fan_in_out(w: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear ``(out, in)`` or Conv ``(out, in, *kernel)`` weight.

    fan_in = in * prod(kernel),  fan_out = out * prod(kernel).

    For a grouped conv ``in`` is ``in_channels / groups``, as stored in the weight.
    """
    _check_matrix(w, "fan_in_out")
    receptive = math.prod(w.shape[2:])  # 1 for a Linear weight
    return w.shape[1] * receptive, w.shape[0] * receptive


@torch.no_grad()
def variance_scaling_(
    w: Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "normal",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``w`` with zero-mean noise of variance ``scale / n`` (Keras ``VarianceScaling``).

    Var(W) = scale / n,  n = fan_in, fan_out or (fan_in + fan_out) / 2  for ``mode`` =
    "fan_in", "fan_out", "fan_avg" (fans from :func:`fan_in_out`, ``n`` at least 1).

    - ``distribution="normal"``:  W ~ N(0, scale / n)   (not truncated, unlike Keras)
    - ``distribution="uniform"``: W ~ U(-b, b),  b = sqrt(3 * scale / n),  since
      Var(U(-b, b)) = b^2 / 3.

    Why: with zero-mean, independent weights and inputs, a unit ``z = sum_j W_j x_j`` over
    ``n_in`` inputs has Var(z) = n_in Var(W) Var(x) (LeCun et al. 1998, "Efficient
    BackProp"); ``scale`` corrects for the activation (2 for ReLU, He et al. 2015).
    """
    _check_positive("scale", scale)
    _check_choice("mode", mode, _MODES)
    _check_choice("distribution", distribution, _DISTRIBUTIONS)
    fan_in, fan_out = fan_in_out(w)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    var = scale / max(1.0, n)
    if distribution == "normal":
        return w.normal_(0.0, math.sqrt(var), generator=generator)
    bound = math.sqrt(3.0 * var)
    return w.uniform_(-bound, bound, generator=generator)


# -- simple fills ----------------------------------------------------------------------
@torch.no_grad()
def zeros_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """W = 0. Every unit computes the same thing: symmetry is never broken (notes, 001)."""
    return w.zero_()


@torch.no_grad()
def constant_(w: Tensor, value: float, generator: torch.Generator | None = None) -> Tensor:
    """W = ``value`` everywhere; like zeros, units stay identical (notes, 001)."""
    return w.fill_(value)


@torch.no_grad()
def normal_(w: Tensor, std: float = 0.01, generator: torch.Generator | None = None) -> Tensor:
    """W ~ N(0, std^2): a fixed scale, blind to the layer's size (notes, 003: 0.01 * N(0, 1))."""
    _check_positive("std", std)
    return w.normal_(0.0, std, generator=generator)


@torch.no_grad()
def uniform_(w: Tensor, a: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """W ~ U(-a, a), so Var(W) = a^2 / 3; a fixed scale, blind to the layer's size."""
    _check_positive("a", a)
    return w.uniform_(-a, a, generator=generator)


# -- presets of variance_scaling_ ------------------------------------------------------
def xavier_normal_(
    w: Tensor, mode: str = "avg", generator: torch.Generator | None = None
) -> Tensor:
    """Xavier / Glorot normal.

    - ``mode="avg"``: W ~ N(0, 2 / (n_in + n_out)), the compromise between keeping the
      forward (n_in) and backward (n_out) variance (Glorot & Bengio 2010; notes, 003).
    - ``mode="in"``:  W ~ N(0, 1 / n_in), the forward-only derivation for tanh (notes,
      001); the same distribution as :func:`lecun_normal_`.
    """
    _check_choice("mode", mode, _XAVIER_MODES)
    fan = "fan_avg" if mode == "avg" else "fan_in"
    return variance_scaling_(w, 1.0, fan, "normal", generator)


def xavier_uniform_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Xavier / Glorot uniform: W ~ U(-b, b), b = sqrt(6 / (n_in + n_out)).

    Var(W) = 2 / (n_in + n_out), as for :func:`xavier_normal_` (Glorot & Bengio 2010).
    """
    return variance_scaling_(w, 1.0, "fan_avg", "uniform", generator)


def kaiming_normal_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Kaiming / He normal for ReLU: W ~ N(0, 2 / n_in) (He et al. 2015)."""
    return variance_scaling_(w, 2.0, "fan_in", "normal", generator)


def kaiming_uniform_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Kaiming / He uniform for ReLU: W ~ U(-b, b), b = sqrt(6 / n_in) (He et al. 2015)."""
    return variance_scaling_(w, 2.0, "fan_in", "uniform", generator)


def lecun_normal_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """LeCun normal: W ~ N(0, 1 / n_in) (LeCun et al. 1998, "Efficient BackProp")."""
    return variance_scaling_(w, 1.0, "fan_in", "normal", generator)


@torch.no_grad()
def orthogonal_(
    w: Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """(Semi-)orthogonal W scaled by ``gain`` (Saxe et al. 2014).

    With ``w`` flattened to a matrix M of shape (out, in * prod(kernel)):
    M M^T = gain^2 I if out <= in * prod(kernel) (orthonormal rows), else M^T M = gain^2 I.
    Drawn as Q from the QR of a Gaussian matrix A = QR, with Q's columns multiplied by
    sign(diag(R)) so that Q is uniform (Haar) over orthogonal matrices.
    """
    _check_matrix(w, "orthogonal_")
    _check_positive("gain", gain)
    if w.numel() == 0:
        return w  # nothing to fill
    rows, cols = w.shape[0], w.numel() // w.shape[0]
    dtype = torch.promote_types(w.dtype, torch.float32)  # QR needs float32 or float64
    a = w.new_empty(max(rows, cols), min(rows, cols), dtype=dtype)
    q, r = torch.linalg.qr(a.normal_(generator=generator))  # q: orthonormal columns
    q = q * torch.diagonal(r).sign()
    return w.copy_((q.T if rows < cols else q).reshape(w.shape)).mul_(gain)


def _keep_(w: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Scheme ``default``: leave ``w`` as PyTorch initialized it."""
    return w


SCHEMES: dict[str, Callable[..., Tensor]] = {
    "default": _keep_,
    "zeros": zeros_,
    "constant": constant_,
    "normal": normal_,
    "uniform": uniform_,
    "xavier_normal": xavier_normal_,
    "xavier_uniform": xavier_uniform_,
    "kaiming_normal": kaiming_normal_,
    "kaiming_uniform": kaiming_uniform_,
    "lecun_normal": lecun_normal_,
    "orthogonal": orthogonal_,
}
"""Scheme name (``config.InitScheme``) -> in-place function."""

# scheme -> {function argument: InitConfig field}; schemes not listed take no parameter.
_CFG_ARGS: dict[str, dict[str, str]] = {
    "constant": {"value": "value"},
    "normal": {"std": "std"},
    "uniform": {"a": "a"},
    "xavier_normal": {"mode": "xavier_mode"},
    "orthogonal": {"gain": "gain"},
}

# Normalization layers keep weight = 1, bias = 0: their weight is a scale, not a map.
_NORM_LAYERS: tuple[type, ...] = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,  # _NormBase: Batch/InstanceNorm
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def _as_config(cfg: InitConfig | str) -> InitConfig:
    """An :class:`InitConfig`; a string is a scheme name with default parameters."""
    if isinstance(cfg, InitConfig):
        return cfg
    if isinstance(cfg, str) and cfg in SCHEMES:
        return InitConfig(scheme=cfg)
    raise ValueError(
        f"Unknown init scheme. Argument `cfg` must be an InitConfig or one of "
        f"{', '.join(SCHEMES)}. Received: cfg={cfg!r}"
    )


def init_tensor_(
    w: Tensor, cfg: InitConfig | str, generator: torch.Generator | None = None
) -> Tensor:
    """Apply ``cfg.scheme`` with its parameters (``value``, ``std``, ``a``,
    ``xavier_mode``, ``gain``) to the weight ``w``, in place. ``default`` leaves it as is."""
    cfg = _as_config(cfg)
    kwargs = {arg: getattr(cfg, field) for arg, field in _CFG_ARGS.get(cfg.scheme, {}).items()}
    return SCHEMES[cfg.scheme](w, generator=generator, **kwargs)


def _is_weight_layer(layer: nn.Module) -> bool:
    """A layer with a weight of 2+ dims (Linear, Conv*, ...) that is not a normalization."""
    w = getattr(layer, "weight", None)
    if isinstance(w, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"{type(layer).__name__} is lazy: run one forward pass before apply_init"
        )
    return isinstance(w, Tensor) and w.dim() >= 2 and not isinstance(layer, _NORM_LAYERS)


def apply_init(
    module: nn.Module, cfg: InitConfig | str, *, generator: torch.Generator | None = None
) -> nn.Module:
    """Initialize every weight layer of ``module`` in place and return ``module``.

    A weight layer is any submodule (``module`` included) with a ``weight`` of at least 2
    dimensions, such as ``nn.Linear`` and ``nn.Conv1d/2d/3d``; normalization layers
    (BatchNorm, InstanceNorm, LayerNorm, GroupNorm) are left alone. Its weight gets
    :func:`init_tensor_` and its bias, if any, is filled with ``cfg.bias``. Scheme
    ``default`` changes nothing: PyTorch's weights and biases stay. ``cfg`` may be a
    scheme name (``"xavier_uniform"``) meaning ``InitConfig(scheme=name)``. Layers are
    visited in ``module.modules()`` order, so a seeded ``generator`` gives the same weights.
    """
    cfg = _as_config(cfg)
    if cfg.scheme == "default":
        return module
    with torch.no_grad():
        for layer in filter(_is_weight_layer, module.modules()):
            init_tensor_(cast(Tensor, layer.weight), cfg, generator)
            bias = getattr(layer, "bias", None)
            if isinstance(bias, Tensor):
                bias.fill_(cfg.bias)
    return module
