"""Homogeneous ideal-gas reactors (constant pressure or constant volume) as kinetix mechanisms."""

from __future__ import annotations

import json
import math

import cantera as ct
import torch
from kinetix import Mechanism, MechanismError

from .jacobian import ReactorJacobian
from .kinetics import Kinetics

REACTORS = ("const-pressure", "const-volume")


class ReactorMechanism(Mechanism):
    """An adiabatic, closed, homogeneous ideal-gas reactor; state ``y = [T, Y_1 .. Y_K]`` ``(..., K+1)``.

    The right-hand side is that of Cantera's ``IdealGasConstPressureReactor``
    (``reactor="const-pressure"``, at ``pressure`` [Pa]) or ``IdealGasReactor``
    (``reactor="const-volume"``, at ``density`` [kg/m^3]; by default that of the initial state)::

        dY_k/dt = omega_k W_k / rho
        dT/dt   = -sum_k h_k omega_k / (rho cp)      (constant pressure)
        dT/dt   = -sum_k u_k omega_k / (rho cv)      (constant volume)

    with ``omega`` the net production rates [kmol/m^3/s], ``h_k``/``u_k`` partial molar
    enthalpies/internal energies [J/kmol] and ``cp``/``cv`` [J/kg/K] of the mixture.

    The initial state: ``temperature`` [K] and ``pressure`` [Pa], and either ``composition`` (mole
    fractions, Cantera's ``"H2:2, O2:1, N2:3.76"``) or ``equivalence_ratio`` with ``fuel`` and
    ``oxidizer`` (Cantera's ``set_equivalence_ratio``, mole basis). Default output times are
    ``n_times`` log-spaced from ``t_first`` to ``t_end`` [s]; integration starts at 0.

    ``kinetics`` is a :class:`Kinetics` or any source it accepts. :meth:`jacobian` is analytic
    (see :mod:`kinetix_cantera.jacobian`).

    Buffers: ``pressure`` [Pa] and ``density`` [kg/m^3], the constant one of the reactor (the
    other is the initial state's).
    """

    autonomous = True

    def __init__(self, kinetics, reactor: str = "const-pressure", *, pressure: float = ct.one_atm,
                 density: float | None = None, temperature: float = 1000.0, composition: str | None = None,
                 equivalence_ratio: float | None = None, fuel: str | None = None,
                 oxidizer: str = "O2:1, N2:3.76", t_end: float = 0.1, t_first: float = 1e-7, n_times: int = 100):
        super().__init__()
        self.kinetics = kinetics if isinstance(kinetics, Kinetics) else Kinetics(kinetics)
        where = self.kinetics.source
        if reactor not in REACTORS:
            raise MechanismError(f"{where}: unknown reactor {reactor!r}; use one of {', '.join(REACTORS)}")
        if density is not None and reactor != "const-volume":
            raise MechanismError(f"{where}: density= applies to reactor='const-volume' only; give pressure= instead")
        if not 0 < t_first < t_end or n_times < 2:
            raise MechanismError(f"{where}: need 0 < t_first < t_end and n_times >= 2, got {t_first}, {t_end}, {n_times}")
        gas = self._initial_gas(temperature, pressure, composition, equivalence_ratio, fuel, oxidizer)
        self.reactor = reactor
        self.settings = {
            "reactor": reactor, "temperature": temperature, "pressure": pressure, "density": density,
            "composition": composition, "equivalence_ratio": equivalence_ratio, "fuel": fuel,
            "oxidizer": oxidizer if equivalence_ratio is not None else None,
            "t_end": t_end, "t_first": t_first, "n_times": n_times,
        }
        dtype = self.kinetics.molecular_weights.dtype
        self.register_buffer("pressure", torch.tensor(float(pressure), dtype=dtype))
        self.register_buffer("density", torch.tensor(float(gas.density if density is None else density), dtype=dtype))
        self.register_buffer("_initial", torch.tensor([gas.T, *gas.Y], dtype=dtype), persistent=False)
        self._jacobian = ReactorJacobian(self.kinetics)
        self.name = f"cantera:{self.kinetics.name}"
        self.units = {"time": "s", "state": "K, mass fraction"}
        self.metadata = {
            "description": f"{reactor} ideal-gas reactor on {where}",
            "source": where,
            "cantera_version": ct.__version__,
            **{key: value for key, value in self.settings.items() if value is not None},
        }

    def _initial_gas(self, temperature, pressure, composition, equivalence_ratio, fuel, oxidizer) -> ct.Solution:
        where = self.kinetics.source
        if composition is None and equivalence_ratio is None:
            raise MechanismError(
                f"{where}: give the initial mixture, either as composition='H2:2, O2:1, N2:3.76' (mole fractions) "
                "or as equivalence_ratio=1.0 with fuel='CH4' (and oxidizer=, default 'O2:1, N2:3.76')"
            )
        if composition is not None and equivalence_ratio is not None:
            raise MechanismError(f"{where}: give the initial mixture as composition= or as equivalence_ratio=, not both")
        if equivalence_ratio is not None and not fuel:
            raise MechanismError(f"{where}: equivalence_ratio needs fuel=, e.g. fuel='CH4' or 'H2:1'")
        gas = self.kinetics.solution()
        try:
            if composition is not None:
                gas.X = composition
            else:
                gas.set_equivalence_ratio(equivalence_ratio, fuel, oxidizer)
            gas.TP = temperature, pressure  # last: setting a composition holds T and density, not P
        except ct.CanteraError as error:
            detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip() and "***" not in line)
            raise MechanismError(f"{where}: cannot set the initial state: {detail}") from None
        return gas

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("T", *self.kinetics.species_names)

    @property
    def species(self) -> tuple[str, ...]:
        return self.kinetics.species_names

    @property
    def time_span(self) -> tuple[float, float]:
        return (0.0, float(self.settings["t_end"]))

    def rhs(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``dy/dt`` ``(..., K+1)`` for states ``y = [T, Y]`` ``(..., K+1)`` (``t`` unused: autonomous)."""
        kinetics = self.kinetics
        T, Y = y[..., 0], y[..., 1:]
        if self.reactor == "const-pressure":
            P = self.pressure
            density = kinetics.density(T, P, Y)
            energies = kinetics.partial_molar_enthalpies(T)
            heat_capacity = kinetics.cp_mass(T, Y)
        else:
            density = self.density
            P = kinetics.pressure(T, density, Y)
            energies = kinetics.partial_molar_int_energies(T)
            heat_capacity = kinetics.cv_mass(T, Y)
        production = kinetics.net_production_rates(T, P, Y)
        dT = -(energies * production).sum(dim=-1) / (density * heat_capacity)
        dY = production * kinetics.molecular_weights / density[..., None]
        return torch.cat([dT[..., None], dY], dim=-1)

    def jacobian(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d rhs / d y`` ``(..., K+1, K+1)``, analytic (exact also at zero mass fractions)."""
        return self._jacobian(self, t, y)

    def initial_state(self) -> torch.Tensor:
        return self._initial.clone()

    def default_times(self) -> torch.Tensor:
        s = self.settings
        return torch.logspace(math.log10(s["t_first"]), math.log10(s["t_end"]), s["n_times"],
                              dtype=self._initial.dtype, device=self._initial.device)

    def content(self) -> bytes:
        """The mechanism's canonical YAML, then ``---`` and the reactor settings as sorted JSON."""
        return (self.kinetics.yaml + "---\n" + json.dumps(self.settings, sort_keys=True) + "\n").encode("utf-8")

    def sample_initial_states(self, count: int, generator, perturbation=None) -> torch.Tensor:
        """As :meth:`kinetix.Mechanism.sample_initial_states`, with mass fractions renormalised to sum 1."""
        states = super().sample_initial_states(count, generator, perturbation)
        states[:, 1:] /= states[:, 1:].sum(dim=-1, keepdim=True)
        return states
