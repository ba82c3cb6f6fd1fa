"""Jacobians of arbitrary vector fields by forward-mode autodiff (torch.func)."""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp, vmap


def _basis(y: torch.Tensor) -> torch.Tensor:
    """``(n, *y.shape)``: the unit tangent ``e_i`` for every batch member."""
    n = y.shape[-1]
    eye = torch.eye(n, dtype=y.dtype, device=y.device)
    return eye.reshape(n, *([1] * (y.dim() - 1)), n).expand(n, *y.shape)


def autodiff_jacobian(func: Callable, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``d func(t, y) / d y`` shaped ``(..., n, n)`` for ``y`` shaped ``(..., n)``.

    ``func`` must map ``(..., n)`` to ``(..., n)`` member by member. One forward-mode pass per state
    component, vectorised with ``vmap`` (a plain loop where ``func`` cannot be vmapped). The result is
    differentiable, so gradients through a solver that uses it see how the Jacobian depends on
    parameters.
    """
    def directional(v):
        return jvp(lambda state: func(t, state), (y,), (v,))[1]

    basis = _basis(y)
    try:
        columns = vmap(directional)(basis)
    except RuntimeError as error:
        if "vmap" not in str(error):
            raise
        columns = torch.stack([directional(v) for v in basis])
    return columns.movedim(0, -1)


def autodiff_time_derivative(func: Callable, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``d func(t, y) / d t`` shaped like ``y`` (``t`` a scalar tensor)."""
    return jvp(lambda time: func(time, y), (t,), (torch.ones_like(t),))[1]
