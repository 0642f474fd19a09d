"""The activation table: one entry per activation name, as scikit-learn's ``ACTIVATIONS``
and ``DERIVATIVES`` dicts (``sklearn.neural_network._base``), with the ``nn.Module``
class beside them.

Each :class:`Activation` holds

- ``apply_``: the function f, in place (its argument, ``prescale * z``, is overwritten
  with f(z)); ``activate_(z)`` scales first where needed;
- ``derivative_``: ``(grad, y, scratch) -> grad * f'(z)`` in place in ``grad``, written
  from the output y = f(z), so a backward pass needs to keep only the output (as
  scikit-learn's ``DERIVATIVES``); every entry's f' must therefore be a function of
  f(z). ``scratch`` (a tensor like ``grad`` that may be overwritten, or None) holds the
  factor f'(z): a fresh temporary of a population's size costs more than the product
  itself (the allocator hands blocks this large back to the system);
- ``module``: the ``torch.nn`` class that :mod:`fitscope.models` builds;
- ``function``: f out of place, differentiable by autograd (torch's own op where one
  exists, else :class:`Tabled`: ``apply_`` forward, ``derivative_`` backward);
- ``prescale``: ``apply_`` takes ``prescale * z``, so that a linear layer before it can
  fold the factor into its multiply (tanh computes through the sigmoid of 2z);
- ``fails_by``: what a probe counts for it, ``"dead"`` (units stuck at 0: ReLU) or
  ``"saturated"`` (units at the flat ends: tanh, sigmoid), or ``""``.

Adding an activation is one entry of ``TABLE`` (and its name in
:data:`fitscope.config.Activation`, which a test checks against the table). The dicts
``ACTIVATIONS`` (name -> ``activate_``, in place), ``DERIVATIVES``, ``MODULES``,
``FUNCTIONS`` and ``COUNTED`` are views of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

_MINUS_ONE, _ONE = torch.tensor(-1.0), torch.tensor(1.0)  # 0-dim: usable on any device


class Tabled(torch.autograd.Function):
    """An activation through autograd from its table entry: forward ``apply_`` on a copy
    of ``prescale * z``, backward ``derivative_`` from the saved output."""

    @staticmethod
    def forward(ctx, z: Tensor, name: str) -> Tensor:
        act = TABLE[name]
        y = act.apply_(z * act.prescale if act.prescale != 1.0 else z.clone())
        ctx.save_for_backward(y)
        ctx.act = act
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (y,) = ctx.saved_tensors
        return ctx.act.derivative_(grad.clone(), y, None), None


@dataclass(frozen=True)
class Activation:
    """One activation: see the module docstring for the fields."""

    name: str
    module: type[nn.Module]
    apply_: Callable[[Tensor], Tensor]
    derivative_: Callable[[Tensor, Tensor, Tensor | None], Tensor]
    native: Callable[[Tensor], Tensor] | None = None  # torch's differentiable op, if any
    prescale: float = 1.0
    fails_by: str = ""  # what a probe counts: "dead" (units at 0) or "saturated" units

    def function(self, z: Tensor) -> Tensor:
        """f(z), out of place, differentiable."""
        return self.native(z) if self.native is not None else Tabled.apply(z, self.name)

    def activate_(self, z: Tensor, prescaled: bool = False) -> Tensor:
        """f(z) in place in ``z``; ``prescaled``: ``z`` holds ``prescale * z`` already."""
        if not prescaled and self.prescale != 1.0:
            z.mul_(self.prescale)
        return self.apply_(z)


def _identity(z: Tensor) -> Tensor:
    return z


def _pass_grad(grad: Tensor, y: Tensor, scratch: Tensor | None) -> Tensor:
    """f(z) = z: f' = 1."""
    return grad


def _relu_grad(grad: Tensor, y: Tensor, scratch: Tensor | None) -> Tensor:
    """f(z) = max(z, 0): f' = [y > 0] (0 at z = 0, as torch)."""
    return grad.mul_(torch.gt(y, 0.0, out=_like(grad, scratch)))


def _tanh_from_doubled_(u: Tensor) -> Tensor:
    """tanh(z) = 2 sigmoid(2z) - 1, from u = 2z, in one pass after the sigmoid.

    Mathematically ``torch.tanh``; computed through the sigmoid because torch's CPU tanh
    kernel is slower than its sigmoid (5 to 9 times on (32, 64, 64) to (1, 256, 256)
    float32 tensors: one thread, torch 2.13, 2026-12-07). It differs from ``torch.tanh`` by at
    most about 2e-7 (a few float32 ulps of 1, absolute)."""
    return torch.add(_MINUS_ONE, u.sigmoid_(), alpha=2.0, out=u)


def _tanh_grad(grad: Tensor, y: Tensor, scratch: Tensor | None) -> Tensor:
    """f = tanh: f' = 1 - y^2."""
    return grad.mul_(torch.addcmul(_ONE, y, y, value=-1.0, out=_like(grad, scratch)))


def _sigmoid_grad(grad: Tensor, y: Tensor, scratch: Tensor | None) -> Tensor:
    """f = sigmoid: f' = y (1 - y) = y - y^2."""
    return grad.mul_(torch.addcmul(y, y, y, value=-1.0, out=_like(grad, scratch)))


def _like(grad: Tensor, scratch: Tensor | None) -> Tensor:
    return torch.empty_like(grad) if scratch is None else scratch


TABLE: dict[str, Activation] = {a.name: a for a in (
    Activation("relu", nn.ReLU, torch.relu_, _relu_grad, native=torch.relu, fails_by="dead"),
    Activation("tanh", nn.Tanh, _tanh_from_doubled_, _tanh_grad, prescale=2.0,
               fails_by="saturated"),
    Activation("sigmoid", nn.Sigmoid, torch.sigmoid_, _sigmoid_grad, native=torch.sigmoid,
               fails_by="saturated"),
    Activation("linear", nn.Identity, _identity, _pass_grad, native=_identity),
)}

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {k: a.activate_ for k, a in TABLE.items()}
DERIVATIVES: dict[str, Callable[[Tensor, Tensor, Tensor | None], Tensor]] = {
    k: a.derivative_ for k, a in TABLE.items()}
MODULES: dict[str, type[nn.Module]] = {k: a.module for k, a in TABLE.items()}
COUNTED: dict[str, str] = {k: a.fails_by for k, a in TABLE.items() if a.fails_by}
"""name -> what a probe counts for it ("dead" or "saturated"), for those it counts."""
FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {k: a.function for k, a in TABLE.items()}

# Element-wise torch activations a user's model may hold that the table does not list:
# recognised as activations (for the landscape's batched evaluation and the activation
# L1 penalty), applied by calling the module.
OTHER_ELEMENTWISE: tuple[type[nn.Module], ...] = (nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
                                                  nn.Softplus)
ELEMENTWISE: tuple[type[nn.Module], ...] = tuple(MODULES.values()) + OTHER_ELEMENTWISE


def of_module(module: nn.Module) -> Activation | None:
    """The table's entry for an activation module (by exact class), or None."""
    return _BY_MODULE.get(type(module))


_BY_MODULE = {a.module: a for a in TABLE.values()}
