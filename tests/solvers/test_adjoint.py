"""Adjoint gradients are complete or refused: with respect to y0, t, every parameter, in both time
directions, against backpropagation and torch.autograd.gradcheck (float64)."""

import pytest
import torch

import kinetix
from kinetix.errors import SolverError
from kinetix.solvers.base import Status

TIGHT = dict(rtol=1e-11, atol=1e-14)
MATRIX = torch.tensor([[-2.0, 1.0], [0.5, -30.0]], dtype=torch.float64)


def forced(t, y):
    """A stiff linear system with a time-dependent source: df/dt matters."""
    return y @ MATRIX.T + torch.cat([torch.sin(3 * t), torch.cos(t)], dim=-1)


@pytest.mark.slow
@pytest.mark.parametrize("times", [[0.0, 0.3, 1.0], [1.0, 0.9, 0.8]], ids=["increasing", "decreasing"])
def test_gradcheck_with_respect_to_y0_and_t(times):
    y0 = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
    t = torch.tensor(times, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([[0.0, 0.0], [1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)  # y(t0) = y0 exactly

    def loss(y0, t):
        return (kinetix.odeint(forced, y0, t, adjoint=True, **TIGHT) * weights).sum()

    assert torch.autograd.gradcheck(loss, (y0, t), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_time_gradient_equals_backpropagation():
    y0 = torch.tensor([[1.0, -0.5], [0.2, 0.3]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.2, 1.5], dtype=torch.float64, requires_grad=True)
    weights = torch.rand(3, 2, 2, dtype=torch.float64)
    grads = [torch.autograd.grad((kinetix.odeint(forced, y0, t, adjoint=adjoint, rtol=1e-9, atol=1e-12)
                                  * weights).sum(), [y0, t])
             for adjoint in (False, True)]
    for backprop, adjoint in zip(*grads):
        torch.testing.assert_close(adjoint, backprop, rtol=1e-6, atol=1e-10)


def test_a_closure_capturing_a_tensor_that_requires_grad_is_refused_or_differentiated():
    rate = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def decay(t, y):
        return -rate * y

    with pytest.raises(SolverError, match=r"tensor\(s\) of shape \(\) that require grad .* adjoint_params=\["):
        kinetix.odeint(decay, y0, t, adjoint=True)
    ys = kinetix.odeint(decay, y0, t, adjoint=True, adjoint_params=[rate], **TIGHT)
    (grad,) = torch.autograd.grad(ys[-1, 0], rate)
    assert grad.item() == pytest.approx(-torch.exp(torch.tensor(-3.0)).item(), rel=1e-7)  # d/dk e^-k


def test_a_derived_adjoint_parameter_passes_its_gradient_on():
    log_rate = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    rate = log_rate.exp()
    ys = kinetix.odeint(lambda t, y: -rate * y, torch.ones(1, dtype=torch.float64),
                        torch.tensor([0.0, 1.0], dtype=torch.float64), adjoint=True, adjoint_params=[rate], **TIGHT)
    (grad,) = torch.autograd.grad(ys[-1, 0], log_rate)
    k = rate.item()
    assert grad.item() == pytest.approx(-k * torch.exp(torch.tensor(-k)).item(), rel=1e-7)


class Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2, dtype=torch.float64)

    def forward(self, t, y):
        return -torch.tanh(self.linear(y)) - y


@pytest.mark.parametrize("times", [[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]], ids=["increasing", "decreasing"])
def test_module_parameters_get_their_gradient_in_both_directions(times):
    torch.manual_seed(3)
    field = Field()
    y0 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    t = torch.tensor(times, dtype=torch.float64)
    params = list(field.parameters())
    grads = [torch.autograd.grad(kinetix.odeint(field, y0, t, adjoint=adjoint, **TIGHT).square().sum(), params)
             for adjoint in (False, True)]
    for backprop, adjoint in zip(*grads):
        assert backprop.abs().max() > 1e-3
        torch.testing.assert_close(adjoint, backprop, rtol=1e-7, atol=1e-12)


def test_simulate_finds_the_rate_constants(robertson):
    robertson.rate_constants.requires_grad_(True)
    t = torch.tensor([0.0, 1e-2, 1.0], dtype=torch.float64)
    weights = torch.tensor([1.0, 1e4, 1.0], dtype=torch.float64)
    grads = [torch.autograd.grad((kinetix.simulate(robertson, t=t, adjoint=adjoint, rtol=1e-9, atol=1e-15)
                                  * weights).sum(), robertson.rate_constants)[0] for adjoint in (False, True)]
    assert grads[0].abs().min() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("adjoint", [False, True])
def test_a_failed_member_has_zero_gradient_when_left_out_and_nan_when_used(adjoint):
    """Member 1 oscillates fast and runs out of steps; a loss on member 0 alone gets exactly the
    gradient member 0 has when solved alone (also for the shared parameter)."""
    rate = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    frequencies = torch.tensor([[1.0], [1e6]], dtype=torch.float64)

    def field(t, y):
        return -rate * y + torch.sin(frequencies[: len(y)] * t)

    y0 = torch.ones(2, 1, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 2, 3, dtype=torch.float64)
    options = dict(rtol=1e-8, atol=1e-12, adjoint=adjoint, adjoint_params=[rate] if adjoint else None,
                   raise_on_failure=False, max_steps=300)
    together = kinetix.solve(field, y0, t, **options)
    assert together.status.tolist() == [Status.SUCCESS, Status.MAX_STEPS]
    grad_y0, grad_rate = torch.autograd.grad(together.ys[:, 0].sum(), [y0, rate])
    assert grad_y0[1].item() == 0.0
    alone = kinetix.solve(field, y0[:1], t, **options)
    expected = torch.autograd.grad(alone.ys[:, 0].sum(), [y0, rate])
    torch.testing.assert_close(grad_y0[0], expected[0][0], rtol=1e-10, atol=0)
    torch.testing.assert_close(grad_rate, expected[1], rtol=1e-10, atol=0)
    if adjoint:  # the loss uses the failed member (its reached part): NaN, not a partial gradient
        together = kinetix.solve(field, y0, t, **options)
        grad_y0, grad_rate = torch.autograd.grad(together.ys.nansum(), [y0, rate])
        assert torch.isnan(grad_y0[1]).all() and torch.isnan(grad_rate) and torch.isfinite(grad_y0[0]).all()
