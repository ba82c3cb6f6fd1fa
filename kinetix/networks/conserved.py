"""Exact conservation for any vector field: project it off the span of the conserved quantities."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def projection(invariants: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``P = I - D C^T (C D C^T)^-1 C`` ``(n, n)`` with ``D = diag(weights**2)``: ``C P = 0`` for the
    invariants ``C`` ``(m, n)``, and ``P`` moves each species in proportion to ``weights`` (``y_scale``),
    so a species with a small scale is barely corrected."""
    d = weights**2
    cd = invariants * d
    return torch.eye(len(weights), dtype=weights.dtype) - cd.T @ torch.linalg.solve(cd @ invariants.T, invariants)


class ConservedField(nn.Module):
    """``dy/dt = P f(y)`` for the field ``f`` of network ``inner`` (``{"name", "config"}`` in the
    registry), so that ``C y`` stays constant for every row of ``invariants`` ``C`` ``(m, n)`` along
    any trajectory (up to the solver's round-off). ``weights`` ``(n,)``: see :func:`projection`.

    Other keywords (the trainer's scales) go to the inner network. Shapes: ``y`` ``(..., n)``.
    """

    def __init__(self, inner: dict, invariants, weights=None, dtype: torch.dtype = torch.float64, **scales):
        super().__init__()
        from ..surrogate import build_network

        if not (isinstance(inner, dict) and isinstance(inner.get("name"), str) and isinstance(inner.get("config"), dict)):
            raise ConfigError("conserved: 'inner' must be {'name': ..., 'config': {...}}")
        self.inner = build_network(inner, **scales)
        self.autonomous = bool(getattr(self.inner, "autonomous", False))
        matrix = torch.as_tensor(invariants, dtype=dtype)
        n = inner["config"].get("n_species")
        if matrix.ndim != 2 or matrix.shape[0] < 1 or (n is not None and matrix.shape[1] != n):
            raise ConfigError(f"conserved: invariants must be a non-empty matrix (m, {n}), got shape {tuple(matrix.shape)}")
        weight = torch.ones(matrix.shape[1], dtype=dtype) if weights is None else torch.as_tensor(weights, dtype=dtype)
        if weight.shape != (matrix.shape[1],) or not (weight > 0).all():
            raise ConfigError(f"conserved: weights must be positive, length {matrix.shape[1]}")
        if torch.linalg.matrix_rank(matrix) < matrix.shape[0]:
            raise ConfigError("conserved: the invariants are linearly dependent; give independent rows")
        self.config = {"inner": inner, "invariants": matrix.tolist(), "weights": weight.tolist()}
        self.register_buffer("projection", projection(matrix, weight))

    def forward(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.inner(t, y) @ self.projection.T

    def jacobian(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.projection @ self.inner.jacobian(t, y)

