"""The Rosenbrock tableaus: order conditions, stiff accuracy, L-stability and measured orders.

Everything here is numpy. The tableaus are converted back to the classical form of Hairer & Wanner,
Vol. II, IV.7 (``alpha_ij``, ``gamma_ij``, ``b_i``), where a method with the exact Jacobian has
order p when ``sum_i b_i Phi_i(t) = 1/gamma(t)`` for every rooted tree ``t`` with at most p nodes.
The elementary weights ``Phi`` use ``beta = alpha + Gamma`` (diagonal ``gamma`` included) below a
node with one child and ``alpha`` below a node with several children.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kinetix.solvers.tableaus import TABLEAUS, RosenbrockTableau

METHODS = sorted(TABLEAUS)


@pytest.fixture(params=METHODS)
def tab(request) -> RosenbrockTableau:
    return TABLEAUS[request.param]


# ---------------------------------------------------------------- conversion and rooted trees


def classical(tab: RosenbrockTableau):
    """``(alpha_ij, Gamma, b, b_hat)`` of the untransformed method."""
    s = tab.stages
    gamma_inv = np.diag(np.full(s, 1 / tab.gamma)) - np.array(tab.c)
    big_gamma = np.linalg.inv(gamma_inv)
    b = np.array(tab.b)
    return np.array(tab.a) @ big_gamma, big_gamma, b @ big_gamma, (b - np.array(tab.e)) @ big_gamma


def dense_weights(tab: RosenbrockTableau, theta: float) -> np.ndarray:
    """Weights ``w`` on the transformed stages with ``y(t + theta*h) = y + sum_i w_i k_i``."""
    poly = np.zeros(tab.stages)
    for row in reversed(np.array(tab.H)):
        poly = row + theta * poly
    return theta * (np.array(tab.b) + (1 - theta) * poly)


def trees(max_order: int) -> list[tuple]:
    """All rooted trees with up to ``max_order`` nodes, a tree being the sorted tuple of its subtrees."""
    def grow(tree):  # every tree made by attaching one leaf to a node of ``tree``
        yield tuple(sorted(tree + ((),)))
        for i, child in enumerate(tree):
            for bigger in grow(child):
                yield tuple(sorted(tree[:i] + (bigger,) + tree[i + 1:]))

    levels = [{()}]
    for _ in range(max_order - 1):
        levels.append({bigger for tree in levels[-1] for bigger in grow(tree)})
    return [tree for level in levels for tree in sorted(level)]


def order_of(tree) -> int:
    return 1 + sum(order_of(child) for child in tree)


def density(tree) -> int:
    return order_of(tree) * math.prod(density(child) for child in tree)


def weight(tree, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    if not tree:
        return np.ones(len(alpha))
    if len(tree) == 1:
        return beta @ weight(tree[0], alpha, beta)
    return math.prod(alpha @ weight(child, alpha, beta) for child in tree)


def residuals(weights: np.ndarray, alpha, beta, order: int, theta: float = 1.0) -> np.ndarray:
    """``sum_i w_i Phi_i(t) - theta**|t| / gamma(t)`` for every tree with exactly ``order`` nodes."""
    return np.array([weights @ weight(t, alpha, beta) - theta ** order / density(t)
                     for t in trees(order) if order_of(t) == order])


def test_tree_counts():
    assert [sum(order_of(t) == n for t in trees(6)) for n in range(1, 7)] == [1, 1, 2, 4, 9, 20]


# ---------------------------------------------------------------- algebraic properties


def test_registry_and_shapes(tab):
    assert TABLEAUS[tab.name] is tab
    assert tab.stages == len(tab.a) == len(tab.c) == len(tab.alpha) == len(tab.d) == len(tab.e)
    assert (tab.H is None) == (tab.dense_order is None)
    if tab.H is not None:  # the dense output is a polynomial of degree len(H) + 1 in theta
        assert len(tab.H) + 1 >= tab.dense_order


def test_nonautonomous_coefficients_are_consistent(tab):
    """``alpha_i = sum_j alpha_ij`` and ``d_i = gamma_i = sum_j gamma_ij``: non-autonomous problems
    get the same order as their autonomous form."""
    alpha, big_gamma, _, _ = classical(tab)
    np.testing.assert_allclose(alpha.sum(axis=1), tab.alpha, rtol=0, atol=1e-13)
    np.testing.assert_allclose(big_gamma.sum(axis=1), tab.d, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.diag(big_gamma), tab.gamma, rtol=0, atol=1e-14)


def test_order_conditions(tab):
    alpha, big_gamma, b, b_hat = classical(tab)
    beta = alpha + big_gamma
    for order in range(1, tab.order + 1):
        np.testing.assert_allclose(residuals(b, alpha, beta, order), 0, atol=1e-12,
                                   err_msg=f"{tab.name}: order {order}")
    for order in range(1, tab.embedded_order + 1):
        np.testing.assert_allclose(residuals(b_hat, alpha, beta, order), 0, atol=1e-12,
                                   err_msg=f"{tab.name}: embedded, order {order}")


def test_orders_are_sharp(tab):
    alpha, big_gamma, b, b_hat = classical(tab)
    beta = alpha + big_gamma
    assert np.abs(residuals(b, alpha, beta, tab.order + 1)).max() > 1e-6
    assert np.abs(residuals(b_hat, alpha, beta, tab.embedded_order + 1)).max() > 1e-6


def test_dense_output_order_conditions(tab):
    if tab.H is None:
        pytest.skip("no dense output")
    alpha, big_gamma, _, _ = classical(tab)
    beta = alpha + big_gamma
    for theta in (0.2, 0.5, 0.7):
        w = dense_weights(tab, theta) @ big_gamma
        for order in range(1, tab.dense_order + 1):
            np.testing.assert_allclose(residuals(w, alpha, beta, order, theta), 0, atol=1e-12,
                                       err_msg=f"{tab.name}: dense output, theta={theta}, order {order}")
        assert np.abs(residuals(w, alpha, beta, tab.dense_order + 1, theta)).max() > 1e-6


def test_dense_output_end_points(tab):
    if tab.H is None:
        pytest.skip("no dense output")
    np.testing.assert_array_equal(dense_weights(tab, 0.0), 0.0)
    np.testing.assert_array_equal(dense_weights(tab, 1.0), tab.b)


def test_stiffly_accurate(tab):
    """``y_new`` is the last stage's argument plus ``k_s`` (classically ``b_i = beta_si``), at
    ``alpha_s = 1``. The embedded solutions here likewise end on stage ``s-1``."""
    unit = np.eye(tab.stages)
    b, b_hat = np.array(tab.b), np.array(tab.b) - np.array(tab.e)
    assert tab.stiffly_accurate == (np.array_equal(b, np.array(tab.a[-1]) + unit[-1]) and tab.alpha[-1] == 1)
    if tab.stiffly_accurate:
        alpha, big_gamma, b_classical, _ = classical(tab)
        np.testing.assert_allclose(b_classical, (alpha + big_gamma)[-1], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(b_hat, np.array(tab.a[-2]) + unit[-2])
        assert tab.alpha[-2] == 1


def stability(tab: RosenbrockTableau, z: np.ndarray, embedded: bool = False) -> np.ndarray:
    """``R(z) = 1 + z b^T (I - z beta)^-1 1``."""
    alpha, big_gamma, b, b_hat = classical(tab)
    beta, weights, s = alpha + big_gamma, (b_hat if embedded else b), tab.stages
    return np.array([1 + zz * weights @ np.linalg.solve(np.eye(s) - zz * beta, np.ones(s)) for zz in z])


def test_l_stable(tab):
    """``R`` has its only pole at ``1/gamma > 0``, so ``|R(iw)| <= 1`` with ``R(-inf) = 0`` is
    L-stability (maximum principle on the left half-plane). The embedded methods here are L-stable too."""
    alpha, big_gamma, b, b_hat = classical(tab)
    beta = alpha + big_gamma
    w = np.concatenate([[0.0], np.logspace(-3, 6, 2000)])
    for embedded, weights in ((False, b), (True, b_hat)):
        r_infinity = 1 - weights @ np.linalg.solve(beta, np.ones(tab.stages))
        l_stable = np.abs(stability(tab, 1j * w, embedded)).max() <= 1 + 1e-12 and abs(r_infinity) < 1e-12
        assert l_stable == (tab.l_stable or embedded)
        if l_stable:
            assert np.abs(stability(tab, np.array([-1e12]), embedded)).max() < 1e-10


# ---------------------------------------------------------------- one step of a reference stepper


def step(tab: RosenbrockTableau, f, jac, f_t, t, y, h):
    """One step of the stage equation in the module docstring: ``(y_new, error, dense)``."""
    s, y = tab.stages, np.asarray(y)
    w = np.eye(len(y)) / (h * tab.gamma) - jac(t, y)
    ft = f_t(t, y)
    k = []
    for i in range(s):
        arg = y + sum(tab.a[i][j] * k[j] for j in range(i))
        rhs = f(t + tab.alpha[i] * h, arg) + sum(tab.c[i][j] / h * k[j] for j in range(i)) + h * tab.d[i] * ft
        k.append(np.linalg.solve(w, rhs))
    y_new = y + sum(bi * ki for bi, ki in zip(tab.b, k))
    error = sum(ei * ki for ei, ki in zip(tab.e, k))
    q = [sum(hri * ki for hri, ki in zip(row, k)) for row in tab.H or ()]

    def dense(theta):
        poly = 0 * y
        for qr in reversed(q):
            poly = qr + theta * poly
        return (1 - theta) * y + theta * (y_new + (1 - theta) * poly)

    return y_new, error, dense


def test_stepper_reproduces_stability_function(tab):
    """The transformed stepper on ``y' = z y`` with ``h = 1`` gives ``R(z)`` of the classical form."""
    for z in (-0.3, -2.0 + 1.5j, -40.0, 3j):
        zero = lambda t, y: 0 * y  # noqa: E731
        y_new, _, _ = step(tab, lambda t, y: z * y, lambda t, y: np.array([[z]]), zero, 0.0,
                           np.array([1.0 + 0j]), 1.0)
        assert abs(y_new[0] - stability(tab, np.array([z]))[0]) < 1e-12 * max(1, abs(y_new[0]))


# A non-autonomous nonlinear 2-D problem with a known solution: f(t, y) = F(y) + g(t) with
# g = u' - F(u), so y = u(t).
def _F(y):
    return np.array([-y[0] * y[1] - y[0] ** 2, y[0] ** 2 - 2 * y[1] + np.sin(y[0])])


def _dF(y):
    return np.array([[-y[1] - 2 * y[0], -y[0]], [2 * y[0] + np.cos(y[0]), -2.0]])


def _u(t):
    return np.array([1 / (1 + t) + 0.5 * np.sin(2 * t), np.cos(t) + np.exp(-t)])


def _du(t):
    return np.array([-1 / (1 + t) ** 2 + np.cos(2 * t), -np.sin(t) - np.exp(-t)])


def _d2u(t):
    return np.array([2 / (1 + t) ** 3 - 2 * np.sin(2 * t), -np.cos(t) + np.exp(-t)])


NONLINEAR = dict(
    f=lambda t, y: _F(y) + _du(t) - _F(_u(t)),
    jac=lambda t, y: _dF(y),
    f_t=lambda t, y: _d2u(t) - _dF(_u(t)) @ _du(t),
    exact=_u,
)
LAMBDA = -1.3
LINEAR = dict(
    f=lambda t, y: LAMBDA * y,
    jac=lambda t, y: np.array([[LAMBDA]]),
    f_t=lambda t, y: 0 * y,
    exact=lambda t: np.array([np.exp(LAMBDA * t)]),
)
THETAS = (0.25, 0.5, 0.8)


def local_errors(tab, problem, h):
    """Errors of one step from ``t0`` against the exact solution: step, embedded, dense output."""
    t0 = 0.3
    y_new, error, dense = step(tab, problem["f"], problem["jac"], problem["f_t"], t0, problem["exact"](t0), h)
    exact = problem["exact"]
    dense_error = max(np.abs(dense(theta) - exact(t0 + theta * h)).max() for theta in THETAS)
    np.testing.assert_allclose(dense(1.0), y_new, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(dense(0.0), exact(t0))
    return (np.abs(y_new - exact(t0 + h)).max(), np.abs(y_new - error - exact(t0 + h)).max(), dense_error)


def observed_orders(tab, problem, h0):
    hs = h0 / 2.0 ** np.arange(4)
    errors = np.array([local_errors(tab, problem, h) for h in hs])
    slopes = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    return dict(zip(("step", "embedded", "dense"), slopes))


def linear_order(weights: np.ndarray, beta: np.ndarray, theta: float = 1.0) -> int:
    """Order on linear constant-coefficient problems, where only the tall trees count:
    the largest p with ``weights^T beta^(k-1) 1 = theta^k / k!`` for all ``k <= p``."""
    power, p = np.ones(len(beta)), 0
    while abs(weights @ power - theta ** (p + 1) / math.factorial(p + 1)) < 1e-10:
        power, p = beta @ power, p + 1
    return p


def expected_orders(tab, problem) -> dict[str, int]:
    """Expected slopes of the local errors: one more than the order."""
    alpha, big_gamma, b, b_hat = classical(tab)
    beta = alpha + big_gamma
    if problem == "nonlinear":
        expected = dict(step=tab.order + 1, embedded=tab.embedded_order + 1, dense=(tab.dense_order or 0) + 1)
    else:
        dense = min(linear_order(dense_weights(tab, theta) @ big_gamma, beta, theta)
                    for theta in THETAS) if tab.H is not None else 0
        expected = dict(step=linear_order(b, beta) + 1, embedded=linear_order(b_hat, beta) + 1, dense=dense + 1)
    if tab.H is None:
        del expected["dense"]
    return expected


# first step sizes: the errors of h, h/2, h/4, h/8 stay asymptotic and well above rounding
H0 = {"rodas5p": 0.2, "rodas4": 0.1, "rodas3p": 0.05}


@pytest.mark.parametrize("problem", ["nonlinear", "linear"])
def test_measured_local_orders(tab, problem):
    """One step from the exact solution: the fitted slopes of log(error) against log(h)."""
    measured = observed_orders(tab, NONLINEAR if problem == "nonlinear" else LINEAR, H0.get(tab.name, 0.1))
    expected = expected_orders(tab, problem)
    assert expected["step"] >= tab.order + 1
    for key, value in expected.items():
        assert abs(measured[key] - value) < 0.3, (key, expected, measured)
