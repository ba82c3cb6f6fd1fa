"""Homogeneous ideal-gas reactors (constant pressure or constant volume) as kinetix mechanisms."""

from __future__ import annotations

import json
import math
import numbers
import re
from functools import cached_property
from typing import Any, Mapping, NamedTuple, Sequence

import cantera as ct
import torch
from kinetix import ConfigError, Mechanism, MechanismError
from kinetix.data.conditions import ConditionedBatch

from .elements import ElementInvariants
from .jacobian import ReactorJacobian
from .kinetics import GAS_CONSTANT, Kinetics

REACTORS = ("const-pressure", "const-volume")
# the settings that define one initial state; each may vary per member in a conditions table
MEMBER_SETTINGS = ("temperature", "pressure", "density", "composition", "equivalence_ratio", "fuel", "oxidizer")
MIXTURE_HELP = ("either as composition='H2:2, O2:1, N2:3.76' (mole fractions) or as equivalence_ratio=1.0 with "
                "fuel='CH4' (and oxidizer=, default 'O2:1, N2:3.76')")


class ReactorState(NamedTuple):
    """What the right-hand side and the Jacobian share at states ``y = [T, Y]`` ``(..., K+1)``:
    ``T``, ``P`` [Pa], ``density`` [kg/m^3], ``total`` (``sum Y_k/W_k`` [kmol/kg]) ``(...,)``;
    ``moles`` ``Y_k/W_k``, ``concentrations`` [kmol/m^3], ``cp_R``, ``h_RT``, ``s_R`` (standard
    state at the reference pressure), ``energies`` (``h_k`` or ``u_k`` [J/kmol]) and
    ``heat_capacities`` (``cp_k`` or ``cv_k`` [J/kmol/K]) ``(..., K)``."""

    T: torch.Tensor
    P: torch.Tensor
    density: torch.Tensor
    total: torch.Tensor
    moles: torch.Tensor
    concentrations: torch.Tensor
    cp_R: torch.Tensor
    h_RT: torch.Tensor
    s_R: torch.Tensor
    energies: torch.Tensor
    heat_capacities: torch.Tensor


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
    ``oxidizer`` (Cantera's ``set_equivalence_ratio``, mole basis). Without a mixture the reactor
    has no initial state until :meth:`with_conditions` gives one per member. Default output times
    are ``n_times`` log-spaced from ``t_first`` to ``t_end`` [s]; integration starts at 0.

    ``kinetics`` is a :class:`Kinetics` or any source it accepts, ``phase`` the phase of a
    mechanism file to use (default: its first). :meth:`jacobian` is analytic (see
    :mod:`kinetix_cantera.jacobian`).

    Buffers: ``pressure`` [Pa] and ``density`` [kg/m^3], the constant one of the reactor (the
    other is the initial state's), scalars, or ``(N,)`` for a batch of ``N`` members built by
    :meth:`with_conditions` (whose ``rhs`` then takes states ``(..., N, K+1)``).
    """

    autonomous = True
    peak_event = ("ignition_delay", "T")  # the time of the largest dT/dt

    def __init__(self, kinetics, reactor: str = "const-pressure", *, pressure: float = ct.one_atm,
                 density: float | None = None, temperature: float = 1000.0, composition: str | None = None,
                 equivalence_ratio: float | None = None, fuel: str | None = None,
                 oxidizer: str = "O2:1, N2:3.76", t_end: float = 0.1, t_first: float = 1e-7, n_times: int = 100,
                 phase: str | None = None):
        super().__init__()
        if isinstance(kinetics, Kinetics) and phase is not None:
            raise MechanismError(f"{kinetics.source}: phase= applies to a mechanism source, not to a built Kinetics")
        self.kinetics = kinetics if isinstance(kinetics, Kinetics) else Kinetics(kinetics, phase=phase)
        where = self.kinetics.source
        if reactor not in REACTORS:
            raise MechanismError(f"{where}: unknown reactor {reactor!r}; use one of {', '.join(REACTORS)}")
        if density is not None and reactor != "const-volume":
            raise MechanismError(f"{where}: density= applies to reactor='const-volume' only; give pressure= instead")
        if not 0 < t_first < t_end or n_times < 2:
            raise MechanismError(f"{where}: need 0 < t_first < t_end and n_times >= 2, got {t_first}, {t_end}, {n_times}")
        self.reactor = reactor
        self.settings = {
            "reactor": reactor, "temperature": temperature, "pressure": pressure, "density": density,
            "composition": composition, "equivalence_ratio": equivalence_ratio, "fuel": fuel,
            "oxidizer": oxidizer if equivalence_ratio is not None else None,
            "t_end": t_end, "t_first": t_first, "n_times": n_times,
        }
        dtype = self.kinetics.molecular_weights.dtype
        self._jacobian = ReactorJacobian(self.kinetics)
        self.name = f"cantera:{self.kinetics.name}"
        self.units = {"time": "s", "state": "K, mass fraction"}
        self.metadata = {
            "description": f"{reactor} ideal-gas reactor on {where}",
            "source": where,
            "cantera_version": ct.__version__,
            **{key: value for key, value in self.settings.items() if value is not None},
        }
        if composition is None and equivalence_ratio is None:  # no initial state (yet)
            self.register_buffer("pressure", torch.tensor(float(pressure), dtype=dtype))
            self.register_buffer("density", None if density is None else torch.tensor(float(density), dtype=dtype))
            self.register_buffer("_initial", None, persistent=False)
            return
        settings = {**self.settings, "oxidizer": oxidizer}
        self._set_members([self._initial_state(self.kinetics.solution(), settings, "")], [settings], squeeze=True)

    # ---------------------------------------------------------------- initial states

    def _initial_state(self, gas: ct.Solution, settings: Mapping[str, Any], where: str) -> tuple[list[float], float]:
        """``([T, Y_1 .. Y_K], density)`` of the initial state that ``settings`` (the ``MEMBER_SETTINGS``)
        define, set on ``gas`` (one gas serves every member: a Solution of GRI-Mech 3.0 holds ~25 MB);
        ``where`` names the member in messages."""
        source = self.kinetics.source
        composition, equivalence_ratio, fuel = (settings.get(k) for k in ("composition", "equivalence_ratio", "fuel"))
        if composition is None and equivalence_ratio is None:
            raise MechanismError(f"{source}{where}: give the initial mixture, {MIXTURE_HELP}")
        if composition is not None and equivalence_ratio is not None:
            raise MechanismError(f"{source}{where}: give the initial mixture as composition= or as "
                                 "equivalence_ratio=, not both")
        if equivalence_ratio is not None and not fuel:
            raise MechanismError(f"{source}{where}: equivalence_ratio needs fuel=, e.g. fuel='CH4' or 'H2:1'")
        for field in ("composition", "fuel", "oxidizer"):
            _refuse_negative(settings.get(field), f"{source}{where}: {field}")
        try:
            if composition is not None:
                gas.X = composition
            else:
                gas.set_equivalence_ratio(equivalence_ratio, fuel, settings.get("oxidizer") or "O2:1, N2:3.76")
            gas.TP = settings["temperature"], settings["pressure"]  # last: setting X holds T and density, not P
        except (ct.CanteraError, TypeError, ValueError) as error:
            detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip() and "***" not in line)
            raise MechanismError(f"{source}{where}: cannot set the initial state: {detail}") from None
        return [gas.T, *gas.Y], gas.density

    def _set_members(self, states: Sequence[tuple[list[float], float]], settings: Sequence[Mapping[str, Any]],
                     squeeze: bool) -> None:
        """Register the initial states ``(N, K+1)`` of ``states`` (:meth:`_initial_state`'s), their pressures as
        given in ``settings`` and densities (the given constant-volume density, else the state's) ``(N,)``;
        ``squeeze``: one member without a batch dimension."""
        dtype = self.kinetics.molecular_weights.dtype
        pressure = torch.tensor([float(member["pressure"]) for member in settings], dtype=dtype)
        density = torch.tensor([state_density if member["density"] is None else float(member["density"])
                                for (_, state_density), member in zip(states, settings)], dtype=dtype)
        initial = torch.tensor([state for state, _ in states], dtype=dtype)
        if squeeze:
            pressure, density, initial = pressure[0], density[0], initial[0]
        self.register_buffer("pressure", pressure)
        self.register_buffer("density", density)
        self.register_buffer("_initial", initial, persistent=False)

    def with_conditions(self, rows: Sequence[Mapping[str, Any]]) -> ConditionedBatch:
        """A batch of ``N = len(rows)`` reactors that share this one's kinetics and settings, each
        with its own initial state: every row sets some of ``temperature`` [K], ``pressure`` [Pa],
        ``density`` [kg/m^3] (const-volume), ``composition`` or ``equivalence_ratio``, ``fuel``,
        ``oxidizer``; the rest come from this reactor's settings.

        Returns the batch mechanism (per-member ``pressure`` and ``density`` ``(N,)``), its initial
        states ``(N, K+1)`` and the conditions ``T0`` [K], ``P`` [Pa] (initial), ``phi`` (where every
        member has an equivalence ratio) and, at constant volume, ``density`` [kg/m^3], each ``(N,)``.
        """
        if not rows:
            raise ConfigError(f"{self.kinetics.source}: the conditions table is empty")
        members, states, gas = [], [], self.kinetics.solution()
        for i, row in enumerate(rows):
            unknown = sorted(set(row) - set(MEMBER_SETTINGS))
            if unknown:
                raise ConfigError(f"{self.kinetics.source}: condition(s) {', '.join(unknown)} of member {i} are not "
                                  f"reactor settings; known: {', '.join(MEMBER_SETTINGS)}")
            if row.get("density") is not None and self.reactor != "const-volume":
                raise ConfigError(f"{self.kinetics.source}: condition 'density' of member {i} applies to "
                                  "reactor='const-volume' only; vary 'pressure' instead")
            settings = {key: self.settings[key] for key in MEMBER_SETTINGS}
            settings["oxidizer"] = settings["oxidizer"] or "O2:1, N2:3.76"
            if "composition" in row:  # a member's mixture replaces the reactor's, whichever way it is given
                settings["equivalence_ratio"] = None
            if "equivalence_ratio" in row:
                settings["composition"] = None
            settings.update(row)
            members.append(settings)
            states.append(self._initial_state(gas, settings, f": member {i} ({_describe(row)})"))
        batch = ReactorMechanism(self.kinetics, self.reactor, t_end=self.settings["t_end"],
                                 t_first=self.settings["t_first"], n_times=self.settings["n_times"])
        batch._set_members(states, members, squeeze=False)
        batch.settings = {**self.settings, **{key: None for key in MEMBER_SETTINGS}, "members": members}
        batch.metadata = {**self.metadata, "members": len(members)}
        dtype = batch.pressure.dtype
        conditions = {"T0": batch._initial[:, 0].clone(), "P": batch.pressure.clone()}
        if all(m["equivalence_ratio"] is not None for m in members):
            conditions["phi"] = torch.tensor([float(m["equivalence_ratio"]) for m in members], dtype=dtype)
        if self.reactor == "const-volume":
            conditions["density"] = batch.density.clone()
        return ConditionedBatch(batch, batch.initial_state(), conditions)

    # ---------------------------------------------------------------- the Mechanism interface

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("T", *self.kinetics.species_names)

    @property
    def species(self) -> tuple[str, ...]:
        return self.kinetics.species_names

    @property
    def time_span(self) -> tuple[float, float]:
        return (0.0, float(self.settings["t_end"]))

    @cached_property
    def invariants(self) -> ElementInvariants:
        """The element amounts per unit mass, ``C`` ``(m, K+1)`` with ``C dy/dt = 0`` (see
        :mod:`kinetix_cantera.elements`)."""
        return ElementInvariants.of_definition(self.kinetics.yaml)

    def state(self, y: torch.Tensor) -> ReactorState:
        """The :class:`ReactorState` of ``y`` ``(..., K+1)`` (``(..., N, K+1)`` for a batch of ``N``)."""
        if self.pressure.dim() and (y.dim() < 2 or y.shape[-2] != self.pressure.shape[0]):
            raise MechanismError(
                f"{self.name}: this batch holds {self.pressure.shape[0]} reactors with their own pressures and "
                f"densities, so states must be shaped (..., {self.pressure.shape[0]}, {self.n_state}), got "
                f"{tuple(y.shape)}; integrate the members together with a batched solver (rodas5p, rodas4, "
                "rodas3p, cantera)"
            )
        kinetics = self.kinetics
        T, Y = y[..., 0], y[..., 1:]
        moles = Y / kinetics.molecular_weights
        total = moles.sum(dim=-1)
        cp_R, h_RT, s_R = kinetics.thermo(T)
        RT = GAS_CONSTANT * T
        if self.reactor == "const-pressure":
            P = self.pressure.expand_as(T)
            density = P / (RT * total)
            energies, heat_capacities = h_RT * RT[..., None], cp_R * GAS_CONSTANT
        else:
            if self.density is None:
                raise MechanismError(f"{self.name}: a const-volume reactor needs density= or an initial mixture "
                                     f"({MIXTURE_HELP})")
            density = self.density.expand_as(T)
            P = density * RT * total
            energies, heat_capacities = (h_RT - 1.0) * RT[..., None], (cp_R - 1.0) * GAS_CONSTANT
        return ReactorState(T, P, density, total, moles, density[..., None] * moles, cp_R, h_RT, s_R, energies,
                            heat_capacities)

    def rhs(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``dy/dt`` ``(..., K+1)`` for states ``y = [T, Y]`` ``(..., K+1)`` (``t`` unused: autonomous)."""
        kinetics = self.kinetics
        s = self.state(y)
        production = kinetics.production(kinetics._net_rates(s.T, s.P, s.concentrations, s.h_RT - s.s_R))
        heat = (s.heat_capacities * s.moles).sum(dim=-1)  # cp or cv [J/kg/K]
        dT = -(s.energies * production).sum(dim=-1) / (s.density * heat)
        dY = production * kinetics.molecular_weights / s.density[..., None]
        return torch.cat([dT[..., None], dY], dim=-1)

    def jacobian(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d rhs / d y`` ``(..., K+1, K+1)``, analytic (exact also at zero mass fractions)."""
        return self._jacobian(self, t, y)

    def initial_state(self) -> torch.Tensor:
        """``(K+1,)``, or ``(N, K+1)`` for a batch of ``N``."""
        if self._initial is None:
            raise MechanismError(f"{self.name}: no initial mixture; give it {MIXTURE_HELP} (kinetix generate: "
                                 "--option equivalence_ratio=1 --option fuel=H2), or a conditions file (--conditions)")
        return self._initial.clone()

    def default_times(self) -> torch.Tensor:
        s = self.settings
        return torch.logspace(math.log10(s["t_first"]), math.log10(s["t_end"]), s["n_times"],
                              dtype=self.pressure.dtype, device=self.pressure.device)

    def content(self) -> bytes:
        """The mechanism's canonical YAML, then ``---`` and the reactor settings as sorted JSON."""
        return (self.kinetics.yaml + "---\n" + json.dumps(self.settings, sort_keys=True) + "\n").encode("utf-8")

    def sample_initial_states(self, count: int, generator, perturbation=None) -> torch.Tensor:
        """As :meth:`kinetix.Mechanism.sample_initial_states`, with mass fractions renormalised to sum 1."""
        states = super().sample_initial_states(count, generator, perturbation)
        states[:, 1:] /= states[:, 1:].sum(dim=-1, keepdim=True)
        return states


def _refuse_negative(mixture, where: str) -> None:
    """Raise if the mole numbers ``mixture`` (Cantera's ``"H2:2, O2:1"``, a mapping or a sequence)
    hold a negative value, which Cantera would silently set to zero."""
    if isinstance(mixture, str):
        entries = [(name, float(value)) for name, value in _NEGATIVE_ENTRY.findall(mixture)]
    elif isinstance(mixture, Mapping):
        entries = list(mixture.items())
    else:
        entries = [(f"entry {k}", value) for k, value in enumerate(mixture if mixture is not None else ())]
    negative = [f"{name}:{value:g}" for name, value in entries if isinstance(value, numbers.Real) and value < 0]
    if negative:
        raise MechanismError(f"{where} has negative mole numbers ({', '.join(negative)}); give amounts >= 0")


# a name followed by a negative number in a composition string
_NEGATIVE_ENTRY = re.compile(r"([^\s,:]+)\s*:\s*(-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _describe(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in row.items())
