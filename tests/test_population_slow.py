"""The population engine with dropout and noise: its random draws are not the sequential
engine's (one population generator instead of each run's torch RNG), so members agree with
sequential runs in distribution. Two-sample tests over 20 seeds, threshold p > 0.01."""

import pytest
from scipy import stats

from fitscope import RunConfig
from fitscope.engine import train as train_sequential
from fitscope.population import train

SEEDS = range(20)
ALPHA = 0.01  # a false alarm in 1 of 100 CI runs per test at most


def configs(**overrides) -> list[RunConfig]:
    base = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 300, "noise": 0.3},
        "model": {"depth": 2, "width": 32},
        "budget": {"epochs": 8, "batch_size": 32},
    })
    return [base.with_overrides({**overrides, "budget.seed": s}) for s in SEEDS]


def outcomes(runs) -> dict[str, list[float]]:
    """Last-epoch training loss (measured with dropout and noise on) and test accuracy."""
    return {"train_loss": [r.history[-1]["train_loss"] for r in runs],
            "test_acc": [r.metrics["test_acc"] for r in runs]}


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    {"model.dropout": 0.5, "model.input_dropout": 0.2},
    {"regularization.input_noise": 0.5, "regularization.weight_noise": 0.1},
])
def test_random_regularizers_match_the_sequential_engine_in_distribution(overrides):
    population = outcomes(train(configs(**overrides)))
    sequential = outcomes([train_sequential(c) for c in configs(**overrides)])
    for key in ("train_loss", "test_acc"):
        welch = stats.ttest_ind(population[key], sequential[key], equal_var=False).pvalue
        ks = stats.ks_2samp(population[key], sequential[key]).pvalue
        assert welch > ALPHA and ks > ALPHA, (key, welch, ks)
    # the tests have the power to see the regularizer: without it the loss differs
    plain = outcomes(train(configs()))["train_loss"]
    assert stats.ttest_ind(plain, sequential["train_loss"], equal_var=False).pvalue < ALPHA
