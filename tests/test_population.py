"""The population engine: grouping, equivalence with the sequential engine, per-member
early stopping and divergence, records (the batched update rules: test_transforms.py)."""

import math
import weakref

import pytest
import torch

from fitscope import RunConfig
from fitscope.engine import train as train_sequential
from fitscope.epoch_loop import end_epoch
from fitscope.population import engine, group_by_shape, shape_key, train
from fitscope.population.engine import Population, example_losses, losses_and_grad
from fitscope.run import load_run

RTOL = 1e-5  # float32: relative agreement asked of every loss and final weight
NUMERIC = ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "grad_norm", "penalty")


def cfg(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 300},
        "model": {"depth": 2, "width": 16},
        "budget": {"epochs": 3, "batch_size": 32},
    })
    return base.with_overrides(overrides) if overrides else base


def close(a: float | None, b: float | None, rtol: float = RTOL) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rtol * abs(b) + 1e-9


def assert_matches(pop, seq, rtol: float = RTOL) -> None:
    """Same outcome, history, metrics and final weights, within ``rtol`` relative."""
    assert pop.engine == "population" and seq.engine == "sequential"
    assert (pop.status, pop.stop_epoch, pop.diverged_step, pop.reason) == \
        (seq.status, seq.stop_epoch, seq.diverged_step, seq.reason)
    assert len(pop.history) == len(seq.history)
    for rp, rs in zip(pop.history, seq.history):
        assert rp.keys() == rs.keys()
        assert (rp["epoch"], rp["step"]) == (rs["epoch"], rs["step"])
        for key in NUMERIC:
            assert close(rp[key], rs[key], rtol), (key, rp, rs)
    assert pop.metrics.keys() == seq.metrics.keys()
    for key, value in seq.metrics.items():
        assert close(pop.metrics[key], value, rtol), (key, pop.metrics[key], value)
    for (name, pa), (_, sa) in zip(pop.model.state_dict().items(),
                                   seq.model.state_dict().items()):
        a, b = pa.double(), sa.double()
        assert float((a - b).norm()) <= rtol * float(b.norm()) + 1e-7, name


def run_both(configs: list[RunConfig], rtol: float = RTOL) -> list:
    pops = train(configs)
    for c, pop in zip(configs, pops):
        assert pop.config == c
        assert_matches(pop, train_sequential(c), rtol)
    return pops


# -- grouping --------------------------------------------------------------------------
def test_members_that_differ_in_hyperparameters_share_a_shape():
    a = cfg()
    b = cfg(**{"budget.seed": 3, "optimizer.lr": 0.1, "init.scheme": "orthogonal",
               "regularization.l2": 0.01, "model.dropout": 0.2,
               "regularization.early_stopping": {"enabled": True}})
    assert shape_key(a) == shape_key(b) and shape_key(a).engine == "population"
    deeper, sgd = cfg(**{"model.depth": 3}), cfg(**{"optimizer.name": "sgd"})
    assert len({shape_key(c) for c in (a, deeper, sgd)}) == 3
    groups = group_by_shape([a, deeper, b, sgd])
    assert groups == [[a, b], [deeper], [sgd]]


@pytest.mark.parametrize("overrides, field", [
    ({"model.kind": "cnn", "data.name": "digits", "observe.probe_every": 5},
     "observe.probe_every"),
    ({"task.aux": [{"kind": "parity"}], "data.name": "digits"}, "task.aux"),
    ({"regularization.augment.noise_std": 0.1}, "regularization.augment"),
    ({"regularization.fgsm_epsilon": 0.1}, "regularization.fgsm_epsilon"),
    ({"regularization.activation_l1": 0.01}, "regularization.activation_l1"),
    ({"regularization.early_stopping": {"enabled": True, "after": "retrain_all"}},
     "regularization.early_stopping.after"),
])
def test_unsupported_configs_go_to_the_sequential_engine(overrides, field):
    c = cfg(**overrides)
    key = shape_key(c)
    assert key.engine == "sequential" and field in key.reason
    assert group_by_shape([c, c, cfg()]) == [[c], [c], [cfg()]]
    with pytest.raises(ValueError, match=f"configs\\[1\\] has {field}"):
        train([cfg(), c])


def test_configs_of_different_shapes_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"differ in model.widths \(\(16, 16\) vs \(8, 8\)\)"):
        train([cfg(), cfg(**{"model.width": 8})])
    with pytest.raises(ValueError, match=r"differ in budget\.batch_size"):
        train([cfg(), cfg(**{"budget.batch_size": 16})])
    with pytest.raises(ValueError, match="at least one RunConfig"):
        train([])


# -- equivalence with the sequential engine ---------------------------------------------
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_member_matches_the_sequential_engine(name):
    """Members differing in seed, lr, init, L2 / L1, clipping and optimizer settings."""
    members = [
        {"budget.seed": 0, "optimizer.lr": 0.01},
        {"budget.seed": 1, "optimizer.lr": 0.03, "init.scheme": "xavier_uniform",
         "regularization.l2": 0.01, "optimizer.momentum": 0.5, "optimizer.beta1": 0.8},
        {"budget.seed": 2, "optimizer.lr": 0.005, "init.scheme": "orthogonal",
         "regularization.l1": 0.001, "optimizer.clip_norm": 0.5, "optimizer.rho": 0.99},
        {"budget.seed": 3, "optimizer.lr": 0.02, "init": {"scheme": "normal", "std": 0.3},
         "regularization.l2": 0.001, "regularization.l1": 0.001, "optimizer.clip_value": 0.05,
         "optimizer.eps": 1e-6, "optimizer.beta2": 0.99, "regularization.weight_decay": 0.01},
    ]
    run_both([cfg(**{"optimizer.name": name, **m}) for m in members])


def test_schedules_decay_smoothing_and_activations_match():
    common = {"model.activation": "tanh", "budget.epochs": 4}
    members = [
        {"optimizer.schedule": {"kind": "linear", "final_fraction": 0.1}},
        {"optimizer.schedule": {"kind": "cosine", "tau": 10},
         "regularization.label_smoothing": 0.1},
        {"optimizer.schedule": {"kind": "step", "step_size": 5, "gamma": 0.5},
         "regularization.l2": 0.01, "regularization.l2_on_bias": True},
        {"regularization.weight_decay": 0.05, "init.scheme": "default", "budget.seed": 4},
    ]
    run_both([cfg(**common, **m) for m in members])


def test_multiclass_batch_norm_and_a_partial_last_epoch_match():
    # SGD: a bias before batch norm has a zero gradient up to rounding, which Adam would
    # blow up to steps of size lr in a direction decided by rounding
    common = {"data": {"name": "digits", "train_size": 200}, "model.batch_norm": True,
              "model.activation": "sigmoid", "budget.max_steps": 17, "budget.batch_size": 48,
              "budget.epochs": 4,
              "optimizer.name": "momentum"}
    members = [{"optimizer.lr": 0.05},
               {"budget.seed": 1, "optimizer.lr": 0.05, "regularization.label_smoothing": 0.2},
               {"budget.seed": 2, "optimizer.lr": 0.01, "init.bias": 0.1}]
    pops = run_both([cfg(**common, **m) for m in members])
    assert pops[0].metrics["steps"] == 17 and pops[0].history[-1]["step"] == 17


def test_regression_without_bias_full_batch_matches():
    common = {"task.kind": "regression", "model.bias": False, "budget.batch_size": 0,
              "optimizer.name": "momentum", "model.activation": "linear", "budget.epochs": 5}
    run_both([cfg(**common, **{"budget.seed": s, "optimizer.lr": lr})
              for s, lr in ((0, 0.01), (1, 0.05))])


def test_snapshots_match_the_sequential_engine():
    c = [cfg(**{"observe.snapshot_every": 4, "budget.seed": s}) for s in (0, 1)]
    for pop, conf in zip(train(c), c):
        seq = train_sequential(conf)
        assert [s["step"] for s in pop.snapshots] == [s["step"] for s in seq.snapshots]
        for a, b in zip(pop.snapshots, seq.snapshots):
            assert torch.allclose(a["params"], b["params"], rtol=RTOL, atol=1e-7)


# -- per-member early stopping and divergence -----------------------------------------
def test_members_stop_early_on_their_own_and_keep_their_best_weights():
    es = {"enabled": True, "patience": 3}
    common = {"data.n_samples": 120, "data.noise": 0.4, "model.width": 64,
              "optimizer.lr": 0.03, "budget.epochs": 60}
    members = [
        {"regularization.early_stopping": es},
        {"regularization.early_stopping": {**es, "patience": 6, "monitor": "val_acc"},
         "budget.seed": 1},
        {"regularization.early_stopping": {**es, "restore_best": False}, "budget.seed": 2},
        {"budget.seed": 3},
    ]
    pops = run_both([cfg(**common, **m) for m in members])
    assert [p.status for p in pops] == ["early_stopped"] * 3 + ["completed"]
    assert len({p.stop_epoch for p in pops[:3]}) > 1, "members stopped at different epochs"
    assert len(pops[3].history) == 60


def test_adam_with_per_member_rates_matches_as_members_leave():
    """Adam's state follows the members that stay (each with its own rate) while others
    stop early and leave the program."""
    es = {"enabled": True, "patience": 3}
    common = {"data.n_samples": 120, "data.noise": 0.4, "model.width": 64,
              "optimizer.name": "adam", "budget.epochs": 40}
    members = [
        {"optimizer.lr": 0.03, "regularization.early_stopping": es},
        {"optimizer.lr": 0.01, "budget.seed": 1},
        {"optimizer.lr": 0.03, "budget.seed": 2,
         "regularization.early_stopping": {**es, "patience": 6}},
        {"optimizer.lr": 0.01, "budget.seed": 3, "regularization.early_stopping": es},
    ]
    pops = run_both([cfg(**common, **m) for m in members])
    assert pops[1].status == "completed"
    assert sum(p.status == "early_stopped" for p in pops) >= 2


def test_a_diverging_member_is_marked_and_the_others_go_on_unharmed():
    members = [{"optimizer.lr": 0.01}, {"optimizer.lr": 50.0, "optimizer.name": "sgd"},
               {"optimizer.lr": 0.02, "budget.seed": 5}]
    configs = [cfg(**{"optimizer.name": "sgd", "budget.epochs": 4, **m}) for m in members]
    pops = run_both(configs)
    assert [p.status for p in pops] == ["completed", "diverged", "completed"]
    assert pops[1].diverged_step is not None and "at step" in pops[1].reason
    assert set(pops[1].metrics) == {"epochs_run", "steps", "best_epoch"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_member_with_non_finite_parameters_ends_diverged_at_the_epochs_end(bad):
    pop = Population([cfg(**{"budget.seed": s}) for s in range(3)])
    pop.net.flat[1, -1] = bad  # (private) as if a step had made it so
    pop.net.flat[2, 0] = 3e38  # huge but finite
    end_epoch(pop, [0.0] * 3, [0.0] * 3, 0.0)
    assert [m.status for m in pop.members] == ["completed", "diverged", "completed"]
    assert pop.members[1].reason == "non-finite parameters after step 0"
    assert len(pop.alive) == 2


# -- records ---------------------------------------------------------------------------
def test_members_over_the_memory_cap_train_in_programs_that_fit(monkeypatch):
    """A cap that fits two members trains five as programs of 2, 2 and 1, in input order,
    each member as the sequential engine trains it; a program's tensors are freed before
    the next is built (the garbage collector is paused meanwhile: no reference cycles)."""
    configs = [cfg(**{"budget.seed": i, "optimizer.lr": 0.01 * (i + 1)}) for i in range(5)]
    cap = engine.estimated_bytes(engine.lead_trainer(configs[0]), 2)
    sizes, programs, build = [], [], engine.Population.__init__

    def spy(self, chunk, lead=None, models=None):
        sizes.append(len(chunk))
        assert all(ref() is None for ref in programs)
        programs.append(weakref.ref(self))
        build(self, chunk, lead, models)

    monkeypatch.setattr(engine.Population, "__init__", spy)
    runs = train(configs, max_bytes=cap)
    assert sizes == [2, 2, 1]
    for c, run in zip(configs, runs):
        assert run.config == c
        assert_matches(run, train_sequential(c))


def test_program_size_is_the_fewest_even_programs_that_fit():
    lead = engine.lead_trainer(cfg())
    one, four = engine.estimated_bytes(lead, 1), engine.estimated_bytes(lead, 4)
    assert one < four < 4 * one + 1  # grows with n, never faster than n copies of one
    assert engine.program_size(lead, 5, 100 * four) == 5
    assert engine.program_size(lead, 5, four) == 3  # 4 fit: two programs, of 3 and 2
    assert engine.program_size(lead, 5, one) == 1
    assert engine.program_size(lead, 5, one - 1) == 1  # not even one fits: one at a time
    with pytest.raises(ValueError, match="max_bytes must be a positive"):
        train([cfg()], max_bytes=0)


def test_runs_are_records_like_the_sequential_engines(tmp_path):
    c = cfg(**{"budget.epochs": 2})
    (pop,) = train([c])
    seq = train_sequential(c)
    assert pop.record().keys() == seq.record().keys()
    assert pop.model_spec == seq.model_spec
    assert pop.timings["population_size"] == 1
    loaded = load_run(pop.save(tmp_path / "run"))
    assert loaded.engine == "population" and loaded.history == pop.history
    for a, b in zip(loaded.model.parameters(), pop.model.parameters()):
        assert torch.equal(a, b)


def test_dropout_and_noise_are_reproducible_and_leave_the_callers_rng_alone():
    configs = [cfg(**{"model.dropout": 0.3, "model.input_dropout": 0.1,
                      "regularization.input_noise": 0.1, "regularization.weight_noise": 0.01,
                      "budget.seed": s}) for s in (0, 1)] + [cfg(**{"budget.seed": 2})]
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = train(configs)
    assert torch.equal(torch.rand(3), expected)
    b = train(configs)
    assert [r.column("train_loss") for r in a] == [r.column("train_loss") for r in b]
    # the member without dropout or noise still matches the sequential engine
    assert_matches(a[2], train_sequential(configs[2]))


@pytest.mark.parametrize("overrides", [
    {"model.activation": "tanh"},
    {"model.activation": "relu", "model.dropout": 0.3, "model.input_dropout": 0.2},
    {"model.activation": "sigmoid", "model.batch_norm": True},
    {"data": {"name": "digits", "train_size": 100}, "model.activation": "relu",
     "regularization.label_smoothing": 0.1},
    {"data": {"name": "digits", "train_size": 100}, "model.activation": "tanh",
     "model.width": 128},
    {"task.kind": "regression", "model.activation": "linear", "model.bias": False},
    {"model.depth": 0},
])
def test_hand_written_backward_matches_autograd(overrides):
    """One step's losses, outputs and (N, D) gradient: StackedMLP's forward_train and
    backward against its autograd forward, same dropout draws."""
    configs = [cfg(**{**overrides, "budget.seed": s, "optimizer.lr": 0.01 * (s + 1)})
               for s in range(3)]
    pop = Population(configs)
    net, smoothing = pop.net, pop._smoothing()
    x, y = pop._batch(torch.stack([torch.randperm(len(pop.x_train))[:32] for _ in range(3)]))
    leaf = net.flat.clone().requires_grad_()
    gen = torch.Generator().manual_seed(7)
    out = net.forward(x, train=True, gen=gen, flat=leaf)
    losses = example_losses(out, y, pop.classify, smoothing).mean(1)
    losses.sum().backward()
    gen.manual_seed(7)
    out2, tape = net.forward_train(x, gen)
    losses2, grad_out = losses_and_grad(out2, y, pop.classify, smoothing)
    net.backward(tape, grad_out)
    torch.testing.assert_close(out2, out.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(losses2, losses.detach(), rtol=1e-6, atol=1e-7)
    # relative to each member's gradient norm: a bias before batch norm has a gradient
    # that is zero up to rounding, which no elementwise tolerance can judge
    error = torch.linalg.vector_norm(net.grad - leaf.grad, dim=1)
    assert (error <= 1e-5 * torch.linalg.vector_norm(leaf.grad, dim=1)).all(), error


@pytest.mark.parametrize("model", [{"activation": "relu"}, {"activation": "tanh"},
                                   {"activation": "sigmoid", "batch_norm": True}])
def test_probe_records_match_the_sequential_probes(model):
    configs = [cfg(**{"model": {"depth": 2, "width": 16, **model}, "optimizer.name": "sgd",
                      "optimizer.lr": 0.05, "budget.epochs": 2, "observe.probe_every": 5,
                      "budget.seed": s}) for s in (0, 1)]
    for pop, c in zip(train(configs), configs):
        seq = train_sequential(c)
        assert pop.probes and len(pop.probes) == len(seq.probes)
        expected = {(r["step"], r["layer"], r["quantity"]): r["value"] for r in seq.probes}
        assert {(r["step"], r["layer"], r["quantity"]) for r in pop.probes} == expected.keys()
        for r in pop.probes:
            want = expected[(r["step"], r["layer"], r["quantity"])]
            if isinstance(want, dict):
                assert r["value"]["edges"] == want["edges"]
                assert sum(r["value"]["counts"]) == sum(want["counts"])
                assert sum(abs(a - b) for a, b in zip(r["value"]["counts"], want["counts"])) <= 2
            else:  # means of centred outputs are ~1e-8: an absolute tolerance for those;
                # std is sqrt(||t||^2 / n - mean^2), which cancels for batch-norm scales
                # (std / mean ~ 3e-3): float32 rounding of ||t|| reaches ~1e-5 there
                atol = 1e-4 if r["quantity"].endswith("_std") else 1e-6
                assert abs(r["value"] - want) <= 1e-4 * abs(want) + atol, (r, want)


def test_overlapping_gc_pauses_turn_the_collector_back_on_once_all_end():
    """Populations trained from two threads: the pause lasts until the last one ends."""
    import gc

    from fitscope.population.engine import gc_paused

    assert gc.isenabled()
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to finish leaves the pause on
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # a caller's own choice is kept
    with gc_paused():
        pass
    assert not gc.isenabled()
    gc.enable()
