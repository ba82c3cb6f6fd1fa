"""Gradients through the stiff solver (backpropagation and adjoint) against central finite differences."""

import pytest
import torch

import kinetix
from kinetix.networks import ScaledMLP

T = torch.tensor([0.0, 1e-3, 0.1, 10.0], dtype=torch.float64)
WEIGHTS = torch.tensor([1.0, 1e4, 1.0], dtype=torch.float64)  # B is tiny: weight it up


def central_difference(loss, tensor, index, relative_step=1e-6):
    with torch.no_grad():
        original = tensor[index].item()
        step = relative_step * max(abs(original), 1e-3)
        tensor[index] = original + step
        plus = loss().item()
        tensor[index] = original - step
        minus = loss().item()
        tensor[index] = original
    return (plus - minus) / (2 * step)


def mechanism_loss(mech, y0, adjoint):
    options = {"adjoint_params": [mech.rate_constants]} if adjoint else None
    ys = kinetix.odeint(mech, y0, T, rtol=1e-10, atol=1e-14, adjoint=adjoint, options=options)
    return (ys * WEIGHTS).sum()


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradient_wrt_initial_state_and_rate_constants(robertson, adjoint):
    robertson.rate_constants.requires_grad_(True)
    y0 = torch.tensor([0.9, 1e-5, 0.1], dtype=torch.float64, requires_grad=True)
    grad_y0, grad_k = torch.autograd.grad(mechanism_loss(robertson, y0, adjoint), [y0, robertson.rate_constants])
    for i in range(3):
        fd = central_difference(lambda: mechanism_loss(robertson, y0, False), y0, i)
        assert grad_y0[i].item() == pytest.approx(fd, rel=1e-5)
        fd = central_difference(lambda: mechanism_loss(robertson, y0, False), robertson.rate_constants, i)
        assert grad_k[i].item() == pytest.approx(fd, rel=1e-5, abs=1e-6 * abs(grad_k).max().item())


def network_loss(field, adjoint, data):
    ys = kinetix.odeint(field, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), T, rtol=1e-9, atol=1e-13,
                        adjoint=adjoint)
    return ((ys[1:] - data).abs() * WEIGHTS).mean()


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradient_wrt_network_parameters(adjoint):
    torch.manual_seed(1)
    field = ScaledMLP(3, width=5, depth=2, output_scale=[1.0, 1e-4, 1.0], time_scale=10.0)
    data = torch.rand(3, 3, dtype=torch.float64) * torch.tensor([1.0, 1e-4, 1.0], dtype=torch.float64)
    params = list(field.parameters())
    grads = torch.autograd.grad(network_loss(field, adjoint, data), params)
    scale = max(g.abs().max().item() for g in grads)
    checked = 0
    for param, grad in zip(params, grads):
        for index in [(0,) * param.dim(), tuple(s - 1 for s in param.shape)]:
            fd = central_difference(lambda: network_loss(field, False, data), param, index)
            assert grad[index].item() == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale)
            checked += 1
    assert checked == 2 * len(params)


def test_adjoint_and_backpropagation_agree_on_a_batch(robertson):
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.7, 0.0, 0.3]], dtype=torch.float64, requires_grad=True)
    results = []
    for adjoint in (False, True):
        ys = kinetix.odeint(robertson, y0, T, rtol=1e-9, atol=1e-14, adjoint=adjoint)
        results.append(torch.autograd.grad((ys * WEIGHTS).sum(), y0)[0])
    torch.testing.assert_close(results[1], results[0], rtol=1e-6, atol=0)


def test_a_rejected_attempt_that_overflows_leaves_the_gradient_finite():
    # float32 Robertson at rtol 1e-4: an early attempt overflows and is rejected; backpropagating its zero
    # cotangent through the step met 0 * inf and gave NaN for the shared rate constants
    from test_compiled_gradient import RateConstants

    y0 = [[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1]]
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-4, 2, 8, dtype=torch.float64)])
    gradients = {}
    for dtype in (torch.float32, torch.float64):
        field = RateConstants().to(dtype)
        ys = kinetix.odeint(field, torch.tensor(y0, dtype=dtype), t.to(dtype), rtol=1e-4, atol=1e-7)
        (gradients[dtype],) = torch.autograd.grad((ys * WEIGHTS.to(dtype)).sum(), field.log_k)
    assert torch.isfinite(gradients[torch.float32]).all()
    torch.testing.assert_close(gradients[torch.float32].double(), gradients[torch.float64], rtol=2e-2, atol=0)
