"""The landscape page's math: penalized optima checked against their optimality
conditions, and the logistic paths against fitscope's objective."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitscope.config import DataConfig
from fitscope.data import load_data
from fitscope.regularization_paths import Quadratic, logistic_path, penalized_optima, quadratic_view

quadratics = st.builds(
    Quadratic, cx=st.floats(-3, 3), cy=st.floats(-3, 3), scale=st.floats(0.1, 5),
    cond=st.floats(1, 50), angle=st.floats(-90, 90), lam=st.floats(0, 10))


@settings(max_examples=25, deadline=None)
@given(quadratics)
def test_l1_optimum_satisfies_the_subgradient_conditions(q):
    # 0 in H (w - c) + lam d|w|_1: g_i = -lam sign(w_i) where w_i != 0, |g_i| <= lam at 0
    h, c = q.hessian, q.center
    w = penalized_optima(h, c, np.array([q.lam]), "l1")[0]
    g = h @ (w - c)
    for gi, wi in zip(g, w):
        if wi != 0:
            assert gi == pytest.approx(-q.lam * np.sign(wi), abs=1e-6)
        else:
            assert abs(gi) <= q.lam + 1e-6


@settings(max_examples=25, deadline=None)
@given(quadratics)
def test_l2_optimum_zeroes_the_gradient(q):
    h, c = q.hessian, q.center
    w = penalized_optima(h, c, np.array([q.lam]), "l2")[0]
    np.testing.assert_allclose(h @ (w - c) + q.lam * w, 0.0, atol=1e-9)


def test_l1_reaches_the_origin_at_lam_zero():
    q = Quadratic(cx=1.5, cy=-2.0, angle=20.0, cond=7.0)
    lam_zero = quadratic_view(q)["lam_zero"]
    below, above = penalized_optima(q.hessian, q.center, np.array([0.98, 1.01]) * lam_zero,
                                    "l1")
    assert np.any(below != 0) and np.all(above == 0)


def test_l2_shrinks_without_zeroing_and_l1_zeroes_one_weight_first():
    q = Quadratic(cx=2.0, cy=0.5, angle=0.0, cond=1.0)
    path = quadratic_view(q.model_copy(update={"penalty": "l1"}))["path"]
    w2_zero = next(i for i, w in enumerate(path["w2"]) if w == 0)
    assert path["w1"][w2_zero] > 0  # a corner: w2 is zero while w1 is not
    l2 = quadratic_view(q.model_copy(update={"penalty": "l2"}))["path"]
    assert all(w != 0 for w in l2["w1"] + l2["w2"])
    assert np.all(np.diff(l2["w1"]) < 0)  # shrinks smoothly


def test_logistic_l2_path_optimizes_fitscopes_objective():
    # mean log loss + lam/2 ||w||^2: its gradient is zero at the path's coefficients
    s = load_data(DataConfig(name="breast_cancer"))
    x, y = s.x_train.double().numpy(), s.y_train.numpy()
    body = logistic_path()
    coef = np.array(body["l2"]["coef"]).T  # (n_lams, n_features)
    for i in (0, len(body["lam"]) // 2, len(body["lam"]) - 1):
        lam, w = body["lam"][i], coef[i]
        b = _intercept(x, y, w)
        p = 1 / (1 + np.exp(-(x @ w + b)))
        grad = x.T @ (p - y) / len(y) + lam * w
        assert np.abs(grad).max() < 2e-3 * max(1.0, lam)


def test_logistic_l1_path_satisfies_the_subgradient_conditions():
    s = load_data(DataConfig(name="breast_cancer"))
    x, y = s.x_train.double().numpy(), s.y_train.numpy()
    body = logistic_path()
    coef = np.array(body["l1"]["coef"]).T
    i = len(body["lam"]) // 2
    lam, w = body["lam"][i], coef[i]
    p = 1 / (1 + np.exp(-(x @ w + _intercept(x, y, w))))
    g = x.T @ (p - y) / len(y)
    assert np.all(np.abs(g[w == 0]) <= lam * 1.05)
    np.testing.assert_allclose(g[w != 0], -lam * np.sign(w[w != 0]), atol=0.05 * lam)


def _intercept(x, y, w):
    """The unpenalized intercept for fixed weights: 1-D Newton on the mean log loss."""
    b = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        b -= (p - y).mean() / max((p * (1 - p)).mean(), 1e-12)
    return b
