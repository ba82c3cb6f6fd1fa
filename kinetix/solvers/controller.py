"""Adaptive step-size control."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PIController:
    """Proportional-integral step-size controller (Gustafsson; Hairer & Wanner Vol. II, IV.8).

    With error norms ``err`` (current) and ``err_prev`` (last accepted step), both relative to the
    tolerance so that ``err <= 1`` accepts, and ``k = embedded_order + 1``::

        factor = safety * err**(-beta1 / k) * err_prev**(beta2 / k), clipped to [min_factor, max_factor]

    After a rejection the step does not grow. Non-finite errors reject with ``min_factor``.
    """

    safety: float = 0.9
    beta1: float = 0.7
    beta2: float = 0.4
    min_factor: float = 0.2
    max_factor: float = 6.0

    def __call__(self, err: torch.Tensor, err_prev: torch.Tensor, order: int):
        """``(accept, factor)`` for per-member ``err`` and ``err_prev`` ``(B,)``."""
        finite = torch.isfinite(err)
        err = torch.where(finite, err, torch.ones_like(err)).clamp(min=1e-10)
        accept = finite & (err <= 1.0)
        k = float(order)
        factor = self.safety * err.pow(-self.beta1 / k) * err_prev.clamp(min=1e-10).pow(self.beta2 / k)
        factor = factor.clamp(self.min_factor, self.max_factor)
        rejected_factor = (self.safety * err.pow(-1.0 / k)).clamp(self.min_factor, 1.0)
        factor = torch.where(accept, factor, torch.where(finite, rejected_factor, torch.full_like(err, self.min_factor)))
        return accept, factor
