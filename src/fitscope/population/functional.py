"""The functional stack: N copies of any ``nn.Module`` as one program.

Where no hand-written stacked program exists (a CNN, a user's module), the members'
parameters are laid out as :class:`~fitscope.population.stacked.StackedMLP` lays them
out (:class:`~fitscope.population.rows.MemberRows`: one (N, D) tensor ``flat``, member
i's parameters in row i in ``module.parameters()`` order; each parameter's (N, *shape)
stack, as ``torch.func.stack_module_state`` would make it, is a view of it), and the
members' forward pass is one call of the stack's private copy of the module,

    out_i = f(theta_i, buffers_i, x_i)  for every member i,

in one of two ways:

- the **direct path**: ``torch.func.functional_call(module, (theta, buffers), (rows,))``
  once, with the stacked parameters, on the members' inputs folded into one batch of
  N B rows; the module's layers with parameters are switched to member-stacked forms
  that compute each member's rows with its own parameters
  (:mod:`~fitscope.population.mapped`), and everything else in its ``forward`` runs as
  the user wrote it, on plain tensors;
- otherwise **mapped**: ``vmap(functional_call(module, ...))(theta, buffers, x)``
  over the member axis (``torch.func.vmap``).

The direct path needs a module whose every parameter and buffer lies in a layer with a
member-stacked form (``nn.Linear``, ``nn.Conv1d`` / ``nn.Conv2d``, ``nn.BatchNorm1d`` /
``nn.BatchNorm2d``; :func:`~fitscope.population.mapped.direct_ready`) and whose
``forward`` keeps the rows apart. The stack chooses it by a trial step when it is built
(:meth:`FunctionalStack._trial`): one training pass of both ways on the same random rows
and output gradient, dropout off; the direct path is taken when its outputs, gradients
and buffer updates equal the mapped ones to float rounding, and the mapped one on any
difference or exception (:attr:`FunctionalStack.direct`).

The gradient of the members' summed loss with respect to ``flat`` comes from autograd
through the call (member i gets exactly its own gradient), one leaf per parameter,
into the rows of ``grad`` laid out like ``flat`` (``torch.func.vjp`` would need the
batch-norm buffers, which the module updates in place, as inputs): on the direct path
each ``nn.Linear`` writes its weight's and bias's gradients there itself
(:func:`~fitscope.population.mapped.gradients_into`), every other gradient is copied
in. Evaluation runs member by member (:meth:`FunctionalStack.forward_eval`).

Randomness (dropout) is drawn per member from torch's global generator, seeded for the
step from the population's generator inside a forked RNG, so a population's numbers are
reproducible and the caller's RNG is left alone: mapped with ``randomness="different"``,
on the direct path as one draw over the folded rows (each member's masks its own,
drawn otherwise than mapped). A module attribute such as a dropout rate is the
template's: members share it. Batch-norm buffers are stacked like the parameters and
updated in place: mapped, member by member by the module's own batch-norm code; on the
direct path by the stacked form, for all members at once.

A module whose forward pass ``vmap`` cannot map (data-dependent Python control flow,
``.item()``, in-place writes into an unbatched tensor) raises :class:`NotVmappable` when
the stack is built (the trial step), so that the caller can train its members one by
one instead.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..config import RunConfig
from ..core.transforms import column
from ..sizing import footprint
from .mapped import direct_ready, gradients_into, linear_layers, mapped_forms, members_outer
from .rows import MemberRows
from .shape import functional
from .stacked import StackedMLP


def stack(models: Sequence[nn.Module], configs: Sequence[RunConfig], custom: bool,
          input_shape: Sequence[int], rows: Tensor, direct: bool | None = None
          ) -> StackedMLP | FunctionalStack:
    """The stacked program of ``models`` (the members of ``configs``, parameter ``rows``
    (N, D)): the hand-written :class:`~fitscope.population.stacked.StackedMLP` for the
    built-in MLP, its fast path; a :class:`FunctionalStack` for any other model
    (:func:`~fitscope.population.shape.functional`; ``custom``: a user's modules), whose
    path is ``direct`` where an earlier stack of the same modules chose it, else its
    trial's choice."""
    if functional(configs[0], custom):
        return FunctionalStack(models, input_shape, rows, direct)
    dropout, input_dropout = (column([getattr(c.model, name) for c in configs], rows)
                              .view(-1, 1, 1) for name in ("dropout", "input_dropout"))
    return StackedMLP(models, configs[0].model, dropout, input_dropout, rows=rows)


class NotVmappable(ValueError):
    """The members' module cannot run under ``torch.func.vmap``; the message says why."""


@dataclass
class Tape:
    """What :meth:`FunctionalStack.backward` needs: the leaves the forward pass read the
    parameters from (one per parameter, (N, *shape), sharing ``flat``'s storage), and
    its outputs with their graph."""

    leaves: list[Tensor]
    out: Tensor


class FunctionalStack(MemberRows):
    """N members of one architecture (``models``, whose parameters and buffers are copied
    in), trained as one program; the interface the population engine uses from
    :class:`~fitscope.population.stacked.StackedMLP`. ``input_shape``: one example's
    shape (sizes :attr:`widest`); ``rows``: the members' parameter rows, if already
    stacked; ``direct``: the path (:attr:`direct`) an earlier stack of the same modules
    chose by its trial (which this one then skips: the final metrics' stack, which
    only evaluates, reuses the training stack's choice), None to run the trial."""

    def __init__(self, models: Sequence[nn.Module], input_shape: Sequence[int],
                 rows: Tensor | None = None, direct: bool | None = None):
        template = models[0]
        check_same_architecture(models)
        self._lay_out(models, rows)
        # runs every member's forward, never trained; some layers in their mapped forms
        self.module = mapped_forms(copy.deepcopy(template)).train()
        self.outer = members_outer(self.module)  # the direct path's folded rows' layout
        self.linears = linear_layers(self.module)  # where gradients_into writes
        self.direct = False  # whether training steps take the direct path (see _trial)
        self.tied = _tied(self.module)  # a parameter or buffer under two names
        self.widest = footprint(template, tuple(input_shape)).widest
        self.input_shape = tuple(input_shape)
        self._rows: dict[str, Tensor] = {}  # _grad_rows' views
        self._rows_of: Tensor | None = None  # the grad they are views of
        if direct is None:
            self._trial()
        else:
            self.direct = direct and direct_ready(self.module)

    def _trial(self) -> None:
        """One training step's forward and backward pass on three random rows of every
        member, on copies of the buffers, first under ``vmap`` (raises :class:`NotVmappable` if
        the module cannot run there), then on the direct path where the module's layers
        allow it (:func:`~fitscope.population.mapped.direct_ready`): the direct path is
        chosen (:attr:`direct`) when its outputs, gradients and buffer updates equal
        ``vmap``'s to float rounding, and on any exception or difference it is not."""
        gen = torch.Generator(device=self.flat.device).manual_seed(0)
        rows = 3 if self.n != 3 else 5  # not N: a mix-up of members and rows shows
        x = torch.randn(self.n, rows, math.prod(self.input_shape), generator=gen,
                        device=self.flat.device, dtype=self.flat.dtype)
        try:
            mapped = self._trial_pass(x, direct=False)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NotVmappable(f"{type(self.module).__name__} cannot run as a population "
                               f"under torch.func.vmap: {reason}") from exc
        if not direct_ready(self.module):
            return
        try:
            direct = self._trial_pass(x, direct=True)
        except Exception:  # noqa: BLE001 - any failure: the direct path is not for it
            return
        self.direct = _same(direct, mapped)

    def _trial_pass(self, x: Tensor, direct: bool) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Outputs, parameter gradients (for a fixed random output gradient) and updated
        buffers of one training pass on ``x`` (N, B, n_in), dropout off, the buffers
        left as they were."""
        kept, chosen = self.buffers, self.direct
        self.buffers = {k: v.clone() for k, v in kept.items()}
        self.direct = direct
        try:
            with _dropout_off(self.module):
                out, tape = self.forward_train(x, None)
                g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                                dtype=out.dtype).to(out.device)
                grads = torch.autograd.grad(tape.out, tape.leaves, g, allow_unused=True,
                                            materialize_grads=True)
            return out, list(grads), list(self.buffers.values())
        finally:
            self.buffers, self.direct = kept, chosen

    def _call(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """Every member's training-mode outputs (N, n_out, B) for inputs (N, B, n_in),
        with per-member parameters ``params`` (name -> (N, *shape)): on the direct path
        (:attr:`direct`) one call of the module on the members' folded rows (R, n_in),
        R = N B, its layers in their member-stacked forms
        (:mod:`~fitscope.population.mapped`), else mapped with ``vmap``."""
        if not self.module.training:  # the stack's own copy: only forward_eval changes it
            self.module.train()
        if self.direct:
            n, b = x.shape[:2]
            rows = (x if self.outer else x.transpose(0, 1)).reshape(n * b, *x.shape[2:])
            out = self._run(params, self.buffers, rows)
            out = out.reshape(n * b, -1)
            out = out.view(n, b, -1) if self.outer else out.view(b, n, -1).transpose(0, 1)
            return out.transpose(1, 2)

        def one(params: dict[str, Tensor], buffers: dict[str, Tensor], xi: Tensor) -> Tensor:
            out = self._run(params, buffers, xi)
            return out.reshape(out.shape[0], -1)

        out = vmap(one, randomness="different")(params, self.buffers, x)
        return out.transpose(1, 2)

    def _run(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        """The module on ``x`` with ``params`` and ``buffers`` (``functional_call``),
        without its search for tied weights where the module has none (:attr:`tied`):
        the search walks every submodule at every call, 0.03 to 0.1 ms of the CNN's
        0.34 to 0.42 ms per call on two rows (one thread, CPU, 2026-12-08, a loaded
        machine), and an evaluation calls it once per member."""
        return functional_call(self.module, (params, buffers), (x,), tie_weights=self.tied)

    @contextmanager
    def _seeded(self, gen: torch.Generator | None) -> Iterator[None]:
        """torch's global RNG, for the block, seeded from ``gen`` (a fixed seed without
        it); the caller's RNG state is restored after."""
        device = self.flat.device
        seed = 0 if gen is None else int(torch.randint(2**62, (1,), generator=gen,
                                                       device=gen.device))
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if device.type == "cuda":
                torch.manual_seed(seed)
            else:  # what torch.manual_seed does for the CPU, without its 0.1 ms of
                torch.default_generator.manual_seed(seed)  # other devices' bookkeeping
            yield

    # -- training steps -----------------------------------------------------------------
    def forward_train(self, x: Tensor, gen: torch.Generator | None) -> tuple[Tensor, Tape]:
        """(N, B, n_in) -> outputs (N, n_out, B) in training mode (dropout drawn as the
        module docstring says, batch norm on batch statistics, running statistics
        updated; the outputs detached), and the :class:`Tape` from which
        :meth:`backward` differentiates them."""
        params = {k: v.detach().requires_grad_() for k, v in self.split(self.flat).items()}
        gradients_into(self.linears, self._grad_rows() if self.direct else {})
        with self._seeded(gen), torch.enable_grad():
            out = self._call(params, x)
        return out.detach(), Tape(list(params.values()), out)

    def backward(self, tape: Tape, grad_out: Tensor) -> None:
        """Write into ``grad`` the gradient of the members' summed loss, given
        ``grad_out`` = d loss / d outputs (N, n_out, B)."""
        grads = torch.autograd.grad(tape.out, tape.leaves, grad_out, allow_unused=True,
                                    materialize_grads=True)
        for row, g in zip(self._grad_rows().values(), grads):
            if g is not row:  # else its layer wrote it there (gradients_into)
                row.copy_(g)  # one leaf per parameter: no (N, D) concatenation in between

    def _grad_rows(self) -> dict[str, Tensor]:
        """The per-parameter views of ``grad`` (:meth:`split`), made once per ``grad``."""
        if self._rows_of is not self.grad:
            self._rows, self._rows_of = self.split(self.grad), self.grad
        return self._rows

    @torch.no_grad()
    def forward_eval(self, x: Tensor) -> Tensor:
        """(N, B, n_in) -> (N, n_out, B) in eval mode (no dropout, running batch-norm
        statistics), member by member: without autograd, a module's own kernels on one
        member's rows were as fast as or faster than every batched form measured (mapped,
        the direct path, the first layer over the members' shared rows as one product for
        all of them): the benchmark's CNN on 800 rows 40 ms against 77 direct
        (2026-12-08) and 49 against 103 mapped (2026-12-07), its residual MLP on 359 rows
        17 to 18 ms against 17 to 19 direct and 18 to 30 with the shared first layer (one
        thread, CPU seconds; the figures and their conditions in docs/population.md)."""
        self.module.eval()
        params, outs = self.split(self.flat), []
        for i in range(self.n):
            out = self._run({k: v[i] for k, v in params.items()},
                            {k: v[i] for k, v in self.buffers.items()}, x[i])
            outs.append(out.reshape(out.shape[0], -1).T)
        return torch.stack(outs)


def _tied(module: nn.Module) -> bool:
    """Whether some parameter or buffer of ``module`` is reachable under two names."""
    def count(named) -> tuple[int, int]:
        names = list(named(remove_duplicate=False))
        return len(names), len({id(t) for _, t in names})

    return any(a != b for a, b in (count(module.named_parameters), count(module.named_buffers)))


def _same(a: tuple[Tensor, list[Tensor], list[Tensor]],
          b: tuple[Tensor, list[Tensor], list[Tensor]]) -> bool:
    """Whether two trial passes' outputs, gradients and buffers (``a``, ``b`` as
    :meth:`FunctionalStack._trial_pass` returns them) are equal to float rounding: each
    within 1e-4 of the largest magnitude of its kind in ``b`` (the outputs', all the
    gradients' -- a gradient that is rounding noise only, such as a bias's before batch
    norm, agrees in no digit --, each buffer's own), NaN where ``b`` has NaN; integer
    buffers exactly."""
    def scale(ts: Sequence[Tensor]) -> float:
        return max((float(t.abs().nan_to_num(0.0, 0.0, 0.0).max()) for t in ts
                    if t.numel() and t.is_floating_point()), default=0.0)

    def close(x: Tensor, y: Tensor, s: float) -> bool:
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not y.is_floating_point():
            return torch.equal(x, y)
        return torch.allclose(x, y, rtol=1e-4, atol=1e-4 * s + 1e-12, equal_nan=True)

    (out_a, grads_a, bufs_a), (out_b, grads_b, bufs_b) = a, b
    g = scale(grads_b)
    return (close(out_a, out_b, scale([out_b]))
            and len(grads_a) == len(grads_b) and len(bufs_a) == len(bufs_b)
            and all(close(x, y, g) for x, y in zip(grads_a, grads_b))
            and all(close(x, y, scale([y])) for x, y in zip(bufs_a, bufs_b)))


_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.FeatureAlphaDropout)


@contextmanager
def _dropout_off(module: nn.Module) -> Iterator[None]:
    """``module``'s dropout layers at rate 0 for the block (the trial compares two paths
    that draw their masks differently)."""
    layers = [m for m in module.modules() if isinstance(m, _DROPOUTS)]
    rates = [m.p for m in layers]
    for m in layers:
        m.p = 0.0
    try:
        yield
    finally:
        for m, p in zip(layers, rates):
            m.p = p


def check_same_architecture(models: Sequence[nn.Module]) -> None:
    """Raise ``ValueError`` naming the member unless every module has the first one's
    type, parameter names and shapes, and buffer names and shapes."""
    def layout(m: nn.Module) -> tuple:
        return (type(m), [(k, tuple(v.shape)) for k, v in m.named_parameters()],
                [(k, tuple(v.shape)) for k, v in m.named_buffers()])

    first = layout(models[0])
    for i, m in enumerate(models[1:], start=1):
        if layout(m) != first:
            raise ValueError(f"models[{i}] differs from models[0] in its type, parameters "
                             f"or buffers; one population shares one architecture")
