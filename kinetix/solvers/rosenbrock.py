"""Rosenbrock (linearly implicit) methods: one Jacobian and one factorisation per step, no Newton iterations."""

from __future__ import annotations

import torch

from ..products import addmm, matmul
from .linear import linear_solver
from .method import Method, Step, System
from .tableaus import RosenbrockTableau


class Rosenbrock(Method):
    """A Rosenbrock method given by its tableau (:mod:`kinetix.solvers.tableaus`), with an
    embedded error estimate and dense output.

    The stage equations are multiplied by ``h`` so that every per-member step size enters as one
    product: ``(I/gamma - h J) k_i = h f_i + sum_j c_ij k_j + h^2 d_i f_t``. Eagerly, stages are kept
    as the columns of a ``(B, n, i)`` tensor, so each stage combination is one batched product; inside
    a compiled program each combination is a sum term by term (see :func:`_combined`).
    Only the Jacobian's time derivative and the stage times are skipped for autonomous problems
    (``system.time_derivative is None``).
    """

    def __init__(self, tableau: RosenbrockTableau):
        if tableau.H is None:
            raise ValueError(f"{tableau.name} has no dense output")
        self.tableau = tableau
        self.name, self.order, self.error_order = tableau.name, tableau.order, tableau.embedded_order
        # stage i may reuse f of an earlier stage evaluated at the same time and state
        arguments = [(tableau.alpha[i], tableau.a[i]) for i in range(tableau.stages)]
        self.reuse = [arguments.index(arguments[i]) for i in range(tableau.stages)]
        self.evaluations = len(set(self.reuse[1:]) - {0})
        self._coefficients: dict = {}

    def coefficients(self, batch: int, dtype, device) -> dict:
        """The tableau as batched column tensors ``(B, i, 1)`` (stride 0 along the batch), built once
        per batch size, dtype and device."""
        key = (batch, dtype, device)
        if key not in self._coefficients:
            tab, s = self.tableau, self.tableau.stages

            def columns(rows):  # (s, m) -> (B, s, m) without copies
                matrix = torch.tensor(rows, dtype=dtype, device=device).T
                return matrix.unsqueeze(0).expand(batch, *matrix.shape)

            self._coefficients[key] = dict(
                a=[columns([tab.a[i][:i]]) for i in range(s)],
                c=[columns([tab.c[i][:i]]) for i in range(s)],
                b=columns([tab.b]), e=columns([tab.e]), H=columns(tab.H),
            )
        return self._coefficients[key]

    def step(self, system: System, t, y, h, f0) -> Step:
        tab = self.tableau
        batch, n = y.shape
        coefficients = self.coefficients(batch, y.dtype, y.device)
        h_column = h
        J = system.jacobian(t, y)
        W = torch.addcmul(self._diagonal(y), h.unsqueeze(-1), J, value=-1.0)
        solve = linear_solver(W)
        h2_f_t = None
        if system.time_derivative is not None:
            h2_f_t = (system.time_derivative(t, y) * (h_column * h_column)).unsqueeze(-1)
        y_column = y.unsqueeze(-1)
        ks: list[torch.Tensor] = []  # stages, each (B, n, 1)
        fs: list[torch.Tensor] = []
        stacked = not torch.compiler.is_compiling()
        K = None
        t_stage = t
        for i in range(tab.stages):
            if i and stacked:
                K = torch.cat(ks, dim=-1)  # (B, n, i)
            if i == 0:
                f_i = f0
            elif self.reuse[i] < i:
                f_i = fs[self.reuse[i]]
            else:
                argument = _combined(y_column, ks, K, tab.a[i], coefficients["a"][i]).view(batch, n)
                if system.time_derivative is not None:
                    t_stage = torch.add(t, h_column, alpha=tab.alpha[i])
                f_i = system.rhs(t_stage, argument)
            fs.append(f_i)
            rhs = (f_i * h_column).unsqueeze(-1)
            if i and any(tab.c[i]):
                rhs = _combined(rhs, ks, K, tab.c[i], coefficients["c"][i])
            if h2_f_t is not None and tab.d[i] != 0:
                rhs = torch.add(rhs, h2_f_t, alpha=tab.d[i])
            ks.append(solve(rhs))
        K = torch.cat(ks, dim=-1) if stacked else None
        y_new = _combined(y_column, ks, K, tab.b, coefficients["b"]).view(batch, n)
        error = _combined(None, ks, K, tab.e, coefficients["e"]).view(batch, n)
        if stacked:
            dense = matmul(K, coefficients["H"]).transpose(1, 2)
        else:
            dense = torch.cat([_combined(None, ks, None, row, None) for row in tab.H], dim=-1).transpose(1, 2)
        return Step(y_new, error, dense, None, self.evaluations + (h2_f_t is not None))

    def _diagonal(self, y: torch.Tensor) -> torch.Tensor:
        """``I / gamma`` ``(n, n)``."""
        key = ("diagonal", y.dtype, y.device, y.shape[-1])
        if key not in self._coefficients:
            self._coefficients[key] = torch.eye(y.shape[-1], dtype=y.dtype, device=y.device) / self.tableau.gamma
        return self._coefficients[key]


def _combined(start, ks: list, K, weights, column) -> torch.Tensor:
    """``start + sum_j weights[j] ks[j]`` over the stages so far (``start`` ``(B, n, 1)`` or None): one
    batched product with the stages stacked as ``K`` ``(B, n, i)`` and the weights as ``column``, or,
    where ``K`` is None (inside a compiled program), term by term with the zero weights left out. There
    the sum fuses into the loop that uses it, where stacking would copy every stage into a new tensor at
    every stage: allocations that cost a small system more than its arithmetic."""
    if K is not None:
        return matmul(K, column) if start is None else addmm(start, K, column)
    total = start
    for k, weight in zip(ks, weights):
        if weight:
            total = k * weight if total is None else torch.add(total, k, alpha=weight)
    return total
