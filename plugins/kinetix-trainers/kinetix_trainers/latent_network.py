"""A latent-space neural ODE: encoder of the full state, a small latent vector field, decoder.

The state is ``[T, Y_1 .. Y_K]`` or, for data over several pressures, ``[T, Y_1 .. Y_K, P]``.
Its exact invariants travel alongside the latent variables: the element amounts ``E Y`` (``E``
``(n_elements, K)``, moles of element per unit mass of species) and the pressure. The augmented
latent state is ``[z (latent), c (invariants, normalised)]``; the field's rows for ``c`` are zero, so
every integrator keeps them exactly, and the field and decoder see them as the conditions
(equivalence ratio, pressure) of the trajectory. The decoded mass fractions are projected onto the
element-conserving affine subspace ``E Y = E Y_initial`` (least change in the metric of
``y_scale``), and the decoded pressure is the initial one.

``forward(t, zc)`` / ``jacobian(t, zc)`` are the latent field (``(..., m)``, ``(..., m, m)``, ``m =
latent + invariants``); ``encode(y)`` ``(..., n) -> (..., m)`` and ``decode(zc)`` back.
"""

from __future__ import annotations

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.networks import ACTIVATIONS, ScaledMLP
from kinetix.networks.conserved import project


# The field sees its (normalised) latent input clamped to this bound: a trial step far outside the
# data cannot overflow the sinh output (and poison the gradient with inf * 0).
LATENT_BOUND = 50.0


class _MLP(nn.Module):
    """``depth`` hidden layers of ``width`` with ``activation``, linear output; it computes in its weights'
    ``dtype`` and answers in its input's."""

    def __init__(self, inputs: int, outputs: int, width: int, depth: int, activation: str,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        sizes = [inputs] + [width] * depth + [outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = ACTIVATIONS[activation].value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        given = x.dtype
        x = x.to(self.layers[0].weight.dtype)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x).to(given)


class LatentODE(nn.Module):
    """Encoder, latent field and decoder of a reduced surrogate (see the module docstring).

    Args:
        n_state: components of the full state (``1 + K``, plus 1 with ``pressure``).
        latent: number of learned latent variables.
        elements: ``(n_elements, K)`` element amounts per unit mass of each species, or ``[]``.
        pressure: whether the state's last component is the (constant) pressure [Pa].
        width, depth, activation: of the encoder, decoder and field networks.
        time_scale: [s], the field's unit of time (its outputs are ``sinh`` of the network's, per ``time_scale``).
    Buffers (set by the trainer, saved with the weights): ``state_shift``/``state_scale`` ``(n_state,)``
    (the networks see ``(y - shift) / scale``, pressure as ``log P``), ``invariant_shift``/``invariant_scale``.
    """

    autonomous = True

    def __init__(self, n_state: int, *, latent: int = 4, elements=(), pressure: bool = False, width: int = 32,
                 depth: int = 2, activation: str = "gelu", time_scale: float = 1.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        n_species = n_state - 1 - int(pressure)
        element_matrix = torch.as_tensor(elements, dtype=torch.float64).reshape(-1, n_species)
        if latent < 1 or n_species < 1:
            raise ConfigError(f"need latent >= 1 and at least one species; got latent={latent}, n_state={n_state}")
        self.config = {"n_state": n_state, "latent": latent, "elements": element_matrix.tolist(),
                       "pressure": pressure, "width": width, "depth": depth, "activation": activation,
                       "time_scale": time_scale}
        self.n_species, self.pressure, self.latent = n_species, pressure, latent
        self.n_invariants = element_matrix.shape[0] + int(pressure)
        self.latent_size = latent + self.n_invariants
        self.register_buffer("elements", element_matrix)
        self.register_buffer("state_shift", torch.zeros(n_state, dtype=torch.float64))
        self.register_buffer("state_scale", torch.ones(n_state, dtype=torch.float64))
        self.register_buffer("invariant_shift", torch.zeros(self.n_invariants, dtype=torch.float64))
        self.register_buffer("invariant_scale", torch.ones(self.n_invariants, dtype=torch.float64))
        self.register_buffer("moving", torch.cat([torch.ones(latent, dtype=torch.float64),
                                                  torch.zeros(self.n_invariants, dtype=torch.float64)]))
        self.encoder = _MLP(n_state, latent, width, depth, activation)
        self.decoder = _MLP(self.latent_size, 1 + n_species, width, depth, activation)
        self.field = ScaledMLP(self.latent_size, width=width, depth=depth, activation=activation, output="sinh",
                               time_scale=time_scale)

    def _network_input(self, y: torch.Tensor) -> torch.Tensor:
        if self.pressure:
            y = torch.cat([y[..., :-1], torch.log(y[..., -1:])], dim=-1)
        return (y - self.state_shift) / self.state_scale

    def invariants(self, y: torch.Tensor) -> torch.Tensor:
        """Raw invariants ``[E Y, log P]`` ``(..., n_invariants)`` of states ``y``."""
        parts = [y[..., 1:1 + self.n_species] @ self.elements.transpose(0, 1)]
        if self.pressure:
            parts.append(torch.log(y[..., -1:]))
        return torch.cat(parts, dim=-1)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        c = (self.invariants(y) - self.invariant_shift) / self.invariant_scale
        return torch.cat([self.encoder(self._network_input(y)), c], dim=-1)

    def decode(self, zc: torch.Tensor) -> torch.Tensor:
        raw = self.decoder(zc) * self.state_scale[:1 + self.n_species] + self.state_shift[:1 + self.n_species]
        c = zc[..., self.latent:] * self.invariant_scale + self.invariant_shift
        n_elements = self.elements.shape[0]
        temperature, y = raw[..., :1], raw[..., 1:]
        if n_elements:
            y = project(y, self.elements, self.state_scale[1:1 + self.n_species], c[..., :n_elements])
        parts = [temperature, y]
        if self.pressure:
            parts.append(torch.exp(c[..., -1:]))
        return torch.cat(parts, dim=-1)

    def forward(self, t, zc: torch.Tensor) -> torch.Tensor:
        return self.field(t, zc.clamp(-LATENT_BOUND, LATENT_BOUND)) * self.moving

    def jacobian(self, t, zc: torch.Tensor) -> torch.Tensor:
        inside = (zc.abs() <= LATENT_BOUND).to(zc.dtype).unsqueeze(-2)
        return self.field.jacobian(t, zc.clamp(-LATENT_BOUND, LATENT_BOUND)) * self.moving.unsqueeze(-1) * inside
