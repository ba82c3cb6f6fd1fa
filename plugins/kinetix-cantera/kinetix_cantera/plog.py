"""Pressure-dependent Arrhenius (PLOG) rate constants, interpolated in ``ln k`` versus ``ln P``.

At each tabulated pressure ``k_i = 1e-300 + sum of its Arrhenius expressions`` (several may share a
pressure, some with negative ``A``). Between tabulated pressures ``ln k`` is linear in ``ln P``;
below the lowest and above the highest the nearest one is used (no extrapolation), as in Cantera.
"""

from __future__ import annotations

import math

import cantera as ct
import torch

from .arrhenius import ArrheniusCoefficients
from .rate_group import RateGroup, RateSlopes, RateState


class PlogRates(RateGroup):
    """PLOG reactions, ``n`` of them with up to ``L`` tabulated pressures each (``N`` in all).

    Submodule ``terms``: all Arrhenius expressions; buffer ``term_pressure`` ``(n_terms,)`` the
    tabulated pressure (of the ``N``) each term adds to. Per reaction, padded to ``L`` by repeating
    the last pressure: ``level`` ``(n, L)`` the index of its tabulated pressures among the ``N``,
    ``log_pressure`` ``(n, L)`` their ``ln P`` [ln Pa], ``inverse_width`` ``(n, L)``
    ``1 / (ln P_(i+1) - ln P_i)`` (0 from the last on) and ``last`` ``(n,)`` the last one's index.
    """

    def __init__(self, reactions: list[int], rates: list[ct.PlogRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        terms, term_pressure, tables = [], [], []
        offset = 0  # tabulated pressures of the reactions before
        for rate in rates:
            table: list[float] = []  # ln P of this reaction's tabulated pressures, increasing
            for pressure, arrhenius_rate in rate.rates:  # sorted by pressure
                if not table or table[-1] != math.log(pressure):
                    table.append(math.log(pressure))
                terms.append(arrhenius_rate)
                term_pressure.append(offset + len(table) - 1)
            tables.append(table)
            offset += len(table)
        width = max(len(table) for table in tables)
        level = torch.zeros(len(rates), width, dtype=torch.long)
        log_pressure = torch.zeros(len(rates), width, dtype=dtype)
        inverse_width = torch.zeros(len(rates), width, dtype=dtype)
        first = 0
        for j, table in enumerate(tables):
            log_pressure[j] = torch.tensor(table + [table[-1]] * (width - len(table)), dtype=dtype)
            level[j] = first + torch.arange(width).clamp(max=len(table) - 1)
            inverse_width[j, : len(table) - 1] = 1.0 / torch.diff(torch.tensor(table, dtype=dtype))
            first += len(table)
        self.n_levels = offset
        self.terms = ArrheniusCoefficients(terms, dtype)
        self.register_buffer("term_pressure", torch.tensor(term_pressure, dtype=torch.long))
        self.register_buffer("level", level)
        self.register_buffer("log_pressure", log_pressure)
        self.register_buffer("inverse_width", inverse_width)
        self.register_buffer("last", torch.tensor([len(table) - 1 for table in tables], dtype=torch.long))
        self.register_buffer("_rows", torch.arange(len(rates)), persistent=False)

    def _log_levels(self, k_terms: torch.Tensor) -> torch.Tensor:
        """``ln k`` ``(..., N)`` at every tabulated pressure from the terms ``(..., n_terms)``."""
        k = torch.full((*k_terms.shape[:-1], self.n_levels), 1e-300, dtype=k_terms.dtype, device=k_terms.device)
        return torch.log(k.index_add(-1, self.term_pressure, k_terms))

    def _bracket(self, state: RateState):
        """Per reaction, the tabulated pressures around ``P`` and the position between them:
        ``(low, high)`` indices among the ``N`` ``(..., n)``, ``fraction`` ``(..., n)`` and
        ``d fraction / d ln P`` ``(..., n)`` (0 outside the table, where ``P`` is clamped)."""
        lowest, highest = self.log_pressure[:, 0], self.log_pressure[self._rows, self.last]
        log_p = state.logP[..., None]
        clamped = torch.minimum(torch.maximum(log_p, lowest), highest)  # (..., n): no extrapolation
        low = torch.minimum((clamped[..., None] >= self.log_pressure[:, 1:]).sum(dim=-1), (self.last - 1).clamp(min=0))
        high = torch.minimum(low + 1, self.last)
        width = self.inverse_width[self._rows, low]
        fraction = (clamped - self.log_pressure[self._rows, low]) * width
        slope = torch.where((log_p > lowest) & (log_p < highest), width, 0.0)
        return self.level[self._rows, low], self.level[self._rows, high], fraction, slope

    def forward(self, state: RateState) -> torch.Tensor:
        log_k = self._log_levels(self.terms(state))
        low, high, fraction, _ = self._bracket(state)
        log_k_low, log_k_high = torch.gather(log_k, -1, low), torch.gather(log_k, -1, high)
        return torch.exp(log_k_low + (log_k_high - log_k_low) * fraction)

    def slopes(self, state: RateState) -> RateSlopes:
        k_terms = self.terms(state)
        log_k = self._log_levels(k_terms)
        # d ln k_i / dT = (sum of the terms' dk/dT) / k_i
        dlog_k = torch.zeros_like(log_k).index_add(-1, self.term_pressure, self.terms.slope(state, k_terms)) \
            / torch.exp(log_k)
        low, high, fraction, slope = self._bracket(state)
        log_k_low, log_k_high = torch.gather(log_k, -1, low), torch.gather(log_k, -1, high)
        dlog_k_low, dlog_k_high = torch.gather(dlog_k, -1, low), torch.gather(dlog_k, -1, high)
        k = torch.exp(log_k_low + (log_k_high - log_k_low) * fraction)
        return RateSlopes(k, k * (dlog_k_low + (dlog_k_high - dlog_k_low) * fraction), torch.zeros_like(k),
                          k * (log_k_high - log_k_low) * slope)
