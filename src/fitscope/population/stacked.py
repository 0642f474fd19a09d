"""The stacked MLP: the parameters of N members as one (N, D) tensor.

Member i's parameters are row i of ``flat``, in ``model.parameters()`` order: the row is
the member's flat parameter vector, as in the sequential engine's snapshots. The forward
pass splits the rows into per-layer views -- weight (N, out, in), bias (N, out) -- and
runs each layer for every member at once as a batched matrix multiply on activations
kept transposed, (N, units, B):

    z_i^T <- W_i h_i^T + b_i  for every member i  (``torch.baddbmm(b, W, h^T)``)

so one kernel does the work of N ``nn.Linear`` calls, and the weight gradient comes out
in W's own layout. The backward pass of the split gathers every layer's gradient into
one (N, D) ``flat.grad``, on which the optimizer, penalties and clipping act with a few
whole-population operations.

The layers mirror :class:`fitscope.models.MLP`: ``[input dropout] -> depth x (Linear
-> [BatchNorm1d] -> activation -> [dropout]) -> Linear``. Dropout rates are per member:
a (N, 1, 1) column, zero for members without dropout (whose activations then pass
through unchanged, bit for bit).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..regularize import weights_and_others


class Tanh(torch.autograd.Function):
    """tanh(z) = 2 sigmoid(2z) - 1, with the derivative 1 - tanh(z)^2 from the output.

    Mathematically ``torch.tanh``; computed through the sigmoid because torch's CPU tanh
    kernel is several times slower than its sigmoid and the population's activations are
    N times larger than one net's. It differs from ``torch.tanh`` by at most about 2e-7
    (a few float32 ulps of 1, absolute).
    """

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        y = torch.sigmoid(z * 2.0).mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


ACTIVATIONS = {"relu": torch.relu, "tanh": Tanh.apply, "sigmoid": torch.sigmoid,
               "linear": lambda h: h}
BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # nn.BatchNorm1d's defaults


class StackedMLP:
    """N MLPs of one shape. ``models`` give the members' initial parameters and buffers
    (they are copied); ``dropout`` and ``input_dropout`` are (N, 1, 1) rate columns."""

    def __init__(self, models: Sequence[nn.Module], cfg: ModelConfig,
                 dropout: Tensor, input_dropout: Tensor):
        template = models[0]
        self.cfg, self.act = cfg, ACTIVATIONS[cfg.activation]
        named = list(template.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        weight_ids = {id(w) for w in weights_and_others(template)[0]}
        self.weight_mask = torch.cat([torch.full((p.numel(),), id(p) in weight_ids)
                                      for _, p in named]).unsqueeze(0)  # (1, D) bool
        rows = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models]
        self.flat = torch.stack(rows).requires_grad_()  # (N, D)
        self.weight_mask = self.weight_mask.to(self.flat.device)
        self.buffer_names = [name for name, _ in template.named_buffers()]
        self.buffers = {name: torch.stack([m.get_buffer(name).detach().clone() for m in models])
                        for name in self.buffer_names}
        self._set_rates(dropout, input_dropout)

    def _set_rates(self, dropout: Tensor, input_dropout: Tensor) -> None:
        """Dropout rate columns; a rate column of zeros is skipped altogether."""
        self.dropout, self.input_dropout = dropout, input_dropout
        self.drops = bool((dropout > 0).any()), bool((input_dropout > 0).any())

    @property
    def n(self) -> int:
        return self.flat.shape[0]

    def params(self) -> dict[str, Tensor]:
        """Per-layer views of ``flat``: (N, *shape) each, in ``model.parameters()`` order."""
        return self.split(self.flat)

    def split(self, rows: Tensor) -> dict[str, Tensor]:
        """Per-parameter views of (N, D) ``rows`` laid out like ``flat`` (such as its
        gradient): name -> (N, *shape)."""
        parts = rows.split(self.sizes, dim=1)
        return {name: part.view(rows.shape[0], *shape)
                for name, part, shape in zip(self.names, parts, self.shapes)}

    @property
    def widest(self) -> int:
        """The largest layer width (inputs, hidden units or outputs)."""
        return max(max(shape) for shape in self.shapes)

    def forward(self, x: Tensor, train: bool, gen: torch.Generator | None = None,
                taps: list[tuple[str, str, Tensor]] | None = None) -> Tensor:
        """(N, B, n_in) -> (N, B, n_out). With ``train`` dropout is drawn from ``gen`` and
        batch norm uses (and updates) batch statistics; otherwise running ones. With
        ``taps``, each layer's output is appended as ``(layer, "preact" | "act", output)``
        (named like the module that computes it in :class:`fitscope.models.MLP`), its
        gradient kept for after the backward pass.

        Inside, activations are kept transposed, (N, units, B): a layer is then
        W h^T + b, whose weight gradient comes out in W's own (out, in) layout (no copy
        on its way into ``flat.grad``); taps hold these transposed outputs."""
        p = self.params()
        tap = _tapper(taps)
        h = x.transpose(1, 2)  # (N, n_in, B)
        if train and self.drops[1]:
            h = _dropout(h, self.input_dropout, gen)
        for i in range(self.cfg.depth):
            h = tap(f"hidden.{i}.linear", "preact", _linear(h, p, f"hidden.{i}.linear"))
            if self.cfg.batch_norm:
                h = tap(f"hidden.{i}.bn", "preact", self._batch_norm(h, p, i, train))
            h = tap(f"hidden.{i}.act", "act", self.act(h))
            if train and self.drops[0]:
                h = _dropout(h, self.dropout, gen)
        return tap("out", "preact", _linear(h, p, "out")).transpose(1, 2)

    def _batch_norm(self, h: Tensor, p: dict[str, Tensor], i: int, train: bool) -> Tensor:
        """y = (h - mu) / sqrt(var + eps) * gamma + beta per unit (Ioffe and Szegedy 2015),
        over the batch (the last dim of ``h``, (N, units, B)).

        Training uses the batch's mean and biased variance and updates the running
        statistics like ``nn.BatchNorm1d``: r <- (1 - m) r + m s, with the unbiased
        variance for ``running_var``; evaluation uses the running statistics.
        """
        name = f"hidden.{i}.bn"
        mean_r, var_r = self.buffers[f"{name}.running_mean"], self.buffers[f"{name}.running_var"]
        if train:
            var, mean = torch.var_mean(h, dim=2, unbiased=False, keepdim=True)  # (N, H, 1)
            with torch.no_grad():
                b = h.shape[2]
                mean_r.lerp_(mean[..., 0], BN_MOMENTUM)
                var_r.lerp_(var[..., 0] * (b / max(b - 1, 1)), BN_MOMENTUM)
                self.buffers[f"{name}.num_batches_tracked"].add_(1)
        else:
            mean, var = mean_r.unsqueeze(2), var_r.unsqueeze(2)
        h = (h - mean) * torch.rsqrt(var + BN_EPS)
        return h * p[f"{name}.weight"].unsqueeze(2) + p[f"{name}.bias"].unsqueeze(2)

    def keep(self, index: Tensor) -> None:
        """Keep only the members at ``index`` (a 1-D long tensor), in that order."""
        grad = self.flat.grad
        self.flat = self.flat.detach()[index].requires_grad_()
        self.flat.grad = None if grad is None else grad[index]
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self._set_rates(self.dropout[index], self.input_dropout[index])

    @torch.no_grad()
    def copy_to(self, i: int, module: nn.Module) -> None:
        """Write member ``i``'s parameters and buffers into ``module`` (a model of the
        members' shape), in place."""
        for p, row in zip(module.parameters(), self.flat[i].split(self.sizes)):
            p.copy_(row.view_as(p))
        for name in self.buffer_names:
            module.get_buffer(name).copy_(self.buffers[name][i])

    def state_dict(self, i: int) -> OrderedDict[str, Tensor]:
        """Member ``i``'s ``state_dict`` (views, not copies), keyed like its ``nn.Module``."""
        state = OrderedDict((name, t[i]) for name, t in self.params().items())
        state.update((name, self.buffers[name][i]) for name in self.buffer_names)
        return OrderedDict((k, v.detach()) for k, v in state.items())


def _linear(h: Tensor, p: dict[str, Tensor], name: str) -> Tensor:
    """W h^T + b for every member: (N, in, B) -> (N, out, B)."""
    w, bias = p[f"{name}.weight"], p.get(f"{name}.bias")
    return torch.bmm(w, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), w, h)


def _tapper(taps: list[tuple[str, str, Tensor]] | None):
    """``tap(layer, role, t) -> t``, recording ``t`` in ``taps`` (when given)."""
    def tap(layer: str, role: str, t: Tensor) -> Tensor:
        if taps is not None:
            if t.requires_grad:
                t.retain_grad()
            taps.append((layer, role, t))
        return t
    return tap


def _dropout(h: Tensor, rate: Tensor, gen: torch.Generator | None) -> Tensor:
    """Inverted dropout with a per-member rate p (N, 1, 1): h * m / (1 - p), m ~ Bernoulli(1 - p)
    (Srivastava et al. 2014; ``nn.Dropout``'s form). Rate-0 members get m = 1 exactly."""
    keep = 1.0 - rate
    mask = torch.bernoulli(keep.expand(h.shape), generator=gen).div_(keep)
    return h * mask


class MemberView:
    """Member ``i`` of a :class:`StackedMLP`, seen as a module by
    :class:`fitscope.engine.EarlyStopping` (which only calls ``state_dict``)."""

    def __init__(self, net: StackedMLP, i: int):
        self.net, self.i = net, i

    def state_dict(self) -> OrderedDict[str, Tensor]:
        return self.net.state_dict(self.i)
