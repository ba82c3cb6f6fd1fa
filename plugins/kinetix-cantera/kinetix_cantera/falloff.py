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

import math

import cantera as ct
import torch

from .arrhenius import ArrheniusCoefficients
from .rate_group import RateGroup, RateSlopes, RateState

SMALL = 1e-300  # Cantera's SmallNumber
LN10 = math.log(10.0)


class FalloffRates(RateGroup):
    """Falloff and chemically activated reactions of one broadening type (Lindemann: ``F = 1``).

    Submodules ``low``, ``high``: the Arrhenius expressions of ``k0`` and ``k_inf``; buffer
    ``chemically_activated`` ``(n,)`` bool. Subclasses give ``broadening`` and its partial
    derivatives ``broadening_slopes``.
    """

    reads_third_body = True

    def __init__(self, reactions: list[int], rates: list[ct.FalloffRate], dtype: torch.dtype = torch.float64):
        super().__init__(reactions)
        self.low = ArrheniusCoefficients([r.low_rate for r in rates], dtype)
        self.high = ArrheniusCoefficients([r.high_rate for r in rates], dtype)
        self.register_buffer("chemically_activated", torch.tensor([r.chemically_activated for r in rates]))

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        """``F`` ``(..., n)`` given ``log10(max(Pr, 1e-300))`` ``(..., n)``; 1 for Lindemann."""
        return torch.ones_like(log10_pr)

    def broadening_slopes(self, state: RateState, log10_pr: torch.Tensor):
        """``(F, dF/dT, dF/d log10 Pr)``, each ``(..., n)``."""
        zero = torch.zeros_like(log10_pr)
        return torch.ones_like(log10_pr), zero, zero

    def forward(self, state: RateState) -> torch.Tensor:
        k0 = self.low(state)
        k_inf = self.high(state)
        pr = self.own(state.third_body) * k0 / (k_inf + SMALL)
        factor = self.broadening(state, torch.log10(pr.clamp(min=SMALL))) / (1.0 + pr)
        return torch.where(self.chemically_activated, factor * k0, pr * factor * k_inf)

    def slopes(self, state: RateState) -> RateSlopes:
        k0, k_inf = self.low(state), self.high(state)
        dk0, dk_inf = self.low.slope(state, k0), self.high.slope(state, k_inf)
        third_body = self.own(state.third_body)
        denominator = k_inf + SMALL
        pr = third_body * k0 / denominator
        dpr_dT = third_body * (dk0 - k0 * dk_inf / denominator) / denominator
        dpr_dM = k0 / denominator
        F, dF_dT, dF_dL = self.broadening_slopes(state, torch.log10(pr.clamp(min=SMALL)))
        dL_dpr = torch.where(pr > SMALL, 1.0 / (pr * LN10), 0.0)
        factor = F / (1.0 + pr)
        dfactor_dpr = (dF_dL * dL_dpr - factor) / (1.0 + pr)
        dfactor_dT = dF_dT / (1.0 + pr) + dfactor_dpr * dpr_dT
        dfactor_dM = dfactor_dpr * dpr_dM
        activated = self.chemically_activated
        return RateSlopes(
            torch.where(activated, factor * k0, pr * factor * k_inf),
            torch.where(activated, dfactor_dT * k0 + factor * dk0,
                        (dpr_dT * factor + pr * dfactor_dT) * k_inf + pr * factor * dk_inf),
            torch.where(activated, dfactor_dM * k0, (dpr_dM * factor + pr * dfactor_dM) * k_inf),
            torch.zeros_like(k0),
        )


class TroeFalloff(FalloffRates):
    """Troe broadening, 3 or 4 parameters: ``F_cent = (1-A) e^(-T/T3) + A e^(-T/T1) + e^(-T2/T)``,
    ``log10 F = log10 F_cent / (1 + f1^2)``, ``f1 = (log10 Pr + c) / (n - 0.14 (log10 Pr + c))``,
    ``c = -0.4 - 0.67 log10 F_cent``, ``n = 0.75 - 1.27 log10 F_cent``.

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

    def center_terms(self, state: RateState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three terms of ``F_cent``, each ``(..., n)``."""
        w3, r3, w1, r1, w2, T2 = self.center.unbind(-1)
        T, recipT = state.T[..., None], state.recipT[..., None]
        return w3 * torch.exp(-T * r3), w1 * torch.exp(-T * r1), w2 * torch.exp(-T2 * recipT)

    def center_value(self, state: RateState) -> torch.Tensor:
        """``F_cent`` ``(..., n)``."""
        slow, fast, activated = self.center_terms(state)
        return slow + fast + activated

    def center_slope(self, state: RateState) -> torch.Tensor:
        """``d F_cent / dT`` ``(..., n)``."""
        _, r3, _, r1, _, T2 = self.center.unbind(-1)
        slow, fast, activated = self.center_terms(state)
        return activated * T2 * state.recipT[..., None] ** 2 - slow * r3 - fast * r1

    @staticmethod
    def _shape(log10_fc: torch.Tensor, log10_pr: torch.Tensor):
        """``(log10 F, f1, n - 0.14 (log10 Pr + c), log10 Pr + c, n)``, each ``(..., n)``."""
        c = -0.4 - 0.67 * log10_fc
        n = 0.75 - 1.27 * log10_fc
        shifted = log10_pr + c
        denominator = n - 0.14 * shifted
        f1 = shifted / denominator
        return log10_fc / (1.0 + f1 * f1), f1, denominator, shifted, n

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        log10_fc = torch.log10(self.center_value(state).clamp(min=SMALL))
        return torch.pow(10.0, self._shape(log10_fc, log10_pr)[0])

    def broadening_slopes(self, state: RateState, log10_pr: torch.Tensor):
        fc = self.center_value(state)
        log10_fc = torch.log10(fc.clamp(min=SMALL))
        dlog10_fc = torch.where(fc > SMALL, self.center_slope(state) / (fc * LN10), 0.0)
        log10_f, f1, denominator, shifted, n = self._shape(log10_fc, log10_pr)
        F = torch.pow(10.0, log10_f)
        g = 1.0 + f1 * f1
        # d f1 = (d shifted * n - shifted * d n) / denominator^2, with d c = -0.67 and d n = -1.27 per d log10 F_cent
        df1_dT = dlog10_fc * (1.27 * shifted - 0.67 * n) / denominator**2
        df1_dL = n / denominator**2
        weight = 2.0 * log10_fc * f1 / g**2
        return F, F * LN10 * (dlog10_fc / g - weight * df1_dT), -F * LN10 * weight * df1_dL


class TsangFalloff(TroeFalloff):
    """Tsang's form of Troe broadening: ``F_cent = A + B T``. Buffer ``center`` ``(n, 2)``: ``(A, B)``."""

    @staticmethod
    def _center(coeffs) -> list[float]:
        return [coeffs[0], coeffs[1] if len(coeffs) > 1 else 0.0]

    def center_value(self, state: RateState) -> torch.Tensor:
        A, B = self.center.unbind(-1)
        return A + B * state.T[..., None]

    def center_slope(self, state: RateState) -> torch.Tensor:
        return self.center[:, 1].expand(*state.T.shape, len(self))


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

    def _terms(self, state: RateState) -> tuple[torch.Tensor, torch.Tensor]:
        """The two terms of the base ``a e^(-b/T)`` and ``e^(-T/c)``, each ``(..., n)``."""
        a, b, wc, rc, _, _ = self.sri.unbind(-1)
        return a * torch.exp(-b * state.recipT[..., None]), wc * torch.exp(-state.T[..., None] * rc)

    def broadening(self, state: RateState, log10_pr: torch.Tensor) -> torch.Tensor:
        d, e = self.sri[:, 4], self.sri[:, 5]
        exponent = 1.0 / (1.0 + log10_pr * log10_pr)
        return torch.pow(sum(self._terms(state)), exponent) * d * torch.exp(e * state.logT[..., None])

    def broadening_slopes(self, state: RateState, log10_pr: torch.Tensor):
        _, b, _, rc, _, e = self.sri.unbind(-1)
        F = self.broadening(state, log10_pr)
        activation, decay = self._terms(state)
        base = activation + decay
        exponent = 1.0 / (1.0 + log10_pr * log10_pr)
        recipT = state.recipT[..., None]
        positive = base > 0
        safe = torch.where(positive, base, 1.0)
        dbase_dT = activation * b * recipT**2 - decay * rc
        dF_dT = F * (torch.where(positive, exponent * dbase_dT / safe, 0.0) + e * recipT)
        dF_dL = F * torch.log(safe) * (-2.0 * log10_pr * exponent**2)
        return F, dF_dT, dF_dL
