"""Statistics of tensors, as the probe records them: moments, fixed-bin histograms,
saturation, dead units, unit symmetry.

A probe keeps a sampled step's tensors and computes their statistics together:
:func:`summarize` takes all of them in a few batched operations, the per-tensor
functions return tensors (nothing converted to Python one by one), and the float
functions finish a record's value. That keeps a probed step cheap.

Histogram bins are the same for every quantity, layer and step, so any two histograms
compare bin by bin (:func:`histogram_edges`): symmetric about zero, magnitudes spaced
evenly in log scale from about 10^HIST_LOG10_MIN to 10^HIST_LOG10_MAX. A bin holds the
values whose magnitude m is in [m_i, m_(i+1)) on its side of zero; larger magnitudes
(and infinities) count in the outermost bins; NaN is not counted.
"""

from __future__ import annotations

import functools
import math

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
def _row_tables(rows: int, bins: int, device: torch.device) -> Tensor:
    """:func:`_code_to_bin`, indexed by the signed code + 2048, repeated for ``rows``
    tensors with row r's bins shifted by r * (bins + 1): one look-up and one count
    histogram many tensors."""
    shift = torch.arange(rows, dtype=torch.int32, device=device)[:, None] * (bins + 1)
    signed = _code_to_bin(bins, device).roll(_N_CODES // 2)  # index: signed code + 2048
    return (signed[None, :] + shift).reshape(-1)


@functools.lru_cache(maxsize=32)
def _row_codes_offset(rows: int, device: torch.device) -> Tensor:
    """Added to the signed codes (-2048..2047) of row r: r * 4096 + 2048."""
    return torch.arange(rows, dtype=torch.int32, device=device)[:, None] * _N_CODES + 2048


def _histogram_rows(stacked: Tensor, bins: int) -> Tensor:
    """Histograms ``(k, bins)`` of the k rows of a float32 matrix: each value's code (its
    top 12 bits) is looked up in a table of bins."""
    k = stacked.shape[0]
    codes = (stacked.view(torch.int32) >> _CODE_SHIFT) + _row_codes_offset(k, stacked.device)
    binned = _row_tables(k, bins, stacked.device).index_select(0, codes.reshape(-1))
    return torch.bincount(binned, minlength=k * (bins + 1)).view(k, bins + 1)[:, :bins]


def histogram(t: Tensor, bins: int) -> Tensor:
    """Counts of ``t``'s values in the :func:`histogram_edges` bins (length ``bins``)."""
    return _histogram_rows(t.detach().reshape(1, -1).float(), bins)[0]


# summarize() takes a step's tensors end to end, each padded with zeros to a multiple of
# CHUNK values, so that one (rows, CHUNK) view gives every tensor's sums in one reduction.
CHUNK = 128

try:  # one C++ call: each tensor made contiguous, flattened and concatenated
    _flatten = torch._C._nn.flatten_dense_tensors
except AttributeError:  # pragma: no cover - older or future torch without it
    def _flatten(tensors: list[Tensor]) -> Tensor:
        return torch.cat([t.reshape(-1) for t in tensors])


@functools.lru_cache(maxsize=256)
def _zeros(n: int, device: torch.device) -> Tensor:
    return torch.zeros(n, device=device)


def padding(n: int, device: torch.device) -> Tensor | None:
    """Zeros that complete ``n`` values to a multiple of :data:`CHUNK` (None when none
    are needed); :func:`summarize` expects each tensor followed by its padding."""
    missing = -n % CHUNK
    return _zeros(missing, device) if missing else None


def padded(tensors: list[Tensor]) -> list[Tensor]:
    """``tensors``, each followed by its :func:`padding`: the pieces :func:`summarize`
    takes, or what :func:`flatten` joins into a block of several of its tensors."""
    pieces = []
    for t in tensors:
        pieces.append(t)
        pad = padding(t.numel(), t.device)
        if pad is not None:
            pieces.append(pad)
    return pieces


def flatten(pieces: list[Tensor]) -> Tensor:
    """The values of ``pieces`` end to end in one new 1-d tensor (one operation)."""
    return _flatten(pieces)


class _Layout:
    """What :func:`summarize` needs to know about tensors of ``sizes`` (the first
    ``hist`` of them histogrammed): each CHUNK-row's tensor, and each histogrammed
    value's row in the look-up table (padding goes to an extra row that is dropped)."""

    def __init__(self, sizes: tuple[int, ...], hist: int, bins: int, device: torch.device):
        padded_sizes = [n + (-n % CHUNK) for n in sizes]
        self.rows = sum(padded_sizes) // CHUNK
        self.row_tensor = torch.repeat_interleave(
            torch.arange(len(sizes), device=device),
            torch.tensor([p // CHUNK for p in padded_sizes], device=device))
        self.hist_len = sum(padded_sizes[:hist])
        row_of_value = torch.tensor([r for i in range(hist) for r in (i, hist)], device=device)
        lengths = torch.tensor([k for n, p in zip(sizes, padded_sizes[:hist]) for k in (n, p - n)],
                               device=device)
        offsets = torch.repeat_interleave(row_of_value, lengths) * _N_CODES + _N_CODES // 2
        self.offsets = offsets.to(torch.int32)
        self.table = _row_tables(hist + 1, bins, device)
        self.shape = (hist + 1, bins + 1)


@functools.lru_cache(maxsize=16)
def _layout(sizes: tuple[int, ...], hist: int, bins: int, device: torch.device) -> _Layout:
    return _Layout(sizes, hist, bins, device)


def summarize(pieces: list[Tensor], sizes: tuple[int, ...], hist: int, bins: int
              ) -> tuple[list[float], list[float], list[list[int]]]:
    """(sums, sums of squares, histograms) of tensors of ``sizes`` values; histograms
    (:func:`histogram`'s counts) of the first ``hist`` of them only.

    ``pieces`` (float32, one device) hold the tensors' values end to end, each tensor
    followed by its :func:`padding`; a piece may hold several tensors (a block made
    with :func:`flatten` of :func:`padded` tensors). Everything is done on one buffer:
    sums and sums of squares per row of CHUNK values (float32), added up per tensor in
    float64; the histograms by one table look-up and one count; two ``tolist`` calls.
    A handful of operations per step, however many tensors.
    """
    buffer = _flatten(pieces)
    layout = _layout(sizes, hist, bins, buffer.device)
    rows = buffer.view(layout.rows, CHUNK)
    per_row = torch.stack([rows.sum(dim=1), (rows * rows).sum(dim=1)]).double()
    moments = torch.zeros(2, len(sizes), dtype=torch.float64, device=buffer.device)
    moments.index_add_(1, layout.row_tensor, per_row)
    codes = (buffer[:layout.hist_len].view(torch.int32) >> _CODE_SHIFT).add_(layout.offsets)
    counts = torch.bincount(layout.table.index_select(0, codes),
                            minlength=layout.shape[0] * layout.shape[1])
    sums, squares = moments.tolist()
    return sums, squares, counts.view(layout.shape)[:hist, :bins].tolist()


def std_from(total: float, squares: float, n: int) -> float:
    """Population standard deviation (divisor n) from the sum and the sum of squares:
    std^2 = squares / n - mean^2, mean = total / n (one pass over float32 values;
    accurate while std / |mean| is above ~1e-3)."""
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))


def unit_maxima(a: Tensor) -> Tensor:
    """max a per unit (dim 1: features, or conv channels) over the batch and positions,
    for the output of a ReLU (>= 0): 0 means a unit that is off for every example
    (:func:`dead_fraction`)."""
    if a.dim() < 2:
        return a.amax().reshape(1)
    return a.amax(dim=0) if a.dim() == 2 else a.amax(dim=[d for d in range(a.dim()) if d != 1])


def dead_fraction(maxima: list[float]) -> float:
    """Share of units whose output is 0 for every example of the batch (from
    :func:`unit_maxima`): a dead ReLU, which passes no gradient and so never revives."""
    return sum(m == 0 for m in maxima) / max(len(maxima), 1)


def saturated_count(a: Tensor, kind: str) -> Tensor:
    """How many values sit where the non-linearity is flat: |a| > TANH_SATURATION for
    ``kind="tanh"``; a < SIGMOID_SATURATION or a > 1 - SIGMOID_SATURATION for ``"sigmoid"``.
    Divided by ``a.numel()`` it is the fraction saturated."""
    centered = a if kind == "tanh" else a - 0.5
    limit = TANH_SATURATION if kind == "tanh" else 0.5 - SIGMOID_SATURATION
    return torch.count_nonzero(centered.abs() > limit)


def unit_offsets(w: Tensor) -> Tensor:
    """W - w_bar: each unit's incoming weights (a row of W, reshaped to units x inputs)
    minus the mean unit's; its norm is the spread :func:`unit_distance` needs."""
    rows = w.reshape(w.shape[0], -1)
    rows = rows if rows.dtype == torch.float32 else rows.float()
    return rows.sub(rows.sum(dim=0), alpha=1.0 / rows.shape[0])


def unit_distance(spread: float, norm: float, m: int) -> float:
    """How far apart the incoming weight vectors w_1..w_m of a layer's m >= 2 units are.

    The root-mean-square distance over pairs of units, relative to the RMS norm of a
    unit's weights::

        d = sqrt( mean_{i != j} ||w_i - w_j||^2 / mean_i ||w_i||^2 )
          = sqrt( 2m / (m - 1) ) * ||W - w_bar|| / ||W||

    using sum_{i,j} ||w_i - w_j||^2 = 2m sum_i ||w_i - w_bar||^2 (w_bar the mean unit,
    W the matrix of rows w_i; ``spread`` = ||W - w_bar|| from :func:`unit_offsets`,
    ``norm`` = ||W||). d = 0 means every unit computes the same function (constant init:
    the notes' symmetry problem); independent random units give d close to sqrt(2).
    A weight of all zeros gives 0; non-finite weights give NaN.
    """
    return 0.0 if norm == 0 else math.sqrt(2 * m / (m - 1)) * spread / norm
