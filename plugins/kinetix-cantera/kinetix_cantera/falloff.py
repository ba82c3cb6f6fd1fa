"""Pressure falloff: Lindemann, Troe, Tsang and SRI broadening, falloff and chemically activated.

With the reduced pressure ``Pr = k0 [M] / k_inf`` and a broadening factor ``F(T, Pr)``:

- falloff: ``k = k_inf * Pr / (1 + Pr) * F``
- chemically activated: ``k = k0 / (1 + Pr) * F``

exactly as Cantera evaluates them (``Pr`` uses ``k_inf + 1e-300``; logarithms of ``Pr`` and
``F_cent`` are taken of ``max(x, 1e-300)``). Terms that Cantera drops (a Troe ``T3`` or ``T1`` of
zero, an absent ``T2``, an SRI ``c`` of zero) are given zero weight rather than infinite
parameters, so values and gradients stay finite.
"""

from __future__ import annotations

import cantera as ct
import torch

from .arrhenius import ArrheniusCoefficients
from .rate_group import RateGroup, RateState

SMALL = 1e-300  # Cantera's SmallNumber


class FalloffRates(RateGroup):
    """Falloff and chemically activated reactions of one broadening type (Lindemann: ``F = 1``).

    Submodules ``low``, ``high``: the Arrhenius expressions of ``k0`` and ``k_inf``; buffer
    ``chemically_activated`` ``(n,)`` bool.
    """

    def __init__(self, reactions: list[int], rates: list[ct.FalloffRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        self.low = ArrheniusCoefficients([r.low_rate for r in rates], dtype)
        self.high = ArrheniusCoefficients([r.high_rate for r in rates], dtype)
        self.register_buffer("chemically_activated", torch.tensor([r.chemically_activated for r in rates]))

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        """``F`` ``(..., n)`` given ``log10(max(Pr, 1e-300))`` ``(..., n)``; 1 for Lindemann."""
        return torch.ones_like(log10_pr)

    def forward(self, state: RateState) -> torch.Tensor:
        k0 = self.low(state)
        k_inf = self.high(state)
        pr = self.own(state.third_body) * k0 / (k_inf + SMALL)
        factor = self.broadening(state, torch.log10(pr.clamp(min=SMALL))) / (1.0 + pr)
        return torch.where(self.chemically_activated, factor * k0, pr * factor * k_inf)


class TroeFalloff(FalloffRates):
    """Troe broadening, 3 or 4 parameters: ``F_cent = (1-A) e^(-T/T3) + A e^(-T/T1) + e^(-T2/T)``.

    Buffer ``center`` ``(n, 6)``: weights and rates ``(1-A, 1/T3, A, 1/T1, [T2 given], T2)``.
    """

    def __init__(self, reactions: list[int], rates: list[ct.FalloffRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions, rates, dtype)
        self.register_buffer("center", torch.tensor([self._center(r.falloff_coeffs) for r in rates], dtype=dtype))

    @staticmethod
    def _center(coeffs) -> list[float]:
        A, T3, T1 = coeffs[:3]
        T2 = coeffs[3] if len(coeffs) > 3 else 0.0
        return [
            (1.0 - A) if abs(T3) >= SMALL else 0.0, 1.0 / T3 if abs(T3) >= SMALL else 0.0,
            A if abs(T1) >= SMALL else 0.0, 1.0 / T1 if abs(T1) >= SMALL else 0.0,
            1.0 if T2 != 0.0 else 0.0, T2,
        ]

    def log10_center(self, state: RateState) -> torch.Tensor:
        """``log10(max(F_cent, 1e-300))`` ``(..., n)``."""
        w3, r3, w1, r1, w2, T2 = self.center.unbind(-1)
        T, recipT = state.T[..., None], state.recipT[..., None]
        f_cent = w3 * torch.exp(-T * r3) + w1 * torch.exp(-T * r1) + w2 * torch.exp(-T2 * recipT)
        return torch.log10(f_cent.clamp(min=SMALL))

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        log10_fc = self.log10_center(state)
        c = -0.4 - 0.67 * log10_fc
        n = 0.75 - 1.27 * log10_fc
        f1 = (log10_pr + c) / (n - 0.14 * (log10_pr + c))
        return torch.pow(10.0, log10_fc / (1.0 + f1 * f1))


class TsangFalloff(TroeFalloff):
    """Tsang's form of Troe broadening: ``F_cent = A + B T``. Buffer ``center`` ``(n, 2)``: ``(A, B)``."""

    @staticmethod
    def _center(coeffs) -> list[float]:
        return [coeffs[0], coeffs[1] if len(coeffs) > 1 else 0.0]

    def log10_center(self, state: RateState) -> torch.Tensor:
        A, B = self.center.unbind(-1)
        return torch.log10((A + B * state.T[..., None]).clamp(min=SMALL))


class SriFalloff(FalloffRates):
    """SRI broadening, 3 or 5 parameters: ``F = (a e^(-b/T) + e^(-T/c))^X d T^e``, ``X = 1/(1 + log10(Pr)^2)``.

    Buffer ``sri`` ``(n, 6)``: ``(a, b, [c given], 1/c, d, e)``.
    """

    def __init__(self, reactions: list[int], rates: list[ct.FalloffRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions, rates, dtype)
        rows = []
        for rate in rates:
            a, b, c, *rest = rate.falloff_coeffs
            d, e = rest if rest else (1.0, 0.0)
            rows.append([a, b, 1.0 if c != 0.0 else 0.0, 1.0 / c if c != 0.0 else 0.0, d, e])
        self.register_buffer("sri", torch.tensor(rows, dtype=dtype))

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        a, b, wc, rc, d, e = self.sri.unbind(-1)
        T, logT, recipT = state.T[..., None], state.logT[..., None], state.recipT[..., None]
        base = a * torch.exp(-b * recipT) + wc * torch.exp(-T * rc)
        exponent = 1.0 / (1.0 + log10_pr * log10_pr)
        return torch.pow(base, exponent) * d * torch.exp(e * logT)
