"""The ESDIRK method (Kvaerno5): its tableau's order conditions and stability, and the method
through the adaptive loop against exact and scipy references; a Newton failure is honoured."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import kinetix
import references as ref
from kinetix.solvers.base import Problem
from kinetix.solvers.loop import LoopSolver
from kinetix.solvers.method import Method, Step
from kinetix.solvers.tableaus import ESDIRK_TABLEAUS, KVAERNO5
from test_tableaus import density, order_of, trees, weight


def rk_residuals(weights, A, order):
    """``sum_i w_i Phi_i(t) - 1/gamma(t)`` for the trees with ``order`` nodes (Runge-Kutta weights: alpha = beta = A)."""
    return np.array([weights @ weight(t, A, A) - 1 / density(t) for t in trees(order) if order_of(t) == order])


@pytest.mark.parametrize("name", sorted(ESDIRK_TABLEAUS))
def test_order_conditions_and_sharp_orders(name):
    tab = ESDIRK_TABLEAUS[name]
    A, b = np.array(tab.a), np.array(tab.b)
    b_hat = b - np.array(tab.e)
    for order in range(1, tab.order + 1):
        np.testing.assert_allclose(rk_residuals(b, A, order), 0, atol=1e-14, err_msg=f"order {order}")
    for order in range(1, tab.embedded_order + 1):
        np.testing.assert_allclose(rk_residuals(b_hat, A, order), 0, atol=1e-14, err_msg=f"embedded, order {order}")
    assert np.abs(rk_residuals(b, A, tab.order + 1)).max() > 1e-6
    assert np.abs(rk_residuals(b_hat, A, tab.embedded_order + 1)).max() > 1e-6


def test_kvaerno5_structure():
    """Explicit first stage, constant diagonal, stiffly accurate: the solution is the last stage and
    the embedded solution the one before, both at ``c = 1``; the predictors are consistent."""
    A = np.array(KVAERNO5.a)
    assert A[0].tolist() == [0.0] * 7 and np.all(np.diag(A)[1:] == KVAERNO5.gamma)
    np.testing.assert_array_equal(KVAERNO5.b, A[-1])
    np.testing.assert_allclose(np.array(KVAERNO5.b) - np.array(KVAERNO5.e), A[-2], rtol=0, atol=1e-16)
    assert KVAERNO5.c[-1] == pytest.approx(1.0, abs=1e-15) and KVAERNO5.c[-2] == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(np.array(KVAERNO5.predictor)[-1], A[-2], rtol=0, atol=0)


def stability(A, weights, z):
    """``R(z) = 1 + z w^T (I - z A)^-1 1``."""
    s = len(weights)
    return np.array([1 + zz * weights @ np.linalg.solve(np.eye(s) - zz * A, np.ones(s)) for zz in z])


def test_kvaerno5_is_l_stable_and_its_embedded_method_a_stable():
    """``|R(iw)| <= 1`` for both (A-stability, by the maximum principle: the only poles are at
    ``1/gamma > 0``); the method's ``R(z)`` decays like ``1/z`` (L-stable), the embedded method's
    tends to 0.748."""
    A, b = np.array(KVAERNO5.a), np.array(KVAERNO5.b)
    w = np.concatenate([[0.0], np.logspace(-3, 6, 2000)])
    z = -(10.0 ** np.arange(4, 8))
    for weights in (b, b - np.array(KVAERNO5.e)):
        assert np.abs(stability(A, weights, 1j * w)).max() <= 1 + 1e-12
        assert np.abs(stability(A, weights, -np.logspace(-2, 8, 200))).max() <= 1 + 1e-12
    np.testing.assert_allclose(np.abs(stability(A, b, z)) * -z, 6.5, rtol=0.02)
    np.testing.assert_allclose(np.abs(stability(A, b - np.array(KVAERNO5.e), z)), 0.748, rtol=0.01)


def test_global_error_falls_at_order_five():
    """y' = -y + sin(t): y = (3/2) e^-t + (sin t - cos t) / 2, read at the end point (a step end)."""
    end = 5.0
    exact = 1.5 * math.exp(-end) + 0.5 * (math.sin(end) - math.cos(end))
    errors, steps = [], []
    for rtol in (1e-5, 1e-7, 1e-9):
        solution = kinetix.solve(lambda t, y: -y + torch.sin(t), torch.ones(1, dtype=torch.float64),
                                 torch.tensor([0.0, end], dtype=torch.float64), method="kvaerno5", rtol=rtol, atol=rtol)
        errors.append(abs(float(solution.ys[-1, 0]) - exact))
        steps.append(int(solution.stats.steps))
    assert errors[-1] < 1e-8
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert slope > 4.2, (errors, steps)


def test_robertson_and_pollu_match_scipy(robertson, pollu):
    for mechanism, rhs, jac, y0, times in (
        (robertson, ref.robertson_rhs, ref.robertson_jac, [1.0, 0.0, 0.0], np.logspace(-5, 5, 50)),
        (pollu, ref.pollu_rhs, ref.pollu_jac, ref.POLLU_Y0, np.linspace(0, 60, 20)),
    ):
        expected = solve_ivp(rhs, (0.0, times[-1]), y0, method="Radau", t_eval=times, rtol=1e-13, atol=1e-20,
                             jac=jac).y.T
        ys = kinetix.simulate(mechanism, method="kvaerno5", rtol=1e-8, atol=1e-14).numpy()
        np.testing.assert_allclose(ys, expected, rtol=2e-5, atol=1e-12)


class _EulerThatFails(Method):
    """Explicit Euler whose "nonlinear solve" fails for steps above ``limit``."""

    name, order, error_order = "failing-euler", 1, 1

    def __init__(self, limit):
        self.limit, self.largest_accepted = limit, 0.0

    def step(self, system, t, y, h, f0):
        y_new = y + h * f0
        error = h * (system.rhs(t + h, y_new) - f0) / 2
        return Step(y_new, error, torch.zeros_like(y).unsqueeze(1), h <= self.limit, 1)


def test_the_loop_rejects_steps_the_method_could_not_complete():
    limit = 1e-3
    method = _EulerThatFails(limit)
    records = []
    problem = Problem(lambda t, y: -y, torch.ones(2, 1, dtype=torch.float64), torch.tensor([0.0, 0.1], dtype=torch.float64),
                      torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64),
                      first_step=0.05, autonomous=True)
    solution = LoopSolver(method).integrate(problem, on_step=lambda accepted, t_old, t_new, *rest:
                                            records.append((accepted, t_new - t_old)))
    assert solution.success
    steps = torch.cat([h[accepted] for accepted, h in records])
    assert len(steps) > 90 and float(steps.max()) <= limit  # loose tolerances: only the failures bound h
    assert int(solution.stats.rejected[0]) >= 1
    torch.testing.assert_close(solution.ys[-1], torch.full((2, 1), math.exp(-0.1), dtype=torch.float64),
                               rtol=1e-3, atol=0)


def test_compiling_kvaerno5_is_refused_with_a_clear_error():
    with pytest.raises(kinetix.KinetixError, match="kvaerno5 cannot run compiled"):
        kinetix.odeint(lambda t, y: -y, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64),
                       method="kvaerno5", options={"compile": True})
