"""The scaled multilayer perceptron of stiff neural ODEs."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .activations import ACTIVATIONS


class ScaledMLP(nn.Module):
    """``dy/dt = g(MLP((y - input_shift) / input_scale)) * output_scale / time_scale``.

    ``g`` is the identity (``output="linear"``) or ``sinh`` (``output="sinh"``): with ``sinh`` the
    network outputs the asinh of the rate, so rates that span decades are all resolved to the same
    relative precision (choose a small ``output_scale``: the rate below which precision is
    absolute).

    ``input="asinh"`` feeds ``asinh((y - input_shift) / (input_floor * input_scale))`` instead of the
    affine ``(y - input_shift) / input_scale``: a signed logarithm that resolves species across
    decades and is defined at zero (linear below ``input_floor * input_scale``).

    ``depth`` hidden layers of ``width`` units with ``activation`` (GELU by default), linear
    output. Scales are buffers (saved with the model), shaped ``(n,)`` except the scalar
    ``time_scale``; the defaults (shift 0, scales 1) give a plain MLP. ``jacobian`` is analytic,
    so stiff solvers get it in one pass.

    Shapes: ``y`` ``(..., n)`` → ``(..., n)``; ``t`` is ignored (the field is autonomous).
    """

    autonomous = True

    def __init__(self, n_species: int, *, width: int = 5, depth: int = 6, activation: str = "gelu",
                 output: str = "linear", input: str = "affine", input_floor: float = 1e-3, input_shift=None,
                 input_scale=None, output_scale=None, time_scale: float = 1.0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if output not in ("linear", "sinh"):
            raise ConfigError(f"unknown output {output!r}; choose 'linear' or 'sinh'")
        self.sinh_output = output == "sinh"
        if input not in ("affine", "asinh"):
            raise ConfigError(f"unknown input {input!r}; choose 'affine' or 'asinh'")
        if not 0 < input_floor < float("inf"):
            raise ConfigError(f"input_floor must be positive, got {input_floor}")
        self.asinh_input = input == "asinh"
        if n_species < 1 or width < 1 or depth < 0:
            raise ConfigError(f"need n_species >= 1, width >= 1, depth >= 0; got {n_species}, {width}, {depth}")
        self.config = {"n_species": n_species, "width": width, "depth": depth, "activation": activation,
                       "output": output, "input": input, "input_floor": input_floor}
        self.activation = ACTIVATIONS[activation]
        sizes = [n_species] + [width] * depth + [n_species]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:]))

        def vector(value, default):
            tensor = torch.full((n_species,), default, dtype=dtype) if value is None else torch.as_tensor(value, dtype=dtype)
            if tensor.shape != (n_species,) or not torch.isfinite(tensor).all():
                raise ConfigError(f"scales must be finite vectors of length {n_species}, got {tensor.tolist()}")
            return tensor.clone()

        self.register_buffer("input_shift", vector(input_shift, 0.0))
        self.register_buffer("input_scale", vector(input_scale, 1.0))
        self.input_unit = input_floor if self.asinh_input else 1.0  # y - input_shift in input_scale's units
        self.register_buffer("output_scale", vector(output_scale, 1.0))
        self.register_buffer("time_scale", torch.tensor(float(time_scale), dtype=dtype))
        if (self.input_scale <= 0).any() or self.time_scale <= 0:
            raise ConfigError("input_scale and time_scale must be positive")

    def _weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(layer.weight, layer.bias) for layer in self.layers]

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """The bare MLP on normalised inputs ``x`` ``(..., n)``."""
        *hidden, (weight, bias) = self._weights()
        for w, b in hidden:
            x = self.activation.value(F.linear(x, w, b))
        return F.linear(x, weight, bias)

    def _normalised(self, y: torch.Tensor) -> torch.Tensor:
        return self._normalised_with_slope(y)[0]

    def _normalised_with_slope(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's input ``x`` and ``d x / d y`` ``(..., n)`` (the normalisation is diagonal)."""
        unit = self.input_scale * self.input_unit
        u = (y - self.input_shift) / unit
        if not self.asinh_input:
            return u, (1.0 / unit).expand_as(y)
        return torch.asinh(u), 1.0 / (unit * torch.sqrt(1.0 + u * u))

    def forward(self, t, y: torch.Tensor) -> torch.Tensor:
        z = self.network(self._normalised(y))
        if self.sinh_output:
            z = torch.sinh(z)
        return z * (self.output_scale / self.time_scale)

    def jacobian(self, t, y: torch.Tensor) -> torch.Tensor:
        """``d forward / d y`` shaped ``(..., n, n)``, by the chain rule through the layers."""
        x, input_slope = self._normalised_with_slope(y)
        input_slope = input_slope.unsqueeze(-2)
        jac = None  # d x / d y, None meaning diag(input_slope)
        *hidden, (last, _) = self._weights()
        for w, b in hidden:
            z = F.linear(x, w, b)
            slope = self.activation.derivative(z).unsqueeze(-1)
            jac = slope * (w * input_slope if jac is None else w @ jac)
            x = self.activation.value(z)
        out = last * input_slope if jac is None else last @ jac
        scale = self.output_scale / self.time_scale
        if self.sinh_output:
            scale = scale * torch.cosh(F.linear(x, last, self.layers[-1].bias))
        return out * scale.unsqueeze(-1)
