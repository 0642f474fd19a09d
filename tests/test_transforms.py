"""The update rules (fitscope.core.transforms) against torch.optim, the oracle: each
member of a stacked population, with its own hyperparameters, against its own torch.optim
optimizer, over many steps; and the loop's shared pieces (fitscope.core.loop)."""

import copy
import math

import pytest
import torch
from torch import nn

from fitscope.config import OptimizerConfig, RegularizationConfig, RunConfig, ScheduleConfig
from fitscope.core import transforms as T
from fitscope.core.loop import EarlyStopping, Updater, divergence, population_of_one
from fitscope.engine import Batch, Trainer

MEMBERS = (  # lr, momentum, beta1, beta2, rho, eps
    (0.1, 0.9, 0.9, 0.999, 0.9, 1e-8),
    (0.01, 0.5, 0.5, 0.99, 0.5, 1e-3),
    (0.3, 0.1, 0.0, 0.9, 0.99, 1e-6),
)


def optimizer_configs(name: str, **extra) -> list[OptimizerConfig]:
    return [OptimizerConfig(name=name, lr=lr, momentum=mu, beta1=b1, beta2=b2, rho=rho,
                            eps=eps, **extra)
            for lr, mu, b1, b2, rho, eps in MEMBERS]


def torch_optimizer(groups: list[dict], c: OptimizerConfig, decay: float = 0.0):
    """The torch.optim optimizer of config ``c``; ``groups[0]`` holds the weights, the
    only parameters with decoupled decay."""
    if decay:
        groups = [{**groups[0], "weight_decay": decay}, {**groups[1], "weight_decay": 0.0}]
    if c.name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(groups, lr=c.lr, momentum=0.0 if c.name == "sgd" else c.momentum,
                               nesterov=c.name == "nesterov")
    if c.name == "adagrad":
        return torch.optim.Adagrad(groups, lr=c.lr, eps=c.eps)
    if c.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=c.lr, alpha=c.rho, eps=c.eps)
    cls = torch.optim.AdamW if c.name == "adamw" else torch.optim.Adam
    return cls(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps,
               weight_decay=decay if c.name == "adamw" else 0.0)


def stacked(n: int = 3, seed: int = 0):
    """(weights (n, 12), others (n, 5)) as two parameter tensors of a population."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 12, generator=g), torch.randn(n, 5, generator=g)], g


MASKS = [torch.ones(1, 12, dtype=torch.bool), torch.zeros(1, 5, dtype=torch.bool)]
STEPS = 60


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                  "adam", "adamw"])
def test_each_member_steps_like_its_own_torch_optimizer(name):
    """Three members, their own hyperparameters and learning rates (a step schedule
    halves them every 20 steps), two parameter tensors, 60 steps; AdamW's decay on the
    weights only, as torch.optim.AdamW with the biases in a group without decay."""
    decay = 0.05 if name == "adamw" else 0.0
    cfgs = optimizer_configs(name, schedule=ScheduleConfig(kind="step", step_size=20,
                                                           gamma=0.5))
    params, g = stacked()
    singles = [[p[i].clone().requires_grad_() for p in params] for i in range(3)]
    oracles = [torch_optimizer([{"params": [w]}, {"params": [b]}], c, decay)
               for (w, b), c in zip(singles, cfgs)]
    updater = Updater(cfgs, [RegularizationConfig(weight_decay=decay)] * 3, params, MASKS)
    for step in range(STEPS):
        grads = [torch.randn(p.shape, generator=g) for p in params]
        for i, (ps, opt) in enumerate(zip(singles, oracles)):
            for group, c in zip(opt.param_groups, [cfgs[i]] * 2):
                group["lr"] = T.lr_at(step, c.lr, c.schedule, STEPS)
            for p, grad in zip(ps, grads):
                p.grad = grad[i].clone()
            opt.step()
        updater.step(step, STEPS, params, grads)
    assert updater.lrs == [lr / 4 for lr, *_ in MEMBERS]  # the schedule ran: steps 40-59
    for i, ps in enumerate(singles):
        for p, single in zip(params, ps):
            torch.testing.assert_close(p[i], single.detach(), rtol=1e-5, atol=1e-6)


def test_members_leave_and_the_others_go_on_unchanged():
    """keep_members drops a member's rows from every part of the state."""
    cfgs = optimizer_configs("adam")
    params, g = stacked()
    singles = [[p[i].clone().requires_grad_() for p in params] for i in range(3)]
    oracles = [torch_optimizer([{"params": [w]}, {"params": [b]}], c)
               for (w, b), c in zip(singles, cfgs)]
    updater = Updater(cfgs, [RegularizationConfig()] * 3, params, MASKS)
    alive = [0, 1, 2]
    for step in range(30):
        if step == 10:  # member 1 leaves
            alive = [0, 2]
            index = torch.tensor(alive)
            params = [p[index] for p in params]
            updater.keep(index)
        grads = [torch.randn(p.shape, generator=g) for p in params]
        for row, i in enumerate(alive):
            for p, grad in zip(singles[i], grads):
                p.grad = grad[row].clone()
            oracles[i].step()
        updater.step(step, 30, params, grads)
    assert updater.lrs == [cfgs[0].lr, cfgs[2].lr]
    for row, i in enumerate(alive):
        for p, single in zip(params, singles[i]):
            torch.testing.assert_close(p[row], single.detach(), rtol=1e-5, atol=1e-6)


def test_penalty_gradients_are_those_of_the_penalties():
    """g + d/dtheta [lambda_2 / 2 ||w||^2 + lambda_1 ||w||_1 (+ lambda_2 / 2 ||b||^2)],
    per member, by autograd."""
    l2, l1, l2_other = [0.1, 0.0, 0.3], [0.0, 0.2, 0.05], [0.1, 0.0, 0.0]
    params, g = stacked()
    grads = [torch.randn(p.shape, generator=g) for p in params]
    w, b = (p.clone().requires_grad_() for p in params)
    def col(v):
        return torch.tensor(v).view(-1, 1)

    penalty = ((col(l2) / 2 * w.square() + col(l1) * w.abs()).sum()
               + (col(l2_other) / 2 * b.square()).sum())
    penalty.backward()
    expected = [grads[0] + w.grad, grads[1] + b.grad]
    t = T.penalty_gradients(l2, l1, l2_other, MASKS)
    out, _ = t.update([x.clone() for x in grads], t.init(params), params, None)
    for got, want in zip(out, expected):
        torch.testing.assert_close(got, want)


def test_clipping_uses_each_members_own_global_norm():
    """By value, then by the norm of the member's gradients over both tensors, against
    torch.nn.utils.clip_grad_value_ / clip_grad_norm_ per member; inf: no clipping."""
    params, g = stacked()
    grads = [torch.randn(p.shape, generator=g) * 3 for p in params]
    norm, value = [1.0, math.inf, 0.1], [math.inf, 0.5, 0.2]
    expected = [x.clone() for x in grads]
    for i in range(3):
        ps = [torch.zeros(x.shape[1], requires_grad=True) for x in grads]
        for p, x in zip(ps, grads):
            p.grad = x[i].clone()
        if value[i] < math.inf:
            torch.nn.utils.clip_grad_value_(ps, value[i])
        if norm[i] < math.inf:
            torch.nn.utils.clip_grad_norm_(ps, norm[i])
        for e, p in zip(expected, ps):
            e[i] = p.grad
    t = T.chain(T.clip_by_value(value), T.clip_by_global_norm(norm))
    out, _ = t.update(grads, t.init(params), params, None)
    for got, want in zip(out, expected):
        torch.testing.assert_close(got, want)
    assert float(T.global_norm(out)[0]) == pytest.approx(1.0, rel=1e-5)


def test_schedules_give_each_member_its_own_rate():
    cfgs = [OptimizerConfig(lr=1.0, schedule=ScheduleConfig(kind="cosine", final_fraction=0.0,
                                                            tau=10)),
            OptimizerConfig(lr=0.5)]
    assert T.learning_rates(cfgs, 5, 10) == pytest.approx([0.5, 0.5])
    assert T.learning_rates(cfgs, 10, 10) == pytest.approx([0.0, 0.5])


def test_a_learning_rate_of_zero_leaves_the_parameters_alone():
    """Adam at eps = 0 (a schedule's end) with zero gradients: no NaN from 0 / 0."""
    params = [torch.ones(2, 4)]
    t = T.adam(0.9, 0.999, 1e-8)
    state = t.init(params)
    updates, _ = t.update([torch.zeros(2, 4)], state, params, torch.zeros(2, 1,
                                                                          dtype=torch.float64))
    T.apply_updates(params, updates)
    assert torch.equal(params[0], torch.ones(2, 4))


def test_optimizers_of_several_names_are_refused():
    with pytest.raises(ValueError, match=r"optimizer\.name must be the same"):
        T.optimizer([OptimizerConfig(name="sgd"), OptimizerConfig(name="adam")])


# -- the sequential engine: a population of one, through the same transforms ----------
def tiny(**overrides) -> RunConfig:
    base = RunConfig.model_validate({"data": {"name": "moons", "n_samples": 200},
                                     "model": {"depth": 2, "width": 8},
                                     "budget": {"epochs": 2, "batch_size": 32}})
    return base.with_overrides(overrides)


@pytest.mark.parametrize("overrides", [
    {"optimizer.name": "adamw", "regularization.weight_decay": 0.1,
     "regularization.l2": 0.01, "optimizer.clip_norm": 0.5},
    {"optimizer.name": "nesterov", "optimizer.lr": 0.05, "regularization.l1": 0.01,
     "regularization.l2": 0.02, "regularization.l2_on_bias": True,
     "optimizer.clip_value": 0.1, "optimizer.schedule": {"kind": "linear", "tau": 20}},
    {"optimizer.name": "rmsprop", "optimizer.lr": 0.003},
])
def test_trainer_steps_like_torch_optim_in_the_step_order(overrides):
    """Thirty Trainer steps against a hand-written loop over a copy of the model:
    penalties, clipping, decoupled decay and the torch.optim update, in that order."""
    trainer = Trainer(tiny(**overrides))
    cfg = trainer.config
    oc, rc = cfg.optimizer, cfg.regularization
    twin = copy.deepcopy(trainer.model)
    names = dict(trainer.model.named_parameters())
    weight_names = [n for n, p in names.items() if any(p is w for w in trainer.weights)]
    weights = [p for n, p in twin.named_parameters() if n in weight_names]
    others = [p for n, p in twin.named_parameters() if n not in weight_names]
    opt = torch_optimizer([{"params": weights}, {"params": others}], oc)
    x, y = trainer.x_train, trainer.y_train
    g = torch.Generator().manual_seed(3)
    for step in range(30):
        idx = torch.randperm(len(x), generator=g)[:32]
        trainer.train_step(Batch(x[idx], y[idx], idx))
        trainer.step += 1
        lr = T.lr_at(step, oc.lr, oc.schedule, trainer.total_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        trainer.data_loss(twin(x[idx]), y[idx]).backward()
        with torch.no_grad():
            for p in weights + (others if rc.l2_on_bias else []):
                p.grad += rc.l2 * p
            for p in weights:
                p.grad += rc.l1 * p.sign()
            if oc.clip_value:
                torch.nn.utils.clip_grad_value_(weights + others, oc.clip_value)
            if oc.clip_norm:
                torch.nn.utils.clip_grad_norm_(weights + others, oc.clip_norm)
            for p in weights:
                p.mul_(1 - lr * rc.weight_decay)
        opt.step()
    for n, p in twin.named_parameters():
        torch.testing.assert_close(names[n].detach(), p.detach(), rtol=1e-4, atol=1e-5)


def test_a_model_is_a_population_of_one_over_one_buffer():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    before = copy.deepcopy(model)
    weights = [model[0].weight, model[2].weight]
    (flat,), (grad,), (mask,) = population_of_one(weights, [model[0].bias, model[2].bias])
    assert flat.shape == grad.shape == mask.shape == (1, 26)
    assert int(mask.sum()) == 12 + 8 and bool(mask[0, :20].all())
    for a, b in zip(model.parameters(), before.parameters()):
        assert torch.equal(a, b)  # the values are kept
    model(torch.randn(5, 3)).sum().backward()  # autograd accumulates into the buffer
    assert float(grad.abs().sum()) > 0
    assert torch.equal(grad[0, :12], model[0].weight.grad.reshape(-1))
    with torch.no_grad():
        flat.add_(1.0)  # writes through to the module
    assert torch.equal(model[2].bias, before[2].bias + 1)


# -- divergence and early stopping ------------------------------------------------------
def test_divergence_reasons():
    assert divergence(1.0, 0.69, 4) is None
    assert divergence(float("nan"), 0.69, 4) == "non-finite loss (nan) at step 4"
    assert "is over 1000x that of a constant prediction" in divergence(700.0, 0.69, 9)


def test_early_stopping_is_a_callback_with_patience_and_restore():
    model = nn.Linear(2, 1)
    early = EarlyStopping("val_loss", patience=2, min_delta=0.1, start_epoch=0)

    class Holder:
        stop = False

    holder = Holder()
    holder.model = model
    for epoch, loss in enumerate([1.0, 0.5, 0.45, 0.44], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        early.on_epoch_end(holder, {"epoch": epoch, "step": 10 * epoch, "val_loss": loss})
    # 0.45 and 0.44 do not beat 0.5 by more than 0.1: two epochs without improvement
    assert holder.stop and early.stopped_epoch == 4
    assert (early.best_epoch, early.best_step) == (2, 20)
    early.restore(model)
    assert float(model.weight.detach()[0, 0]) == 2.0


def test_the_old_names_still_work():
    """fitscope.optim and fitscope.population.optim: thin shims over the transforms."""
    from fitscope import optim
    from fitscope.population import optim as population_optim

    assert isinstance(optim.make_optimizer([nn.Parameter(torch.zeros(2))],
                                           OptimizerConfig(name="rmsprop")), torch.optim.RMSprop)
    cfgs = [OptimizerConfig(lr=0.1, schedule=ScheduleConfig(kind="step", step_size=2)),
            OptimizerConfig(lr=0.2)]
    assert population_optim.schedule_lrs(cfgs, 3, 10) == T.learning_rates(cfgs, 3, 10)
    g = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    population_optim.clip_per_member_(g, None, population_optim.column([1.0, 1.0], g))
    torch.testing.assert_close(g, torch.tensor([[0.6, 0.8], [0.3, 0.4]]), rtol=1e-5, atol=1e-6)
