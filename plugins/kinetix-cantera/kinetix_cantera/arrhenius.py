"""Modified Arrhenius rate constants ``k = A T^b exp(-Ea / (R T))``, the building block of the others."""

from __future__ import annotations

import cantera as ct
import torch

from kinetix.products import matmul

from .rate_group import RateGroup, RateSlopes, RateState


class ArrheniusCoefficients(torch.nn.Module):
    """``n`` Arrhenius expressions. Buffers: ``A`` ``(n,)`` [SI units: kmol, m^3, s] and
    ``exponents`` ``(2, n)`` = ``(b, Ea/R [K])``, so that ``b ln T - Ea/(R T)`` is one small matmul;
    ``log_A`` ``(n,)`` ``ln A`` (meaningful where ``A > 0``).
    """

    def __init__(self, rates: list[ct.ArrheniusRate], dtype: torch.dtype = torch.float64):
        super().__init__()
        self.register_buffer("A", torch.tensor([r.pre_exponential_factor for r in rates], dtype=dtype))
        exponents = [[r.temperature_exponent, r.activation_energy / ct.gas_constant] for r in rates]
        self.register_buffer("exponents", torch.tensor(exponents, dtype=dtype).reshape(-1, 2).T.contiguous())
        self.register_buffer("log_A", torch.log(self.A), persistent=False)

    def forward(self, state: RateState) -> torch.Tensor:
        """``A exp(b ln T - (Ea/R)/T)`` ``(..., n)``; a negative ``A`` gives a negative value, as in Cantera."""
        return self.A * torch.exp(matmul(state.arrhenius_basis, self.exponents))

    def log(self, state: RateState) -> torch.Tensor:
        """``ln k = ln A + b ln T - (Ea/R)/T`` ``(..., n)``, for expressions with ``A > 0``."""
        return self.log_A + matmul(state.arrhenius_basis, self.exponents)

    def log_slope(self, state: RateState) -> torch.Tensor:
        """``d ln k / dT = (b + (Ea/R)/T) / T`` ``(..., n)`` [1/K]."""
        basis = torch.stack([torch.ones_like(state.recipT), state.recipT], dim=-1)
        return matmul(basis, self.exponents) * state.recipT[..., None]

    def slope(self, state: RateState, k: torch.Tensor) -> torch.Tensor:
        """``dk/dT = k d ln k / dT`` ``(..., n)`` given ``k = self(state)``."""
        return k * self.log_slope(state)


class ArrheniusRates(RateGroup):
    """Elementary and three-body reactions with one Arrhenius expression each. (The third-body
    concentration of three-body reactions multiplies the rate of progress, not the rate constant,
    as in Cantera 3.)
    """

    def __init__(self, reactions: list[int], rates: list[ct.ArrheniusRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        self.rate = ArrheniusCoefficients(rates, dtype)

    def forward(self, state: RateState) -> torch.Tensor:
        return self.rate(state)

    def slopes(self, state: RateState) -> RateSlopes:
        k = self.rate(state)
        zero = torch.zeros_like(k)
        return RateSlopes(k, self.rate.slope(state, k), zero, zero)
