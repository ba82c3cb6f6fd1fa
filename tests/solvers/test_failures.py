"""Bad arguments are refused before any work; failing members are named and do not corrupt others."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
import torch

import kinetix
from kinetix.errors import SolverError
from kinetix.solvers.base import Status

T = torch.linspace(0, 1, 5, dtype=torch.float64)
Y0 = torch.ones(3, dtype=torch.float64)


def decay(t, y):
    return -y


@pytest.mark.parametrize("kwargs, message", [
    (dict(t=torch.tensor([0.0, 2.0, 1.0], dtype=torch.float64)), "strictly increasing or strictly decreasing"),
    (dict(t=torch.zeros(2, 2, dtype=torch.float64)), "1-D"),
    (dict(t=torch.tensor([0.0, float("nan")], dtype=torch.float64)), "finite"),
    (dict(rtol=-1e-3), "non-negative"),
    (dict(atol=torch.ones(4, dtype=torch.float64)), "one value per state component"),
    (dict(rtol=0.0, atol=0.0), "must not both be zero"),
    (dict(y0=torch.tensor([1.0, float("inf")], dtype=torch.float64)), "NaN or infinite"),
    (dict(y0=torch.zeros(0, dtype=torch.float64)), "n >= 1"),
    (dict(max_steps=0), "max_steps"),
    (dict(first_step=-1.0), "first_step"),
    (dict(method="rodas6"), "unknown solver 'rodas6'"),
    (dict(options={"colour": 1}), "unknown option"),
    (dict(func=3), "callable"),
])
def test_bad_arguments(kwargs, message):
    arguments = dict(func=decay, y0=Y0, t=T)
    arguments.update(kwargs)
    with pytest.raises(kinetix.KinetixError, match=message):
        kinetix.odeint(arguments.pop("func"), arguments.pop("y0"), arguments.pop("t"), **arguments)


def test_shape_mismatch_in_the_right_hand_side_is_an_error():
    with pytest.raises(SolverError, match=r"func returned \(1, 2\) for y of shape \(1, 3\)"):
        kinetix.odeint(lambda t, y: y[..., :2], Y0, T)


def test_max_steps_names_the_member_and_keeps_the_others():
    y0 = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    rates = torch.tensor([[1.0], [1e6]], dtype=torch.float64)  # member 1 oscillates fast: many steps

    def field(t, y):
        return -y + torch.sin(rates[: len(y)] * t)

    with pytest.raises(SolverError, match=r"batch member \(1,\) failed at t = .* \(max_steps reached") as info:
        kinetix.odeint(field, y0, torch.linspace(0, 10, 3, dtype=torch.float64), max_steps=300, rtol=1e-8)
    error = info.value
    assert error.member == 1 and 0 <= error.t < 10
    solution = error.solution
    assert solution.status.tolist() == [Status.SUCCESS, Status.MAX_STEPS]
    alone = kinetix.odeint(field, y0[:1], torch.linspace(0, 10, 3, dtype=torch.float64), max_steps=300, rtol=1e-8)
    torch.testing.assert_close(solution.ys[:, 0], alone[:, 0], rtol=1e-13, atol=0)
    assert torch.isnan(solution.ys[-1, 1]).all()


def test_blow_up_ends_with_an_error_not_a_hang():
    """y' = y^2 from 1 is infinite at t = 1."""
    with pytest.raises(SolverError, match=r"failed at t = (0\.99\d*|1) \(step size underflow"):
        kinetix.odeint(lambda t, y: y * y, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64))


def test_non_finite_right_hand_side_is_reported():
    def poisoned(t, y):
        return torch.where(t > 0.5, torch.full_like(y, float("nan")), -y)

    solution = kinetix.solve(poisoned, Y0, T, raise_on_failure=False)
    assert int(solution.status[0]) == Status.NONFINITE
    assert 0.4 < float(solution.t_reached[0]) <= 0.5 + 1e-12
    assert torch.isfinite(solution.ys[:2]).all() and torch.isnan(solution.ys[-1]).all()


def test_scipy_reference_failure_is_reported():
    with pytest.raises(SolverError, match="scipy-bdf"):
        kinetix.odeint(lambda t, y: y * y, torch.ones(1, dtype=torch.float64),
                       torch.tensor([0.0, 2.0], dtype=torch.float64), method="scipy-bdf")


class Counted:
    """``decay`` that counts its calls (a refusal must come before any work)."""

    def __init__(self, shape=None, dtype=None):
        self.calls, self.shape, self.dtype = 0, shape, dtype

    def __call__(self, t, y):
        self.calls += 1
        value = -y if self.shape is None else torch.zeros(self.shape, dtype=y.dtype)
        return value if self.dtype is None else value.to(self.dtype)


@pytest.mark.parametrize("y0, message", [
    ((torch.ones(2, dtype=torch.float64), torch.ones(1, dtype=torch.float64)), "y0 is a tuple"),
    (torch.ones(3, dtype=torch.complex128), "y0 is complex"),
    (torch.ones(0, 3, dtype=torch.float64), r"empty batch \(shape \(0, 3\)\)"),
])
def test_unsupported_states_are_refused_before_work(y0, message):
    field = Counted()
    with pytest.raises(SolverError, match=message):
        kinetix.odeint(field, y0, T)
    assert field.calls == 0


def test_a_0d_state_is_one_component_as_in_torchdiffeq():
    ys = kinetix.odeint(lambda t, y: -2 * y, torch.tensor(1.0, dtype=torch.float64), T, rtol=1e-10, atol=1e-12)
    assert ys.shape == (len(T),)
    torch.testing.assert_close(ys, torch.exp(-2 * T), rtol=1e-8, atol=0)


@pytest.mark.parametrize("y0", [torch.ones(4, dtype=torch.float64), torch.ones(5, 2, dtype=torch.float64)])
def test_wrong_number_of_components_for_a_mechanism(robertson, y0):
    for func in (robertson, robertson.rhs):
        with pytest.raises(SolverError, match=rf"y0 has {y0.shape[-1]} components but mechanism 'robertson' has 3 "
                                              r"\(A, B, C\); pass y0 shaped \(\.\.\., 3\)"):
            kinetix.odeint(func, y0, T)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_low_precision_state_with_a_float64_mechanism_is_refused(robertson, dtype):
    with pytest.raises(SolverError, match=rf"y0 is {dtype} but func computes in torch.float64"):
        kinetix.odeint(robertson, robertson.initial_state().to(dtype), T)
    # simulate casts to the mechanism's dtype instead
    ys = kinetix.simulate(robertson, robertson.initial_state().to(dtype), T)
    assert ys.dtype == torch.float64


def test_a_jacobian_of_the_wrong_shape_is_refused():
    with pytest.raises(SolverError, match=r"the Jacobian returned \(1, 3\) for y of shape \(1, 3\): it must be shaped "
                                          r"\(1, 3, 3\)"):
        kinetix.odeint(decay, Y0, T, jac=lambda t, y: -y)


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 4),
       wrong=st.lists(st.integers(0, 5), min_size=0, max_size=3))
def test_any_field_of_the_wrong_shape_is_refused_before_work(batch, n, wrong):
    assume(tuple(wrong) != (math.prod(batch), n))  # the probe sees the flattened batch
    field = Counted(shape=tuple(wrong))
    with pytest.raises(SolverError, match="it must return dy/dt shaped like y"):
        kinetix.odeint(field, torch.ones(*batch, n, dtype=torch.float64), T)
    assert field.calls == 1  # the one probe, no integration
