"""Jacobians of arbitrary vector fields by reverse-mode autodiff (torch.func).

Reverse mode is used even where forward mode would need fewer passes: torch's forward-mode
arithmetic runs through Python decompositions and is far slower per operation.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import vjp, vmap


def _basis(value: torch.Tensor) -> torch.Tensor:
    """``(n, *value.shape)``: the unit cotangent ``e_i`` for every batch member (``n`` = last size)."""
    n = value.shape[-1]
    eye = torch.eye(n, dtype=value.dtype, device=value.device)
    return eye.reshape(n, *([1] * (value.dim() - 1)), n).expand(n, *value.shape)


def _rows(function: Callable, point: torch.Tensor, n_out: int | None = None) -> torch.Tensor:
    """``d function / d point`` as ``(n_out, *point.shape)``: one batched pullback per output."""
    value, pullback = vjp(function, point)
    try:
        return vmap(lambda v: pullback(v)[0])(_basis(value))
    except RuntimeError as error:
        if "vmap" not in str(error):
            raise
        return torch.stack([pullback(v)[0] for v in _basis(value)])


def autodiff_jacobian(func: Callable, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``d func(t, y) / d y`` shaped ``(..., n, n)`` for ``y`` shaped ``(..., n)``.

    ``func`` must map ``(..., n)`` to ``(..., n)`` member by member. Differentiable, so gradients
    through a solver that uses it see how the Jacobian depends on parameters.
    """
    return _rows(lambda state: func(t, state), y).movedim(0, -2)


def autodiff_time_derivative(func: Callable, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``d func(t, y) / d t`` shaped like ``y``; ``t`` is ``(..., 1)`` (one time per member) or a scalar."""
    rows = _rows(lambda time: func(time, y), t)  # (n, *t.shape)
    if t.dim() == 0:
        return rows.expand(y.shape[-1], *y.shape[:-1]).movedim(0, -1) if y.dim() > 1 else rows
    return rows.squeeze(-1).movedim(0, -1)
