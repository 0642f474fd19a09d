"""The batched probe against the per-tensor definitions it replaced, on random models.

The probe summarizes a sampled step's tensors in one buffer (sums per CHUNK values, one
histogram look-up for all) and finishes up to FLUSH_STEPS steps together. This file
recomputes every record the old way, one tensor at a time with plain torch in float64,
from tensors captured by its own hooks, and checks both agree: same records in the same
order, scalars to float32 accuracy, histograms bin for bin.
"""

import math

import pytest
import torch
from torch import nn

from fitscope.probe import probe, stats
from fitscope.probe.hooks import FLUSH_STEPS, activation_kind, layer_name

TANH_LIMIT, SIGMOID_LIMIT = stats.TANH_SATURATION, stats.SIGMOID_SATURATION


def reference_histogram(t: torch.Tensor, bins: int) -> list[int]:
    """Counts in the fixed bins by a search on the edges (float64), NaN not counted."""
    x = t.detach().reshape(-1).float().double()
    edges = torch.tensor(stats.histogram_edges(bins), dtype=torch.float64)
    half = bins // 2
    ok = ~torch.isnan(x)
    x = x[ok]
    negative = torch.signbit(x)
    mag = x.abs()
    counts = torch.zeros(bins, dtype=torch.long)
    if bins % 2 == 0:  # edges (-m_k..-m_1, 0, m_1..m_k): a magnitude's bin on its side
        inner = edges[half + 1:-1]
        idx = torch.bucketize(mag, inner, right=True)
        where = torch.where(negative, half - 1 - idx, half + idx)
    else:  # no 0 edge: the middle bin is (-m_1, m_1)
        inner = edges[half + 1:-1]
        idx = torch.bucketize(mag, inner, right=True)
        where = torch.where(negative & (idx > 0), half - idx, half + idx)
    counts.index_add_(0, where, torch.ones_like(where))
    return counts.tolist()


class Reference:
    """The tensors of each sampled step, captured independently; ``records()`` turns
    them into the records the per-tensor implementation made."""

    def __init__(self, model: nn.Module, every: int, bins: int):
        self.model, self.every, self.bins = model, every, bins
        self.current, self.steps = 0, []
        self.weights = {layer_name(n): m.weight for n, m in model.named_modules()
                        if isinstance(getattr(m, "weight", None), nn.Parameter)
                        and m.weight.requires_grad and m.weight.numel() > 0}
        self.info = {}
        for name, m in model.named_modules():
            kind = activation_kind(m)
            if kind is not None or isinstance(getattr(m, "weight", None), nn.Parameter):
                self.info[m] = (layer_name(name), "preact" if kind is None else "act", kind)
        for m in self.info:
            m.register_forward_hook(self._on_forward)
        model.register_forward_pre_hook(self._on_root)
        self._begin()

    def _begin(self):
        self.sampled = self.current % self.every == 0
        self.passes, self.calls, self.outs, self.grads = 0, {}, [], {}
        self.before = {k: w.detach().double().clone() for k, w in self.weights.items()}

    def _on_root(self, module, inputs):
        if self.sampled and torch.is_grad_enabled():
            self.passes += 1

    def _on_forward(self, module, inputs, output):
        if not (self.sampled and self.passes == 1 and torch.is_grad_enabled()):
            return
        name, role, kind = self.info[module]
        calls = self.calls.get(name, 0)
        self.calls[name] = calls + 1
        layer = name if calls == 0 else f"{name}#{calls + 1}"
        i = len(self.outs)
        self.outs.append((layer, role, kind, output.detach().float().double().clone()))
        if output.requires_grad:
            output.register_hook(lambda g, i=i: self.grads.__setitem__(i, g.detach().float()
                                                                      .double().clone()))

    def step(self, updated=True):
        if self.sampled:
            wgrads = {k: w.grad.detach().float().double().clone()
                      for k, w in self.weights.items() if w.grad is not None}
            after = {k: w.detach().float().double().clone() for k, w in self.weights.items()}
            self.steps.append((self.current, self.outs, self.grads, self.before, wgrads,
                               after if updated else None))
        self.current += 1
        self._begin()

    def records(self):
        """(records, mean square of the tensor behind each ``*_std`` record)."""
        out, bins, second = [], self.bins, {}

        def add(step, layer, quantity, value, t=None):
            out.append({"step": step, "layer": layer, "quantity": quantity, "value": value})
            if t is not None:
                second[(step, layer, quantity)] = float(t.square().mean())

        def hist(t):
            return {"edges": list(stats.histogram_edges(bins)),
                    "counts": reference_histogram(t, bins)}

        for step, outs, grads, before, wgrads, after in self.steps:
            for layer, role, _, t in outs:
                add(step, layer, role + "_mean", float(t.mean()))
                add(step, layer, role + "_std", float(t.std(correction=0)), t)
                add(step, layer, role + "_hist", hist(t))
            for i in sorted(grads, reverse=True):  # backward order of a chain
                layer, role, _, _ = outs[i]
                g = grads[i]
                add(step, layer, role + "_grad_norm", float(g.norm()))
                add(step, layer, role + "_grad_std", float(g.std(correction=0)), g)
                add(step, layer, role + "_grad_hist", hist(g))
            for layer, w in before.items():
                norm = float(w.norm())
                add(step, layer, "weight_norm", norm)
                add(step, layer, "weight_std", float(w.std(correction=0)), w)
                add(step, layer, "weight_hist", hist(w))
                if layer in wgrads:
                    g = wgrads[layer]
                    add(step, layer, "weight_grad_norm", float(g.norm()))
                    add(step, layer, "weight_grad_std", float(g.std(correction=0)), g)
                    add(step, layer, "weight_grad_hist", hist(g))
                if w.dim() >= 2 and w.shape[0] >= 2:  # RMS distance over pairs of units
                    rows, m = w.reshape(w.shape[0], -1), w.shape[0]
                    pairs = torch.cdist(rows, rows).square().sum() / (m * (m - 1))
                    mean_sq = rows.square().sum() / m
                    add(step, layer, "unit_distance",
                        0.0 if norm == 0 else math.sqrt(float(pairs / mean_sq)))
                if after is not None and norm > 0:
                    add(step, layer, "update_ratio", float((after[layer] - w).norm()) / norm)
            for layer, _, kind, t in outs:
                if kind == "relu":
                    dims = [d for d in range(t.dim()) if d != 1] if t.dim() >= 2 else None
                    maxima = t.abs().amax(dim=dims) if dims else t.abs().amax().reshape(1)
                    add(step, layer, "act_dead", float((maxima == 0).double().mean()))
                elif kind in ("tanh", "sigmoid"):
                    centered = t if kind == "tanh" else t - 0.5
                    limit = TANH_LIMIT if kind == "tanh" else 0.5 - SIGMOID_LIMIT
                    add(step, layer, "act_saturated", float((centered.abs() > limit)
                                                             .double().mean()))
        return out, second


def assert_same_records(got, want, second_moments):
    assert [(r["step"], r["layer"], r["quantity"]) for r in got] == \
        [(r["step"], r["layer"], r["quantity"]) for r in want]
    for g, w in zip(got, want):
        key = (g["step"], g["layer"], g["quantity"])
        if isinstance(w["value"], dict):
            assert g["value"] == w["value"], key
            continue
        tol = 1e-6
        if key[2].endswith("_std"):  # one pass over float32 values, as before: exact to
            # ~1e-7 of the mean square, so while std / |mean| is above ~1e-3
            tol += 1e-6 * second_moments[key] / max(w["value"], 1e-12)
        assert g["value"] == pytest.approx(w["value"], rel=2e-4, abs=tol), \
            (key, g["value"], w["value"])


def train(model, every, bins, steps, batches, loss_fn, lr=0.05):
    """A plain loop under the probe and the reference together; batches vary in size."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    ref = Reference(model, every, bins)
    with probe(model, every=every, bins=bins) as p:
        for s in range(steps):
            x, y = batches(s)
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            ref.step()
            p.step()
    return (p.records, *ref.records())


class Mixed(nn.Module):
    """Odd widths (padding in the buffer), every activation kind, a shared ReLU and a
    weight scaled far from 1 (values across many histogram bins)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = nn.Linear(5, 7), nn.Linear(7, 6), nn.Linear(6, 9), \
            nn.Linear(9, 3)
        self.tanh, self.sigmoid, self.relu = nn.Tanh(), nn.Sigmoid(), nn.ReLU()
        with torch.no_grad():
            self.b.weight.mul_(40.0)  # saturates the tanh
            self.c.weight.mul_(1e-3)

    def forward(self, x):
        h = self.relu(self.a(x))
        h = self.tanh(self.b(h))
        h = self.relu(self.c(h))
        return self.d(self.sigmoid(h))


@pytest.mark.parametrize("every,bins", [(1, 30), (3, 31), (2, 12)])
def test_records_equal_the_per_tensor_definitions_on_a_mixed_mlp(every, bins):
    torch.manual_seed(0)
    model = Mixed()
    g = torch.Generator().manual_seed(1)
    steps = 2 * FLUSH_STEPS + 5  # several summaries, one cut short by a smaller batch

    def batches(s):
        n = 11 if s % 7 == 6 else 13
        return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)

    got, want, second = train(model, every, bins, steps, batches, nn.functional.cross_entropy)
    assert len(got) > 0
    assert_same_records(got, want, second)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.head = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.head(self.relu(self.bn(self.conv(x))).flatten(1))


def test_records_equal_the_per_tensor_definitions_on_a_cnn_with_dead_channels():
    torch.manual_seed(2)
    model = SmallCNN()
    with torch.no_grad():
        model.bn.bias[:2] = -50.0  # two channels off for every example: dead ReLUs
    g = torch.Generator().manual_seed(3)

    def batches(s):
        return torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 5, (8,), generator=g)

    got, want, second = train(model, 1, 30, FLUSH_STEPS + 3, batches,
                              nn.functional.cross_entropy, lr=0.01)
    assert_same_records(got, want, second)
    dead = [r["value"] for r in got if r["quantity"] == "act_dead"]
    assert dead and all(d >= 0.5 for d in dead)


def test_a_zero_weight_has_no_update_ratio_and_zero_unit_distance():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    nn.init.zeros_(model[0].weight)
    g = torch.Generator().manual_seed(5)

    def batches(s):
        return torch.randn(6, 3, generator=g), torch.randint(0, 2, (6,), generator=g)

    got, want, second = train(model, 1, 30, 3, batches, nn.functional.cross_entropy)
    assert_same_records(got, want, second)
    first = {(r["layer"], r["quantity"]): r["value"] for r in got if r["step"] == 0}
    assert first[("0", "unit_distance")] == 0.0 and ("0", "update_ratio") not in first


def test_summarize_equals_per_tensor_sums_and_histograms_on_random_tensors():
    g = torch.Generator().manual_seed(6)
    sizes = [1, 127, 128, 129, 300, 2048, 5]
    tensors = [torch.randn(n, generator=g) * 10 ** torch.empty(n).uniform_(-9, 4, generator=g)
               for n in sizes]
    tensors[1][3] = float("nan")
    tensors[2][:5] = torch.tensor([0.0, -0.0, math.inf, -math.inf, 1e-30])
    hist = 5  # the last two tensors only give sums
    for bins in (2, 7, 30):
        lay = stats.layout(tuple(sizes), hist, bins, torch.device("cpu"))
        buffer = stats.flatten(stats.padded(tensors))
        means, stds, norms, hists = stats.summarize(lay, [stats.partial_summary(buffer, lay)])
        for i, t in enumerate(tensors):
            d = t.double()
            finite = torch.isfinite(d).all()
            if finite:
                assert means[0][i] == pytest.approx(float(d.mean()), rel=1e-5, abs=1e-30)
                assert norms[0][i] == pytest.approx(float(d.norm()), rel=1e-5)
                rms = float(d.square().mean().sqrt())  # one pass: exact to ~1e-7 of rms^2
                assert stds[0][i] == pytest.approx(float(d.std(correction=0)), rel=1e-4,
                                                   abs=1e-3 * rms)
            else:
                assert not math.isfinite(norms[0][i])
            if i < hist:
                assert hists[0][i] == reference_histogram(t, bins)
                assert hists[0][i] == stats.histogram(t, bins).tolist()


def test_unit_spreads_equal_the_norm_of_unit_offsets():
    g = torch.Generator().manual_seed(7)
    w = torch.randn(5, 8, 3, generator=g)
    spreads = stats.unit_spreads(w)
    for k in range(5):
        assert float(spreads[k]) == pytest.approx(float(stats.unit_offsets(w[k]).norm()),
                                                  rel=1e-5)
