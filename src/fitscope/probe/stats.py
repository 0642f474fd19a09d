"""Statistics of tensors, as the probe records them: moments, fixed-bin histograms,
saturation, dead units, unit symmetry.

A probe lays a sampled step's tensors end to end in one float32 buffer, each padded with
zeros to a multiple of CHUNK values (:func:`padded`, :func:`flatten`, a :class:`Layout`),
and reduces it in a handful of operations whatever the number of tensors
(:func:`partial_summary`: sums per CHUNK values, one table look-up and one count for all
histograms); :func:`summarize` then turns several steps' reductions into means,
standard deviations, norms and histogram counts, reaching Python in two ``tolist``
calls. The per-tensor functions below return tensors, the float functions finish a
record's value.

Histogram bins are the same for every quantity, layer and step, so any two histograms
compare bin by bin (:func:`histogram_edges`): symmetric about zero, magnitudes spaced
evenly in log scale from about 10^HIST_LOG10_MIN to 10^HIST_LOG10_MAX. A bin holds the
values whose magnitude m is in [m_i, m_(i+1)) on its side of zero; larger magnitudes
(and infinities) count in the outermost bins; NaN is not counted.
"""

from __future__ import annotations

import functools
import math
from typing import overload

import torch
from torch import Tensor

HIST_LOG10_MIN = -7.0  # below 1e-7 a value is "zero" for training purposes (float32 eps ~1e-7)
HIST_LOG10_MAX = 3.0  # above 1e3 an activation, gradient or weight has exploded
MAX_BINS = 200  # the magnitude grid below has 266 steps per sign over the range
TANH_SATURATION = 0.99  # |tanh(z)| > 0.99 means tanh'(z) < 0.02: the unit barely passes gradient
SIGMOID_SATURATION = 0.01  # sigmoid < 0.01 or > 0.99: sigmoid'(z) < 0.01, the same problem

# A float32's top 12 bits (sign, 8 exponent bits, 3 mantissa bits) name its "code": the
# codes cut each octave of magnitudes into 8 pieces, and bin edges sit on those cuts, so
# a histogram is one table look-up per value (no search).
_CODE_SHIFT = 20
_N_CODES = 4096
_MANTISSA_STEPS = 8


def _on_code_grid(x: float) -> float:
    """The magnitude nearest to ``x`` > 0 of the form 2^e (1 + k/8), k = 0..7."""
    e = math.floor(math.log2(x))
    k = round((x / 2.0**e - 1.0) * _MANTISSA_STEPS)
    return 2.0**e * (1.0 + k / _MANTISSA_STEPS)


@functools.lru_cache(maxsize=32)
def histogram_edges(bins: int) -> tuple[float, ...]:
    """``bins + 1`` bin edges, symmetric about zero, log-spaced in magnitude.

    With ``k = bins // 2`` magnitudes m_1 < ... < m_k, 10^(HIST_LOG10_MIN + (j - 1) *
    (HIST_LOG10_MAX - HIST_LOG10_MIN) / (k - 1)) each rounded to the nearest 2^e (1 + i/8):
    an even ``bins`` gives edges (-m_k, ..., -m_1, 0, m_1, ..., m_k); an odd ``bins`` uses
    k + 1 magnitudes and no 0, so the middle bin is (-m_1, m_1).
    """
    if not isinstance(bins, int) or not 2 <= bins <= MAX_BINS:
        raise ValueError(f"Argument `bins` must be an int in [2, {MAX_BINS}]. "
                         f"Received: bins={bins!r}")
    k = bins // 2 + bins % 2
    step = (HIST_LOG10_MAX - HIST_LOG10_MIN) / max(k - 1, 1)
    mags = [_on_code_grid(10.0 ** (HIST_LOG10_MIN + j * step)) for j in range(k)]
    middle = [0.0] if bins % 2 == 0 else []
    return tuple([-m for m in reversed(mags)] + middle + mags)


@functools.lru_cache(maxsize=32)
def _code_to_bin(bins: int, device: torch.device) -> Tensor:
    """For each of the 4096 codes (a float32's top 12 bits, as unsigned): its bin, or
    ``bins`` (not counted) for NaN."""
    code = torch.arange(_N_CODES, dtype=torch.int32)
    inside = ((code << _CODE_SHIFT) | (1 << (_CODE_SHIFT - 1))).view(torch.float32)
    inner = torch.tensor(histogram_edges(bins)[1:-1], dtype=torch.float32)
    table = torch.bucketize(inside, inner, out_int32=True)  # interior points: never on an edge
    exponent_all_ones = ((code >> 3) & 0xFF) == 0xFF
    infinite = exponent_all_ones & ((code & 0x7) == 0)
    table[infinite] = torch.where(code[infinite] < _N_CODES // 2, bins - 1, 0).int()
    table[exponent_all_ones & ~infinite] = bins
    return table.to(device)


@functools.lru_cache(maxsize=32)
def _signed_code_to_bin(bins: int, device: torch.device) -> Tensor:
    """:func:`_code_to_bin` indexed by the signed code (a float32's bits as int32,
    shifted right by 20) + 2048."""
    return _code_to_bin(bins, device).roll(_N_CODES // 2)


def histogram(t: Tensor, bins: int) -> Tensor:
    """Counts of ``t``'s values in the :func:`histogram_edges` bins (length ``bins``)."""
    flat = t.detach().reshape(-1)
    flat = flat if flat.dtype == torch.float32 else flat.float()
    codes = (flat.view(torch.int32) >> _CODE_SHIFT).add_(_N_CODES // 2)
    binned = _signed_code_to_bin(bins, flat.device).index_select(0, codes)
    return torch.bincount(binned, minlength=bins + 1)[:bins]


@functools.lru_cache(maxsize=8)
def _row_tables(rows: int, bins: int, device: torch.device) -> Tensor:
    """:func:`_signed_code_to_bin` repeated for ``rows`` tensors, row r's bins shifted by
    r (bins + 1): one look-up (at r * 4096 + signed code + 2048) and one count histogram
    many tensors."""
    shift = torch.arange(rows, dtype=torch.int32, device=device)[:, None] * (bins + 1)
    table = (_signed_code_to_bin(bins, device)[None, :] + shift).reshape(-1)
    # int16 when the bins fit: half the memory for the look-up's output and the count
    return table.to(torch.int16) if rows * (bins + 1) <= torch.iinfo(torch.int16).max else table


# A buffer holds its tensors end to end, each padded with zeros to a multiple of CHUNK
# values, so that one (rows, CHUNK) view gives every tensor's sums in one reduction.
CHUNK = 128

@functools.lru_cache(maxsize=256)
def _zeros(n: int, device: torch.device) -> Tensor:
    return torch.zeros(n, device=device)


def padded_size(n: int) -> int:
    """``n`` rounded up to a multiple of :data:`CHUNK`."""
    return n + (-n % CHUNK)


def padded(tensors: list[Tensor]) -> list[Tensor]:
    """``tensors``, each followed by the zeros (if any) that complete it to a multiple
    of :data:`CHUNK` values: what :func:`flatten` joins into the buffer, or a block of
    it, that :func:`summarize` reads."""
    pieces = []
    for t in tensors:
        pieces.append(t)
        missing = -t.numel() % CHUNK
        if missing:
            pieces.append(_zeros(missing, t.device))
    return pieces


def flatten(pieces: list[Tensor]) -> Tensor:
    """The values of ``pieces`` end to end in one new 1-d tensor."""
    return torch.cat([t.reshape(-1) for t in pieces])


@functools.lru_cache(maxsize=8)
def _ones(n: int, device: torch.device) -> Tensor:
    return torch.ones(n, device=device)


class Layout:
    """Where tensors of ``sizes`` values lie in a buffer (in order, each padded to a
    multiple of CHUNK), the first ``hist`` of them histogrammed: each CHUNK-row's
    tensor, and each histogrammed value's row in the look-up table (the padding's row,
    ``hist``, is dropped)."""

    def __init__(self, sizes: tuple[int, ...], hist: int, bins: int, device: torch.device):
        padded_sizes = [padded_size(n) for n in sizes]
        self.sizes, self.count, self.hist, self.bins = sizes, len(sizes), hist, bins
        self.rows = sum(padded_sizes) // CHUNK
        self.row_tensor = torch.repeat_interleave(
            torch.arange(len(sizes), device=device),
            torch.tensor([p // CHUNK for p in padded_sizes], device=device))
        self.hist_len = sum(padded_sizes[:hist])
        row = torch.tensor([r for i in range(hist) for r in (i, hist)], device=device)
        lengths = torch.tensor([m for n, p in zip(sizes, padded_sizes[:hist]) for m in (n, p - n)],
                               device=device)
        offsets = torch.repeat_interleave(row, lengths) * _N_CODES + _N_CODES // 2
        self.offsets = offsets.to(torch.int32)
        self.table = _row_tables(hist + 1, bins, device)
        self.ones = _ones(CHUNK, device)
        self.n = torch.tensor(sizes, dtype=torch.float64, device=device)


@functools.lru_cache(maxsize=16)
def layout(sizes: tuple[int, ...], hist: int, bins: int, device: torch.device) -> Layout:
    """The :class:`Layout` of tensors of ``sizes`` values, the first ``hist`` histogrammed
    (cached: a model's steps mostly share one)."""
    return Layout(sizes, hist, bins, device)


class Workspace:
    """Views of a buffer laid out as ``lay`` says, and room for its codes and bins: what
    :func:`partial_summary` needs, made once for a buffer used step after step."""

    def __init__(self, buffer: Tensor, lay: Layout):
        self.rows = buffer.view(lay.rows, CHUNK)
        self.bits = buffer[:lay.hist_len].view(torch.int32)
        self.codes = torch.empty_like(self.bits)
        self.bins = torch.empty(lay.hist_len, dtype=lay.table.dtype, device=buffer.device)


def partial_summary(buffer: Tensor, lay: Layout, ws: Workspace | None = None
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """The part of :func:`summarize` done on a step's buffer (float32, laid out as
    ``lay`` says; it is squared in place): the sum and the sum of squares of each
    CHUNK values and the histogram counts, by one table look-up and one count for all
    tensors. ``ws`` (a :class:`Workspace` of this buffer) saves making views and room."""
    if ws is None:
        ws = Workspace(buffer, lay)
    rows = ws.rows
    sums = torch.mv(rows, lay.ones)
    torch.bitwise_right_shift(ws.bits, _CODE_SHIFT, out=ws.codes).add_(lay.offsets)
    torch.index_select(lay.table, 0, ws.codes, out=ws.bins)
    counts = torch.bincount(ws.bins, minlength=(lay.hist + 1) * (lay.bins + 1))
    return sums, torch.mv(rows.mul_(rows), lay.ones), counts


def summarize(lay: Layout, parts: list[tuple[Tensor, Tensor, Tensor]]
              ) -> tuple[list[list[float]], list[list[float]], list[list[float]],
                         list[list[list[int]]]]:
    """(means, standard deviations, norms, histograms) of the tensors of each buffer
    (:func:`moments`, :func:`histogram`),
    from its :func:`partial_summary`, the buffers all laid out as ``lay`` says: one
    list per buffer, one entry per tensor (histograms, :func:`histogram`'s counts, of
    the first ``lay.hist`` tensors only).

    The sums over CHUNK values (float32) are added up per tensor in float64; standard
    deviations divide by n: std^2 = sum(x^2) / n - mean^2 (one pass, accurate while
    std / |mean| is above ~1e-3). All the buffers' numbers reach Python in two
    ``tolist`` calls.
    """
    rows = torch.stack([t for sums, squares, _ in parts for t in (sums, squares)])
    rows = rows.double().view(len(parts), 2, lay.rows)
    totals = torch.zeros(len(parts), 2, lay.count, dtype=torch.float64, device=rows.device)
    totals.index_add_(2, lay.row_tensor, rows)
    mean = totals[:, 0] / lay.n
    std = (totals[:, 1] / lay.n - mean * mean).clamp_min_(0.0).sqrt_()
    means, stds, norms = torch.stack([mean, std, totals[:, 1].sqrt_()]).tolist()
    shape = (len(parts), lay.hist + 1, lay.bins + 1)
    counts = torch.stack([c for _, _, c in parts]).view(shape)[:, :lay.hist, :lay.bins]
    hists = counts.numpy().tolist() if counts.device.type == "cpu" else counts.tolist()
    return means, stds, norms, hists


def moments(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per index i of ``t``'s first axis, over the n values of ``t[i]``: the mean,
    the standard deviation with divisor n and the Euclidean (Frobenius) norm, each
    of shape ``(len(t),)``::

        mean = sum(x) / n,   std = sqrt(sum((x - mean)^2) / n),   norm = sqrt(sum(x^2))

    The ``*_mean``, ``*_std`` and ``*_norm`` of the probe's records (:func:`summarize`
    gives the same from a buffer's sums, for many tensors at once)."""
    v = t.reshape(t.shape[0], -1).float()
    var, mean = torch.var_mean(v, dim=1, correction=0)
    return mean, var.sqrt(), torch.linalg.vector_norm(v, dim=1)


def unit_maxima(a: Tensor) -> Tensor:
    """max a per unit (dim 1: features, or conv channels) over the batch and positions,
    for the output of a ReLU (>= 0): 0 means a unit that is off for every example
    (:func:`dead_fraction`)."""
    if a.dim() < 2:
        return a.amax().reshape(1)
    return a.amax(dim=0) if a.dim() == 2 else a.amax(dim=[d for d in range(a.dim()) if d != 1])


@overload
def dead_fraction(maxima: list[float]) -> float: ...
@overload
def dead_fraction(maxima: Tensor) -> Tensor: ...
def dead_fraction(maxima: list[float] | Tensor) -> float | Tensor:
    """``act_dead``: the share of units whose output is 0 for every example of the
    batch, from each unit's maximum output (:func:`unit_maxima`)::

        act_dead = #{units j : max_batch a_j = 0} / #units

    a dead ReLU, which passes no gradient and so never revives. ``maxima``: a list
    (one layer), or a tensor with the units on its last axis (one share per index of
    the others, e.g. per member of a population)."""
    if isinstance(maxima, Tensor):
        return (maxima == 0).float().mean(-1)
    return maxima.count(0.0) / max(len(maxima), 1)


def saturated(a: Tensor, kind: str) -> Tensor:
    """Where the non-linearity is flat (a boolean tensor shaped like ``a``)::

        tanh:     |a| > TANH_SATURATION                                (tanh'(z) < 0.02)
        sigmoid:  a < SIGMOID_SATURATION or a > 1 - SIGMOID_SATURATION (sigmoid'(z) < 0.01)

    ``act_saturated`` is the share of a layer's values where it holds."""
    centered = a if kind == "tanh" else a - 0.5
    limit = TANH_SATURATION if kind == "tanh" else 0.5 - SIGMOID_SATURATION
    return centered.abs() > limit


def saturated_count(a: Tensor, kind: str) -> Tensor:
    """How many values of ``a`` are :func:`saturated`; divided by ``a.numel()`` it is
    ``act_saturated``."""
    return torch.count_nonzero(saturated(a, kind))


def unit_offsets(w: Tensor) -> Tensor:
    """W - w_bar: each unit's incoming weights (a row of W, reshaped to units x inputs)
    minus the mean unit's; its norm is the spread :func:`unit_distance` needs."""
    rows = w if w.dim() == 2 else w.reshape(w.shape[0], -1)
    rows = rows if rows.dtype == torch.float32 else rows.float()
    return rows.sub(rows.sum(dim=0), alpha=1.0 / rows.shape[0])


def unit_spreads(w: Tensor) -> Tensor:
    """||W - w_bar|| (the norm of :func:`unit_offsets`) of each W of a float32 stack
    ``(n, units, inputs)``: n values."""
    offsets = w.sub(w.sum(dim=1, keepdim=True), alpha=1.0 / w.shape[1])
    return torch.linalg.vector_norm(offsets, dim=(1, 2))


@overload
def unit_distance(spread: float, norm: float, m: int) -> float: ...
@overload
def unit_distance(spread: Tensor, norm: Tensor, m: int) -> Tensor: ...
def unit_distance(spread: float | Tensor, norm: float | Tensor, m: int) -> float | Tensor:
    """How far apart the incoming weight vectors w_1..w_m of a layer's m >= 2 units are.

    The root-mean-square distance over pairs of units, relative to the RMS norm of a
    unit's weights::

        d = sqrt( mean_{i != j} ||w_i - w_j||^2 / mean_i ||w_i||^2 )
          = sqrt( 2m / (m - 1) ) * ||W - w_bar|| / ||W||

    using sum_{i,j} ||w_i - w_j||^2 = 2m sum_i ||w_i - w_bar||^2 (w_bar the mean unit,
    W the matrix of rows w_i; ``spread`` = ||W - w_bar|| from :func:`unit_offsets`,
    ``norm`` = ||W||). d = 0 means every unit computes the same function (constant init:
    the notes' symmetry problem); independent random units give d close to sqrt(2).
    A weight of all zeros gives 0; non-finite weights give NaN. ``spread`` and ``norm``
    are numbers, or tensors of one value per member of a population.
    """
    scale = math.sqrt(2 * m / (m - 1))
    if isinstance(norm, Tensor):
        return torch.where(norm > 0, scale * spread / norm.clamp_min(1e-30),
                           torch.zeros_like(norm))
    return 0.0 if norm == 0 else scale * spread / norm


def clear_caches() -> None:
    """Drop every table this module keeps between probed steps (histogram edges and bin
    lookups, row tables, constant rows, layouts); the next step that needs one makes it
    again. A long-lived process (the lab) calls it when its trainings have ended."""
    for cached in (histogram_edges, _code_to_bin, _signed_code_to_bin, _row_tables, _zeros,
                   _ones, layout):
        cached.cache_clear()
