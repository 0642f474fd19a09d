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

Training steps do not go through autograd: :meth:`StackedMLP.forward_train` keeps what
the backward pass needs (a :class:`Tape`) and :meth:`StackedMLP.backward` writes every
layer's gradient into ``grad`` (``bmm`` for the weight and input gradients, a sum for
the bias, the derivatives of the activation table :mod:`fitscope.core.activations`,
the batch-norm formula), a handful of kernels per layer with no graph to build.
Training and evaluation passes are one loop (:meth:`StackedMLP._pass`); activations are
computed in place where nothing needs the input again. :meth:`StackedMLP.forward` is
the same network through autograd, with taps for the probes
(:mod:`fitscope.population.probes`), which need every layer's output gradient; the
tests check the hand-written pass and backward against it.

The layers mirror :class:`fitscope.models.MLP`: ``[input dropout] -> depth x (Linear
-> [BatchNorm1d] -> activation -> [dropout]) -> Linear``. Dropout rates are per member:
a (N, 1, 1) column, zero for members without dropout (whose activations then pass
through unchanged, bit for bit).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..core.activations import TABLE
from .rows import MemberRows, Program

BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # nn.BatchNorm1d's defaults


@dataclass
class Layer:
    """One linear layer's views into ``flat`` and ``grad`` (and those of the batch norm
    that follows it), with a scratch buffer for its weight gradient."""

    name: str
    w: Tensor  # (N, out, in)
    b: Tensor | None  # (N, out)
    gw: Tensor
    gb: Tensor | None
    # a contiguous (N, out, in) buffer (shared by the layers) that bmm writes the weight
    # gradient to before one copy into gw. bmm into gw itself, whose members lie D apart,
    # was never faster: small matrices are multiplied member by member, and the
    # benchmark's width-128 nine-layer population (N = 32) took 5.6 s against 4.6 s with
    # 2 threads (medians of 5), the same with 1
    gw_scratch: Tensor
    bn: tuple[Tensor, Tensor, Tensor, Tensor] | None = None  # gamma, beta, their grads

    def __post_init__(self):
        self.wt = self.w.transpose(1, 2)  # (N, in, out): the backward pass's W^T
        self.bias = None if self.b is None else self.b.unsqueeze(2)  # (N, out, 1)


class Workspace:
    """Buffers for one batch size, reused from step to step: each layer's output, and two
    scratch buffers that the backward pass's input gradients (and the layers of an
    evaluation) alternate between. Fresh tensors of the population's size at every step
    cost page faults (the allocator hands blocks this large back to the system) and cache
    misses; these stay put."""

    def __init__(self, net: StackedMLP, b: int):
        n, like = net.n, net.flat
        self.b = b
        self.outputs = [like.new_empty(n, layer.w.shape[1], b) for layer in net.layers]
        self.outputs_t = [out.transpose(1, 2) for out in self.outputs]  # (N, B, units)
        width = max(layer.w.shape[2] for layer in net.layers)
        self.scratches = [like.new_empty(n * width * b) for _ in range(2)]
        # the gradient with respect to layer j's input (j >= 1), alternating buffers
        self.input_grads = [None] + [self.scratch(j, n, layer.w.shape[2])
                                     for j, layer in enumerate(net.layers) if j > 0]
        depth = len(net.layers) - 1
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
    """What :meth:`StackedMLP.backward` needs from :meth:`StackedMLP.forward_train`:
    each linear layer's input, and per hidden layer its activation output, dropout mask
    and batch-norm normalized values and inverse standard deviations."""

    inputs: list[Tensor] = field(default_factory=list)
    inputs_t: list[Tensor] = field(default_factory=list)  # the same, (N, B, units)
    acts: list[Tensor] = field(default_factory=list)
    masks: list[Tensor | None] = field(default_factory=list)
    normed: list[tuple[Tensor, Tensor] | None] = field(default_factory=list)


class StackedMLP(MemberRows):
    """N MLPs of one shape. ``models`` give the members' initial parameters and buffers
    (they are copied); ``dropout`` and ``input_dropout`` are (N, 1, 1) rate columns."""

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

    def _bind(self) -> None:
        """The per-layer views of ``flat`` and ``grad`` (made again when rows change)."""
        p, g = self.split(self.flat), self.split(self.grad)
        names = [f"hidden.{i}.linear" for i in range(self.cfg.depth)] + ["out"]
        scratch = self.flat.new_empty(max(p[f"{name}.weight"].numel() for name in names))
        self.layers = []
        for i, name in enumerate(names):
            bn, w = f"hidden.{i}.bn", p[f"{name}.weight"]
            self.layers.append(Layer(
                name, w, p.get(f"{name}.bias"), g[f"{name}.weight"], g.get(f"{name}.bias"),
                scratch[:w.numel()].view(w.shape),
                (p[f"{bn}.weight"], p[f"{bn}.bias"], g[f"{bn}.weight"], g[f"{bn}.bias"])
                if self.cfg.batch_norm and name != "out" else None))

    @property
    def widest(self) -> int:
        """The largest layer width (inputs, hidden units or outputs)."""
        return max(max(shape) for shape in self.shapes)

    def workspace(self, kind: str, b: int) -> Workspace:
        """The buffers for ``kind`` ("train" or "eval") passes of ``b`` examples."""
        key = (kind, b)
        if key not in self.workspaces:
            self.workspaces[key] = Workspace(self, b)
        return self.workspaces[key]

    # -- training steps without autograd ----------------------------------------------
    def forward_train(self, x: Tensor, gen: torch.Generator | None) -> tuple[Tensor, Tape]:
        """(N, B, n_in) -> outputs (N, n_out, B) in training mode (dropout drawn from
        ``gen``, batch norm on batch statistics, running statistics updated), and the
        :class:`Tape` for :meth:`backward`. The same numbers as :meth:`forward`. The
        outputs and the tape live in this batch size's workspace: valid until the next
        pass of that size."""
        out, tape = self._pass(x, Tape(), gen)
        return out, tape  # type: ignore[return-value]  # a tape given is a tape returned

    def backward(self, tape: Tape, grad_out: Tensor) -> None:
        """Write the gradient of the members' summed loss into ``grad``, given
        ``grad_out`` = d loss / d outputs (N, n_out, B) and the forward pass's ``tape``."""
        gz = grad_out
        ws = self.workspace("train", grad_out.shape[2])
        for j in range(len(self.layers) - 1, -1, -1):
            layer, h_t = self.layers[j], tape.inputs_t[j]
            layer.gw.copy_(torch.bmm(gz, h_t, out=layer.gw_scratch))
            if layer.gb is not None:
                torch.sum(gz, dim=2, out=layer.gb)
            if j == 0:
                break
            i = j - 1  # the hidden layer whose output h is
            gh = torch.bmm(layer.wt, gz, out=ws.input_grads[j])
            mask, normed, bn = tape.masks[i], tape.normed[i], self.layers[i].bn
            if mask is not None:
                gh.mul_(mask)
            # the other scratch buffer held gz, consumed by now: room for f'(z)
            free = ws.scratch(j + 1, self.n, layer.w.shape[2])
            gz = self.act.derivative_(gh, tape.acts[i], free)
            if normed is not None and bn is not None:
                gz = _batch_norm_backward(gz, bn, *normed)

    @torch.no_grad()
    def forward_eval(self, x: Tensor) -> Tensor:
        """(N, B, n_in) -> (N, n_out, B) in eval mode (no dropout, running batch-norm
        statistics), in place in this batch size's workspace. When every member gets the
        same inputs (``x`` expanded from (B, n_in)), the first layer is one matrix
        multiply for all members."""
        return self._pass(x, None)[0]

    def _pass(self, x: Tensor, tape: Tape | None, gen: torch.Generator | None = None
              ) -> tuple[Tensor, Tape | None]:
        """The forward pass outside autograd, in place in the workspace: training mode
        when given a ``tape`` to fill (each layer's output in a buffer of its own, kept
        for the backward pass), else eval mode (two scratch buffers in turn; the last
        layer's output a fresh tensor). ``z`` comes out of the layer's multiply already
        scaled by the activation's ``prescale`` where no batch norm comes between."""
        act, (n, b) = self.act, x.shape[:2]
        train = tape is not None
        ws = self.workspace("train" if train else "eval", b)
        h, h_t = x.transpose(1, 2), x  # (N, n_in, B) and (N, B, n_in)
        shared = x.stride(0) == 0  # every member gets the same inputs
        if train and self.drops[1]:
            h = h * _mask(h, self.input_dropout, gen, ws.mask(0, h))
            h_t, shared = h.transpose(1, 2), False
        depth = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if tape is not None:
                tape.inputs.append(h)
                tape.inputs_t.append(h_t)
            prescaled = i < depth and layer.bn is None  # free in the multiply
            scale = act.prescale if prescaled else 1.0
            out = (ws.outputs[i] if train else
                   None if i == depth else ws.scratch(i, n, layer.w.shape[1]))
            z = (_shared_linear(x[0], layer, scale, out=out) if i == 0 and shared
                 else _linear(h, layer, scale, out=out))
            if i == depth:
                break
            normed: tuple[Tensor, Tensor] | None = None
            if layer.bn is not None:
                z, xhat, rstd = self._batch_norm(z, layer.bn, i, train, in_place=True)
                normed = xhat, rstd
            y = act.activate_(z, prescaled=prescaled)
            mask = None
            if train and self.drops[0]:
                mask = _mask(y, self.dropout, gen, ws.mask(i + 1, y))
                h = torch.mul(y, mask, out=ws.after_dropout(i, y))
                h_t = h.transpose(1, 2)
            else:
                h = y
                h_t = ws.outputs_t[i] if train and y is ws.outputs[i] else y.transpose(1, 2)
            if tape is not None:
                tape.acts.append(y)
                tape.masks.append(mask)
                tape.normed.append(normed)
        return z, tape

    def _track(self, i: int, mean: Tensor, var: Tensor, b: int) -> None:
        """r <- (1 - m) r + m s, with the unbiased variance for ``running_var``."""
        name = f"hidden.{i}.bn"
        with torch.no_grad():
            self.buffers[f"{name}.running_mean"].lerp_(mean[..., 0], BN_MOMENTUM)
            self.buffers[f"{name}.running_var"].lerp_(var[..., 0] * (b / max(b - 1, 1)),
                                                      BN_MOMENTUM)
            self.buffers[f"{name}.num_batches_tracked"].add_(1)

    # -- through autograd, with taps (probed steps) -------------------------------------
    def forward(self, x: Tensor, train: bool, gen: torch.Generator | None = None,
                taps: list[tuple[str, str, Tensor]] | None = None,
                flat: Tensor | None = None) -> Tensor:
        """(N, B, n_in) -> (N, n_out, B) through autograd, on ``flat`` (default: this
        net's rows; pass a leaf that requires grad to differentiate). With ``train``
        dropout is drawn from ``gen`` and batch norm uses (and updates) batch statistics;
        otherwise running ones. With ``taps``, each layer's output is appended as
        ``(layer, "preact" | "act", output)`` (named like the module that computes it in
        :class:`fitscope.models.MLP`), its gradient kept for after the backward pass;
        taps hold (N, units, B) outputs."""
        p = self.split(self.flat if flat is None else flat)
        tap = _tapper(taps)
        h = x.transpose(1, 2)  # (N, n_in, B)
        if train and self.drops[1]:
            h = h * _mask(h, self.input_dropout, gen)
        for i in range(self.cfg.depth):
            h = tap(f"hidden.{i}.linear", "preact", _linear_p(h, p, f"hidden.{i}.linear"))
            if self.cfg.batch_norm:
                bn = p[f"hidden.{i}.bn.weight"], p[f"hidden.{i}.bn.bias"]
                h = tap(f"hidden.{i}.bn", "preact",
                        self._batch_norm(h, bn, i, train, in_place=False)[0])
            h = tap(f"hidden.{i}.act", "act", self.act.function(h))
            if train and self.drops[0]:
                h = h * _mask(h, self.dropout, gen)
        return tap("out", "preact", _linear_p(h, p, "out"))

    def _batch_norm(self, z: Tensor, bn: Sequence[Tensor], i: int, train: bool,
                    in_place: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Batch norm of hidden layer ``i`` (Ioffe and Szegedy 2015), per unit over the
        batch (the last dim of ``z``, (N, units, B)), with ``bn`` = (gamma, beta, ...):

            y = (z - mu) / sqrt(var + eps) * gamma + beta.

        Training uses the batch's mean and biased variance and updates the running
        statistics like ``nn.BatchNorm1d`` (:meth:`_track`); evaluation uses the running
        statistics. ``in_place`` overwrites ``z`` with the normalized values (outside
        autograd). Returns (y, normalized values, 1 / sqrt(var + eps)), the last two what
        :func:`_batch_norm_backward` needs."""
        if train:
            var, mean = torch.var_mean(z, dim=2, unbiased=False, keepdim=True)  # (N, H, 1)
            self._track(i, mean.detach(), var.detach(), z.shape[2])
        else:
            mean = self.buffers[f"hidden.{i}.bn.running_mean"].unsqueeze(2)
            var = self.buffers[f"hidden.{i}.bn.running_var"].unsqueeze(2)
        rstd = torch.rsqrt(var + BN_EPS)
        normed = z.sub_(mean).mul_(rstd) if in_place else (z - mean) * rstd
        return torch.addcmul(bn[1].unsqueeze(2), normed, bn[0].unsqueeze(2)), normed, rstd

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


def _shared_linear(x: Tensor, layer: Layer, scale: float = 1.0,
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


def _linear_p(h: Tensor, p: dict[str, Tensor], name: str) -> Tensor:
    """W h^T + b for every member: (N, in, B) -> (N, out, B), from parameter views."""
    w, bias = p[f"{name}.weight"], p.get(f"{name}.bias")
    return torch.bmm(w, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), w, h)


def _batch_norm_backward(gy: Tensor, bn: tuple[Tensor, ...], normed: Tensor,
                         rstd: Tensor) -> Tensor:
    """Batch norm's backward pass on batch statistics: writes d gamma = sum(gy xhat) and
    d beta = sum(gy) into ``grad``, returns d loss / d input
    = rstd (g - mean(g) - xhat mean(g xhat)) with g = gy gamma (``gy`` is overwritten)."""
    gamma, _, g_gamma, g_beta = bn
    torch.sum(gy * normed, dim=2, out=g_gamma)
    torch.sum(gy, dim=2, out=g_beta)
    g = gy.mul_(gamma.unsqueeze(2))
    mean_g = g.mean(2, keepdim=True)
    mean_gx = (g * normed).mean(2, keepdim=True)
    return g.sub_(mean_g).sub_(normed * mean_gx).mul_(rstd)


def _tapper(taps: list[tuple[str, str, Tensor]] | None):
    """``tap(layer, role, t) -> t``, recording ``t`` in ``taps`` (when given)."""
    def tap(layer: str, role: str, t: Tensor) -> Tensor:
        if taps is not None:
            if t.requires_grad:
                t.retain_grad()
            taps.append((layer, role, t))
        return t
    return tap


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
