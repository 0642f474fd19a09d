"""The stacked MLP: the parameters of N members as one (N, D) tensor.

Member i's parameters are row i of ``flat``, in ``model.parameters()`` order: the row is
the member's flat parameter vector, as in the sequential engine's snapshots. Per-layer
views split the rows -- weight (N, out, in), bias (N, out) -- and each layer runs for
every member at once as a batched matrix multiply on activations kept transposed,
(N, units, B):

    z_i^T <- W_i h_i^T + b_i  for every member i  (``torch.baddbmm(b, W, h^T)``)

so one kernel does the work of N ``nn.Linear`` calls, and the weight gradient comes out
in W's own layout. ``grad`` is the (N, D) gradient laid out like ``flat``, on which the
optimizer, penalties and clipping act with a few whole-population operations.

One forward body, :func:`forward_layers`, runs every pass of a stack of linear layers:
a training step (filling the :class:`Tape` that :meth:`StackedMLP.backward` reads), an
evaluation, a probed step through autograd (filling taps), and the loss landscape's
evaluation at P parameter points (:mod:`fitscope.landscape.batched_mlp`, whose member
axis is the points). The passes differ only in what they record and in whether they
compute in place in a :class:`Workspace` (outside autograd: activations in place where
nothing needs the input again) or out of place (through autograd); batch norm is one
function, :func:`batch_norm`.

Training steps do not go through autograd: :meth:`StackedMLP.backward` writes every
layer's gradient into ``grad`` from the tape (``bmm`` for the weight and input
gradients, a sum for the bias, the derivatives of the activation table
:mod:`fitscope.core.activations`, the batch-norm formula), a handful of kernels per
layer with no graph to build. :meth:`StackedMLP.forward` is the same pass through
autograd, with taps for the probes (:mod:`fitscope.population.probes`), which need
every layer's output gradient; the tests check the hand-written backward against it.

The layers mirror :class:`fitscope.models.MLP`: ``[input dropout] -> depth x (Linear
-> [BatchNorm1d] -> activation -> [dropout]) -> Linear``. Dropout rates are per member:
a (N, 1, 1) column, zero for members without dropout (whose activations then pass
through unchanged, bit for bit).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..core.activations import TABLE, Activation
from .rows import MemberRows, Program

BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # nn.BatchNorm1d's defaults

Tap = tuple[str, str, Tensor]  # (layer, "preact" | "act", output (N, units, B))


@dataclass
class Norm:
    """A batch norm's stacked parameters, gamma and beta (N, units), and its running
    statistics, (N, units) per member or (1, units) shared by every member; ``tracked``
    (num_batches_tracked, (N,)) counts the training passes, when kept."""

    name: str
    gamma: Tensor
    beta: Tensor
    running_mean: Tensor
    running_var: Tensor
    eps: float = BN_EPS
    tracked: Tensor | None = None

    @torch.no_grad()
    def track(self, mean: Tensor, var: Tensor, b: int) -> None:
        """r <- (1 - m) r + m s from a batch of ``b`` examples' ``mean`` and biased
        ``var`` (N, units, 1), with the unbiased variance for ``running_var``, as
        ``nn.BatchNorm1d`` (m = ``BN_MOMENTUM``)."""
        self.running_mean.lerp_(mean[..., 0], BN_MOMENTUM)
        self.running_var.lerp_(var[..., 0] * (b / max(b - 1, 1)), BN_MOMENTUM)
        if self.tracked is not None:
            self.tracked.add_(1)


@dataclass
class Layer:
    """One linear layer of a stack -- weight (N, out, in), bias (N, out) -- and what
    follows it before the next linear layer: a batch norm, then an activation (a table
    entry, or an element-wise module of a user's model, called), either of them None.
    ``name``, ``act_name`` (and the norm's ``name``) name the taps."""

    name: str
    w: Tensor
    b: Tensor | None
    bn: Norm | None = None
    act: Activation | nn.Module | None = None
    act_name: str = ""

    def __post_init__(self):
        self.wt = self.w.transpose(1, 2)  # (N, in, out): the backward pass's W^T
        self.bias = None if self.b is None else self.b.unsqueeze(2)  # (N, out, 1)


@dataclass
class Grads:
    """A layer's views into ``grad`` (its batch norm's too), and a scratch buffer for
    its weight gradient: a contiguous (N, out, in) buffer (shared by the layers) that
    bmm writes to before one copy into ``gw``. bmm into ``gw`` itself, whose members
    lie D apart, was never faster: a training step (forward and backward) of the
    benchmark's width-128 nine-layer digits population (N = 32, batch 64) took 22.1 ms
    against 16.4 ms with 2 threads (wall time), 29.3 ms both ways with 1 (CPU time),
    medians of 7 interleaved runs of 50 steps, 2026-12-07."""

    gw: Tensor  # (N, out, in)
    gb: Tensor | None  # (N, out)
    scratch: Tensor
    bn: tuple[Tensor, Tensor] | None = None  # d gamma, d beta


class Workspace:
    """Buffers for passes of one batch size ``b`` of ``n`` members (or fewer) through
    layers of weight shapes ``shapes`` (out, in), reused from pass to pass: for training
    (``train``), each layer's output, dropout masks and their outputs; for both, two
    scratch buffers that an evaluation's layers (and a backward pass's input gradients)
    alternate between. Fresh tensors of the population's size at every step cost page
    faults (the allocator hands blocks this large back to the system) and cache misses;
    these stay put."""

    def __init__(self, shapes: Sequence[tuple[int, int]], n: int, like: Tensor, b: int,
                 train: bool):
        self.n, self.b = n, b
        self.outputs = [like.new_empty(n, out, b) for out, _ in shapes] if train else []
        self.outputs_t = [out.transpose(1, 2) for out in self.outputs]  # (N, B, units)
        width = max(max(shape) for shape in shapes)
        self.scratches = [like.new_empty(n * width * b) for _ in range(2)]
        # the gradient with respect to layer j's input (j >= 1), alternating buffers
        self.input_grads = [None] + [self.scratch(j, n, shapes[j][1])
                                     for j in range(1, len(shapes))] if train else []
        depth = len(shapes) - 1
        self.dropped: list[Tensor | None] = [None] * depth  # outputs after dropout
        self.masks: list[Tensor | None] = [None] * (depth + 1)  # [input, hidden 0, ...]

    def scratch(self, k: int, n: int, units: int) -> Tensor:
        """The k-th scratch buffer (the two alternate with k), as (n, units, b)."""
        return self.scratches[k % 2][:n * units * self.b].view(n, units, self.b)

    def mask(self, i: int, like: Tensor) -> Tensor:
        """The buffer for dropout mask ``i`` (0: the input's), shaped like ``like``."""
        mask = self.masks[i]
        if mask is None:
            mask = self.masks[i] = torch.empty_like(like, memory_format=torch.contiguous_format)
        return mask

    def after_dropout(self, i: int, like: Tensor) -> Tensor:
        dropped = self.dropped[i]
        if dropped is None:
            dropped = self.dropped[i] = torch.empty_like(like)
        return dropped


@dataclass
class Tape:
    """What :meth:`StackedMLP.backward` needs from a training pass: each linear layer's
    input, and per hidden layer its activation output, dropout mask and batch-norm
    normalized values and inverse standard deviations."""

    inputs: list[Tensor] = field(default_factory=list)
    inputs_t: list[Tensor] = field(default_factory=list)  # the same, (N, B, units)
    acts: list[Tensor] = field(default_factory=list)
    masks: list[Tensor | None] = field(default_factory=list)
    normed: list[tuple[Tensor, Tensor] | None] = field(default_factory=list)


class Drops(NamedTuple):
    """A training pass's dropout: the rate columns (N, 1, 1) of the hidden layers and
    of the input, None where no member drops, and the generator the masks come from."""

    hidden: Tensor | None
    input: Tensor | None
    gen: torch.Generator | None


def forward_layers(layers: Sequence[Layer], x: Tensor, ws: Workspace | None = None, *,
                   train: bool = False, drops: Drops | None = None,
                   first: Tensor | None = None, tape: Tape | None = None,
                   taps: list[Tap] | None = None) -> Tensor:
    """The forward pass of a stack of ``layers``, (N, B, n_in) -> (N, n_out, B): every
    stacked pass, training, evaluation, probed and the landscape's, is this one body.

    - ``train``: batch norm on the batch's statistics (the running ones updated) and
      dropout drawn as ``drops`` says; else the running statistics and no dropout.
    - With a workspace ``ws``: outside autograd, in place. With a ``tape`` to fill (for
      :meth:`StackedMLP.backward`), each layer's output goes to a buffer of its own;
      without, the layers' outputs alternate between two scratch buffers. Either way
      the result lives in the workspace: valid until its next pass. ``z`` comes out of
      the layer's multiply already scaled by the table activation's ``prescale`` where
      no batch norm comes between (a power of two: exact).
    - Without ``ws``: out of place, through autograd; each layer's output is appended
      to ``taps`` (when given) as ``(name, "preact" | "act", output)``, its gradient
      kept for after the backward pass.
    - ``first``: the first linear layer's output (N, out, B), computed by the caller (the
      landscape's slice, :mod:`fitscope.landscape.batched_mlp`). When every member gets
      the same inputs (``x`` expanded from (B, n_in)), the first layer is one matrix
      multiply for all members.
    """
    in_place, n = ws is not None, x.shape[0]
    h, h_t = x.transpose(1, 2), x  # (N, n_in, B) and (N, B, n_in)
    shared = x.stride(0) == 0  # every member gets the same inputs
    if train and drops is not None and drops.input is not None:
        h = h * _mask(h, drops.input, drops.gen, ws.mask(0, h) if ws is not None else None)
        h_t, shared = h.transpose(1, 2), False
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        if tape is not None:
            tape.inputs.append(h)
            tape.inputs_t.append(h_t)
        act = layer.act
        given = i == 0 and first is not None
        prescaled = in_place and not given and layer.bn is None  # free in the multiply
        scale = act.prescale if prescaled and isinstance(act, Activation) else 1.0
        if first is not None and i == 0:
            z = first
        else:
            out = (None if ws is None else ws.outputs[i] if tape is not None
                   else ws.scratch(i, n, layer.w.shape[1]))
            z = (shared_linear(x[0], layer, scale, out=out) if i == 0 and shared
                 else _linear(h, layer, scale, out=out))
        z = _tap(taps, layer.name, "preact", z)
        normed: tuple[Tensor, Tensor] | None = None
        if layer.bn is not None:
            z, xhat, rstd = batch_norm(z, layer.bn, train, in_place)
            normed = xhat, rstd
            z = _tap(taps, layer.bn.name, "preact", z)
        y = z if act is None else _tap(taps, layer.act_name, "act",
                                       _activate(act, z, prescaled, in_place))
        if i == last:
            return y
        mask = None
        if train and drops is not None and drops.hidden is not None:
            if ws is None:
                h = y * _mask(y, drops.hidden, drops.gen)
            else:
                mask = _mask(y, drops.hidden, drops.gen, ws.mask(i + 1, y))
                h = torch.mul(y, mask, out=ws.after_dropout(i, y))
            h_t = h.transpose(1, 2)
        else:
            h = y
            h_t = (ws.outputs_t[i] if ws is not None and tape is not None
                   and y is ws.outputs[i] else y.transpose(1, 2))
        if tape is not None:
            tape.acts.append(y)
            tape.masks.append(mask)
            tape.normed.append(normed)
    raise ValueError("a stack needs at least one layer")


def batch_norm(z: Tensor, norm: Norm, train: bool, in_place: bool
               ) -> tuple[Tensor, Tensor, Tensor]:
    """Batch norm (Ioffe and Szegedy 2015), per unit over the batch (the last dim of
    ``z``, (N, units, B)):

        y = (z - mu) / sqrt(var + eps) * gamma + beta.

    Training uses the batch's mean and biased variance and updates the running
    statistics (:meth:`Norm.track`); evaluation uses the running statistics.
    ``in_place`` overwrites ``z`` with the normalized values (outside autograd), and in
    evaluation with y too. Returns (y, normalized values, 1 / sqrt(var + eps)), the last
    two what :func:`_batch_norm_backward` needs."""
    if train:
        var, mean = torch.var_mean(z, dim=2, unbiased=False, keepdim=True)  # (N, H, 1)
        norm.track(mean.detach(), var.detach(), z.shape[2])
    else:
        mean, var = norm.running_mean.unsqueeze(2), norm.running_var.unsqueeze(2)
    rstd = torch.rsqrt(var + norm.eps)
    normed = z.sub_(mean).mul_(rstd) if in_place else (z - mean) * rstd
    y = torch.addcmul(norm.beta.unsqueeze(2), normed, norm.gamma.unsqueeze(2),
                      out=normed if in_place and not train else None)
    return y, normed, rstd


def _activate(act: Activation | nn.Module, z: Tensor, prescaled: bool,
              in_place: bool) -> Tensor:
    """f(z): a table entry in place (``prescaled``: ``z`` holds ``prescale * z``) or out
    of place through autograd; a module outside the table by calling it."""
    if isinstance(act, Activation):
        return act.activate_(z, prescaled=prescaled) if in_place else act.function(z)
    return act(z)


def _tap(taps: list[Tap] | None, layer: str, role: str, t: Tensor) -> Tensor:
    """``t``, recorded in ``taps`` (when given) with its gradient kept."""
    if taps is not None:
        if t.requires_grad:
            t.retain_grad()
        taps.append((layer, role, t))
    return t


class StackedMLP(MemberRows):
    """N MLPs of one shape. ``models`` give the members' initial parameters and buffers
    (they are copied); ``dropout`` and ``input_dropout`` are (N, 1, 1) rate columns.

    The population's fast path for :class:`fitscope.models.MLP`, kept beside the
    general functional stack (:mod:`fitscope.population.functional`, ``vmap`` over the
    module) because it is faster: ``benchmarks/population.py``'s toy setting (N = 32,
    nine tanh layers of 16, 200 steps) trained in 0.43 s of CPU time here against 1.68 s
    on the functional stack with the same MLPs passed as ``models`` (3.9x; one thread,
    median of 3, 2026-12-07, on the shared 2-core machine)."""

    def __init__(self, models: Sequence[nn.Module], cfg: ModelConfig,
                 dropout: Tensor, input_dropout: Tensor,
                 rows: Tensor | None = None):
        self.cfg, self.act = cfg, TABLE[cfg.activation]
        self._lay_out(models, rows)
        self._set_rates(dropout, input_dropout)
        self._bind()
        self.workspaces: dict[tuple[str, int], Workspace] = {}

    def _set_rates(self, dropout: Tensor, input_dropout: Tensor) -> None:
        """Dropout rate columns; a rate column of zeros is skipped altogether."""
        self.dropout, self.input_dropout = dropout, input_dropout
        self.drops = bool((dropout > 0).any()), bool((input_dropout > 0).any())

    def _drops(self, gen: torch.Generator | None) -> Drops:
        return Drops(self.dropout if self.drops[0] else None,
                     self.input_dropout if self.drops[1] else None, gen)

    def layers_of(self, p: dict[str, Tensor]) -> list[Layer]:
        """The stack's :class:`Layer` list on parameter views ``p`` (name -> (N,
        *shape)), named like the modules of :class:`fitscope.models.MLP`."""
        layers = []
        for i in range(self.cfg.depth + 1):
            hidden = i < self.cfg.depth
            name = f"hidden.{i}.linear" if hidden else "out"
            bn, key = None, f"hidden.{i}.bn"
            if hidden and self.cfg.batch_norm:
                bn = Norm(key, p[f"{key}.weight"], p[f"{key}.bias"],
                          self.buffers[f"{key}.running_mean"],
                          self.buffers[f"{key}.running_var"],
                          tracked=self.buffers[f"{key}.num_batches_tracked"])
            layers.append(Layer(name, p[f"{name}.weight"], p.get(f"{name}.bias"), bn,
                                self.act if hidden else None,
                                f"hidden.{i}.act" if hidden else ""))
        return layers

    def _bind(self) -> None:
        """The per-layer views of ``flat`` and ``grad`` (made again when rows change)."""
        self.layers = self.layers_of(self.split(self.flat))
        g = self.split(self.grad)
        scratch = self.flat.new_empty(max(layer.w.numel() for layer in self.layers))
        self.grads = [Grads(g[f"{layer.name}.weight"], g.get(f"{layer.name}.bias"),
                            scratch[:layer.w.numel()].view(layer.w.shape),
                            None if layer.bn is None else
                            (g[f"{layer.bn.name}.weight"], g[f"{layer.bn.name}.bias"]))
                      for layer in self.layers]

    @property
    def widest(self) -> int:
        """The largest layer width (inputs, hidden units or outputs)."""
        return max(max(shape) for shape in self.shapes)

    def workspace(self, kind: str, b: int) -> Workspace:
        """The buffers for ``kind`` ("train" or "eval") passes of ``b`` examples."""
        key = (kind, b)
        if key not in self.workspaces:
            shapes = [(layer.w.shape[1], layer.w.shape[2]) for layer in self.layers]
            self.workspaces[key] = Workspace(shapes, self.n, self.flat, b, kind == "train")
        return self.workspaces[key]

    # -- training steps without autograd ----------------------------------------------
    def forward_train(self, x: Tensor, gen: torch.Generator | None) -> tuple[Tensor, Tape]:
        """(N, B, n_in) -> outputs (N, n_out, B) in training mode (dropout drawn from
        ``gen``, batch norm on batch statistics, running statistics updated), and the
        :class:`Tape` for :meth:`backward`: :func:`forward_layers` in place. The same
        numbers as :meth:`forward`. The outputs and the tape live in this batch size's
        workspace: valid until the next pass of that size."""
        tape = Tape()
        out = forward_layers(self.layers, x, self.workspace("train", x.shape[1]),
                             train=True, drops=self._drops(gen), tape=tape)
        return out, tape

    def backward(self, tape: Tape, grad_out: Tensor) -> None:
        """Write the gradient of the members' summed loss into ``grad``, given
        ``grad_out`` = d loss / d outputs (N, n_out, B) and the forward pass's ``tape``."""
        gz = grad_out
        ws = self.workspace("train", grad_out.shape[2])
        for j in range(len(self.layers) - 1, -1, -1):
            layer, grads, h_t = self.layers[j], self.grads[j], tape.inputs_t[j]
            grads.gw.copy_(torch.bmm(gz, h_t, out=grads.scratch))
            if grads.gb is not None:
                torch.sum(gz, dim=2, out=grads.gb)
            if j == 0:
                break
            i = j - 1  # the hidden layer whose output h is
            gh = torch.bmm(layer.wt, gz, out=ws.input_grads[j])
            mask, normed = tape.masks[i], tape.normed[i]
            if mask is not None:
                gh.mul_(mask)
            # the other scratch buffer held gz, consumed by now: room for f'(z)
            free = ws.scratch(j + 1, self.n, layer.w.shape[2])
            gz = self.act.derivative_(gh, tape.acts[i], free)
            norm, g_norm = self.layers[i].bn, self.grads[i].bn
            if normed is not None and norm is not None and g_norm is not None:
                gz = _batch_norm_backward(gz, norm.gamma, *g_norm, *normed)

    @torch.no_grad()
    def forward_eval(self, x: Tensor) -> Tensor:
        """(N, B, n_in) -> (N, n_out, B) in eval mode (no dropout, running batch-norm
        statistics): :func:`forward_layers` in place in this batch size's workspace,
        the outputs valid until the next evaluation of that size."""
        return forward_layers(self.layers, x, self.workspace("eval", x.shape[1]))

    # -- through autograd, with taps (probed steps) -------------------------------------
    def forward(self, x: Tensor, train: bool, gen: torch.Generator | None = None,
                taps: list[Tap] | None = None, flat: Tensor | None = None) -> Tensor:
        """(N, B, n_in) -> (N, n_out, B): :func:`forward_layers` through autograd, on
        ``flat`` (default: this net's rows; pass a leaf that requires grad to
        differentiate). With ``train`` dropout is drawn from ``gen`` and batch norm uses
        (and updates) batch statistics; otherwise running ones. With ``taps``, each
        layer's output is appended as ``(layer, "preact" | "act", output)`` (named like
        the module that computes it in :class:`fitscope.models.MLP`), its gradient kept
        for after the backward pass; taps hold (N, units, B) outputs."""
        layers = self.layers if flat is None else self.layers_of(self.split(flat))
        return forward_layers(layers, x, train=train,
                              drops=self._drops(gen) if train else None, taps=taps)

    # -- rows -------------------------------------------------------------------------
    def keep(self, index: Tensor) -> None:
        """Keep only the members at ``index`` (a 1-D long tensor), in that order."""
        super().keep(index)
        self._set_rates(self.dropout[index], self.input_dropout[index])
        self._bind()
        self.workspaces = {}


def _linear(h: Tensor, layer: Layer, scale: float = 1.0, out: Tensor | None = None) -> Tensor:
    """scale (W h^T + b) for every member: (N, in, B) -> (N, out, B), into ``out`` when
    given. A power of two as ``scale`` is exact: the result is ``scale`` times the
    unscaled one, bit for bit."""
    if layer.bias is None:
        z = torch.bmm(layer.w, h, out=out)
        return z if scale == 1.0 else z.mul_(scale)
    return torch.baddbmm(layer.bias, layer.w, h, beta=scale, alpha=scale, out=out)


def shared_linear(x: Tensor, layer: Layer, scale: float = 1.0,
                  out: Tensor | None = None) -> Tensor:
    """``_linear`` for inputs every member shares, x (B, in): one (N out, in) x (in, B)
    matrix multiply for all members. -> (N, out, B)."""
    n, units, _ = layer.w.shape
    w = layer.w.reshape(n * units, -1)
    flat = None if out is None else out.view(n * units, -1)
    if layer.b is None:
        z = torch.mm(w, x.T, out=flat)
        z = z if scale == 1.0 else z.mul_(scale)
    else:
        z = torch.addmm(layer.b.reshape(n * units, 1), w, x.T, beta=scale, alpha=scale,
                        out=flat)
    return z.view(n, units, -1)


def _batch_norm_backward(gy: Tensor, gamma: Tensor, g_gamma: Tensor, g_beta: Tensor,
                         normed: Tensor, rstd: Tensor) -> Tensor:
    """Batch norm's backward pass on batch statistics: writes d gamma = sum(gy xhat) and
    d beta = sum(gy) into ``g_gamma``, ``g_beta``, returns d loss / d input
    = rstd (g - mean(g) - xhat mean(g xhat)) with g = gy gamma (``gy`` is overwritten)."""
    torch.sum(gy * normed, dim=2, out=g_gamma)
    torch.sum(gy, dim=2, out=g_beta)
    g = gy.mul_(gamma.unsqueeze(2))
    mean_g = g.mean(2, keepdim=True)
    mean_gx = (g * normed).mean(2, keepdim=True)
    return g.sub_(mean_g).sub_(normed * mean_gx).mul_(rstd)


def _mask(h: Tensor, rate: Tensor, gen: torch.Generator | None,
          out: Tensor | None = None) -> Tensor:
    """Inverted dropout's mask with a per-member rate p (N, 1, 1): m / (1 - p),
    m ~ Bernoulli(1 - p) (Srivastava et al. 2014; ``nn.Dropout``'s form), shaped like
    ``h`` (into ``out`` when given). Rate-0 members get 1 exactly."""
    keep = 1.0 - rate
    if out is None:
        return torch.bernoulli(keep.expand(h.shape), generator=gen).div_(keep)
    return torch.bernoulli(keep.expand(h.shape), generator=gen, out=out).div_(keep)


class MemberView:
    """Member ``i`` of a stacked program, seen as a module by
    :class:`fitscope.core.loop.EarlyStopping` (which only calls ``state_dict``)."""

    def __init__(self, net: Program, i: int):
        self.net, self.i = net, i

    def state_dict(self) -> OrderedDict[str, Tensor]:
        return self.net.state_dict(self.i)
