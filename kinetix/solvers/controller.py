"""Adaptive step-size control."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PIController:
    """Proportional-integral step-size controller (Gustafsson; Hairer & Wanner Vol. II, IV.8).

    With error norms ``err`` (current) and ``err_prev`` (last accepted step), both relative to the
    tolerance so that ``err <= 1`` accepts, and ``k = embedded_order + 1``::

        accepted: factor = safety * err**(-beta1 / k) * err_prev**(beta2 / k)
        rejected: factor = safety * err**(-1 / k)

    clipped to ``[min_factor, max_factor]``; after a rejection the step does not grow. A step that
    is not ``usable`` (non-finite error, or a method that reports failure, such as a Newton
    iteration that did not converge) is rejected with ``min_factor``.
    """

    safety: float = 0.9
    beta1: float = 0.7
    beta2: float = 0.4
    min_factor: float = 0.2
    max_factor: float = 6.0

    def __call__(self, err: torch.Tensor, err_prev: torch.Tensor, order: int, usable: torch.Tensor | None = None,
                 rejected_last: torch.Tensor | None = None):
        """``(accept, factor)`` for per-member ``err`` and ``err_prev`` ``(B,)`` (``err_prev`` > 0);
        ``usable`` and ``rejected_last`` ``(B,)`` (default: all usable, none rejected)."""
        if usable is not None:
            err = err / usable  # inf or NaN where unusable
        err = torch.nan_to_num(err, nan=torch.inf).clamp(min=1e-10)
        accept = err <= 1.0
        k = float(order)
        power = err.pow(-1.0 / k)  # 0 where unusable: the factor becomes min_factor
        factor = torch.where(accept, power.pow(self.beta1) * err_prev.pow(self.beta2 / k), power)
        factor = (factor * self.safety).clamp(self.min_factor, self.max_factor)
        if rejected_last is not None:
            factor = torch.where(rejected_last, factor.clamp(max=1.0), factor)
        return accept, factor
