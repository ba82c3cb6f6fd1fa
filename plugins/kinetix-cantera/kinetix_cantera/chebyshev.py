"""Chebyshev rate constants: ``log10 k = sum_tp a_tp T_t(T~) T_p(P~)`` over a T and P rectangle.

``T~ = (2/T - 1/Tmin - 1/Tmax) / (1/Tmax - 1/Tmin)`` and
``P~ = (2 log10 P - log10 Pmin - log10 Pmax) / (log10 Pmax - log10 Pmin)``; outside the rectangle
the polynomials are extrapolated, as in Cantera. A fit with one pressure coefficient does not
depend on pressure, and may give a single pressure (``pressure-range: [P, P]``): ``P~`` is then 0.
"""

from __future__ import annotations

import math

import cantera as ct
import torch

from .rate_group import RateGroup, RateSlopes, RateState


def chebyshev_polynomials(x: torch.Tensor, count: int) -> torch.Tensor:
    """``T_0(x) .. T_(count-1)(x)`` stacked on a new last dimension: ``(*x.shape, count)``."""
    polynomials = [torch.ones_like(x), x]
    while len(polynomials) < count:
        polynomials.append(2 * x * polynomials[-1] - polynomials[-2])
    return torch.stack(polynomials[:count], dim=-1)


def chebyshev_slopes(x: torch.Tensor, polynomials: torch.Tensor) -> torch.Tensor:
    """``T_t'(x)`` for the ``polynomials`` ``(*x.shape, count)`` of :func:`chebyshev_polynomials`:
    ``T_0' = 0``, ``T_1' = 1``, ``T_(t+1)' = 2 T_t + 2 x T_t' - T_(t-1)'``."""
    slopes = [torch.zeros_like(x), torch.ones_like(x)]
    for t in range(1, polynomials.shape[-1] - 1):
        slopes.append(2 * polynomials[..., t] + 2 * x * slopes[-1] - slopes[-2])
    return torch.stack(slopes[: polynomials.shape[-1]], dim=-1)


def is_degenerate(rate: ct.ChebyshevRate) -> bool:
    """True for a fit that Cantera evaluates to NaN: an empty temperature range, or an empty
    pressure range under more than one pressure coefficient."""
    (t_min, t_max), (p_min, p_max) = rate.temperature_range, rate.pressure_range
    return t_min == t_max or (p_min == p_max and rate.data.shape[1] > 1)


class ChebyshevRates(RateGroup):
    """Chebyshev reactions. Buffers: ``coefficients`` ``(n, NT, NP)`` (log10 of SI rate constants,
    zero-padded to the largest fit), ``reduced`` ``(n, 4)``: ``(-1/Tmin - 1/Tmax, 1/(1/Tmax - 1/Tmin),
    -log10 Pmin - log10 Pmax, 1/(log10 Pmax - log10 Pmin))``.
    """

    def __init__(self, reactions: list[int], rates: list[ct.ChebyshevRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        n_t = max(rate.data.shape[0] for rate in rates)
        n_p = max(rate.data.shape[1] for rate in rates)
        coefficients = torch.zeros(len(rates), n_t, n_p, dtype=dtype)
        reduced = []
        for j, rate in enumerate(rates):
            data = torch.as_tensor(rate.data, dtype=dtype)
            coefficients[j, : data.shape[0], : data.shape[1]] = data
            t_min, t_max = rate.temperature_range
            log_p_min, log_p_max = (math.log10(p) for p in rate.pressure_range)
            p_scale = 0.0 if data.shape[1] == 1 else 1 / (log_p_max - log_p_min)  # see is_degenerate
            reduced.append([-1 / t_min - 1 / t_max, 1 / (1 / t_max - 1 / t_min), -log_p_min - log_p_max, p_scale])
        self.register_buffer("coefficients", coefficients)
        self.register_buffer("reduced", torch.tensor(reduced, dtype=dtype))

    def _polynomials(self, state: RateState):
        """``(T~, P~)`` ``(..., n)`` and their polynomials ``(..., n, NT)``, ``(..., n, NP)``."""
        t_offset, t_scale, p_offset, p_scale = self.reduced.unbind(-1)
        reduced_t = (2 * state.recipT[..., None] + t_offset) * t_scale
        reduced_p = (2 * state.logP[..., None] / math.log(10.0) + p_offset) * p_scale
        return (reduced_t, reduced_p, chebyshev_polynomials(reduced_t, self.coefficients.shape[1]),
                chebyshev_polynomials(reduced_p, self.coefficients.shape[2]))

    def _series(self, phi_t: torch.Tensor, phi_p: torch.Tensor) -> torch.Tensor:
        """``sum_tp a_tp phi_t phi_p`` ``(..., n)``."""
        return torch.einsum("...nt,ntp,...np->...n", phi_t, self.coefficients, phi_p)

    def forward(self, state: RateState) -> torch.Tensor:
        _, _, phi_t, phi_p = self._polynomials(state)
        return torch.pow(10.0, self._series(phi_t, phi_p))

    def slopes(self, state: RateState) -> RateSlopes:
        reduced_t, reduced_p, phi_t, phi_p = self._polynomials(state)
        k = torch.pow(10.0, self._series(phi_t, phi_p))
        along_t = self._series(chebyshev_slopes(reduced_t, phi_t), phi_p)
        along_p = self._series(phi_t, chebyshev_slopes(reduced_p, phi_p))
        t_scale, p_scale = self.reduced[:, 1], self.reduced[:, 3]
        # d T~/dT = -2 t_scale / T^2; d P~/d ln P = 2 p_scale / ln 10; dk = k ln 10 d log10 k
        dk_dT = k * math.log(10.0) * along_t * (-2.0 * t_scale * state.recipT[..., None] ** 2)
        return RateSlopes(k, dk_dT, torch.zeros_like(k), k * along_p * 2.0 * p_scale)
