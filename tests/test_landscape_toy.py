"""The notes' toy surfaces: hand-written gradients against autograd, the minima, and the
optimizers' behaviour the notes describe (momentum in a ravine, clipping at a cliff)."""

import re

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fitscope.landscape import toy
from fitscope.landscape.figures import toy_figure, write_html


@pytest.mark.parametrize("name", list(toy.SURFACES))
def test_hand_written_gradient_matches_autograd(name):
    surf = toy.SURFACES[name]
    (x0, x1), (y0, y1) = surf.bounds
    g = torch.Generator().manual_seed(0)
    xs = x0 + (x1 - x0) * torch.rand(50, generator=g, dtype=torch.float64)
    ys = y0 + (y1 - y0) * torch.rand(50, generator=g, dtype=torch.float64)
    for xv, yv in zip(xs, ys):
        x, y = xv.clone().requires_grad_(), yv.clone().requires_grad_()
        gx, gy = torch.autograd.grad(surf.f(x, y), (x, y))
        hx, hy = surf.grad(x.detach(), y.detach())
        assert float(hx) == pytest.approx(float(gx), rel=1e-12, abs=1e-12)
        assert float(hy) == pytest.approx(float(gy), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", list(toy.SURFACES))
def test_minima_have_zero_gradient_and_nothing_lower_around_them(name):
    surf = toy.SURFACES[name]
    angles = torch.linspace(0, 2 * torch.pi, 17, dtype=torch.float64)[:-1]
    for mx, my in surf.minima:
        x, y = torch.tensor(mx, dtype=torch.float64), torch.tensor(my, dtype=torch.float64)
        assert all(abs(float(c)) < 1e-12 for c in surf.grad(x, y))
        for r in (1e-3, 1e-1):
            around = surf.f(x + r * torch.cos(angles), y + r * torch.sin(angles))
            assert bool((around > surf.f(x, y)).all())


def test_saddle_is_a_saddle_and_its_minima_are_the_lowest_points():
    s = toy.surface("saddle")
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    at0 = float(s.f(t(0.0), t(0.0)))
    assert all(float(c) == 0 for c in s.grad(t(0.0), t(0.0)))
    assert float(s.f(t(0.1), t(0.0))) > at0 > float(s.f(t(0.0), t(0.1)))
    _, _, z = s.grid(201)
    assert z.min() >= s.f_min - 1e-12 and s.f_min == pytest.approx(-0.25)


def test_momentum_beats_sgd_in_the_ravine():
    """Same learning rate: momentum reaches f < 1e-3 in a fraction of SGD's steps."""
    sgd = toy.optimize("ravine", "sgd", steps=500)
    momentum = toy.optimize("ravine", "momentum", steps=500)
    n_sgd = toy.steps_to_tolerance("ravine", sgd, 1e-3)
    n_momentum = toy.steps_to_tolerance("ravine", momentum, 1e-3)
    assert n_sgd is not None and n_momentum is not None
    assert n_momentum < n_sgd / 3
    # SGD zig-zags across the steep axis: y changes sign from step to step early on
    assert np.all(np.sign(sgd[1:6, 1]) == -np.sign(sgd[:5, 1]))


def test_clipping_prevents_the_cliff_catapult():
    s = toy.surface("cliff")
    start = np.hypot(*s.start)
    plain = toy.optimize(s, "sgd", steps=300)
    clipped = toy.optimize(s, "sgd", steps=300, clip_norm=1.0)
    assert np.hypot(plain[:, 0], plain[:, 1]).max() > 5 * start  # thrown far away
    assert np.hypot(clipped[:, 0], clipped[:, 1]).max() <= start + 1e-12
    steps = np.hypot(*np.diff(clipped, axis=0).T)
    assert steps.max() <= 0.1 * 1.0 + 1e-12  # lr * clip_norm bounds every step
    assert toy.steps_to_tolerance(s, clipped, 1e-3) is not None


def test_optimize_runs_fitscope_optimizers_by_name():
    sgd = toy.optimize("rosenbrock", "sgd", steps=3, lr=1e-3)
    x, y = torch.tensor(sgd[0])
    for k in range(3):  # theta <- theta - lr * grad, by hand
        gx, gy = toy.surface("rosenbrock").grad(x, y)
        x, y = x - 1e-3 * gx, y - 1e-3 * gy
        np.testing.assert_allclose(sgd[k + 1], [x, y], rtol=1e-12)
    no_momentum = toy.optimize("rosenbrock", "momentum", steps=3, lr=1e-3, momentum=0.0)
    np.testing.assert_allclose(no_momentum, sgd, rtol=1e-12)
    paths = toy.race("saddle", ("sgd", "adam"), steps=20)
    assert set(paths) == {"sgd", "adam"} and paths["adam"].shape == (21, 2)


def test_bad_names_are_reported():
    with pytest.raises(ValueError, match=r"surface must be one of .*ravine.*got 'bowl'"):
        toy.surface("bowl")
    with pytest.raises(ValidationError, match="name"):
        toy.optimize("ravine", "lbfgs")


def test_a_diverging_path_stops_at_its_last_finite_point():
    path = toy.optimize("ravine", "sgd", steps=2000, lr=1.0)
    assert len(path) < 2001 and np.isfinite(path).all()


def test_toy_figure_is_self_contained_html(tmp_path):
    s = toy.surface("ravine")
    fig = toy_figure(s, toy.race(s, ("sgd", "momentum"), steps=30))
    assert [t.name for t in fig.data][1:] == ["sgd", "momentum", "minimum"]
    html = write_html(fig, tmp_path / "toy.html").read_text()
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # no script fetched from anywhere
    assert len(html) > 1_000_000  # plotly.js itself is inlined
