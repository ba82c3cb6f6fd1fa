"""Species thermodynamics: NASA 7- and 9-coefficient polynomials over any number of ranges.

Every species is stored in the NASA-9 form (a NASA-7 set ``a0..a6`` is ``[0, 0, a0, ..., a6]``):

    cp/R  = a0 T^-2 + a1 T^-1 + a2 + a3 T + a4 T^2 + a5 T^3 + a6 T^4
    h/RT  = -a0 T^-2 + a1 ln(T)/T + a2 + a3 T/2 + a4 T^2/3 + a5 T^3/4 + a6 T^4/5 + a7/T
    s/R   = -a0 T^-2/2 - a1/T + a2 ln(T) + a3 T + a4 T^2/2 + a5 T^3/3 + a6 T^4/4 + a8

and evaluated for all species and ranges as one product of the monomials ``MONOMIALS`` of ``T``
with a coefficient matrix. The range is chosen as Cantera does: NASA-7 uses the low range up to
and including ``T_mid``; NASA-9 uses range ``i`` from its lower bound on (``T >= T_i``). Outside
the fitted interval the first or last polynomial is extrapolated, as in Cantera.
"""

from __future__ import annotations

import math

import cantera as ct
import torch

from kinetix import MechanismError
from kinetix.products import matmul

MONOMIALS = ("1", "T", "T^2", "T^3", "T^4", "1/T", "1/T^2", "1/T^3", "ln T", "ln T / T")

# (monomial, NASA-9 coefficient index, factor) for each property
_CP = [(0, 2, 1), (1, 3, 1), (2, 4, 1), (3, 5, 1), (4, 6, 1), (5, 1, 1), (6, 0, 1)]
_H = [(0, 2, 1), (1, 3, 1 / 2), (2, 4, 1 / 3), (3, 5, 1 / 4), (4, 6, 1 / 5), (5, 7, 1), (6, 0, -1), (9, 1, 1)]
_S = [(0, 8, 1), (1, 3, 1), (2, 4, 1 / 2), (3, 5, 1 / 3), (4, 6, 1 / 4), (5, 1, -1), (6, 0, -1 / 2), (8, 2, 1)]
_CP_SLOPE = [(0, 3, 1), (1, 4, 2), (2, 5, 3), (3, 6, 4), (6, 1, -1), (7, 0, -2)]


class NasaThermo(torch.nn.Module):
    """Standard-state ``cp/R``, ``h/RT``, ``s/R`` (and ``d(cp/R)/dT``, ``g/RT``) of ``K`` species at ``T`` ``(...,)``.

    Buffers: ``coefficients`` ``(10, 3 * ranges * K)`` maps the monomials to ``(cp/R, h/RT, s/R)``
    for every range; ``cp_slope_coefficients`` ``(10, ranges * K)`` to ``d(cp/R)/dT`` [1/K];
    ``gibbs_coefficients`` ``(10, ranges * K)`` to ``g/RT = h/RT - s/R``;
    ``range_starts`` ``(K, ranges - 1)``: the temperature [K] at which each range after the first
    begins (``+inf`` for ranges a species does not have).
    """

    def __init__(self, species: list[ct.Species], where: str, dtype: torch.dtype = torch.float64):
        super().__init__()
        ranges = [_ranges(sp, where) for sp in species]
        n_ranges = max(len(r) for r in ranges)
        nasa9 = torch.zeros(n_ranges, len(species), 9, dtype=dtype)
        starts = torch.full((len(species), max(n_ranges - 1, 1)), math.inf, dtype=dtype)
        for k, species_ranges in enumerate(ranges):
            for i, (start, coeffs) in enumerate(species_ranges):
                nasa9[i, k] = torch.tensor(coeffs, dtype=dtype)
                if i > 0:
                    starts[k, i - 1] = start
        self.n_species = len(species)
        self.n_ranges = n_ranges
        properties = torch.stack([_monomial_matrix(nasa9, terms) for terms in (_CP, _H, _S)], dim=1)
        self.register_buffer("coefficients", properties.flatten(1))
        self.register_buffer("cp_slope_coefficients", _monomial_matrix(nasa9, _CP_SLOPE).flatten(1))
        gibbs = _monomial_matrix(nasa9, _H) - _monomial_matrix(nasa9, _S)
        self.register_buffer("gibbs_coefficients", gibbs.flatten(1), persistent=False)
        self.register_buffer("range_starts", starts)

    @staticmethod
    def monomials(T: torch.Tensor) -> torch.Tensor:
        """``MONOMIALS`` of ``T`` ``(...,)``: ``(..., 10)``."""
        logT, inverse = torch.log(T), torch.reciprocal(T)
        T2, inverse2 = T * T, inverse * inverse
        return torch.stack([torch.ones_like(T), T, T2, T2 * T, T2 * T2, inverse, inverse2, inverse2 * inverse,
                            logT, logT * inverse], dim=-1)

    def _in_range(self, T: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``values`` ``(..., properties, ranges * K)`` at each species' range for ``T``: ``(..., properties, K)``."""
        values = values.unflatten(-1, (self.n_ranges, self.n_species))
        if self.n_ranges == 1:
            return values[..., 0, :]
        in_range = (T[..., None, None] >= self.range_starts).sum(dim=-1)  # (..., K)
        index = in_range[..., None, None, :].expand(*values.shape[:-2], 1, self.n_species)
        return torch.gather(values, -2, index).squeeze(-2)

    def forward(self, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cp/R, h/RT, s/R)``, each ``(..., K)``, at temperatures ``T`` ``(...,)`` [K]."""
        values = matmul(self.monomials(T), self.coefficients).unflatten(-1, (3, -1))
        return self._in_range(T, values).unbind(dim=-2)

    def cp_slope(self, T: torch.Tensor) -> torch.Tensor:
        """``d(cp/R)/dT`` ``(..., K)`` [1/K]."""
        return self._one_property(T, self.cp_slope_coefficients)

    def gibbs_RT(self, T: torch.Tensor) -> torch.Tensor:
        """``g/RT = h/RT - s/R`` ``(..., K)``: a third of :meth:`forward`'s work where only it is needed."""
        return self._one_property(T, self.gibbs_coefficients)

    def _one_property(self, T: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """The property of ``coefficients`` ``(10, ranges * K)`` at ``T`` ``(...,)``: ``(..., K)``."""
        values = matmul(self.monomials(T), coefficients)[..., None, :]
        return self._in_range(T, values)[..., 0, :]


def _monomial_matrix(nasa9: torch.Tensor, terms) -> torch.Tensor:
    """``(10, ranges, K)``: the coefficient of each monomial in one property."""
    matrix = nasa9.new_zeros(len(MONOMIALS), *nasa9.shape[:2])
    for monomial, index, factor in terms:
        matrix[monomial] += factor * nasa9[..., index]
    return matrix


def _ranges(species: ct.Species, where: str) -> list[tuple[float, list[float]]]:
    """``[(range start [K], NASA-9 coefficients), ...]`` for one species, lowest range first."""
    thermo = species.thermo
    c = [float(x) for x in thermo.coeffs]
    if isinstance(thermo, ct.NasaPoly2):
        t_mid, high, low = c[0], c[1:8], c[8:15]
        # the high range starts just above T_mid: Cantera uses the low one for T <= T_mid
        return [(-math.inf, [0.0, 0.0, *low]), (math.nextafter(t_mid, math.inf), [0.0, 0.0, *high])]
    if isinstance(thermo, ct.Nasa9PolyMultiTempRegion):
        n_regions = int(c[0])
        blocks = [c[1 + i * 11 : 1 + (i + 1) * 11] for i in range(n_regions)]
        return [(-math.inf if i == 0 else block[0], block[2:]) for i, block in enumerate(blocks)]
    raise MechanismError(
        f"{where}: species {species.name!r} uses {type(thermo).__name__} thermo; kinetix-cantera "
        "supports NASA-7 and NASA-9 polynomials only (refit it as NASA-7, e.g. from Cantera's "
        "Species.thermo.cp / h / s)"
    )
