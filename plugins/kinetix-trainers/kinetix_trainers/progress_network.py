"""A progress-variable surrogate of adiabatic constant-pressure ignition: one learned latent variable.

A closed adiabatic reactor at constant pressure keeps its element amounts ``e = E Y`` [kmol/kg], its
mass enthalpy ``h(T, Y)`` [J/kg] and its pressure ``P`` [Pa]; an ignition from an unburnt mixture is a
curve in state space fixed by them. The state is ``y = [T, Y_1 .. Y_K, P]``; the latent state is

    ``zc = [u, sign, s_end, v, T_eq, Y_eq]``, ``s_end - s = sign exp(u)``, ``s = ln(c + floor)``,
    ``c = sum of Y_k over the progress species`` (monotone along an ignition),
    ``v = (invariants - invariant_shift) / invariant_scale``,
    ``invariants = [e (n_elements), h, ln P, 1000 / T0, ln(e_j / e_ref) (ratio elements)]``,
    ``T_eq``, ``Y_eq`` the equilibrium state of ``e``, ``h`` and ``P`` and ``s_end`` its progress,

all exact functions of ``y`` (the equilibrium by :class:`~.equilibrium.Equilibrium`): ``T0`` is the temperature at which the unburnt mixture of the same
elements (the ``unburnt`` species, ``Y_u = e @ unburnt_map``) has enthalpy ``h`` (Newton on the NASA-7
polynomials). The features of the networks are ``[sigma, ln P, 1000 / T0, ratios]`` (normalised,
``sigma = (s - s_shift) / s_scale``).

- field: ``ds/dt = exp(g(features) * rate_scale + rate_shift) * (1 - exp(s - s_end))``, ``g`` an MLP: the
  rate vanishes at ``s_end``, a stable rest point. Written for ``u``: ``du/dt = -exp(g) phi(d)`` with
  ``d = s_end - s`` and ``phi(d) = (1 - exp(-d)) / d > 0``, so that the exponential approach to ``s_end``
  (stiff in ``s``) is a straight line; only ``u`` moves, so every integrator keeps the invariants.
  :meth:`ProgressODE.trajectory` and :meth:`ProgressODE.advance` integrate it without time steps
  (:mod:`.progress_time`);
- decoder: the straight line from the unburnt state ``[T0, Y_u]`` to the equilibrium ``[T_eq, Y_eq]`` at the
  fraction ``c / c_eq`` of the way, plus an MLP's departure of ``Y`` from it weighted by
  ``c / (c + gate) (1 - c / c_eq)``: the decoded state is the unburnt one at ``c = 0`` and barely moves
  while ``c`` is tiny (a decoder error there, times the large ``ds/dt`` of the first microsecond, would
  otherwise be a spurious dT/dt peak), and it is the exact equilibrium at ``s_end``. ``Y`` is projected
  onto ``E Y = e`` and ``sum_progress Y = c`` (least change in the metric of ``y_weight``), ``T`` solves
  ``h(T, Y) = h`` (Newton from the line's ``T``) and ``P = exp(ln P)``: elements, progress, enthalpy and
  pressure are those of ``zc`` to rounding;
- ``combine(y, before, after)``: the state after a step, ``Y + after_Y - before_Y`` with ``T`` from
  ``h(y)`` by Newton, so a step keeps the elements and the enthalpy of ``y`` and the decoder's error
  cancels as the step shrinks.

Shapes: ``y`` ``(..., 2 + K)``, ``zc`` ``(..., m)`` with ``m = 4 + n_invariants + K``.
"""

from __future__ import annotations

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.networks import ACTIVATIONS
from kinetix.networks.conserved import project

from . import progress_time
from .equilibrium import ITERATIONS as EQUILIBRIUM_ITERATIONS, Equilibrium
from .latent_network import _MLP
from .thermo import MixtureThermo

NEWTON_ENCODE = 12   # Newton iterations for T0 from T (monotone convergence from above)
NEWTON_DECODE = 4    # Newton iterations for T from the line's guess (H2/air: 1e-12 K from 5)
RATE_BOUND = 60.0    # |ln rate| clamp: a trial step far outside the data cannot overflow
TINY = 1e-300        # |s_end - s| floor of u = ln|s_end - s|
EQUILIBRIUM_RISE = 1500.0  # K above T0: where the equilibrium solve of encode() starts
HEAD = 3             # latent components before the invariants: u, sign, s_end
PRECISIONS = {"float64": torch.float64, "float32": torch.float32}
SERIES = 1e-3        # |d| below which relaxation() and its slope use their Taylor series


def network_dtype(precision: str) -> torch.dtype:
    """The dtype of a ``precision`` name (``"float64"`` or ``"float32"``)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def relaxation(d: torch.Tensor) -> torch.Tensor:
    """``phi(d) = (1 - exp(-d)) / d`` (``1`` at ``d = 0``), positive: ``ds/dt = exp(g) d phi(d)``."""
    d = d.clamp(min=-RATE_BOUND)
    small = d.abs() < SERIES
    safe = torch.where(small, torch.ones_like(d), d)
    return torch.where(small, 1 - d * (1 / 2 - d * (1 / 6 - d * (1 / 24 - d / 120))), -torch.expm1(-safe) / safe)


def relaxation_slope(d: torch.Tensor) -> torch.Tensor:
    """``phi'(d) = (exp(-d) - phi(d)) / d``."""
    d = d.clamp(min=-RATE_BOUND)
    small = d.abs() < SERIES
    safe = torch.where(small, torch.ones_like(d), d)
    return torch.where(small, -1 / 2 + d * (1 / 3 - d * (1 / 8 - d / 30)), (torch.exp(-safe) - relaxation(safe)) / safe)


class _ScalarMLP(nn.Module):
    """``depth`` hidden layers of ``width``, one linear output; ``gradient`` is analytic. It computes in its
    weights' ``dtype`` and answers in its input's."""

    def __init__(self, inputs: int, width: int, depth: int, activation: str, dtype: torch.dtype = torch.float64):
        super().__init__()
        sizes = [inputs] + [width] * depth + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., inputs)`` → ``(...,)``."""
        given = x.dtype
        x = x.to(self.layers[0].weight.dtype)
        for layer in self.layers[:-1]:
            x = self.activation.value(layer(x))
        return self.layers[-1](x).squeeze(-1).to(given)

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``d forward / d x`` ``(..., inputs)``."""
        given = x.dtype
        x = x.to(self.layers[0].weight.dtype)
        jac = None
        for layer in self.layers[:-1]:
            z = layer(x)
            slope = self.activation.derivative(z).unsqueeze(-1)
            jac = slope * (layer.weight if jac is None else layer.weight @ jac)
            x = self.activation.value(z)
        return (self.layers[-1].weight @ jac).squeeze(-2).to(given)


class ProgressODE(nn.Module):
    """Encoder, progress rate and decoder (see the module docstring).

    Args:
        molecular_weights: ``(K,)`` [kg/kmol]; nasa_low, nasa_high: ``(K, 7)`` NASA-7 coefficients;
            nasa_mid: ``(K,)`` [K], the low range applies up to and including it (as Cantera).
        elements: ``(n_elements, K)`` element amounts per unit mass of each species [kmol/kg].
        unburnt_map: ``(n_elements, K)``, unburnt mass fractions ``Y_u = e @ unburnt_map``.
        progress: ``(K,)`` 0/1, the species whose mass fractions sum to the progress variable ``c``.
        ratio_elements: indices of the elements whose ``ln(e_j / e_ref)`` are features; ratio_reference: ``ref``.
        y_weight: ``(K,)`` the projection's metric (large: the species that absorb the correction).
        floor: of ``s = ln(c + floor)``.
        gate: the decoded departure from the unburnt state is weighted by ``c / (c + gate)``.
        width, depth, activation: of the networks.
        equilibrium_iterations: of the equilibrium solve in :meth:`encode` (the trainer sets the fewest that
            converge on its data, plus a margin).
        precision: ``"float64"`` or ``"float32"``, the networks' arithmetic (all else is float64):
            :meth:`set_precision` changes it after training.
    Buffers set by the trainer: ``s_shift``, ``s_scale``, ``invariant_shift``/``invariant_scale``,
    ``rate_shift``/``rate_scale`` (of ``g``), ``output_shift``/``output_scale`` ``(K,)`` (of the decoder's departure).
    """

    autonomous = True
    integrators = ("quadrature",)   # integrates itself (trajectory, advance): kinetix.surrogate.integrate

    def __init__(self, n_state: int, *, molecular_weights, nasa_low, nasa_high, nasa_mid, elements, unburnt_map,
                 progress, ratio_elements=(), ratio_reference: int = 0, y_weight=None, floor: float = 1e-12,
                 gate: float = 1e-8, width: int = 64, depth: int = 3, activation: str = "gelu",
                 precision: str = "float64", equilibrium_iterations: int = EQUILIBRIUM_ITERATIONS):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        f64 = dict(dtype=torch.float64)
        weights = torch.as_tensor(molecular_weights, **f64)
        n_species = weights.shape[0]
        if n_state != n_species + 2:
            raise ConfigError(f"progress: the state is [T, Y_1..Y_K, P], {n_species + 2} components, got n_state={n_state}")
        element_matrix = torch.as_tensor(elements, **f64).reshape(-1, n_species)
        progress_vector = torch.as_tensor(progress, **f64)
        if not progress_vector.any():
            raise ConfigError("progress: name at least one progress species")
        self.config = {"n_state": n_state, "molecular_weights": weights.tolist(),
                       "nasa_low": torch.as_tensor(nasa_low, **f64).tolist(),
                       "nasa_high": torch.as_tensor(nasa_high, **f64).tolist(),
                       "nasa_mid": torch.as_tensor(nasa_mid, **f64).tolist(), "elements": element_matrix.tolist(),
                       "unburnt_map": torch.as_tensor(unburnt_map, **f64).tolist(), "progress": progress_vector.tolist(),
                       "ratio_elements": [int(i) for i in ratio_elements], "ratio_reference": int(ratio_reference),
                       "y_weight": None if y_weight is None else torch.as_tensor(y_weight, **f64).tolist(),
                       "floor": float(floor), "gate": float(gate), "width": width, "depth": depth, "activation": activation,
                       "precision": precision, "equilibrium_iterations": int(equilibrium_iterations)}
        self.n_species, self.n_elements = n_species, element_matrix.shape[0]
        self.ratio_elements, self.ratio_reference = [int(i) for i in ratio_elements], int(ratio_reference)
        self.floor, self.gate = float(floor), float(gate)
        self.n_invariants = self.n_elements + 3 + len(self.ratio_elements)
        self.latent_size = HEAD + self.n_invariants + 1 + n_species                # ... v, T_eq, Y_eq
        self.invariant_features = list(range(self.n_elements + 1, self.n_invariants))  # ln P, 1000 / T0, ratios
        self.register_buffer("molecular_weights", weights)
        self.register_buffer("nasa_low", torch.as_tensor(nasa_low, **f64).reshape(n_species, 7))
        self.register_buffer("nasa_high", torch.as_tensor(nasa_high, **f64).reshape(n_species, 7))
        self.register_buffer("nasa_mid", torch.as_tensor(nasa_mid, **f64).reshape(n_species))
        self.register_buffer("elements", element_matrix)
        self.thermo = MixtureThermo(weights, self.nasa_low, self.nasa_high, self.nasa_mid)
        self.register_buffer("unburnt_map", torch.as_tensor(unburnt_map, **f64).reshape(self.n_elements, n_species))
        self.register_buffer("progress", progress_vector)
        self.register_buffer("constraints", torch.cat([element_matrix, progress_vector[None]]))
        self.register_buffer("y_weight", torch.ones(n_species, **f64) if y_weight is None
                             else torch.as_tensor(y_weight, **f64))
        for name, size in (("s_shift", ()), ("s_scale", ()), ("rate_shift", ()), ("rate_scale", ()),
                           ("invariant_shift", (self.n_invariants,)), ("invariant_scale", (self.n_invariants,)),
                           ("output_shift", (n_species,)), ("output_scale", (n_species,))):
            self.register_buffer(name, (torch.zeros if "shift" in name else torch.ones)(size, **f64))
        self.register_buffer("moving", torch.cat([torch.ones(1, **f64), torch.zeros(self.latent_size - 1, **f64)]))
        n_features = 1 + len(self.invariant_features)
        dtype = network_dtype(precision)
        self.rate = _ScalarMLP(n_features, width, depth, activation, dtype)
        self.decoder = _MLP(n_features, n_species, width, depth, activation, dtype)
        self.equilibrium = Equilibrium(weights, self.nasa_low, self.nasa_high, self.nasa_mid, element_matrix,
                                       equilibrium_iterations)

    def set_precision(self, precision: str) -> None:
        """The networks' arithmetic: ``"float32"`` is several times faster on CPUs (GELU above all) at a
        relative rounding of 6e-8, far below a trained network's error."""
        for network in (self.rate, self.decoder):
            network.to(network_dtype(precision))
        self.config["precision"] = precision

    # ------------------------------------------------------------------ thermodynamics (NASA-7)

    def enthalpy(self, T: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """Mass enthalpy [J/kg] ``(...,)`` at ``T`` ``(...,)`` [K] and ``Y`` ``(..., K)``."""
        return self.thermo.enthalpy(T, Y)

    def temperature(self, h: torch.Tensor, Y: torch.Tensor, guess: torch.Tensor, iterations: int) -> torch.Tensor:
        """``T`` [K] ``(...,)`` with ``enthalpy(T, Y) = h`` (:meth:`.thermo.MixtureThermo.temperature`)."""
        return self.thermo.temperature(h, Y, guess, iterations)

    # ------------------------------------------------------------------ encoder, field, decoder

    def invariants(self, y: torch.Tensor) -> torch.Tensor:
        """``[e, h, ln P, 1000 / T0, ratios]`` ``(..., n_invariants)`` of states ``y``."""
        T, Y, P = y[..., 0], y[..., 1:1 + self.n_species], y[..., -1]
        e = Y @ self.elements.transpose(0, 1)
        h = self.enthalpy(T, Y)
        T0 = self.temperature(h, e @ self.unburnt_map, T, NEWTON_ENCODE)
        amounts = e.clamp(min=1e-300).log()
        ratios = amounts[..., self.ratio_elements] - amounts[..., self.ratio_reference:self.ratio_reference + 1]
        return torch.cat([e, h[..., None], P.log()[..., None], (1000.0 / T0)[..., None], ratios], dim=-1)

    def normalised(self, invariants: torch.Tensor) -> torch.Tensor:
        """``v`` ``(..., n_invariants)``: :meth:`invariants` normalised by the trainer's shift and scale."""
        return (invariants - self.invariant_shift) / self.invariant_scale

    def log_progress(self, y: torch.Tensor) -> torch.Tensor:
        """``s = ln(c + floor)`` ``(...,)``."""
        return torch.log(y[..., 1:1 + self.n_species] @ self.progress + self.floor)

    def inputs(self, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The networks' features ``[sigma, ln P, 1000 / T0, ratios]`` (normalised) ``(..., n_features)`` at
        log progress ``s`` ``(...,)`` and scaled invariants ``v`` ``(..., n_invariants)``."""
        return torch.cat([((s - self.s_shift) / self.s_scale)[..., None], v[..., self.invariant_features]], dim=-1)

    def log_rate(self, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``g``, the log of the rate far from equilibrium [ln(1/s)] ``(...,)``."""
        g = self.rate(self.inputs(s, v)) * self.rate_scale + self.rate_shift
        return g.clamp(-RATE_BOUND, RATE_BOUND)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """``zc = [u, sign, s_end, v, T_eq, Y_eq]`` ``(..., m)`` of states ``y`` ``(..., 2 + K)``: ``T_eq``, ``Y_eq``
        the equilibrium of its elements, enthalpy and pressure (exact, :class:`~.equilibrium.Equilibrium`)."""
        invariants = self.invariants(y)
        e, h = invariants[..., :self.n_elements], invariants[..., self.n_elements]
        T_eq, Y_eq = self.equilibrium(e, h, y[..., -1], 1000.0 / invariants[..., self.n_elements + 2] + EQUILIBRIUM_RISE)
        s_end = torch.log(Y_eq @ self.progress + self.floor)
        distance = s_end - self.log_progress(y)
        sign = torch.where(distance < 0, -torch.ones_like(distance), torch.ones_like(distance))
        u = distance.abs().clamp(min=TINY).log()
        v = self.normalised(invariants)
        return torch.cat([u[..., None], sign[..., None], s_end[..., None], v, T_eq[..., None], Y_eq], dim=-1)

    def progress_of(self, zc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(s, d = s_end - s, v)`` of latent states ``zc``."""
        d = zc[..., 1] * torch.exp(zc[..., 0])
        return zc[..., 2] - d, d, zc[..., HEAD:HEAD + self.n_invariants]

    def equilibrium_of(self, zc: torch.Tensor) -> torch.Tensor:
        """``[T_eq, Y_eq]`` ``(..., 1 + K)`` of latent states ``zc``."""
        return zc[..., HEAD + self.n_invariants:]

    def forward(self, t, zc: torch.Tensor) -> torch.Tensor:
        s, d, v = self.progress_of(zc)
        speed = -torch.exp(self.log_rate(s, v)) * relaxation(d)
        return speed[..., None] * self.moving

    def jacobian(self, t, zc: torch.Tensor) -> torch.Tensor:
        s, d, v = self.progress_of(zc)
        x = self.inputs(s, v)
        g = self.rate(x) * self.rate_scale + self.rate_shift
        inside = (g.abs() <= RATE_BOUND).to(zc.dtype)
        speed = torch.exp(g.clamp(-RATE_BOUND, RATE_BOUND))
        phi = relaxation(d)
        slope = self.rate.gradient(x) * (self.rate_scale * inside)[..., None]       # dg/dx
        g_s = slope[..., 0] / self.s_scale
        # F = -exp(g(s, v)) phi(d), s = s_end - d, d = sign exp(u)
        d_d = -speed * (relaxation_slope(d) - g_s * phi)                              # dF/dd at fixed s_end
        row = torch.zeros_like(zc)
        row[..., 0] = d_d * d
        row[..., 1] = d_d * torch.exp(zc[..., 0])
        row[..., 2] = -speed * phi * g_s
        row[..., [HEAD + i for i in self.invariant_features]] = -(speed * phi)[..., None] * slope[..., 1:]
        return torch.cat([row[..., None, :], torch.zeros_like(zc)[..., None, :].expand(
            *zc.shape[:-1], zc.shape[-1] - 1, zc.shape[-1])], dim=-2)

    def unburnt(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([T0, Y_u] (..., 1 + K), c / (c + gate) (...,))``: the unburnt state of the invariants ``v`` and the
        weight of the decoded departure from it at log progress ``s``."""
        invariants = v * self.invariant_scale + self.invariant_shift
        unburnt = torch.cat([1000.0 / invariants[..., self.n_elements + 2:self.n_elements + 3],
                             invariants[..., :self.n_elements] @ self.unburnt_map], dim=-1)
        c = (torch.exp(s) - self.floor).clamp(min=0.0)
        return unburnt, c / (c + self.gate)

    def basis(self, zc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([T, Y] (..., 1 + K), weight (...,))``: the straight line from the unburnt state to equilibrium at
        the progress of ``zc`` (fraction ``c / c_eq``), and the weight ``c / (c + gate) (1 - c / c_eq)`` of the
        decoder's departure from it (zero unburnt and at equilibrium)."""
        s, _, v = self.progress_of(zc)
        unburnt, gate = self.unburnt(s, v)
        end = self.equilibrium_of(zc)
        fraction = (torch.exp(s) - self.floor) / (torch.exp(zc[..., 2]) - self.floor)
        return unburnt + fraction[..., None] * (end - unburnt), gate * (1 - fraction)

    def decode(self, zc: torch.Tensor) -> torch.Tensor:
        s, _, v = self.progress_of(zc)
        line, weight = self.basis(zc)
        departure = self.decoder(self.inputs(s, v)) * self.output_scale + self.output_shift
        invariants = v * self.invariant_scale + self.invariant_shift
        e, h, log_p = (invariants[..., :self.n_elements], invariants[..., self.n_elements],
                       invariants[..., self.n_elements + 1])
        c = torch.exp(s) - self.floor
        Y = project(line[..., 1:] + weight[..., None] * departure, self.constraints, self.y_weight,
                    torch.cat([e, c[..., None]], -1))
        T = self.temperature(h, Y, line[..., 0], NEWTON_DECODE)
        return torch.cat([T[..., None], Y, log_p.exp()[..., None]], dim=-1)

    def trajectory(self, zc: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Latent states ``(T, N, m)`` at ``times`` ``(T,)`` [s] after ``zc`` ``(N, m)``, by quadrature
        (:mod:`.progress_time`)."""
        return progress_time.trajectory(self, zc, times)

    def advance(self, zc: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """Latent states ``(N, m)`` after ``dt`` [s] ``(N,)`` or ``()`` (:mod:`.progress_time`)."""
        return progress_time.advance(self, zc, dt)

    def combine(self, y: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """``y`` ``(..., 2 + K)`` moved by the decoded change ``after - before``, keeping its elements and enthalpy."""
        k = 1 + self.n_species
        Y = y[..., 1:k] + (after[..., 1:k] - before[..., 1:k])
        guess = y[..., 0] + (after[..., 0] - before[..., 0])
        T = self.temperature(self.enthalpy(y[..., 0], y[..., 1:k]), Y, guess, NEWTON_DECODE)
        return torch.cat([T[..., None], Y, y[..., k:]], dim=-1)

