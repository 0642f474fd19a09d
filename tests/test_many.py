"""fitscope.train_many: input order, engines mixed by shape, and the one way the study
runner and the claims train several configs."""

import pytest
import torch
from test_population_functional import Branchy, ResidualMLP

import fitscope
from fitscope import RunConfig, many
from fitscope.many import plan, train_many


def small(**overrides) -> RunConfig:
    base = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                     "model": {"depth": 1, "width": 8},
                                     "budget": {"epochs": 2, "batch_size": 50}})
    return base.with_overrides(overrides) if overrides else base


def cnn(**overrides) -> RunConfig:
    base = small(data={"name": "mnist1d", "n_samples": 200}, model={"kind": "cnn", "channels": [4]})
    return base.with_overrides(overrides) if overrides else base


def mixed() -> list[RunConfig]:
    return [small(), cnn(), small(**{"budget.seed": 1}),
            small(**{"regularization.fgsm_epsilon": 0.1}),  # sequential only
            cnn(**{"budget.seed": 1}), small(**{"model.width": 4})]  # a group of one


def test_runs_come_back_in_input_order_with_engines_mixed_by_shape():
    configs = mixed()
    assert plan(configs) == [("population", [0, 2]), ("population", [1, 4]),
                             ("sequential", [3]), ("sequential", [5])]
    runs = fitscope.train_many(configs)
    assert [r.config for r in runs] == configs
    assert [r.engine for r in runs] == ["population", "population", "population",
                                        "sequential", "population", "sequential"]
    forced = plan(configs, "population")
    assert ("population", [5]) in forced and ("sequential", [3]) in forced
    assert {r.engine for r in train_many(configs[:2], "sequential")} == {"sequential"}


def test_the_same_config_twice_trains_twice():
    c = small()
    a, b = train_many([c, c])
    assert a.engine == b.engine == "population" and a.config == b.config == c
    assert a is not b and a.history[-1]["train_loss"] == b.history[-1]["train_loss"]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="engine must be one of auto, population, sequential"):
        train_many([small()], "fast")
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        train_many([small()], threads=0)
    with pytest.raises(ValueError, match="one module per config"):
        train_many([small(), small()], models=[ResidualMLP()])


def test_user_modules_train_as_a_population_or_fall_back_when_vmap_cannot_map_them():
    digits = small(**{"data": {"name": "digits"}, "budget.epochs": 1})
    configs = [digits, digits.with_overrides({"budget.seed": 1})]
    runs = train_many(configs, models=[ResidualMLP(), ResidualMLP()])
    assert [r.engine for r in runs] == ["population"] * 2
    assert all(isinstance(r.model, ResidualMLP) for r in runs)
    runs = train_many(configs, models=[Branchy(), Branchy()])
    assert [r.engine for r in runs] == ["sequential"] * 2
    with pytest.raises(fitscope.population.NotVmappable):
        train_many(configs, "population", models=[Branchy(), Branchy()])


def test_claims_and_study_workers_train_through_train_many(monkeypatch):
    """The demo's trainer and a study worker's task both reach the engines only through
    train_many: with its group trainer replaced, nothing else trains."""
    from fitscope.claims.training import train_batched
    from fitscope.study.runner import train_task

    calls = []

    def fake(kind, configs, models, fallback):
        calls.append((kind, len(configs)))
        return [fitscope.Run(config=c, status="completed", engine=kind) for c in configs]

    monkeypatch.setattr(many, "_train_group", fake)
    runs = train_batched(mixed())
    assert [r.config for r in runs] == mixed() and len(calls) == 4
    calls.clear()
    records = train_task([c.model_dump_json() for c in mixed()[:3:2]], "population", 1)
    assert calls == [("population", 2)] and [r["engine"] for r in records] == ["population"] * 2


def test_an_exact_thread_count_wins(monkeypatch):
    seen = []
    monkeypatch.setattr(many, "use_threads", seen.append)
    monkeypatch.setattr(many, "_train_group", lambda kind, configs, *_, **__: [None] * len(configs))
    train_many([small(), small(**{"budget.seed": 1}), cnn()], threads=3)
    assert [c.threads for c in seen] == [3, 3] and "threads=3" in seen[0].why


def test_train_many_leaves_the_callers_rng_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    train_many([cnn(**{"model.dropout": 0.2}), cnn(**{"model.dropout": 0.2, "budget.seed": 1})])
    assert torch.equal(torch.get_rng_state(), state)
