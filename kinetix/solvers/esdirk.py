"""ESDIRK methods: implicit stages solved by a simplified Newton iteration, one Jacobian and one
factorisation per step."""

from __future__ import annotations

import torch

from ..products import addmm, matmul
from .linear import linear_solver
from .method import Method, Step, System
from .tableaus import ESDIRKTableau


class ESDIRK(Method):
    """An ESDIRK method given by its tableau, with its embedded error estimate and cubic Hermite
    dense output (from ``y``, ``y_new`` and the slopes at both ends).

    Stage ``i`` solves ``Z = h gamma f(t + c_i h, base_i + Z)`` with ``base_i = y + h sum_{j<i} a_ij k_j``
    by simplified Newton with ``W = I - h gamma J(t, y)``, starting from the tableau's predictor.
    Each member iterates until ``rate / (1 - rate) * |dZ| <= kappa`` (after two iterations;
    ``rate`` is the contraction of successive updates, norms relative to ``atol + rtol |y|``),
    fails where the iteration diverges (``rate >= 2``), is not finite, or exceeds ``max_iterations``;
    a failed member's step is reported not ``ok`` and rejected by the loop. The iteration stops
    as soon as no member is pending (a host synchronisation), so the step is not ``compilable``.
    """

    compilable = False

    def __init__(self, tableau: ESDIRKTableau, max_iterations: int = 10, kappa: float = 1e-2):
        self.tableau = tableau
        self.name, self.order, self.error_order = tableau.name, tableau.order, tableau.embedded_order
        self.max_iterations, self.kappa = max_iterations, kappa
        self._coefficients: dict = {}

    def coefficients(self, batch: int, dtype, device) -> dict:
        """Stage, predictor, solution and error weights as ``(B, i, 1)`` columns, built once per batch size."""
        key = (batch, dtype, device)
        if key not in self._coefficients:
            tab, s = self.tableau, self.tableau.stages

            def column(values):
                return torch.tensor(values, dtype=dtype, device=device).view(1, -1, 1).expand(batch, -1, 1)

            self._coefficients[key] = dict(
                a=[column(tab.a[i][:i]) for i in range(s)], predictor=[column(tab.predictor[i][:i]) for i in range(s)],
                b=column(tab.b), e=column(tab.e),
            )
        return self._coefficients[key]

    def step(self, system: System, t, y, h, f0) -> Step:
        tab = self.tableau
        batch, n = y.shape
        coefficients = self.coefficients(batch, y.dtype, y.device)
        h_gamma = h * tab.gamma
        J = system.jacobian(t, y)
        W = torch.addcmul(torch.eye(n, dtype=y.dtype, device=y.device), h_gamma.unsqueeze(-1), J, value=-1.0)
        solve = linear_solver(W)
        inverse_scale = 1.0 / system.scale(y)
        y_column = y.unsqueeze(-1)
        hks = [(h * f0).unsqueeze(-1)]  # h k_j, each (B, n, 1)
        ok = torch.ones(batch, 1, dtype=torch.bool, device=y.device)
        evaluations = 0
        for i in range(1, tab.stages):
            K = torch.cat(hks, dim=-1)
            base = addmm(y_column, K, coefficients["a"][i])
            Z = addmm(y_column, K, coefficients["predictor"][i]) - base
            t_stage = torch.add(t, h, alpha=tab.c[i])
            Z, converged, iterations = self._newton(system, solve, t_stage, base.squeeze(-1), Z.squeeze(-1),
                                                    h_gamma, inverse_scale)
            evaluations += iterations
            ok = ok & converged
            hks.append((Z / tab.gamma).unsqueeze(-1))
        K = torch.cat(hks, dim=-1)
        y_new = addmm(y_column, K, coefficients["b"]).squeeze(-1)
        error = matmul(K, coefficients["e"]).squeeze(-1)
        change = y_new - y
        slope_start, slope_end = hks[0].squeeze(-1), hks[-1].squeeze(-1)  # h f at both ends (stiffly accurate)
        dense = torch.stack([slope_start - change, 2 * change - slope_start - slope_end], dim=1)
        return Step(y_new, error, dense, ok, evaluations)

    def _newton(self, system: System, solve, t, base, Z, h_gamma, inverse_scale):
        """``(Z, converged (B, 1), evaluations)`` for ``Z = h gamma f(t, base + Z)``, all ``(B, n)``."""
        pending = torch.ones_like(h_gamma, dtype=torch.bool)
        converged = ~pending
        previous = None
        for iteration in range(1, self.max_iterations + 1):
            f = system.rhs(t, base + Z)
            update = solve((h_gamma * f - Z).unsqueeze(-1)).squeeze(-1)
            Z = torch.where(pending, Z + update, Z)
            size = torch.linalg.vector_norm(update * inverse_scale, dim=-1, keepdim=True) * Z.shape[-1] ** -0.5
            if previous is None:
                done, diverged = size == 0, ~(size < torch.inf)
            else:
                rate = size / previous
                done = (size == 0) | ((rate < 1) & (rate / (1 - rate) * size <= self.kappa))
                diverged = ~(rate < 2)  # also NaN
            converged = converged | (pending & done)
            pending = pending & ~done & ~diverged
            previous = size
            if not bool(pending.any()):
                break
        return Z, converged, iteration
