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


def summarize(flats: list[Tensor], histogrammed: list[bool], bins: int
              ) -> tuple[list[float], list[float], list[list[int] | None]]:
    """(sums, norms, histograms) of many flat float32 tensors, the histograms only where
    ``histogrammed``. Tensors of one size are stacked and done together, so the cost is
    a few operations per distinct size, not per tensor."""
    sums, norms = [0.0] * len(flats), [0.0] * len(flats)
    hists: list[list[int] | None] = [None] * len(flats)
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, (t, h) in enumerate(zip(flats, histogrammed)):
        groups.setdefault((t.numel(), h), []).append(i)
    for (_, with_hist), idx in groups.items():
        stacked = torch.cat([flats[i] for i in idx]).view(len(idx), -1)  # (k, n); cat is
        # faster than stack for many 1-D tensors
        pair = torch.stack([stacked.sum(dim=1), torch.linalg.vector_norm(stacked, dim=1)])
        for i, s, q in zip(idx, *pair.tolist()):
            sums[i], norms[i] = s, q
        if with_hist:
            for i, counts in zip(idx, _histogram_rows(stacked, bins).tolist()):
                hists[i] = counts
    return sums, norms, hists


def std_from(total: float, norm: float, n: int) -> float:
    """Population standard deviation (divisor n) from the sum and the norm (the norm is
    ||t|| = sqrt(sum of squares)):
    std^2 = ||t||^2 / n - mean^2, mean = sum / n (one pass; accurate while std / |mean|
    is above ~1e-3 in float32)."""
    mean = total / n
    return math.sqrt(max(norm * norm / n - mean * mean, 0.0))


def unit_maxima(a: Tensor) -> Tensor:
    """max |a| per unit (dim 1: features, or conv channels) over the batch and positions;
    0 means a unit that is off for every example (:func:`dead_fraction`)."""
    if a.dim() < 2:
        return a.abs().amax().reshape(1)
    return a.abs().amax(dim=[d for d in range(a.dim()) if d != 1])


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
    """W - w_bar: each unit's incoming weights (a row of W) minus the mean unit's; its
    norm is the spread :func:`unit_distance` needs."""
    rows = w.float().reshape(w.shape[0], -1)
    return rows - rows.mean(dim=0)


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


def to_python(tensors: list[Tensor]) -> list[float | list[float]]:
    """The values of many tensors: 0-d tensors become floats (one stack per dtype),
    others lists."""
    out: list[float | list[float]] = [0.0] * len(tensors)
    by_dtype: dict[torch.dtype, list[int]] = {}
    for i, t in enumerate(tensors):
        if t.dim() == 0:
            by_dtype.setdefault(t.dtype, []).append(i)
        else:
            out[i] = t.tolist()
    for idx in by_dtype.values():
        for i, v in zip(idx, torch.stack([tensors[i] for i in idx]).tolist()):
            out[i] = float(v)
    return out
