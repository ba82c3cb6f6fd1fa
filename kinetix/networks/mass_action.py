"""A mass-action network (chemical reaction neural network, Ji & Deng 2021)."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError


class MassActionNetwork(nn.Module):
    """``dy/dt = S @ r`` with ``r_j = exp(ln k_j + sum_i W_ji ln z_i)``, ``z = y / y_scale`` made positive.

    Candidate reactions: ``reactions`` of them with random orders in [0, 0.1) (``library_order = 0``),
    or (``library_order = K``) one per monomial of total degree 1..K of the species, its orders set to
    the monomial's exponents (``n + n(n+1)/2`` reactions for ``K = 2``) and its stoichiometry zero:
    then the field is linear in ``S`` at fixed orders and rate constants, and derivative matching
    solves for ``S`` by least squares (see the trainers' ``derivatives`` stage).

    Learned: log rate constants ``ln k`` ``(R,)``, orders ``W = |order parameters|`` ``(R, n)`` (so
    ``W >= 0``) and the net stoichiometry ``S`` ``(n, R)`` in the state's own units, for ``R``
    candidate ``reactions``. Concentrations enter normalised by ``input_scale`` (``y_scale``), so
    rate constants that span decades in physical units (Robertson: 0.04 to 3e7) are of similar size
    here; :meth:`physical_rate_constants` undoes it.

    Species that start at zero: ``z_i = eps * softplus(y_i / (y_scale_i * eps))``, a smooth,
    positive ``max(y / y_scale, 0)`` that equals it to double precision once ``y / y_scale >= 20 eps``
    and is ``eps ln 2`` at zero; ``ln z`` and its derivative stay finite for states at or slightly
    below zero (stiff solvers produce these).

    ``active`` ``(R,)`` (a buffer, 1 or 0) switches reactions off (the trainers' derivative stage prunes). ``input_shift`` and
    ``output_scale`` are accepted for the trainer's uniform call and ignored: a mass-action field
    needs neither. Shapes: ``y`` ``(..., n)`` → ``(..., n)``; ``t`` is ignored.
    """

    autonomous = True

    def __init__(self, n_species: int, *, reactions: int = 4, library_order: int = 0, eps: float = 1e-12,
                 input_shift=None, input_scale=None, output_scale=None, dtype: torch.dtype = torch.float64):
        super().__init__()
        if n_species < 1 or reactions < 1 or not 0 <= library_order <= 3:
            raise ConfigError(f"need n_species >= 1, reactions >= 1, library_order in 0..3; got {n_species}, "
                              f"{reactions}, {library_order}")
        if not 0 < eps < 1:
            raise ConfigError(f"network eps must be in (0, 1), got {eps}")
        self.eps = eps
        orders = library(n_species, library_order, dtype) if library_order else 0.1 * torch.rand(reactions, n_species, dtype=dtype)
        reactions = len(orders)
        self.config = {"n_species": n_species, "reactions": reactions, "library_order": library_order, "eps": eps}
        self.log_rate = nn.Parameter(torch.zeros(reactions, dtype=dtype))
        self.order = nn.Parameter(orders)
        self.stoichiometry = nn.Parameter((0.0 if library_order else 0.5) * torch.randn(n_species, reactions, dtype=dtype))
        scale = torch.ones(n_species, dtype=dtype) if input_scale is None else torch.as_tensor(input_scale, dtype=dtype)
        if scale.shape != (n_species,) or not (torch.isfinite(scale).all() and (scale > 0).all()):
            raise ConfigError(f"input_scale must be a positive vector of length {n_species}, got {scale.tolist()}")
        self.register_buffer("input_scale", scale.clone())
        self.register_buffer("active", torch.ones(reactions, dtype=dtype))

    @property
    def orders(self) -> torch.Tensor:
        """Reaction orders ``W`` ``(R, n)``, non-negative."""
        return self.order.abs()

    def _log_z(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ln z`` and ``d ln z / d y``, both ``(..., n)``."""
        x = y / (self.input_scale * self.eps)
        softplus = F.softplus(x).clamp(min=1e-300)  # far below zero: a finite ln z (so 0 * ln z = 0)
        return math.log(self.eps) + torch.log(softplus), torch.sigmoid(x) / (softplus * self.eps * self.input_scale)

    def rates(self, y: torch.Tensor) -> torch.Tensor:
        """Rates of progress ``r`` ``(..., R)``."""
        log_z, _ = self._log_z(y)
        return self._rates(log_z)

    def _rates(self, log_z: torch.Tensor) -> torch.Tensor:
        return torch.exp((self.log_rate + log_z @ self.orders.T).masked_fill(self.active == 0, -math.inf))

    def forward(self, t, y: torch.Tensor) -> torch.Tensor:
        return self.rates(y) @ self.stoichiometry.T

    def rate_jacobian(self, y: torch.Tensor) -> torch.Tensor:
        """``d r / d y = diag(r) W diag(d ln z / d y)``, shaped ``(..., R, n)``."""
        log_z, slope = self._log_z(y)
        return self._rates(log_z).unsqueeze(-1) * (self.orders * slope.unsqueeze(-2))

    def jacobian(self, t, y: torch.Tensor) -> torch.Tensor:
        """``S d r / d y``, shaped ``(..., n, n)``."""
        return self.stoichiometry @ self.rate_jacobian(y)

    def physical_rate_constants(self) -> torch.Tensor:
        """``k_j`` ``(R,)`` for ``r_j = k_j prod_i y_i ** W_ji`` in the state's units (``eps`` neglected)."""
        return torch.exp(self.log_rate - self.orders @ torch.log(self.input_scale))

    def extra_repr(self) -> str:
        return f"species={self.config['n_species']}, reactions={self.config['reactions']}, eps={self.eps:g}"


def library(n_species: int, max_order: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Exponents ``(M, n)`` of every monomial of total degree 1..``max_order`` in ``n_species``."""
    rows = []
    for degree in range(1, max_order + 1):
        for combination in itertools.combinations_with_replacement(range(n_species), degree):
            row = [0] * n_species
            for i in combination:
                row[i] += 1
            rows.append(row)
    return torch.tensor(rows, dtype=dtype)
