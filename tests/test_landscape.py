"""Loss landscapes of any nn.Module: directions, batched evaluation, slices, sharpness.

Each check is against an outside reference: a closed-form loss, torch.linalg.eigvalsh of
the full Hessian, sklearn's PCA, or a plain sequential loop over the points.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from torch import nn
from torch.func import functional_call

from fitscope.config import ModelConfig
from fitscope.landscape import (
    Problem,
    accuracy,
    expected_sharpness,
    filter_normalize,
    interpolate,
    pca_directions,
    plane,
    random_directions,
    top_hessian_eigenvalue,
    trajectory,
)
from fitscope.landscape.losses import CrossEntropy, SquaredError
from fitscope.landscape.results import Line, Surface, from_dict
from fitscope.models import MLP


def mse_first(out, y):
    return F.mse_loss(out[:, 0], y)


def regression_problem(n=50, d=3, seed=0) -> Problem:
    """Linear regression with MSE in float64: a convex quadratic in (w, b)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.1 * torch.randn(
        n, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, dtype=torch.float64)
    return Problem(model, mse_first, x, y, batch_size=17)  # uneven data batches


def closed_form(problem: Problem, theta: torch.Tensor) -> float:
    """mean((X w + b - y)^2), written out for a Linear(d, 1): theta = (w_1..w_d, b)."""
    x, y = problem.x.numpy(), problem.y.numpy()
    t = theta.numpy()
    return float(np.mean((x @ t[:-1] + t[-1] - y) ** 2))


def small_classifier(seed=0, batch_norm=False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 6)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(6))
    layers += [nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 3)]
    return nn.Sequential(*layers)


def classification_data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


# -- filter normalization -----------------------------------------------------------------
def test_each_direction_filter_has_the_norm_of_its_weight_filter():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 5, 3), nn.BatchNorm2d(5), nn.ReLU(), nn.Flatten(),
                          nn.Linear(5 * 4 * 4, 7), nn.ReLU(), nn.Linear(7, 3))
    d = random_directions(model, 1, seed=3)[0]
    pieces = d.split([p.numel() for p in model.parameters()])
    checked = 0
    for (name, p), flat in zip(model.named_parameters(), pieces):
        piece = flat.reshape(p.shape)
        if name.endswith("weight") and p.dim() >= 2:
            for i in range(p.shape[0]):  # filter i: an output unit / channel
                assert torch.allclose(piece[i].norm(), p[i].detach().norm(), rtol=1e-5)
                checked += 1
        else:  # biases and batch-norm scale/shift are ignored (zero direction)
            assert torch.count_nonzero(piece) == 0, name
    assert checked == 5 + 7 + 3


def test_filter_normalize_names_a_wrong_shape():
    with pytest.raises(ValueError, match="direction must be flat with 8 entries"):
        filter_normalize(torch.zeros(3), nn.Linear(3, 2))


def test_directions_are_reproducible_from_the_seed():
    model = nn.Linear(5, 4)
    assert torch.equal(random_directions(model, 2, seed=1), random_directions(model, 2, seed=1))
    assert not torch.equal(random_directions(model, 2, seed=1),
                           random_directions(model, 2, seed=2))


# -- batched evaluation -----------------------------------------------------------------------
@pytest.mark.parametrize("batch_norm", [False, True])
def test_batched_evaluation_equals_a_sequential_loop(batch_norm):
    model = small_classifier(batch_norm=batch_norm)
    x, y = classification_data()
    if batch_norm:  # give the running statistics non-trivial values
        model.train()
        model(x * 3 + 1)
    model.train()  # evaluation must switch to eval mode itself (dropout off) and back
    problem = Problem(model, F.cross_entropy, x, y, metric_fn=accuracy, batch_size=15)
    theta = problem.center()
    points = theta + 0.3 * torch.randn(23, len(theta), generator=torch.Generator().manual_seed(1))
    loss, acc = problem.evaluate(points, chunk=4)
    assert model.training
    reference = []
    probe = small_classifier(batch_norm=batch_norm)
    probe.load_state_dict(model.state_dict())
    probe.eval()
    with torch.no_grad():
        for p in points:
            torch.nn.utils.vector_to_parameters(p, probe.parameters())
            out = probe(x)
            reference.append((F.cross_entropy(out, y).item(),
                              (out.argmax(1) == y).float().mean().item()))
    ref = torch.tensor(reference, dtype=torch.float64)
    assert torch.allclose(loss, ref[:, 0], rtol=1e-5)
    assert torch.allclose(acc, ref[:, 1], atol=1e-6)


def loop_reference(model, points, x, y, loss_fn, metric_fn=None):
    """Loss (and metric) at each point by copying it into a clone of the model."""
    probe = copy.deepcopy(model).eval()
    rows = []
    with torch.no_grad():
        for p in points:
            torch.nn.utils.vector_to_parameters(p, probe.parameters())
            out = probe(x)
            rows.append((loss_fn(out, y).item(),
                         metric_fn(out, y).item() if metric_fn else 0.0))
    return torch.tensor(rows, dtype=torch.float64)


def plain_mlps():
    """(name, model, x, y, loss, metric): plain MLPs that take the fast path."""
    x, y = classification_data(n=37)
    yield "sequential bn tanh dropout", small_classifier(batch_norm=True), x, y, \
        CrossEntropy(3), accuracy
    torch.manual_seed(1)
    binary = MLP(4, 1, ModelConfig(depth=2, width=5, activation="relu", bias=False))
    yield "fitscope MLP, no bias, one logit", binary, x, (y > 0).long(), CrossEntropy(2), \
        accuracy
    torch.manual_seed(2)
    sig = MLP(4, 1, ModelConfig(depth=1, width=6, activation="sigmoid", batch_norm=True))
    yield "fitscope MLP, regression", sig, x, x[:, 0] - x[:, 1], SquaredError(), None
    torch.manual_seed(3)
    mixed = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 5), nn.BatchNorm1d(5),
                          nn.Sigmoid(), nn.Linear(5, 3), nn.Tanh())
    yield "sequential, an activation outside the table, one after the output", mixed, x, y, \
        CrossEntropy(3), accuracy


@pytest.mark.parametrize("case", list(plain_mlps()), ids=lambda c: c[0])
def test_the_plain_mlp_path_equals_a_loop_at_any_points_and_on_slices(case):
    _, model, x, y, loss_fn, metric_fn = case
    if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        model.train()
        model(x * 2 + 1)  # non-trivial running statistics
    problem = Problem(model, loss_fn, x, y, metric_fn=metric_fn, batch_size=10)
    assert problem._batched_mlp() is not None  # the fast path is the one tested
    theta = problem.center()
    g = torch.Generator().manual_seed(3)
    points = theta + 0.5 * torch.randn(9, len(theta), generator=g)
    loss, metric = problem.evaluate(points, chunk=4)
    ref = loop_reference(model, points, x, y, loss_fn, metric_fn)
    assert torch.allclose(loss, ref[:, 0], rtol=1e-5, atol=1e-7)
    basis = torch.randn(2, len(theta), generator=g)
    coords = torch.randn(11, 2, generator=g)
    loss, metric = problem.evaluate_affine(theta, basis, coords, chunk=3)
    ref = loop_reference(model, theta + coords @ basis, x, y, loss_fn, metric_fn)
    assert torch.allclose(loss, ref[:, 0], rtol=1e-5, atol=1e-6)
    if metric_fn is None:
        assert metric is None
    else:
        assert torch.allclose(metric, ref[:, 1], atol=1e-6)


def test_models_and_losses_outside_the_plain_mlp_path_take_the_general_one():
    x, y = classification_data()
    assert Problem(small_classifier(), F.cross_entropy, x, y)._batched_mlp() is None
    conv = nn.Sequential(nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 2, 3), nn.Flatten(),
                         nn.Linear(4, 3))
    assert Problem(conv, CrossEntropy(3), x, y)._batched_mlp() is None
    # batch norm after the activation: not a linear -> [bn] -> [activation] stack
    after = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.BatchNorm1d(6), nn.Linear(6, 3))
    after.train()
    after(x * 2 + 1)  # non-trivial running statistics
    problem = Problem(after, CrossEntropy(3), x, y, batch_size=15)
    assert problem._batched_mlp() is None
    points = problem.center() + 0.3 * torch.randn(5, problem.n_params,
                                                  generator=torch.Generator().manual_seed(4))
    loss, _ = problem.evaluate(points, chunk=2)
    assert after.training  # restored
    assert torch.allclose(loss, loop_reference(after, points, x, y, CrossEntropy(3))[:, 0],
                          rtol=1e-5)
    assert Problem(small_classifier(), CrossEntropy(3), x, y)._batched_mlp() is not None


@pytest.mark.parametrize("classes", [1, 4])
def test_loss_columns_equal_the_loss_of_each_point(classes):
    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(5, classes, 13, generator=g)  # (P, C, N)
    y = torch.randint(0, max(classes, 2), (13,), generator=g)
    fns = [CrossEntropy(max(classes, 2)), accuracy] + ([SquaredError()] if classes == 1 else [])
    for fn in fns:
        target = y.float() if isinstance(fn, SquaredError) else y
        expect = torch.stack([fn(z[p].T, target) for p in range(5)])
        assert torch.allclose(fn.columns(z, target), expect, atol=1e-6), fn


def test_problem_names_bad_inputs():
    x, y = classification_data()
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        Problem(small_classifier(), F.cross_entropy, x, y[:5])
    problem = Problem(small_classifier(), F.cross_entropy, x, y)
    with pytest.raises(ValueError, match="points must have 51 entries"):
        problem.evaluate(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="model has no parameters to move: ReLU"):
        Problem(nn.ReLU(), F.cross_entropy, x, y)


# -- line and plane on a convex quadratic --------------------------------------------------------
def test_plane_equals_the_closed_form_loss_of_linear_regression():
    problem = regression_problem()
    surface = plane(problem, points=7, span=2.0, seed=4)
    center = problem.center()
    d1, d2 = random_directions(problem.model, 2, seed=4)
    for i, b in enumerate(surface.y):
        for j, a in enumerate(surface.x):
            expected = closed_form(problem, center + a * d1 + b * d2)
            assert surface.loss[i, j] == pytest.approx(expected, rel=1e-10)
    assert surface.center_loss == pytest.approx(closed_form(problem, center), rel=1e-10)


def test_plane_along_given_directions_is_the_quadratic_in_a_and_b():
    problem = regression_problem()
    center = problem.center()
    dirs = torch.randn(2, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    surface = plane(problem, center, dirs, points=5, span=(-1.0, 3.0))
    x, y = problem.x, problem.y
    r = [x @ v[:3] + v[3] for v in (center, dirs[0], dirs[1])]
    r[0] = r[0] - y
    a, b = np.meshgrid(surface.x, surface.y)
    m = lambda u, v: float((u * v).mean())  # noqa: E731
    expected = (m(r[0], r[0]) + 2 * a * m(r[0], r[1]) + 2 * b * m(r[0], r[2])
                + a**2 * m(r[1], r[1]) + 2 * a * b * m(r[1], r[2]) + b**2 * m(r[2], r[2]))
    np.testing.assert_allclose(surface.loss, expected, rtol=1e-10)


def test_line_hits_both_ends_and_follows_the_closed_form():
    problem = regression_problem()
    a = problem.center()
    b = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    line = interpolate(problem, a, b, points=9, span=(-0.5, 1.5))
    for t, loss in zip(line.t, line.loss):
        assert loss == pytest.approx(closed_form(problem, (1 - t) * a + t * b), rel=1e-10)
    assert line.t[2] == 0.0 and line.t[6] == 1.0
    assert line.accuracy is None


def test_results_round_trip_through_json_ready_dicts():
    line = Line(t=np.array([0.0, 1.0]), loss=np.array([1.0, math.inf]), meta={"a": 1})
    back = from_dict(line.to_dict())
    assert isinstance(back, Line) and back.to_dict()["loss"] == [1.0, None]
    surface = Surface(x=np.arange(2.0), y=np.arange(3.0), loss=np.ones((3, 2)),
                      path=np.zeros((4, 2)), path_steps=[0, 1, 2, 3], explained_variance=[0.9, 0.1])
    back = from_dict(surface.to_dict())
    assert isinstance(back, Surface) and back.loss.shape == (3, 2) and back.path_steps[0] == 0
    assert math.isnan(back.center_loss)


# -- trajectory ---------------------------------------------------------------------------------
def test_trajectory_pca_matches_sklearn_and_starts_at_the_init():
    problem = regression_problem()
    final = problem.center()
    g = torch.Generator().manual_seed(5)
    # a curved path from an init to the final weights, plus a little noise
    init = final + torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64)
    s = torch.linspace(0, 1, 12, dtype=torch.float64)[:, None]
    bend = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    path = init + s * (final - init) + (s * (1 - s)) * bend
    path = path + 0.01 * torch.randn(path.shape, generator=g, dtype=torch.float64)
    path[-1] = final
    steps = list(range(0, 120, 10))
    surface = trajectory(problem, path, steps, points=6)

    m = (path - final).numpy()
    pca = PCA(n_components=2).fit(m)
    np.testing.assert_allclose(surface.explained_variance, pca.explained_variance_ratio_,
                               rtol=1e-8)
    directions, _coords, _ = pca_directions(path, final)
    np.testing.assert_allclose(np.abs(directions.numpy()), np.abs(pca.components_), atol=1e-8)
    assert surface.path_steps[0] == 0
    np.testing.assert_allclose(surface.path[0], ((path[0] - final) @ directions.T).numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(surface.path[-1], [0.0, 0.0], atol=1e-12)
    assert np.all(surface.path[0] <= 0)  # axes are oriented: the init sits at <= 0
    # path_loss is the loss at the path's projections on the plane
    proj = final + torch.tensor(surface.path[3]) @ directions
    assert surface.path_loss[3] == pytest.approx(closed_form(problem, proj), rel=1e-10)
    # the grid covers the whole path
    assert surface.x.min() < surface.path[:, 0].min() and surface.x.max() > 0
    assert surface.y.min() < surface.path[:, 1].min() <= surface.path[:, 1].max() < surface.y.max()


def test_trajectory_names_bad_inputs():
    problem = regression_problem()
    with pytest.raises(ValueError, match="at least 3 snapshots"):
        trajectory(problem, problem.center()[None].repeat(2, 1))
    with pytest.raises(ValueError, match="steps must label every snapshot"):
        trajectory(problem, problem.center()[None].repeat(4, 1), [0, 1])
    with pytest.raises(ValueError, match="margin must be at least 0, got -1"):
        trajectory(problem, problem.center()[None].repeat(4, 1), margin=-1)


# -- sharpness --------------------------------------------------------------------------------
def test_power_iteration_matches_eigvalsh_of_the_full_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = classification_data(n=60)
    x = x.double()
    problem = Problem(model, F.cross_entropy, x, y, batch_size=25)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(flat):  # the reference: the whole data at once, its own unflattening
        params, at = {}, 0
        for name, shape in zip(names, shapes):
            k = math.prod(shape)
            params[name] = flat[at:at + k].reshape(shape)
            at += k
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss_of, theta)
    expected = torch.linalg.eigvalsh(hessian).max().item()
    got = top_hessian_eigenvalue(problem, iters=500, tol=1e-9)
    assert got["converged"]
    assert got["eigenvalue"] == pytest.approx(expected, rel=0.01)


class Quadratic(nn.Module):
    """A 'model' whose loss is 1/2 theta^T A theta, to pin the Hessian to A."""

    def __init__(self, n: int):
        super().__init__()
        self.theta = nn.Parameter(torch.ones(n, dtype=torch.float64))

    def forward(self, x):
        return self.theta.expand(len(x), -1)


def test_power_iteration_finds_the_top_eigenvalue_when_a_negative_one_dominates():
    a = torch.diag(torch.tensor([-5.0, 1.0, 2.0], dtype=torch.float64))
    loss = lambda out, y: 0.5 * out[0] @ a @ out[0]  # noqa: E731
    problem = Problem(Quadratic(3), loss, torch.zeros(4, 1), torch.zeros(4))
    got = top_hessian_eigenvalue(problem, iters=2000, tol=1e-10)
    assert got["eigenvalue"] == pytest.approx(2.0, rel=1e-4)


def test_expected_sharpness_matches_the_quadratic_closed_form():
    """For a quadratic loss, E[L(theta + delta)] - L(theta) = 1/2 sum_j H_jj (alpha theta_j)^2
    exactly (the linear term has mean zero)."""
    problem = regression_problem()
    theta = problem.center() + 1.0
    alpha = 0.2
    x1 = torch.cat([problem.x, torch.ones(len(problem.x), 1, dtype=torch.float64)], dim=1)
    hessian_diag = 2 * (x1**2).mean(0)  # H = 2 X1^T X1 / n for the mean squared error
    exact = float(0.5 * (hessian_diag * (alpha * theta) ** 2).sum())
    got = expected_sharpness(problem, theta, alpha=alpha, samples=400, seed=1)
    assert got["base_loss"] == pytest.approx(closed_form(problem, theta), rel=1e-10)
    assert abs(got["increase"] - exact) < 4 * got["std_error"]
    assert got["std_error"] < 0.2 * exact


def test_sharpness_names_bad_arguments():
    problem = regression_problem()
    with pytest.raises(ValueError, match="alpha must be positive, got -1"):
        expected_sharpness(problem, alpha=-1)
    with pytest.raises(ValueError, match="samples must be at least 2, got 1"):
        expected_sharpness(problem, samples=1)
