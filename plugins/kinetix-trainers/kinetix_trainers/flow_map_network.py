"""A learned flow map of adiabatic constant-pressure chemistry: ``(state, dt) -> state after dt`` in one
network evaluation, the reaction step of a flow solver without time steps of its own.

The state is ``y = [T, Y_1 .. Y_K, P]`` [K, -, Pa]. An MLP of the features
``[T, Y, ln(Y_k + floor), ln P, ln dt]`` (each normalised by the trainer's shift and scale) predicts the
mean rate ``dY / dt`` of the mass fractions over the step in units of ``output_scale`` ``(K,)`` [1/s]; then

- ``dY`` is projected onto ``E dY = 0`` (the element amounts, hence the mass, are those of ``y`` to
  rounding; species that change more absorb more of the correction), alternately with raising every
  ``Y + dY`` below zero to zero, ``FEASIBLE`` rounds ending with the projection (a species the step would
  consume beyond zero mostly stops near it, measured in docs/cantera.md §3.5),
- ``T`` solves ``h(T, Y + dY) = h(y)`` by Newton on the NASA-7 polynomials (the enthalpy of ``y`` is kept),
- ``P`` is kept.

Time steps: the map is trained on the steps ``dt`` a flow solver uses (:attr:`FlowMap.dt_min` to
:attr:`FlowMap.dt_max`); a step shorter than ``dt_min`` takes the mean rate over ``dt_min``,
a step longer than ``dt_max`` (beyond a relative ``SLACK`` for rounding), a negative or a non-finite one
comes back as NaN from :meth:`FlowMap.advance` (the reaction-step contract for a cell to hand back to the
direct chemistry); :meth:`FlowMap.trajectory` takes equal steps of at most ``dt_max``. The map has no vector
field: solvers of :func:`kinetix.solve` cannot integrate it.

Shapes: ``y`` ``(..., 2 + K)``, ``dt`` ``(...,)`` or ``()``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kinetix.errors import ConfigError, SolverError
from kinetix.networks import ACTIVATIONS
from kinetix.networks.conserved import project

from .latent_network import _MLP
from .progress_network import network_dtype
from .thermo import MixtureThermo

FLOW_MAP = "flowmap"   # the method name of a flow map integrating itself (Surrogate.simulate, the reaction step)
NEWTON = 5             # Newton iterations for T from h, starting at the state's own T
FEASIBLE = 10         # rounds of (no mass fraction below zero, elements kept) on the predicted change
SLACK = 1e-9           # relative: a step up to dt_max (1 + SLACK) counts as dt_max (times' rounding)


class FlowMap(nn.Module):
    """The flow map (see the module docstring).

    Args:
        n_state: ``2 + K``; molecular_weights ``(K,)`` [kg/kmol]; nasa_low, nasa_high ``(K, 7)``, nasa_mid ``(K,)`` [K]:
            NASA-7 thermodynamics; elements: ``(n_elements, K)`` [kmol/kg], the amounts the step keeps.
        dt_min, dt_max: the range of steps [s] the map was trained on.
        floor: of the features ``ln(Y_k + floor)``.
        width, depth, activation, precision: of the MLP (``"float32"`` arithmetic is several times faster).
    Buffers set by the trainer: ``feature_shift``/``feature_scale`` ``(2K + 3,)``, ``output_scale`` ``(K,)`` [1/s].
    """

    autonomous = True
    integrators = (FLOW_MAP,)

    def __init__(self, n_state: int, *, molecular_weights, nasa_low, nasa_high, nasa_mid, elements,
                 dt_min: float, dt_max: float, floor: float = 1e-12, width: int = 128, depth: int = 4,
                 activation: str = "silu", precision: str = "float32"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if not 0 < dt_min <= dt_max:
            raise ConfigError(f"flow map: need 0 < dt_min <= dt_max, got {dt_min} and {dt_max}")
        f64 = dict(dtype=torch.float64)
        weights = torch.as_tensor(molecular_weights, **f64)
        n_species = weights.shape[0]
        if n_state != n_species + 2:
            raise ConfigError(f"flow map: the state is [T, Y_1..Y_K, P], {n_species + 2} components, got n_state={n_state}")
        element_matrix = torch.as_tensor(elements, **f64).reshape(-1, n_species)
        self.config = {"n_state": n_state, "molecular_weights": weights.tolist(),
                       "nasa_low": torch.as_tensor(nasa_low, **f64).tolist(),
                       "nasa_high": torch.as_tensor(nasa_high, **f64).tolist(),
                       "nasa_mid": torch.as_tensor(nasa_mid, **f64).tolist(), "elements": element_matrix.tolist(),
                       "dt_min": float(dt_min), "dt_max": float(dt_max), "floor": float(floor), "width": width,
                       "depth": depth, "activation": activation, "precision": precision}
        self.n_species, self.latent_size = n_species, n_state     # it works on the state itself
        self.dt_min, self.dt_max, self.floor = float(dt_min), float(dt_max), float(floor)
        self.thermo = MixtureThermo(weights, nasa_low, nasa_high, nasa_mid)
        self.register_buffer("elements", element_matrix)
        n_features = 2 * n_species + 3
        self.register_buffer("feature_shift", torch.zeros(n_features, **f64))
        self.register_buffer("feature_scale", torch.ones(n_features, **f64))
        self.register_buffer("output_scale", torch.ones(n_species, **f64))
        self.network = _MLP(n_features, n_species, width, depth, activation, network_dtype(precision))

    def set_precision(self, precision: str) -> None:
        """The MLP's arithmetic, ``"float64"`` or ``"float32"``."""
        self.network.to(network_dtype(precision))
        self.config["precision"] = precision

    def features(self, y: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """The unnormalised features ``[T, Y, ln(Y + floor), ln P, ln dt]`` ``(..., 2K + 3)``."""
        Y = y[..., 1:1 + self.n_species]
        return torch.cat([y[..., :1], Y, torch.log(Y.clamp(min=0.0) + self.floor), y[..., -1:].log(),
                          dt.log()[..., None]], dim=-1)

    def rate(self, y: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """The predicted mean rate ``dY / dt`` [1/s] ``(..., K)`` over ``dt`` ``(...,)`` [s] within ``[dt_min, dt_max]``,
        before projection."""
        x = (self.features(y, dt) - self.feature_shift) / self.feature_scale
        return self.network(x) * self.output_scale

    @property
    def step_range(self) -> dict:
        """``{"dt_min", "dt_max"}`` [s]: the steps the map was trained on."""
        return {"dt_min": self.dt_min, "dt_max": self.dt_max}

    def advance(self, y: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """States ``(..., 2 + K)`` after ``dt`` [s] ``(...,)`` or ``()``, elements, enthalpy and pressure of ``y``
        kept; NaN where ``dt`` is negative, not finite or beyond ``dt_max`` (see the module docstring)."""
        dt = dt.to(y.dtype).expand(y.shape[:-1])
        usable = (dt >= 0) & (dt <= self.dt_max * (1 + SLACK))
        rate = self.rate(y, torch.where(usable, dt, torch.zeros_like(dt)).clamp(min=self.dt_min))
        k = 1 + self.n_species
        floor = -y[..., 1:k].clamp(min=0.0)
        dY = rate * dt[..., None]
        # x @ projection = P x, P onto E dY = 0 (one factorisation per call; ConservedField's form)
        projection = project(torch.eye(self.n_species, dtype=y.dtype, device=y.device), self.elements, self.output_scale)
        for _ in range(FEASIBLE):   # alternately no species below zero and the elements kept: ends on the elements
            dY = torch.maximum(dY, floor) @ projection
        Y = y[..., 1:k] + dY
        T = self.thermo.temperature(self.thermo.enthalpy(y[..., 0], y[..., 1:k]), Y, y[..., 0], NEWTON)
        moved = torch.cat([T[..., None], Y, y[..., k:]], dim=-1)
        return torch.where(usable[..., None], moved, torch.full_like(moved, math.nan))

    def forward(self, t, y: torch.Tensor) -> torch.Tensor:
        raise SolverError(f"a flow map has no vector field for a solver to integrate: use method {FLOW_MAP!r} "
                          "(the surrogate's default; kinetix simulate/export without --method)")

    def jacobian(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.forward(t, y)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """The state itself (the map needs no latent variables)."""
        return y

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def combine(self, y: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """The state after the step, ``after`` itself (the reaction step's ``y + after - before`` only to rounding)."""
        return after

    def trajectory(self, y0: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """States ``(T, N, 2 + K)`` at ``times`` ``(T,)`` [s] after ``y0`` ``(N, 2 + K)``: between output times,
        equal steps of at most ``dt_max``."""
        values = times.tolist()
        if any(b < a for a, b in zip([0.0, *values], values)):
            raise SolverError(f"a flow map steps forward only: the output times must start at or after the initial "
                              f"state and increase, got {values[:4]}{' ...' if len(values) > 4 else ''}")
        states, y, previous = [], y0, 0.0
        for time in values:
            span = time - previous
            count = max(1, math.ceil(span / self.dt_max))
            while span / count > self.dt_max:
                count += 1
            for _ in range(count if span > 0 else 0):
                y = self.advance(y, torch.tensor(span / count, dtype=y.dtype))
            states.append(y)
            previous = time
        return torch.stack(states)
