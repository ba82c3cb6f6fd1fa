"""Mixture thermodynamics from NASA-7 polynomials: mass enthalpy and heat capacity, and ``T`` from ``h``.

The species' polynomials are summed once per group of species that share a range boundary, so that a
mixture's ``h`` and ``cp`` at any ``T`` cost a few products with powers of ``T``, not one per species.
"""

from __future__ import annotations

import torch
from torch import nn

from .equilibrium import GAS_CONSTANT


class MixtureThermo(nn.Module):
    """``h(T, Y)``, ``cp(T, Y)`` and ``T(h, Y)`` of ideal-gas mixtures (float64; no persistent state).

    Args:
        molecular_weights: ``(K,)`` [kg/kmol]; nasa_low, nasa_high: ``(K, 7)`` NASA-7 coefficients;
            nasa_mid: ``(K,)`` [K], the low range applies up to and including it (as Cantera).
    """

    def __init__(self, molecular_weights, nasa_low, nasa_high, nasa_mid):
        super().__init__()
        f64 = dict(dtype=torch.float64)
        weights = torch.as_tensor(molecular_weights, **f64)
        mid = torch.as_tensor(nasa_mid, **f64).reshape(-1)
        per_mass = GAS_CONSTANT / weights
        for name, table in (("low", nasa_low), ("high", nasa_high)):   # NASA-7 as products with powers of T
            table = torch.as_tensor(table, **f64).reshape(len(weights), 7)
            self.register_buffer(f"enthalpy_{name}", (torch.cat([table[:, 5:6], table[:, :5] / torch.arange(1, 6, **f64)],
                                                                 dim=1) * per_mass[:, None]).T.contiguous(), persistent=False)
            self.register_buffer(f"capacity_{name}", (table[:, :5] * per_mass[:, None]).T.contiguous(), persistent=False)
        mids = mid.unique()
        self.register_buffer("range_mids", mids, persistent=False)                    # (groups,)
        self.register_buffer("range_groups", (mid[:, None] == mids).to(torch.float64), persistent=False)

    def tables(self, Y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The mixture's polynomial coefficients of ``Y`` ``(..., K)`` per range group: enthalpy low/high
        ``(..., groups, 6)``, heat capacity low/high ``(..., groups, 5)``."""
        grouped = Y[..., None] * self.range_groups                                   # (..., K, groups)
        return tuple(torch.einsum("...kg,jk->...gj", grouped, table) for table in (
            self.enthalpy_low, self.enthalpy_high, self.capacity_low, self.capacity_high))

    def evaluate(self, T: torch.Tensor, tables: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, cp)`` ``(...,)`` [J/kg, J/kg/K] at ``T`` ``(...,)`` [K] of the mixture of :meth:`tables`."""
        t = T[..., None]
        powers = torch.cat([torch.ones_like(t), t, t * t, t * t * t, t * t * t * t, t.pow(5)], dim=-1)[..., None, :]
        low = self.range_mids >= t                                                   # (..., groups)
        h = torch.where(low, (tables[0] * powers).sum(-1), (tables[1] * powers).sum(-1)).sum(-1)
        cp = torch.where(low, (tables[2] * powers[..., :5]).sum(-1), (tables[3] * powers[..., :5]).sum(-1)).sum(-1)
        return h, cp

    def enthalpy(self, T: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """Mass enthalpy [J/kg] ``(...,)`` at ``T`` ``(...,)`` [K] and ``Y`` ``(..., K)``."""
        return self.evaluate(T, self.tables(Y))[0]

    def temperature(self, h: torch.Tensor, Y: torch.Tensor, guess: torch.Tensor, iterations: int) -> torch.Tensor:
        """``T`` with ``enthalpy(T, Y) = h`` [K] ``(...,)``, by ``iterations`` Newton steps from ``guess``: a state
        whose enthalpy was computed by :meth:`enthalpy` at ``guess`` returns ``guess`` bit for bit."""
        tables = self.tables(Y)
        T = guess
        for _ in range(iterations):
            mixture_h, mixture_cp = self.evaluate(T, tables)
            T = T - (mixture_h - h) / mixture_cp
        return T


def nasa7_description(name: str, species: list[str], where: str = "") -> dict:
    """``{"molecular_weights", "nasa_low", "nasa_high", "nasa_mid", "elements"}`` of Cantera mechanism ``name``
    (``h2o2`` or a YAML file) as lists, for data whose species are ``species``; elements ``(n_elements, K)``
    [kmol/kg]. Raises :class:`~kinetix.errors.ConfigError` for other species or thermo that is not NASA-7."""
    import cantera as ct

    from kinetix.errors import ConfigError

    gas = ct.Solution(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if species != gas.species_names:
        raise ConfigError(f"{where}: its species {species} are not those of {name} {gas.species_names}")
    low, high, mid = [], [], []
    for sp in gas.species():
        if not isinstance(sp.thermo, ct.NasaPoly2):
            raise ConfigError(f"{name}: species {sp.name} has {type(sp.thermo).__name__} thermo; kinetix's "
                              "combustion surrogates support NASA-7 polynomials only")
        c = [float(x) for x in sp.thermo.coeffs]
        mid.append(c[0])
        high.append(c[1:8])
        low.append(c[8:15])
    weights = torch.tensor(gas.molecular_weights, dtype=torch.float64)
    elements = torch.tensor([[gas.n_atoms(s, e) for s in species] for e in gas.element_names],
                            dtype=torch.float64) / weights
    return {"molecular_weights": weights.tolist(), "nasa_low": low, "nasa_high": high, "nasa_mid": mid,
            "elements": elements.tolist()}
