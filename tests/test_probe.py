"""The probe: records on any module, sampling, hooks removed, statistics against torch."""

import itertools
import math

import pytest
import torch
from torch import nn

from fitscope import RunConfig, train
from fitscope.probe import probe, stats


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(),
                         nn.Linear(8, 3))


def loop(model: nn.Module, p, steps: int, batch: int = 16) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(batch, 4, generator=g), torch.randint(0, 3, (batch,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        p.step()


def value(records, step, layer, quantity):
    hits = [r["value"] for r in records
            if (r["step"], r["layer"], r["quantity"]) == (step, layer, quantity)]
    assert len(hits) == 1, (step, layer, quantity, len(hits))
    return hits[0]


def hooks_on(model: nn.Module) -> int:
    """Hooks on the model and its parameters, and forwards replaced on its modules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + ("forward" in m.__dict__)
               for m in model.modules()) \
        + sum(len(p._backward_hooks or {}) for p in model.parameters())


def test_records_every_quantity_on_sampled_steps_only():
    model = mlp()
    with probe(model, every=3) as p:
        loop(model, p, 7)
    assert sorted({r["step"] for r in p.records}) == [0, 3, 6]
    got = {(r["layer"], r["quantity"]) for r in p.records if r["step"] == 3}
    for layer in ("0", "2", "4"):
        for q in ("preact_mean", "preact_std", "preact_hist", "preact_grad_norm",
                  "preact_grad_std", "preact_grad_hist", "weight_norm", "weight_std",
                  "weight_hist", "weight_grad_norm", "weight_grad_std", "weight_grad_hist",
                  "unit_distance", "update_ratio"):
            assert (layer, q) in got
    for q in ("act_mean", "act_std", "act_hist", "act_grad_norm", "act_grad_std",
              "act_grad_hist"):
        assert ("1", q) in got and ("3", q) in got
    assert ("1", "act_saturated") in got and ("3", "act_dead") in got
    assert all(set(r) == {"step", "layer", "quantity", "value"} for r in p.records)


def test_values_match_torch_on_a_known_batch():
    model = mlp()
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    seen = {}
    model[0].register_forward_hook(lambda m, i, o: seen.setdefault("z", o.detach().clone()))
    with probe(model, every=1) as p:
        w0 = model[2].weight.detach().clone()
        z = model(x)
        nn.functional.cross_entropy(z, y).backward()
        g2 = model[2].weight.grad.clone()
        with torch.no_grad():
            model[2].weight.add_(1.0)
        p.step()
    r = p.records
    assert value(r, 0, "0", "preact_mean") == pytest.approx(float(seen["z"].mean()), abs=1e-6)
    assert value(r, 0, "0", "preact_std") == pytest.approx(
        float(seen["z"].std(correction=0)), rel=1e-4)
    assert value(r, 0, "2", "weight_norm") == pytest.approx(float(w0.norm()), rel=1e-5)
    assert value(r, 0, "2", "weight_grad_norm") == pytest.approx(float(g2.norm()), rel=1e-5)
    assert value(r, 0, "2", "update_ratio") == pytest.approx(8.0 / float(w0.norm()), rel=1e-4)
    act = torch.tanh(seen["z"])
    assert value(r, 0, "1", "act_saturated") == pytest.approx(
        float((act.abs() > 0.99).float().mean()), abs=1e-9)
    hist = value(r, 0, "0", "preact_hist")
    assert hist["edges"] == list(stats.histogram_edges(30)) and sum(hist["counts"]) == 32 * 8


def test_hooks_removed_on_exit_and_on_exception():
    model = mlp()
    before = hooks_on(model)
    with probe(model, every=1) as p:
        loop(model, p, 2)
        assert hooks_on(model) > before
    assert hooks_on(model) == before
    with pytest.raises(RuntimeError, match="boom"), probe(model, every=1):
        model(torch.randn(2, 4)).sum().backward()
        raise RuntimeError("boom")
    assert hooks_on(model) == before


def test_a_model_copied_or_pickled_during_a_sampled_step_keeps_its_own_forward():
    import copy
    import pickle

    model = mlp()
    x = torch.randn(5, 4)
    with probe(model, every=1) as p:
        twin = copy.deepcopy(model)  # forwards are the probe's now
        with torch.no_grad():
            twin[0].weight.mul_(2.0)
        restored = pickle.loads(pickle.dumps(model))
        loop(model, p, 1)
        assert not torch.allclose(twin(x), model(x))
        assert torch.equal(restored(x), mlp()(x))
    assert hooks_on(model) == 0
    assert len({r["step"] for r in p.records}) == 2  # the copies are not probed


def test_a_module_with_its_own_forward_attribute_is_probed_by_a_hook():
    model = mlp()
    custom = model[3]
    custom.forward = lambda x: torch.relu(x)  # noqa: PLW0108 (an instance attribute: left alone)
    with probe(model, every=1) as p:
        loop(model, p, 1)
        assert len(custom._forward_hooks) == 1
    assert len(custom._forward_hooks) == 0 and "forward" in custom.__dict__
    assert ("3", "act_dead") in {(r["layer"], r["quantity"]) for r in p.records}


def test_evaluation_and_second_passes_are_not_recorded_and_shared_modules_are_numbered():
    class Shared(nn.Module):  # one ReLU used twice, as users often write it
        def __init__(self):
            super().__init__()
            self.a, self.b, self.relu = nn.Linear(4, 6), nn.Linear(6, 2), nn.ReLU()

        def forward(self, x):
            return self.relu(self.b(self.relu(self.a(x))))

    model = Shared()
    with probe(model, every=1) as p:
        with torch.no_grad():
            model(torch.randn(3, 4))  # evaluation: ignored
        model(torch.randn(5, 4)).sum().backward()
        model(torch.randn(7, 4))  # a second pass in the same step: ignored
        p.step()
    layers = {r["layer"] for r in p.records if r["quantity"] == "act_mean"}
    assert layers == {"relu", "relu#2"}
    assert sum(value(p.records, 0, "relu", "act_hist")["counts"]) == 5 * 6


def test_unit_distance_is_zero_for_identical_units_and_near_sqrt2_for_random():
    same = torch.ones(16, 10) * 0.3
    rand = torch.randn(512, 256)
    spread = lambda w: float(stats.unit_offsets(w).norm())  # noqa: E731
    assert stats.unit_distance(spread(same), float(same.norm()), 16) == pytest.approx(0, abs=1e-6)
    assert stats.unit_distance(0.0, 0.0, 16) == 0.0
    d = stats.unit_distance(spread(rand), float(rand.norm()), 512)
    assert d == pytest.approx(math.sqrt(2), rel=0.01)
    pairs = torch.cdist(rand[:64], rand[:64]).square().sum() / (64 * 63)
    d64 = stats.unit_distance(spread(rand[:64]), float(rand[:64].norm()), 64)
    assert d64 == pytest.approx(math.sqrt(float(pairs) / float(rand[:64].square().sum() / 64)),
                                rel=1e-4)


def test_histogram_bins_are_fixed_symmetric_and_count_like_a_reference():
    for bins in (2, 7, 30, 31, 200):
        edges = stats.histogram_edges(bins)
        assert len(edges) == bins + 1 and edges == tuple(-e for e in reversed(edges))
        assert all(a < b for a, b in itertools.pairwise(edges))
    x = torch.randn(5000) * 10 ** torch.empty(5000).uniform_(-9, 5)
    x = torch.cat([x, torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan])])
    edges = torch.tensor(stats.histogram_edges(30), dtype=torch.float64)
    mag, inner = x.double().abs(), edges[16:-1]  # positive magnitudes, outer edge open
    side = torch.where(torch.signbit(x), 0, 1)
    ref = torch.zeros(30, dtype=torch.long)
    ok = ~torch.isnan(x)
    idx = torch.bucketize(mag[ok], inner, right=True)  # magnitude bin on each side
    ref.index_add_(0, torch.where(side[ok] == 1, 15 + idx, 14 - idx),
                   torch.ones(int(ok.sum()), dtype=torch.long))
    assert stats.histogram(x, 30).tolist() == ref.tolist()
    with pytest.raises(ValueError, match="bins"):
        stats.histogram_edges(1)


def test_the_engine_stores_probe_records_in_the_run_and_nothing_when_off():
    cfg = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                    "model": {"depth": 2, "width": 8},
                                    "budget": {"epochs": 2, "batch_size": 40},
                                    "observe": {"probe_every": 2, "histogram_bins": 12}})
    run = train(cfg)
    steps = sorted({r["step"] for r in run.probes})
    assert steps == list(range(0, run.metrics["steps"], 2))
    hist = next(r for r in run.probes if r["quantity"] == "act_hist")
    assert len(hist["value"]["counts"]) == 12
    assert hooks_on(run.model) == 0
    assert train(cfg.with_overrides({"observe.probe_every": 0})).probes == []


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="every"):
        probe(nn.Linear(2, 2), every=0)
    with pytest.raises(TypeError, match="model"):
        probe("not a model")


def test_clear_caches_empties_every_cached_table_of_the_stats_module():
    import functools

    cfg = RunConfig.model_validate({"data": {"name": "moons", "train_size": 64},
                                    "budget": {"epochs": 1},
                                    "observe": {"probe_every": 1, "histogram_bins": 20}})
    train(cfg)
    cached = [v for v in vars(stats).values() if isinstance(v, functools._lru_cache_wrapper)]
    assert cached and any(c.cache_info().currsize for c in cached)
    stats.clear_caches()
    assert {c.__name__: c.cache_info().currsize for c in cached} == {c.__name__: 0 for c in cached}
