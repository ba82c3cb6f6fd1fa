"""Activation functions with their derivatives (for analytic network Jacobians)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class Activation:
    """``value(x)`` and its elementwise derivative ``derivative(x)``; both differentiable."""

    name: str
    value: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]


def _gelu_derivative(x):
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def _gelu_tanh_derivative(x):
    inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
    tanh = torch.tanh(inner)
    return 0.5 * (1.0 + tanh) + 0.5 * x * (1.0 - tanh * tanh) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)


def _tanh_derivative(x):
    return 1.0 - torch.tanh(x) ** 2


def _softplus_derivative(x):
    return torch.sigmoid(x)


def _silu_derivative(x):
    sigmoid = torch.sigmoid(x)
    return sigmoid * (1.0 + x * (1.0 - sigmoid))


ACTIVATIONS = {
    activation.name: activation
    for activation in (
        Activation("gelu", torch.nn.functional.gelu, _gelu_derivative),
        Activation("gelu_tanh", lambda x: torch.nn.functional.gelu(x, approximate="tanh"), _gelu_tanh_derivative),
        Activation("tanh", torch.tanh, _tanh_derivative),
        Activation("softplus", torch.nn.functional.softplus, _softplus_derivative),
        Activation("silu", torch.nn.functional.silu, _silu_derivative),
    )
}
