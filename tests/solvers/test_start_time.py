"""``kinetix.solve(..., t0=...)``: integration from t0, outputs at t only."""

import math

import pytest
import torch

import kinetix
from kinetix.errors import SolverError

T = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)


def decay(t, y):
    return -y


@pytest.mark.parametrize("method", ["rodas5p", "kvaerno5", "scipy-radau"])
def test_outputs_at_t_of_a_solve_from_t0(method):
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    ys = kinetix.odeint(decay, y0, T, t0=0.0, method=method, rtol=1e-10, atol=1e-14)
    assert ys.shape == (3, 2)
    torch.testing.assert_close(ys, y0 * torch.exp(-T).unsqueeze(-1), rtol=1e-8, atol=0)
    full = kinetix.odeint(decay, y0, torch.cat([torch.zeros(1, dtype=torch.float64), T]), method=method,
                          rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(ys, full[1:], rtol=0, atol=0)


def test_decreasing_times_and_t0_equal_to_the_first_time():
    y0 = torch.ones(1, dtype=torch.float64)
    backwards = kinetix.odeint(decay, y0, torch.tensor([-1.0, -2.0], dtype=torch.float64), t0=0.0, rtol=1e-10)
    torch.testing.assert_close(backwards[:, 0], torch.tensor([math.e, math.e ** 2], dtype=torch.float64), rtol=1e-8,
                               atol=0)
    single = kinetix.odeint(decay, y0, torch.tensor([2.0], dtype=torch.float64), t0=0.0, rtol=1e-10)
    torch.testing.assert_close(single[:, 0], torch.tensor([math.exp(-2)], dtype=torch.float64), rtol=1e-8, atol=0)
    same = kinetix.odeint(decay, y0, T, t0=1.0)
    torch.testing.assert_close(same, kinetix.odeint(decay, y0, T), rtol=0, atol=0)


@pytest.mark.parametrize("t0, message", [(5.0, "must come before"), (float("nan"), "finite"), ("a", "finite"),
                                         (True, "finite")])
def test_bad_start_times(t0, message):
    with pytest.raises(SolverError, match=message):
        kinetix.odeint(decay, torch.ones(1, dtype=torch.float64), T, t0=t0)


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradient_with_respect_to_the_state_at_t0(adjoint):
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ys = kinetix.odeint(decay, y0, T, t0=0.0, rtol=1e-10, atol=1e-14, adjoint=adjoint)
    (grad,) = torch.autograd.grad(ys.sum(), y0)
    torch.testing.assert_close(grad, torch.exp(-T).sum().expand(2), rtol=1e-7, atol=0)
