"""Batched linear solves with the stage matrix ``W`` of implicit methods."""

from __future__ import annotations

from typing import Callable

import torch

from ..products import matmul

INVERSE_MAX_SIZE = 24  # up to this size an explicit inverse: one batched product per solve


def linear_solver(W: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``rhs -> W^-1 rhs`` (``rhs`` ``(B, n, 1)``) for ``W`` ``(B, n, n)``: an explicit inverse for small systems
    (one batched product per solve is cheaper than triangular solves), an LU factorisation otherwise. Inside a
    compiled program the inverse is :func:`gauss_jordan_inverse`, which the compiler fuses, where LAPACK would be
    a call out of the program per step."""
    if W.shape[-1] <= INVERSE_MAX_SIZE:
        inverse = gauss_jordan_inverse(W) if torch.compiler.is_compiling() else torch.linalg.inv_ex(W)[0]
        return lambda rhs: matmul(inverse, rhs)
    lu, pivots, _ = torch.linalg.lu_factor_ex(W)
    return lambda rhs: torch.linalg.lu_solve(lu, pivots, rhs)


def gauss_jordan_inverse(W: torch.Tensor) -> torch.Tensor:
    """``W^-1`` ``(..., n, n)`` by Gauss-Jordan elimination with partial pivoting, in elementwise operations and
    gathers only (``n`` rounds on ``[W | I]``)."""
    n = W.shape[-1]
    rows = torch.arange(n, device=W.device)
    augmented = torch.cat([W, torch.eye(n, dtype=W.dtype, device=W.device).expand_as(W)], dim=-1)
    for k in range(n):
        magnitude = torch.where(rows >= k, augmented[..., k].abs(), -1.0)
        pivot_row = magnitude.argmax(-1, keepdim=True)                                      # (..., 1)
        order = torch.where(rows == k, pivot_row, torch.where(rows == pivot_row, k, rows))  # swap rows k, pivot
        augmented = augmented.gather(-2, order[..., None].expand_as(augmented))
        pivot = augmented[..., k:k + 1, :] / augmented[..., k:k + 1, k:k + 1]                # (..., 1, 2n)
        augmented = torch.where((rows == k)[:, None], pivot, augmented - augmented[..., k:k + 1] * pivot)
    return augmented[..., n:]
