"""Populations of any model: CNNs and user modules on the functional stack
(:mod:`fitscope.population.functional`) match the sequential engine run by run."""

import copy
import math

import pytest
import torch
from test_population import assert_matches
from torch import nn
from torch.func import functional_call, vmap

from fitscope import RunConfig
from fitscope.engine import train as train_sequential
from fitscope.population import NotVmappable, shape_key, train
from fitscope.population import mapped as mapped_module
from fitscope.population.engine import Population
from fitscope.population.functional import FunctionalStack
from fitscope.population.mapped import MappedLinear, MappedMaxPool1d, MappedMaxPool2d, mapped_forms
from fitscope.population.stacked import StackedMLP


class ResidualMLP(nn.Module):
    """A user's module: Linear -> ReLU, one residual block, a linear head."""

    def __init__(self, n_in: int = 64, width: int = 24, n_out: int = 10):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.block = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(h + self.block(h))


class Branchy(ResidualMLP):
    """Python control flow on a tensor's value: vmap cannot map it."""

    def forward(self, x):
        return super().forward(x) if float(x.sum()) > 0 else -super().forward(x)


def cnn(**overrides) -> RunConfig:
    base = RunConfig.model_validate({
        "data": {"name": "mnist1d", "n_samples": 400},
        "model": {"kind": "cnn", "channels": [4, 8]},
        "budget": {"epochs": 2, "batch_size": 32}})
    return base.with_overrides(overrides) if overrides else base


def digits(**overrides) -> RunConfig:
    base = RunConfig.model_validate({"data": {"name": "digits"},
                                     "budget": {"epochs": 2, "batch_size": 64}})
    return base.with_overrides(overrides) if overrides else base


def test_cnn_members_match_the_sequential_engine():
    configs = [cnn(**{"budget.seed": 0, "optimizer.lr": 0.01}),
               cnn(**{"budget.seed": 1, "optimizer.lr": 0.003, "regularization.l2": 0.01,
                      "init.scheme": "kaiming_normal"}),
               cnn(**{"budget.seed": 2, "optimizer.lr": 0.02, "optimizer.clip_norm": 0.5,
                      "regularization.weight_decay": 0.01, "init.scheme": "default"})]
    assert len({shape_key(c) for c in configs}) == 1
    assert Population(configs).net.direct  # these numbers come from the direct path
    runs = train(configs)
    for c, run in zip(configs, runs):
        assert_matches(run, train_sequential(c))


def test_cnn_with_batch_norm_matches_and_keeps_each_members_running_statistics():
    """No conv bias: before batch norm its gradient is rounding noise only, in which two
    sums in another order agree in no digit."""
    configs = [cnn(**{"model.batch_norm": True, "model.bias": False, "optimizer.name": "momentum",
                      "optimizer.lr": 0.05, "budget.seed": s}) for s in (0, 1)]
    assert Population(configs).net.direct
    runs = train(configs)
    for c, run in zip(configs, runs):
        seq = train_sequential(c)
        assert_matches(run, seq)
        assert int(run.model.features[0].bn.num_batches_tracked) == seq.metrics["steps"]
    a, b = (r.model.features[0].bn.running_mean for r in runs)
    assert not torch.equal(a, b)


def test_cnn_members_stop_early_on_their_own_with_their_snapshots():
    """Early stopping reads each member's state through the row layout, snapshots are
    the member's rows: both as the sequential engine records them."""
    early = {"enabled": True, "patience": 1, "min_delta": 0.5}
    configs = [cnn(**{"budget.epochs": 4, "observe.snapshot_every": 5, "budget.seed": s,
                      "optimizer.lr": lr, "regularization.early_stopping": early})
               for s, lr in ((0, 0.01), (1, 0.001))]
    runs = train(configs)
    assert {r.status for r in runs} == {"early_stopped"}
    for c, run in zip(configs, runs):
        seq = train_sequential(c)
        assert_matches(run, seq)
        assert [s["step"] for s in run.snapshots] == [s["step"] for s in seq.snapshots]
        for a, b in zip(run.snapshots, seq.snapshots):
            assert torch.allclose(a["params"], b["params"], rtol=1e-5, atol=1e-7)


def test_user_modules_match_the_sequential_engine_and_keep_their_type():
    configs = [digits(**{"budget.seed": s, "optimizer.lr": 0.003 * (s + 1),
                         "init.scheme": "xavier_uniform" if s else "default"})
               for s in range(3)]
    torch.manual_seed(0)
    modules = [ResidualMLP() for _ in configs]
    copies = [ResidualMLP() for _ in configs]
    for a, b in zip(copies, modules):
        a.load_state_dict(b.state_dict())
    assert Population(configs, models=[copy.deepcopy(m) for m in modules]).net.direct
    runs = train(configs, models=modules)
    for c, run, module in zip(configs, runs, copies):
        assert isinstance(run.model, ResidualMLP) and not run.model_spec["builtin"]
        assert_matches(run, train_sequential(c, model=module))


class Tied(ResidualMLP):
    """The block's second layer shares its first's weight (one parameter under two
    names, in two modules)."""

    def __init__(self):
        super().__init__()
        self.block[2].weight = self.block[0].weight


def test_tied_weights_stay_tied_and_untied_modules_skip_the_search():
    """A module with a layer under two names trains as the sequential engine trains it
    (``functional_call`` ties the weights); one without is called without the search."""
    configs = [digits(**{"budget.seed": s}) for s in range(2)]
    torch.manual_seed(0)
    modules = [Tied() for _ in configs]
    copies = [copy.deepcopy(m) for m in modules]
    stack = Population(configs, models=[copy.deepcopy(m) for m in modules]).net
    assert isinstance(stack, FunctionalStack) and stack.tied
    assert not Population(configs, models=[ResidualMLP(), ResidualMLP()]).net.tied
    for c, run, module in zip(configs, train(configs, models=modules), copies):
        assert_matches(run, train_sequential(c, model=module))


def test_the_fast_path_is_the_hand_written_mlp_and_the_rest_is_functional():
    mlp = Population([digits(), digits(**{"budget.seed": 1})])
    assert type(mlp.net) is StackedMLP
    assert type(Population([cnn(), cnn(**{"budget.seed": 1})]).net) is FunctionalStack
    user = Population([digits(), digits(**{"budget.seed": 1})],
                      models=[ResidualMLP(), ResidualMLP()])
    assert type(user.net) is FunctionalStack


def test_functional_members_share_dropout_and_draw_their_own_masks():
    """Members of a CNN population share the dropout rate (the module's attribute, see
    FUNCTIONAL_FIELDS); masks are drawn per member and reproducibly."""
    a, b = cnn(**{"model.dropout": 0.3}), cnn(**{"model.dropout": 0.3, "budget.seed": 1})
    assert shape_key(a) == shape_key(b)
    assert shape_key(a) != shape_key(cnn(**{"model.dropout": 0.1}))
    same = [cnn(**{"model.dropout": 0.3, "budget.seed": 0, "init.scheme": "xavier_uniform"})
            for _ in range(2)]
    first, again = train(same), train(same)
    assert [r.column("train_loss") for r in first] == [r.column("train_loss") for r in again]
    assert first[0].column("train_loss") != first[1].column("train_loss")


def test_a_module_vmap_cannot_map_is_refused_before_training():
    with pytest.raises(NotVmappable, match="Branchy cannot run as a population"):
        train([digits(), digits(**{"budget.seed": 1})], models=[Branchy(), Branchy()])


def test_user_modules_of_different_architectures_are_refused():
    with pytest.raises(ValueError, match=r"models\[1\] differs from models\[0\]"):
        train([digits(), digits(**{"budget.seed": 1})],
              models=[ResidualMLP(), ResidualMLP(width=8)])
    with pytest.raises(ValueError, match="one module per config"):
        train([digits(), digits()], models=[ResidualMLP()])
    net = ResidualMLP()
    with pytest.raises(ValueError, match="distinct modules"):
        train([digits(), digits(**{"budget.seed": 1})], models=[net, net])


# -- the mapped forms of fitscope.population.mapped ---------------------------------------
def pools(dims: int, k):
    """torch's pooling layer and a copy switched to its mapped form."""
    torch_pool = nn.MaxPool1d(k) if dims == 1 else nn.MaxPool2d(k)
    mapped = mapped_forms(nn.Sequential(copy.deepcopy(torch_pool)))[0]
    assert type(mapped) is (MappedMaxPool1d if dims == 1 else MappedMaxPool2d)
    return torch_pool, mapped


@pytest.mark.parametrize("dims, k, shape", [
    (1, 2, (4, 8, 40)), (1, 2, (4, 8, 41)), (1, 3, (4, 8, 40)), (1, 2, (8, 40)),
    (2, 2, (4, 3, 8, 8)), (2, 2, (4, 3, 9, 7)), (2, (2, 3), (4, 3, 8, 9))])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("members", [None, 0, 1])
def test_window_max_gives_max_pools_outputs_and_gradients_exactly(dims, k, shape, ties,
                                                                  members):
    """Ties (rounded values) send the gradient to the window's first maximum, as max_pool
    does; also mapped over three members with vmap (``members``: their axis)."""
    torch.manual_seed(0)
    torch_pool, mapped = pools(dims, k)
    x = torch.randn(*shape)
    x = (x * 2).round() if ties else x
    if members is not None:
        x = torch.stack([x, x.flip(0), -x], dim=members)
        torch_pool, mapped = vmap(torch_pool, members), vmap(mapped, members)
    leaf_a, leaf_b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = torch_pool(leaf_a), mapped(leaf_b)
    g = torch.randn_like(ya)
    (ga,) = torch.autograd.grad(ya, leaf_a, g)
    (gb,) = torch.autograd.grad(yb, leaf_b, g)
    assert torch.equal(ya, yb) and torch.equal(ga, gb)


@pytest.mark.parametrize("dims, k, shape", [
    (1, 2, (4, 8, 40)), (1, 3, (4, 8, 41)), (2, 2, (4, 3, 9, 7)), (2, (2, 3), (4, 3, 8, 9))])
@pytest.mark.parametrize("members", [None, 1])
def test_window_max_outside_autograd_is_max_pools_kernel(dims, k, shape, members,
                                                          monkeypatch):
    """Outside grad mode (an evaluation) the mapped pool gives max_pool's outputs
    without WindowMax's Function, mapped or not; in grad mode it runs WindowMax."""
    torch.manual_seed(0)
    torch_pool, mapped = pools(dims, k)
    x = torch.randn(*shape)
    if members is not None:
        x = torch.stack([x, x.flip(0), -x], dim=members)
        torch_pool, mapped = vmap(torch_pool, members), vmap(mapped, members)

    def refuse(*args):
        raise AssertionError("WindowMax ran outside autograd")

    monkeypatch.setattr(mapped_module.WindowMax, "apply", refuse)
    with torch.no_grad():
        assert torch.equal(mapped(x), torch_pool(x))
    with pytest.raises(AssertionError, match="outside autograd"):  # grad mode: WindowMax
        mapped(x.clone().requires_grad_())


def test_mapped_linear_matches_linear_mapped_or_not():
    torch.manual_seed(0)
    for bias in (True, False):
        layer = nn.Linear(6, 5, bias=bias)
        mapped = mapped_forms(nn.Sequential(copy.deepcopy(layer)))[0]
        assert type(mapped) is MappedLinear
        for x in (torch.randn(7, 6), torch.randn(2, 7, 6)):  # 3-D: through F.linear
            torch.testing.assert_close(mapped(x), layer(x))
        weights, xs = torch.randn(3, 5, 6), torch.randn(3, 7, 6)
        runs = [vmap(lambda w, x, m=m: functional_call(m, {"weight": w}, (x,)))(weights, xs)
                for m in (mapped, layer)]
        torch.testing.assert_close(*runs)


def test_mapped_forms_switch_only_the_plain_layers():
    class MyLinear(nn.Linear):  # a subclass may have its own forward: left alone
        pass

    net = nn.Sequential(nn.Linear(2, 2), MyLinear(2, 2), nn.MaxPool1d(2),
                        nn.MaxPool1d(3, stride=2), nn.MaxPool1d(2, padding=1),
                        nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d((2, 2)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    mapped_forms(net)
    assert [type(m) for m in net] == [MappedLinear, MyLinear, MappedMaxPool1d, nn.MaxPool1d,
                                      nn.MaxPool1d, nn.MaxPool2d, MappedMaxPool2d]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_the_stack_runs_the_mapped_forms_and_the_members_keep_theirs():
    runs = train([cnn(), cnn(**{"budget.seed": 1})])
    stack = Population([cnn(), cnn(**{"budget.seed": 1})]).net
    assert isinstance(stack, FunctionalStack)
    kinds = {type(m) for m in stack.module.modules()}
    assert {MappedLinear, MappedMaxPool1d} <= kinds and nn.MaxPool1d not in kinds
    assert not {MappedLinear, MappedMaxPool1d} & {type(m) for m in runs[0].model.modules()}


# -- the direct path: the module run once on the members' folded rows ----------------------
class Centred(ResidualMLP):
    """Centres each batch on its own mean: a row-mixing op, which on the members' folded
    rows would mix members, so the direct path gives other numbers than vmap."""

    def forward(self, x):
        return super().forward(x - x.mean(0, keepdim=True))


class Scaled(ResidualMLP):
    """A bare parameter outside any layer with a member-stacked form."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(10))

    def forward(self, x):
        return super().forward(x) * self.scale


def test_the_direct_path_is_chosen_for_the_cnn_and_the_residual_mlp():
    plain = Population([cnn(), cnn(**{"budget.seed": 1})]).net
    normed = Population([cnn(**{"model.batch_norm": True, "budget.seed": s}) for s in (0, 1)]).net
    user = Population([digits(), digits(**{"budget.seed": 1})],
                      models=[ResidualMLP(), ResidualMLP()]).net
    assert isinstance(plain, FunctionalStack) and plain.direct and not plain.outer
    assert isinstance(normed, FunctionalStack) and normed.direct and not normed.outer
    assert isinstance(user, FunctionalStack) and user.direct and user.outer  # linear only


@pytest.mark.parametrize("module", [Centred, Scaled])
def test_a_module_the_direct_path_cannot_run_falls_back_to_vmap_and_still_matches(module):
    configs = [digits(**{"budget.seed": s, "optimizer.lr": 0.003 * (s + 1)}) for s in (0, 1)]
    torch.manual_seed(0)
    modules = [module() for _ in configs]
    copies = [copy.deepcopy(m) for m in modules]
    stack = Population(configs, models=[copy.deepcopy(m) for m in modules]).net
    assert isinstance(stack, FunctionalStack) and not stack.direct
    runs = train(configs, models=modules)
    for c, run, m in zip(configs, runs, copies):
        assert_matches(run, train_sequential(c, model=m))


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Linear(6, 5), (6,)), (lambda: nn.Linear(6, 5, bias=False), (3, 6)),
    (lambda: nn.Conv1d(4, 6, 3, padding=1), (4, 9)),
    (lambda: nn.Conv1d(1, 6, 5, padding=2), (1, 9)),  # one input channel: windows
    (lambda: nn.Conv1d(1, 4, 3, stride=2, dilation=2, bias=False), (1, 11)),
    (lambda: nn.Conv1d(4, 6, 3, stride=2, groups=2, bias=False), (4, 9)),
    (lambda: nn.Conv2d(3, 4, (3, 2), padding=1), (3, 6, 5)),
    (lambda: nn.BatchNorm1d(5), (5,)), (lambda: nn.BatchNorm1d(5, momentum=None), (5, 4)),
    (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 4))])
def test_member_stacked_forms_give_each_members_own_layer(layer, shape, outer):
    """Stacked parameters (N, *shape) on folded rows, in either layout, give each member
    its own layer's outputs, gradients and running statistics."""
    torch.manual_seed(0)
    n, b = 3, 4
    layers = [layer() for _ in range(n)]
    for m in layers:  # distinct members, statistics off their init
        for t in m.parameters():
            t.data.normal_()
    for m in layers:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    form = mapped_forms(nn.Sequential(copy.deepcopy(layers[0])))[0]
    form.members_outer = outer
    x = torch.randn(n, b, *shape)
    stacked = {k: torch.stack([m.get_parameter(k) for m in layers]).detach().requires_grad_()
               for k, _ in layers[0].named_parameters()}
    buffers = {k: torch.stack([m.get_buffer(k) for m in layers]).clone()
               for k, _ in layers[0].named_buffers()}
    rows = (x if outer else x.transpose(0, 1)).reshape(n * b, *shape)
    out = functional_call(form, (stacked, buffers), (rows,))
    out = (out.view(n, b, *out.shape[1:]) if outer
           else out.view(b, n, *out.shape[1:]).transpose(0, 1))
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, list(stacked.values()), g) if stacked else ()
    for i, m in enumerate(layers):
        own = {k: v.detach().requires_grad_() for k, v in m.named_parameters()}
        yi = functional_call(m, (own, dict(m.named_buffers())), (x[i],))
        torch.testing.assert_close(out[i], yi)
        for gs, gi in zip(grads, torch.autograd.grad(yi, list(own.values()), g[i])
                          if own else ()):
            torch.testing.assert_close(gs[i], gi)
        for k, v in m.named_buffers():
            torch.testing.assert_close(buffers[k][i], v)


# -- gradients written straight into the members' rows (mapped.gradients_into) ------------
class Twice(ResidualMLP):
    """Calls one layer twice in a pass: its two gradients must be summed."""

    def forward(self, x):
        h = torch.relu(self.inp(x))
        first = self.block[0]
        return self.out(h + first(torch.tanh(first(h))))


def test_a_layer_called_twice_takes_the_direct_path_and_matches():
    configs = [digits(**{"budget.seed": s, "optimizer.lr": 0.003 * (s + 1)}) for s in (0, 1)]
    torch.manual_seed(0)
    modules = [Twice() for _ in configs]
    copies = [copy.deepcopy(m) for m in modules]
    assert Population(configs, models=[copy.deepcopy(m) for m in modules]).net.direct
    runs = train(configs, models=modules)
    for c, run, m in zip(configs, runs, copies):
        assert_matches(run, train_sequential(c, model=m))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("calls", [1, 2])
def test_stacked_linear_writes_its_first_calls_gradients_into_the_given_tensors(calls, bias):
    """With gradients_into, a member-stacked linear layer's weight and bias gradients of
    its first call land in the given tensors (views of wider rows here, as the stack's
    gradient rows are); autograd returns them there for one call, and for two calls the
    sum, equal to the gradients computed without destinations."""
    torch.manual_seed(0)
    n, b, d_in, d_out = 3, 4, 5, 5
    layer = mapped_forms(nn.Sequential(nn.Linear(d_in, d_out, bias=bias)))
    params = {"0.weight": torch.randn(n, d_out, d_in), "0.bias": torch.randn(n, d_out)}
    x, g = torch.randn(n * b, d_in), torch.randn(n * b, d_out)
    rows = torch.full((n, 2 * d_out * d_in + 3 * d_out), math.nan)
    into = {"0.weight": rows[:, 1:1 + d_out * d_in].view(n, d_out, d_in),
            "0.bias": rows[:, -d_out - 1:-1]}
    if not bias:
        del params["0.bias"], into["0.bias"]

    def grads(destinations):
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        mapped_module.gradients_into(mapped_module.linear_layers(layer), destinations)
        y = x
        for _ in range(calls):
            y = functional_call(layer, leaves, (y,))
        return torch.autograd.grad(y, list(leaves.values()), g)

    expected = grads({})
    got = grads(into)
    for e, a, dest in zip(expected, got, into.values()):
        torch.testing.assert_close(a, e)
        if calls == 1:
            assert a is dest
            assert torch.equal(dest, e)
    assert "grad_into" not in layer[0].__dict__  # used up by the pass
    assert torch.isnan(rows[:, 0]).all() and torch.isnan(rows[:, -1]).all()  # only the views


def test_the_final_metrics_reuse_the_training_stacks_path_without_a_second_trial(monkeypatch):
    """The trial step runs once per population: the final metrics' stack (which only
    evaluates) takes the training stack's path."""
    trials, built = [], []
    real_trial, real_init = FunctionalStack._trial, FunctionalStack.__init__

    def counted_trial(self):
        trials.append(self)
        real_trial(self)

    def recorded_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(FunctionalStack, "_trial", counted_trial)
    monkeypatch.setattr(FunctionalStack, "__init__", recorded_init)
    configs = [digits(**{"budget.seed": s, "budget.epochs": 1}) for s in (0, 1)]
    train(configs, models=[ResidualMLP(), ResidualMLP()])
    assert len(built) == 2 and trials == built[:1]  # training's stack, then the metrics'
    assert built[0].direct and built[1].direct
    stacks = [Population(configs, models=[module(), module()]).net
              for module in (ResidualMLP, Centred)]
    assert [s.direct for s in stacks] == [True, False]
    for s in stacks:  # a given path is kept, where the module's layers allow it
        again = FunctionalStack([ResidualMLP(), ResidualMLP()], (64,), direct=s.direct)
        assert again.direct == s.direct
    assert not FunctionalStack([Scaled(), Scaled()], (64,), direct=True).direct
