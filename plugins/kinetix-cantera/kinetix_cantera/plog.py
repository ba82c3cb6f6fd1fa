"""Pressure-dependent Arrhenius (PLOG) rate constants, interpolated in ``ln k`` versus ``ln P``.

At each tabulated pressure (a *level*) ``ln k`` is, as in Cantera, ``ln A + b ln T - Ea/(R T)`` where
the pressure has one Arrhenius expression with positive ``A``, and ``ln(1e-300 + sum of its
expressions)`` where it has several (some may have negative ``A``). Between tabulated pressures ``ln k``
is linear in ``ln P``; below the lowest and above the highest the nearest one is used (no
extrapolation), as in Cantera.
"""

from __future__ import annotations

import math

import cantera as ct
import torch

from .arrhenius import ArrheniusCoefficients
from .rate_group import RateGroup, RateSlopes, RateState, take


class PlogRates(RateGroup):
    """PLOG reactions, ``n`` of them with up to ``L`` tabulated pressures each (``N`` levels in all).

    Levels are numbered single-expression ones first: submodule ``single`` holds their expressions,
    ``summed`` the expressions of the other levels, and buffer ``summed_level`` ``(n_summed,)`` the level
    (counted from the first summed one) each adds to.

    Reactions share few distinct pressure tables (n-hexane: 38 for 401 reactions), so the position of
    ``P`` in them is found per table: buffers ``table_log_pressure`` ``(U, L)`` the ``ln P`` [ln Pa] of
    each distinct table, padded by repeating its last, ``table_inverse_width`` ``(U, L)``
    ``1 / (ln P_(i+1) - ln P_i)`` (0 from the last on) and ``table_last`` ``(U,)`` the last one's index;
    per reaction ``table`` ``(n,)`` its table and ``level`` ``(n, L)`` its levels, padded like its table.
    """

    def __init__(self, reactions: list[int], rates: list[ct.PlogRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        tables, levels = [], []  # per reaction: ln P of its tabulated pressures (increasing), their expressions
        for rate in rates:
            table: list[float] = []
            for pressure, arrhenius_rate in rate.rates:  # sorted by pressure
                if not table or table[-1] != math.log(pressure):
                    table.append(math.log(pressure))
                    levels.append([])
                levels[-1].append(arrhenius_rate)
            tables.append(table)
        is_single = [len(terms) == 1 and terms[0].pre_exponential_factor > 0 for terms in levels]
        single = [i for i, one in enumerate(is_single) if one]
        summed = [i for i, one in enumerate(is_single) if not one]
        number = {old: new for new, old in enumerate(single + summed)}
        self.single = ArrheniusCoefficients([levels[i][0] for i in single], dtype)
        self.summed = ArrheniusCoefficients([term for i in summed for term in levels[i]], dtype)
        self.register_buffer("summed_level", torch.tensor([j for j, i in enumerate(summed) for _ in levels[i]],
                                                          dtype=torch.long))
        self.n_summed = len(summed)

        width = max(len(table) for table in tables)
        distinct = sorted(set(map(tuple, tables)))
        table_index = {table: u for u, table in enumerate(distinct)}
        self.register_buffer("table", torch.tensor([table_index[tuple(t)] for t in tables], dtype=torch.long))
        table_log_pressure = torch.tensor([list(t) + [t[-1]] * (width - len(t)) for t in distinct], dtype=dtype)
        self.register_buffer("table_log_pressure", table_log_pressure)
        inverse_width = torch.zeros_like(table_log_pressure)
        for u, table in enumerate(distinct):
            inverse_width[u, : len(table) - 1] = 1.0 / torch.diff(torch.tensor(table, dtype=dtype))
        self.register_buffer("table_inverse_width", inverse_width)
        self.register_buffer("table_last", torch.tensor([len(t) - 1 for t in distinct], dtype=torch.long))
        level, first = torch.zeros(len(rates), width, dtype=torch.long), 0
        for j, table in enumerate(tables):
            level[j] = torch.tensor([number[first + min(i, len(table) - 1)] for i in range(width)])
            first += len(table)
        self.register_buffer("level", level)
        self.register_buffer("_table_offsets", torch.arange(len(distinct)) * width, persistent=False)
        self.register_buffer("_reaction_offsets", torch.arange(len(rates)) * width, persistent=False)

    def _sum_by_level(self, terms: torch.Tensor, start: float) -> torch.Tensor:
        """``start`` plus the sum of each summed level's ``terms`` ``(..., n_summed_terms)``: ``(..., n_summed)``."""
        total = torch.full((*terms.shape[:-1], self.n_summed), start, dtype=terms.dtype, device=terms.device)
        return total.index_add(-1, self.summed_level, terms)

    def _log_levels(self, state: RateState) -> torch.Tensor:
        """``ln k`` ``(..., N)`` at every level."""
        if not self.n_summed:
            return self.single.log(state)
        return torch.cat([self.single.log(state), torch.log(self._sum_by_level(self.summed(state), 1e-300))], dim=-1)

    def _log_level_slopes(self, state: RateState) -> tuple[torch.Tensor, torch.Tensor]:
        """``ln k`` and ``d ln k / dT`` [1/K] ``(..., N)`` at every level (a summed level's ``d ln k / dT`` is the
        sum of its expressions' ``dk/dT`` over its ``k``)."""
        if not self.n_summed:
            return self.single.log(state), self.single.log_slope(state)
        k_terms = self.summed(state)
        k = self._sum_by_level(k_terms, 1e-300)
        slope = self._sum_by_level(self.summed.slope(state, k_terms), 0.0) / k
        return (torch.cat([self.single.log(state), torch.log(k)], dim=-1),
                torch.cat([self.single.log_slope(state), slope], dim=-1))

    def _bracket(self, state: RateState):
        """Per reaction, the levels around ``P`` ``(low, high)`` ``(..., n)``, the position between them
        ``fraction`` ``(..., n)`` and ``d fraction / d ln P`` ``(..., n)`` (0 outside the table, where ``P``
        is clamped)."""
        lowest, highest = self.table_log_pressure[:, 0], self.table_log_pressure[:, -1]
        log_p = state.logP[..., None]
        clamped = torch.minimum(torch.maximum(log_p, lowest), highest)  # (..., U): no extrapolation
        low = torch.minimum((clamped[..., None] >= self.table_log_pressure[:, 1:]).sum(dim=-1),
                            (self.table_last - 1).clamp(min=0))
        high = torch.minimum(low + 1, self.table_last)
        width = _lookup(self.table_inverse_width, self._table_offsets + low)
        fraction = (clamped - _lookup(self.table_log_pressure, self._table_offsets + low)) * width
        slope = torch.where((log_p > lowest) & (log_p < highest), width, 0.0)
        low, high, fraction, slope = (take(x, self.table) for x in (low, high, fraction, slope))
        return (_lookup(self.level, self._reaction_offsets + low), _lookup(self.level, self._reaction_offsets + high),
                fraction, slope)

    def forward(self, state: RateState) -> torch.Tensor:
        log_k = self._log_levels(state)
        low, high, fraction, _ = self._bracket(state)
        log_k_low, log_k_high = torch.gather(log_k, -1, low), torch.gather(log_k, -1, high)
        return torch.exp(log_k_low + (log_k_high - log_k_low) * fraction)

    def slopes(self, state: RateState) -> RateSlopes:
        log_k, dlog_k = self._log_level_slopes(state)
        low, high, fraction, slope = self._bracket(state)
        log_k_low, log_k_high = torch.gather(log_k, -1, low), torch.gather(log_k, -1, high)
        dlog_k_low, dlog_k_high = torch.gather(dlog_k, -1, low), torch.gather(dlog_k, -1, high)
        k = torch.exp(log_k_low + (log_k_high - log_k_low) * fraction)
        return RateSlopes(k, k * (dlog_k_low + (dlog_k_high - dlog_k_low) * fraction), torch.zeros_like(k),
                          k * (log_k_high - log_k_low) * slope)


def _lookup(table: torch.Tensor, flat_index: torch.Tensor) -> torch.Tensor:
    """``table.flatten()[flat_index]`` ``(..., m)`` for a constant ``table`` and ``flat_index`` ``(..., m)``, as a
    ``gather`` on the expanded (not copied) table, which is several times faster on the CPU than indexing."""
    return torch.gather(table.flatten().expand(*flat_index.shape[:-1], -1), -1, flat_index)
