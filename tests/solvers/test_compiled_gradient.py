"""The gradient of a whole compiled solve (a discrete adjoint as compiled programs) equals
backpropagation through the eager loop's steps, to rounding."""

import warnings

import pytest
import torch

import kinetix
from kinetix.solvers import compiled_gradient
from test_loop import robertson, robertson_jacobian

pytestmark = pytest.mark.slow  # each problem compiles a forward and a backward program: minutes


class RateConstants(torch.nn.Module):
    """Robertson's equations with learnable log rate constants."""

    def __init__(self):
        super().__init__()
        self.log_k = torch.nn.Parameter(torch.tensor([0.04, 3e7, 1e4], dtype=torch.float64).log())

    def forward(self, t, y):
        k1, k2, k3 = self.log_k.exp().unbind()
        a, b, c = y.unbind(-1)
        return torch.stack([-k1 * a + k3 * b * c, k1 * a - k3 * b * c - k2 * b * b, k2 * b * b], -1)


def loss_and_gradients(func, y0, t, inputs, **options):
    ys = kinetix.odeint(func, y0, t, rtol=1e-6, atol=1e-10, **options)
    loss = (ys * torch.linspace(1, 2, ys.numel(), dtype=ys.dtype).view(ys.shape)).sum()
    return ys, torch.autograd.grad(loss, inputs)


def test_parameter_and_initial_state_gradients_equal_backpropagation_through_the_eager_steps():
    field = RateConstants()
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1]], dtype=torch.float64,
                      requires_grad=True)  # a batch of 3, padded to 4 inside
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-4, 3, 12, dtype=torch.float64)])
    inputs = (y0, field.log_k)
    eager_ys, eager = loss_and_gradients(field, y0, t, inputs)
    ys, compiled = loss_and_gradients(field, y0, t, inputs, options={"compile": "solve"})
    steps = kinetix.solve(field, y0.detach(), t, rtol=1e-6, atol=1e-10).stats.steps
    assert int(steps.max()) > compiled_gradient.CHUNK  # the records span two chunks
    torch.testing.assert_close(ys, eager_ys, rtol=1e-9, atol=1e-20)
    for got, expected in zip(compiled, eager):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10 * float(expected.abs().max()))


def test_a_tensor_the_field_captures_keeps_its_gradient_through_the_step_by_step_path():
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)

    def field(t, y):  # scale is no module's parameter: the compiled backward could not see it
        return robertson(t, y) * scale

    y0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 10.0], dtype=torch.float64)
    options = dict(jac=lambda t, y: robertson_jacobian(t, y) * scale)
    _, eager = loss_and_gradients(field, y0, t, (scale,), **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, compiled = loss_and_gradients(field, y0, t, (scale,), options={"compile": "solve"}, **options)
    assert not [w for w in caught if "compile='solve'" in str(w.message)]  # the designed path, not a failure
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-9, atol=0)
