"""Trajectory losses, normalised per species.

Every loss takes ``pred`` and ``target`` shaped ``(..., n)`` (any leading batch and time axes) and
per-species scales ``scale`` ``(n,)``, and returns a scalar. With ``e = (pred - target) / scale``:

- ``scaled_mae``: ``mean |e|`` (the stiff-neural-ODE paper's loss);
- ``scaled_mse``: ``mean e^2``;
- ``asinh_mae``: ``mean |asinh(pred / f) - asinh(target / f)|`` with ``f = floor * scale``: a
  relative error (like a log error) for values well above ``f``, absolute below it; for species
  whose values span decades.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from .errors import ConfigError


class Loss(ABC):
    """``loss(pred, target, scale) -> scalar``; registered through the ``register_losses`` hook."""

    name: str = "loss"

    @abstractmethod
    def __call__(self, pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``pred`` against ``target`` (both ``(..., n)``) with scales ``(n,)``."""


class ScaledMAE(Loss):
    name = "scaled_mae"

    def __call__(self, pred, target, scale):
        return ((pred - target).abs() / scale).mean()


class ScaledMSE(Loss):
    name = "scaled_mse"

    def __call__(self, pred, target, scale):
        return ((pred - target) / scale).square().mean()


class AsinhMAE(Loss):
    name = "asinh_mae"

    def __init__(self, floor: float = 1e-3):
        if not floor > 0:
            raise ConfigError(f"asinh_mae: floor must be positive, got {floor}")
        self.floor = floor

    def __call__(self, pred, target, scale):
        f = self.floor * scale
        return (torch.asinh(pred / f) - torch.asinh(target / f)).abs().mean()
