"""Exact conservation for any vector field: project it off the span of the conserved quantities."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def project(x: torch.Tensor, invariants: torch.Tensor, weights: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` ``(..., n)`` moved least, in the metric ``diag(weights)^-2``, onto ``C x = target``
    (``target`` ``(..., m)``, default 0) for the invariants ``C`` ``(m, n)``:
    ``x - D C^T (C D C^T)^-1 (C x - target)`` with ``D = diag(weights**2)``, so each component moves
    in proportion to its squared weight (``y_scale``): one with a small scale is barely corrected.
    With ``target`` 0 this is ``P x`` for the projection ``P = I - D C^T (C D C^T)^-1 C`` (``C P = 0``)."""
    scaled = invariants * weights**2                                               # C D  (m, n)
    residual = x @ invariants.transpose(0, 1)                                      # (..., m)
    if target is not None:
        residual = residual - target
    flat = residual.reshape(-1, residual.shape[-1]).transpose(0, 1)               # one factorisation, all rows
    multiplier = torch.linalg.solve(scaled @ invariants.transpose(0, 1), flat).transpose(0, 1)
    return x - multiplier.reshape(residual.shape) @ scaled


class ConservedField(nn.Module):
    """``dy/dt = P f(y)`` for the field ``f`` of network ``inner`` (``{"name", "config"}`` in the
    registry), so that ``C y`` stays constant for every row of ``invariants`` ``C`` ``(m, n)`` along
    any trajectory (up to the solver's round-off). ``weights`` ``(n,)``: see :func:`project`.

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
        # rows of project(I) are P e_i, so it is P^T
        self.register_buffer("projection", project(torch.eye(len(weight), dtype=dtype), matrix, weight).T.contiguous())

    def forward(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.inner(t, y) @ self.projection.T

    def jacobian(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.projection @ self.inner.jacobian(t, y)

