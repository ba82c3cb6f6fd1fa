"""Cantera gas-phase kinetics and ideal-gas thermodynamics as a batched, differentiable torch module."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import cantera as ct
import torch
from kinetix import MechanismError

from .arrhenius import ArrheniusRates
from .chebyshev import ChebyshevRates, is_degenerate
from .concentration_product import ConcentrationProduct
from .falloff import FalloffRates, SriFalloff, TroeFalloff, TsangFalloff
from .linear_map import LinearMap
from .plog import PlogRates
from .rate_group import RateSlopes, RateState, take
from .source import canonical_yaml, describe, ideal_gas_phases, ignored_surfaces, is_phase, open_solution
from .thermo import NasaThermo
from .third_body import ThirdBodies

GAS_CONSTANT = ct.gas_constant  # J/(kmol K)
BIG = 1e300  # Cantera's BigNumber: the cap on 1/Kc
CHUNK_ELEMENTS = 2**18  # per-reaction values per CPU chunk (2 MiB of float64)

# Cantera rate class -> the group that evaluates it. Everything else is refused at load time.
RATE_GROUPS = {
    ct.ArrheniusRate: ArrheniusRates,
    ct.LindemannRate: FalloffRates,
    ct.TroeRate: TroeFalloff,
    ct.TsangRate: TsangFalloff,
    ct.SriRate: SriFalloff,
    ct.PlogRate: PlogRates,
    ct.ChebyshevRate: ChebyshevRates,
}
SUPPORTED = (
    "Arrhenius (elementary, three-body, specific colliders, orders, negative A), falloff and "
    "chemically-activated (Lindemann, Troe, Tsang, SRI), pressure-dependent-Arrhenius (PLOG), Chebyshev"
)


class Rates(NamedTuple):
    """Everything one evaluation produces, each ``(..., R)`` (``R`` reactions, Cantera's order)."""

    forward_constants: torch.Tensor  # k_f, SI units
    reverse_constants: torch.Tensor  # k_f / K_c (0 for irreversible reactions)
    forward: torch.Tensor  # forward rates of progress, kmol/m^3/s
    reverse: torch.Tensor  # reverse rates of progress, kmol/m^3/s


class Kinetics(torch.nn.Module):
    """A Cantera ideal-gas mechanism evaluated in torch, batched over states.

    ``source``: a Cantera YAML name (``"gri30.yaml"``, ``"example_data/..."``), a path, or a
    ``cantera.Solution``. Every coefficient is a float64 buffer, so ``.to(device)`` moves the
    whole mechanism, and all methods are differentiable and run on any device without host syncs.

    States are temperature ``T`` ``(...,)`` [K], pressure ``P`` ``(...,)`` [Pa] and mass fractions
    ``Y`` ``(..., K)``, broadcast against each other like torch operands. As in Cantera's reactors,
    ``Y`` is used as given (not clipped or renormalised): the mean molecular weight is
    ``1 / sum(Y_k / W_k)`` and concentrations are ``C_k = rho Y_k / W_k``. Units are Cantera's SI:
    kmol, m^3, s, J, K, Pa. ``dtype`` float64 (the default) reproduces Cantera; float32 cannot hold
    its 1e-300 floors or the range of rate constants.

    Attributes: ``name`` (the file's stem or the phase's name), ``source`` (as given, for messages),
    ``species_names``, ``reaction_equations``, ``reference_pressure`` [Pa], ``yaml`` (the canonical
    definition, see :func:`~kinetix_cantera.source.canonical_yaml`).

    ``phase``: the name of the phase to evaluate in a mechanism file that defines several (default:
    the file's first). Transport data are not read (kinetics needs none). Surface or edge phases
    of the file are left out, with one warning.

    Raises :class:`kinetix.MechanismError` at construction, naming the source and the reaction
    (index and equation), for a phase that is not an ideal gas (naming the file's ideal-gas phases
    for ``phase=``), species thermo other than NASA-7/NASA-9, or a reaction type outside ``SUPPORTED``.
    """

    def __init__(self, source, dtype: torch.dtype = torch.float64, *, phase: str | None = None):
        super().__init__()
        solution = open_solution(source, phase)
        where = describe(source)
        _check_reactions(solution, where)
        if solution.thermo_model != "ideal-gas":
            raise MechanismError(f"{where}: phase {solution.name!r} uses thermo model {solution.thermo_model!r}; "
                                 f"kinetix-cantera supports 'ideal-gas' only: {_ideal_gas_hint(source)}")
        surfaces = ignored_surfaces(source, solution.name)
        if surfaces:
            warnings.warn(f"{where}: only the gas phase {solution.name!r} is evaluated; the file's surface "
                          f"phase(s) {', '.join(surfaces)} and their reactions are ignored (kinetix-cantera "
                          "evaluates gas-phase kinetics only)", UserWarning, stacklevel=2)
        species = solution.species()
        _check_reference_pressure(species, solution.reference_pressure, where)
        self.source = where
        self.name = solution.name if is_phase(source) else Path(str(source)).stem
        self.yaml = canonical_yaml(solution)
        self.species_names: tuple[str, ...] = tuple(solution.species_names)
        self.reaction_equations: tuple[str, ...] = tuple(solution.reaction_equations())
        self.reference_pressure = float(solution.reference_pressure)
        self.thermo = NasaThermo(species, where, dtype)
        self.register_buffer("molecular_weights", torch.tensor(solution.molecular_weights, dtype=dtype))
        self._build_reactions(solution.reactions(), dtype)

    def _build_reactions(self, reactions: list[ct.Reaction], dtype: torch.dtype) -> None:
        """Group reactions by parameterization and by whether ``[M]`` multiplies their rates of progress
        (``RateGroup.mass_action``), and store everything in that grouped (internal) order."""
        index = {name: k for k, name in enumerate(self.species_names)}
        by_group: dict[tuple[type, bool], tuple[list[int], list]] = defaultdict(lambda: ([], []))
        for j, reaction in enumerate(reactions):
            mass_action = reaction.third_body is not None and reaction.third_body.mass_action
            members, rates = by_group[RATE_GROUPS[type(reaction.rate)], mass_action]
            members.append(j)
            rates.append(reaction.rate)
        # the groups whose rate constants read the third-body concentration come first (see RateState)
        ordered = sorted(by_group.items(), key=lambda item: not item[0][0].reads_third_body)
        self.groups = torch.nn.ModuleList(group(members, rates, dtype) for (group, _), (members, rates) in ordered)
        order: list[int] = []
        for group, ((_, mass_action), _) in zip(self.groups, ordered):
            group.first, group.mass_action = len(order), mass_action
            order += group.reactions.tolist()
        internal = [reactions[j] for j in order]
        self.register_buffer("_cantera_order", torch.argsort(torch.tensor(order, dtype=torch.long)), persistent=False)

        with_third_body = [i for i, r in enumerate(internal) if r.third_body is not None]
        self.third_bodies = ThirdBodies([internal[i].third_body for i in with_third_body], list(self.species_names), dtype)
        column = torch.full((len(internal),), len(with_third_body), dtype=torch.long)  # the appended column
        column[with_third_body] = torch.arange(len(with_third_body))
        self._third_body_width = sum(len(group) for group in self.groups if group.reads_third_body)
        self.register_buffer("_collider_column", column, persistent=False)
        self.register_buffer("_third_body_reactions", torch.tensor(with_third_body, dtype=torch.long), persistent=False)
        mass_action = [r.third_body is not None and r.third_body.mass_action for r in internal]
        self.register_buffer("_third_body_mass_action", torch.tensor(mass_action, dtype=torch.bool), persistent=False)
        self.register_buffer("_collision_column", torch.where(self._third_body_mass_action, column, len(with_third_body)),
                             persistent=False)

        stoichiometry = torch.zeros(len(index), len(internal), dtype=dtype)
        forward_orders, reverse_orders = [], []
        for i, reaction in enumerate(internal):
            reactants = {index[name]: nu for name, nu in reaction.reactants.items()}
            products = {index[name]: nu for name, nu in reaction.products.items()}
            for k, nu in reactants.items():
                stoichiometry[k, i] -= nu
            for k, nu in products.items():
                stoichiometry[k, i] += nu
            forward_orders.append({**reactants, **{index[name]: o for name, o in reaction.orders.items()}})
            reverse_orders.append(products if reaction.reversible else None)
        # net rates of progress (..., R) -> net production rates (..., K)
        self.production = LinearMap(stoichiometry.T.contiguous())
        # (g_k/RT, ln(P_ref/RT)) (..., K+1) -> dG0/RT - dn ln(P_ref/RT) = -ln K_c (..., R)
        self.reciprocal_kc = LinearMap(torch.cat([stoichiometry, -stoichiometry.sum(0, keepdim=True)]))
        self.register_buffer("_reversible", torch.tensor([r.reversible for r in internal], dtype=torch.bool),
                             persistent=False)
        self.forward_product = ConcentrationProduct(forward_orders, len(index), dtype)
        self.reverse_product = ConcentrationProduct(reverse_orders, len(index), dtype)

    # ---------------------------------------------------------------- sizes and names

    @property
    def _stoichiometry(self) -> torch.Tensor:
        """``nu_kj`` ``(K, R)``, internal reaction order."""
        return self.production.matrix.T

    @property
    def n_species(self) -> int:
        return len(self.species_names)

    @property
    def n_reactions(self) -> int:
        return len(self.reaction_equations)

    def solution(self) -> ct.Solution:
        """A fresh ``cantera.Solution`` of this mechanism (rebuilt from :attr:`yaml`)."""
        return ct.Solution(yaml=self.yaml)

    def extra_repr(self) -> str:
        return f"source={self.source!r}, n_species={self.n_species}, n_reactions={self.n_reactions}"

    # ---------------------------------------------------------------- state helpers

    def _tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=self.molecular_weights.dtype, device=self.molecular_weights.device)

    def _broadcast(self, T, P, Y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``T``, ``P`` ``(...,)`` and ``Y`` ``(..., K)`` as tensors on this module's device, one batch shape."""
        T, P, Y = self._tensor(T), self._tensor(P), self._tensor(Y)
        batch = torch.broadcast_shapes(T.shape, P.shape, Y.shape[:-1])
        return T.expand(batch), P.expand(batch), Y.expand(*batch, self.n_species)

    def _moles_per_mass(self, Y: torch.Tensor) -> torch.Tensor:
        """``Y_k / W_k`` ``(..., K)`` [kmol/kg]."""
        return Y / self.molecular_weights

    # ---------------------------------------------------------------- mixture properties

    def mean_molecular_weight(self, Y) -> torch.Tensor:
        """``1 / sum_k(Y_k / W_k)`` ``(...,)`` [kg/kmol] for mass fractions ``Y`` ``(..., K)``."""
        return 1.0 / self._moles_per_mass(self._tensor(Y)).sum(dim=-1)

    def mole_fractions(self, Y) -> torch.Tensor:
        """``X_k = (Y_k / W_k) / sum_j(Y_j / W_j)`` ``(..., K)``."""
        moles = self._moles_per_mass(self._tensor(Y))
        return moles / moles.sum(dim=-1, keepdim=True)

    def density(self, T, P, Y) -> torch.Tensor:
        """Ideal-gas density ``P W / (R T)`` ``(...,)`` [kg/m^3]."""
        T, P, Y = self._broadcast(T, P, Y)
        return P * self.mean_molecular_weight(Y) / (GAS_CONSTANT * T)

    def pressure(self, T, density, Y) -> torch.Tensor:
        """Ideal-gas pressure ``rho R T sum_k(Y_k / W_k)`` ``(...,)`` [Pa]."""
        T, density, Y = self._broadcast(T, density, Y)
        return density * GAS_CONSTANT * T * self._moles_per_mass(Y).sum(dim=-1)

    def concentrations(self, T, P, Y) -> torch.Tensor:
        """Molar concentrations ``C_k = rho Y_k / W_k`` ``(..., K)`` [kmol/m^3]."""
        T, P, Y = self._broadcast(T, P, Y)
        return self.density(T, P, Y)[..., None] * self._moles_per_mass(Y)

    # ---------------------------------------------------------------- species thermodynamics

    def standard_cp_R(self, T) -> torch.Tensor:
        """Standard-state ``cp_k / R`` ``(..., K)`` at ``T`` ``(...,)``."""
        return self.thermo(self._tensor(T))[0]

    def standard_enthalpies_RT(self, T) -> torch.Tensor:
        """Standard-state ``h_k / (R T)`` ``(..., K)``."""
        return self.thermo(self._tensor(T))[1]

    def standard_entropies_R(self, T, P) -> torch.Tensor:
        """Standard-state ``s_k / R`` ``(..., K)`` at ``T`` and ``P`` (for an ideal gas, at the
        reference pressure minus ``ln(P / P_ref)``), as Cantera defines it."""
        T, P = self._tensor(T), self._tensor(P)
        return self.thermo(T)[2] - torch.log(P / self.reference_pressure)[..., None]

    def standard_gibbs_RT(self, T, P) -> torch.Tensor:
        """Standard-state ``g_k / (R T) = h/RT - s/R`` ``(..., K)`` at ``T`` and ``P``, as Cantera defines it."""
        T, P = self._tensor(T), self._tensor(P)
        return self._reference_gibbs_RT(T) + torch.log(P / self.reference_pressure)[..., None]

    def _reference_gibbs_RT(self, T: torch.Tensor) -> torch.Tensor:
        """``g_k / (R T)`` ``(..., K)`` at the reference pressure."""
        return self.thermo.gibbs_RT(T)

    def partial_molar_enthalpies(self, T) -> torch.Tensor:
        """Ideal-gas partial molar enthalpies ``h_k`` ``(..., K)`` [J/kmol] (independent of P and Y)."""
        T = self._tensor(T)
        return self.thermo(T)[1] * (GAS_CONSTANT * T)[..., None]

    def partial_molar_int_energies(self, T) -> torch.Tensor:
        """Ideal-gas partial molar internal energies ``u_k = h_k - R T`` ``(..., K)`` [J/kmol]."""
        T = self._tensor(T)
        return (self.thermo(T)[1] - 1.0) * (GAS_CONSTANT * T)[..., None]

    def partial_molar_cp(self, T) -> torch.Tensor:
        """Ideal-gas partial molar heat capacities ``cp_k`` ``(..., K)`` [J/kmol/K]."""
        return self.thermo(self._tensor(T))[0] * GAS_CONSTANT

    def cp_mole(self, T, Y) -> torch.Tensor:
        """Mixture ``cp`` ``(...,)`` [J/kmol/K]."""
        return self.cp_mass(T, Y) * self.mean_molecular_weight(Y)

    def cp_mass(self, T, Y) -> torch.Tensor:
        """Mixture ``cp = sum_k Y_k cp_k / W_k`` ``(...,)`` [J/kg/K]."""
        return (self.partial_molar_cp(T) * self._moles_per_mass(self._tensor(Y))).sum(dim=-1)

    def cv_mole(self, T, Y) -> torch.Tensor:
        """Mixture ``cv = cp - R`` ``(...,)`` [J/kmol/K]."""
        return self.cp_mole(T, Y) - GAS_CONSTANT

    def cv_mass(self, T, Y) -> torch.Tensor:
        """Mixture ``cv = cp - R / W`` ``(...,)`` [J/kg/K]."""
        return self.cp_mass(T, Y) - GAS_CONSTANT / self.mean_molecular_weight(Y)

    def enthalpy_mass(self, T, Y) -> torch.Tensor:
        """Mixture specific enthalpy ``sum_k Y_k h_k / W_k`` ``(...,)`` [J/kg]."""
        return (self.partial_molar_enthalpies(T) * self._moles_per_mass(self._tensor(Y))).sum(dim=-1)

    def int_energy_mass(self, T, Y) -> torch.Tensor:
        """Mixture specific internal energy ``u = h - R T / W`` ``(...,)`` [J/kg]."""
        return self.enthalpy_mass(T, Y) - GAS_CONSTANT * self._tensor(T) / self.mean_molecular_weight(Y)

    # ---------------------------------------------------------------- kinetics

    def _log_reciprocal_kc(self, T: torch.Tensor, gibbs_RT: torch.Tensor) -> torch.Tensor:
        """``-ln K_c = dG0/RT - dn ln(P_ref/(R T))`` ``(..., R)``, internal order."""
        log_standard = torch.log(self.reference_pressure / (GAS_CONSTANT * T))
        return self.reciprocal_kc(torch.cat([gibbs_RT, log_standard[..., None]], dim=-1))

    def _to_cantera(self, values: torch.Tensor) -> torch.Tensor:
        """Per-reaction ``values`` ``(..., R)`` from internal to Cantera's reaction order."""
        return take(values, self._cantera_order)

    def equilibrium_constants(self, T) -> torch.Tensor:
        """Concentration-based ``K_c = exp(-dG0/RT) (P_ref / RT)^dn`` ``(..., R)`` of every reaction."""
        T = self._tensor(T)
        return self._to_cantera(torch.exp(-self._log_reciprocal_kc(T, self._reference_gibbs_RT(T))))

    def _colliders(self, concentrations: torch.Tensor) -> torch.Tensor:
        """``[M]`` ``(..., n_third_body)`` [kmol/m^3] of the reactions that have a third body."""
        return self.third_bodies(concentrations)

    def _third_body(self, colliders: torch.Tensor) -> torch.Tensor:
        """The third-body concentration ``(..., m)`` [kmol/m^3] of the first ``m`` reactions in internal order,
        those whose rate constants read it (see :class:`RateState`), from ``colliders`` ``(..., n_third_body)``."""
        columns = self._collider_column[: self._third_body_width]
        return take(_with_constant(colliders, 0.0), columns)

    def _rate_state(self, T: torch.Tensor, P: torch.Tensor, third_body: torch.Tensor) -> RateState:
        logT, recipT = torch.log(T), 1.0 / T
        return RateState(T=T, logT=logT, recipT=recipT, logP=torch.log(P),
                         arrhenius_basis=torch.stack([logT, -recipT], dim=-1), third_body=third_body)

    def _forward_constants(self, T: torch.Tensor, P: torch.Tensor, third_body: torch.Tensor,
                           colliders: torch.Tensor | None = None) -> torch.Tensor:
        """``k_f`` ``(..., R)``, internal order, from ``T``, ``P`` ``(...,)`` and ``third_body`` ``(..., m)``
        (:meth:`_third_body`); with ``colliders`` ``(..., n_third_body)``, the three-body reactions' ``k_f [M]``
        (multiplied group by group, before the groups are joined: a pass over ``(..., R)`` less)."""
        if not self.groups:
            return T.new_zeros(*T.shape, 0)
        state = self._rate_state(T, P, third_body)
        parts = [group(state) for group in self.groups]
        if colliders is not None:
            parts = [part * take(colliders, self._collider_column[group.first : group.first + len(group)])
                     if group.mass_action else part for group, part in zip(self.groups, parts)]
        return torch.cat(parts, dim=-1)

    def _forward_constant_slopes(self, T: torch.Tensor, P: torch.Tensor, third_body: torch.Tensor) -> RateSlopes:
        """``k_f`` and its exact partial derivatives (see :class:`RateSlopes`), each ``(..., R)``, internal order."""
        if not self.groups:
            empty = T.new_zeros(*T.shape, 0)
            return RateSlopes(empty, empty, empty, empty)
        state = self._rate_state(T, P, third_body)
        parts = [group.slopes(state) for group in self.groups]
        return RateSlopes(*(torch.cat(column, dim=-1) for column in zip(*parts)))

    def _reciprocal_kc(self, T: torch.Tensor, gibbs_RT: torch.Tensor) -> torch.Tensor:
        """``1 / K_c`` capped at 1e300 ``(..., R)``, from reference-pressure ``gibbs_RT`` ``(..., K)``: ``k_r / k_f``
        of the reversible reactions (the reverse product of the others is 0)."""
        return torch.exp(self._log_reciprocal_kc(T, gibbs_RT)).clamp(max=BIG)

    def _collision(self, colliders: torch.Tensor) -> torch.Tensor:
        """The factor ``[M]`` of three-body reactions (1 for the others) ``(..., R)``, from ``colliders``
        ``(..., n_third_body)``."""
        return take(_with_constant(colliders, 1.0), self._collision_column)

    def _rates_from(self, T: torch.Tensor, P: torch.Tensor, concentrations: torch.Tensor,
                    gibbs_RT: torch.Tensor) -> Rates:
        """:class:`Rates` in internal reaction order from ``T``, ``P`` ``(...,)``, ``concentrations``
        ``(..., K)`` and reference-pressure ``gibbs_RT`` ``(..., K)``."""
        colliders = self._colliders(concentrations)
        forward_constants = self._forward_constants(T, P, self._third_body(colliders))
        reverse_constants = forward_constants * torch.where(self._reversible, self._reciprocal_kc(T, gibbs_RT), 0.0)
        collision = self._collision(colliders)
        forward = forward_constants * collision * self.forward_product(concentrations)
        reverse = reverse_constants * collision * self.reverse_product(concentrations)
        return Rates(forward_constants, reverse_constants, forward, reverse)

    def _internal_rates(self, T, P, Y) -> Rates:
        """:class:`Rates` in internal reaction order, for broadcast ``T``, ``P``, ``Y``."""
        return self._rates_from(T, P, self.concentrations(T, P, Y), self._reference_gibbs_RT(T))

    def _in_chunks(self, function, T, P, Y):
        """``function(T, P, Y)`` (a tensor or a tuple of tensors shaped ``(..., n)``) on broadcast
        inputs. On the CPU a large batch is evaluated in chunks of about ``CHUNK_ELEMENTS / R``
        states, which keeps the per-reaction temporaries in cache (2-3x faster than one call for
        10^4 states); other devices, and ``torch.compile`` (whose fused kernels keep few
        temporaries), get one call. The chunking depends on shapes only."""
        T, P, Y = self._broadcast(T, P, Y)
        size = max(1, CHUNK_ELEMENTS // max(self.n_reactions, self.n_species))
        if T.device.type != "cpu" or torch.compiler.is_compiling() or T.numel() <= size:
            return function(T, P, Y)
        batch = T.shape
        T, P, Y = T.reshape(-1), P.reshape(-1), Y.reshape(-1, self.n_species)
        parts = [function(T[i : i + size], P[i : i + size], Y[i : i + size]) for i in range(0, len(T), size)]
        if isinstance(parts[0], tuple):
            return type(parts[0])(*(torch.cat(column).reshape(*batch, -1) for column in zip(*parts)))
        return torch.cat(parts).reshape(*batch, -1)

    def rates(self, T, P, Y) -> Rates:
        """Rate constants and rates of progress of every reaction in one pass (see :class:`Rates`)."""
        return Rates(*map(self._to_cantera, self._in_chunks(self._internal_rates, T, P, Y)))

    def forward_rate_constants(self, T, P, Y) -> torch.Tensor:
        """``k_f`` ``(..., R)`` in kmol, m^3, s units; excludes the third-body concentration of
        three-body reactions, includes the falloff of falloff reactions (Cantera 3's convention)."""
        return self.rates(T, P, Y).forward_constants

    def reverse_rate_constants(self, T, P, Y) -> torch.Tensor:
        """``k_r = k_f / K_c`` ``(..., R)`` for reversible reactions (``1/K_c`` capped at 1e300), 0 otherwise."""
        return self.rates(T, P, Y).reverse_constants

    def forward_rates_of_progress(self, T, P, Y) -> torch.Tensor:
        """``q_f`` ``(..., R)`` [kmol/m^3/s]."""
        return self.rates(T, P, Y).forward

    def reverse_rates_of_progress(self, T, P, Y) -> torch.Tensor:
        """``q_r`` ``(..., R)`` [kmol/m^3/s]."""
        return self.rates(T, P, Y).reverse

    def net_rates_of_progress(self, T, P, Y) -> torch.Tensor:
        """``q = q_f - q_r`` ``(..., R)`` [kmol/m^3/s]."""
        rates = self.rates(T, P, Y)
        return rates.forward - rates.reverse

    def net_production_rates(self, T, P, Y) -> torch.Tensor:
        """``omega_k = sum_j nu_kj q_j`` ``(..., K)`` [kmol/m^3/s]."""
        return self._in_chunks(self._net_production_rates, T, P, Y)

    def _net_production_rates(self, T, P, Y) -> torch.Tensor:
        return self.production(self._net_rates(T, P, self.concentrations(T, P, Y), self._reference_gibbs_RT(T)))

    def _net_rates(self, T: torch.Tensor, P: torch.Tensor, concentrations: torch.Tensor,
                   gibbs_RT: torch.Tensor) -> torch.Tensor:
        """Net rates of progress ``q = k_f [M] (prod_f - prod_r / K_c)`` ``(..., R)`` in internal order, as
        :meth:`_rates_from` takes its arguments: two products and an ``addcmul`` of ``(..., R)`` tensors where
        ``q_f - q_r`` takes five products and a difference."""
        colliders = self._colliders(concentrations)
        net_product = torch.addcmul(self.forward_product(concentrations), self._reciprocal_kc(T, gibbs_RT),
                                    self.reverse_product(concentrations), value=-1.0)
        return self._forward_constants(T, P, self._third_body(colliders), colliders) * net_product


def _with_constant(colliders: torch.Tensor, value: float) -> torch.Tensor:
    """``colliders`` ``(..., n)`` with a column of ``value`` appended, for the reactions that take no ``[M]``:
    ``(..., n + 1)``."""
    return torch.cat([colliders, colliders.new_full((*colliders.shape[:-1], 1), value)], dim=-1)


def _check_reactions(solution, where: str) -> None:
    """Raise naming every reaction whose type has no torch implementation, and every Chebyshev fit
    on an empty temperature or pressure range (Cantera's rate is NaN there)."""
    reactions = list(enumerate(solution.reactions()))
    unsupported = [f"reaction {j} '{r.equation}' ({r.reaction_type})" for j, r in reactions
                   if type(r.rate) not in RATE_GROUPS]
    if unsupported:
        raise MechanismError(
            f"{where}: {len(unsupported)} reaction(s) of a type kinetix-cantera does not support: {_list(unsupported)}. "
            f"Supported: {SUPPORTED}. Remove or refit these reactions, or evaluate the mechanism with Cantera itself"
        )
    empty = [f"reaction {j} '{r.equation}' (temperature-range {list(r.rate.temperature_range)}, pressure-range "
             f"{list(r.rate.pressure_range)}, {r.rate.data.shape[1]} pressure coefficients)" for j, r in reactions
             if isinstance(r.rate, ct.ChebyshevRate) and is_degenerate(r.rate)]
    if empty:
        raise MechanismError(
            f"{where}: {len(empty)} Chebyshev reaction(s) on an empty range, where their rate is undefined: "
            f"{_list(empty)}. Give distinct range limits, or one pressure coefficient for a pressure-independent fit"
        )


def _list(items: list[str], shown: int = 10) -> str:
    """The first ``shown`` of ``items`` joined with ``; ``, and how many more there are."""
    return "; ".join(items[:shown]) + (f"; and {len(items) - shown} more" if len(items) > shown else "")


def _ideal_gas_hint(source) -> str:
    """How to choose an ideal-gas phase of ``source`` instead."""
    names = ideal_gas_phases(source)
    if not names:
        return "the file defines no ideal-gas phase; change the phase's 'thermo:' entry to 'ideal-gas'"
    return (f"choose one of the file's ideal-gas phases ({', '.join(names)}) with phase=, e.g. "
            f"Kinetics(source, phase={names[0]!r}), load_mechanism('cantera:...', phase={names[0]!r}) or "
            f"--option phase={names[0]}")


def _check_reference_pressure(species: list[ct.Species], reference: float, where: str) -> None:
    for sp in species:
        if not math.isclose(sp.thermo.reference_pressure, reference, rel_tol=1e-12):
            raise MechanismError(
                f"{where}: species {sp.name!r} has reference pressure {sp.thermo.reference_pressure} Pa, "
                f"the phase {reference} Pa; give all species one reference pressure"
            )
