"""Gradients by the adjoint method, without integrating the stiff state backwards.

The forward solve keeps its dense output (no autograd graph). The backward pass solves the linear
adjoint equation ``d lambda/dt = -J(t, y(t))^T lambda`` from the last output time to the first
with the same stiff method, reading ``y(t)`` from the stored forward solution, adding
``dL/dy(t_j)`` at each output time. The parameter gradient ``integral lambda^T df/dtheta dt`` is
computed by 3-point Gauss-Legendre quadrature on every accepted adjoint step, and ``dL/dy0`` is
``lambda(t_0)``. Memory grows with the number of forward steps times ``n``, not with the size of
the autograd graph.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..errors import SolverError
from .base import Problem, Solution
from .dense import StepRecords, interpolate
from .jacobian import autodiff_jacobian
from .rosenbrock import RosenbrockSolver

_GAUSS_NODES = (0.5 - math.sqrt(15) / 10, 0.5, 0.5 + math.sqrt(15) / 10)
_GAUSS_WEIGHTS = (5 / 18, 8 / 18, 5 / 18)
ADJOINT_OPTIONS = ("adjoint_params", "adjoint_rtol", "adjoint_atol")


def _parameters(func, explicit) -> list[torch.Tensor]:
    if explicit is not None:
        return list(explicit)
    if isinstance(func, torch.nn.Module):
        tensors = [*func.parameters(), *func.buffers()]
        return [tensor for tensor in tensors if tensor.requires_grad]
    return []


def solve_with_adjoint(solver, problem: Problem) -> Solution:
    """Solve ``problem`` so that its output's gradient comes from the adjoint equation.

    Options (besides the method's own): ``adjoint_params``, the tensors to differentiate (default:
    the parameters and grad-requiring buffers of ``func`` if it is an ``nn.Module``);
    ``adjoint_rtol``/``adjoint_atol``, the adjoint solve's tolerances (default: the forward ones).
    """
    if not isinstance(solver, RosenbrockSolver):
        raise SolverError(f"adjoint=True needs one of kinetix's stiff methods, not {solver.name}")
    options = dict(problem.options)
    params = _parameters(problem.func, options.pop("adjoint_params", None))
    dtype, device = problem.y0.dtype, problem.y0.device
    adjoint_tolerances = (
        torch.as_tensor(options.pop("adjoint_rtol", problem.rtol), dtype=dtype, device=device).expand_as(problem.rtol),
        torch.as_tensor(options.pop("adjoint_atol", problem.atol), dtype=dtype, device=device).expand_as(problem.atol),
    )
    problem = replace(problem, options=options)
    box = {"solver": solver, "problem": problem, "tolerances": adjoint_tolerances, "params": params}
    ys = _AdjointSolve.apply(box, problem.y0, *params)
    return replace(box["solution"], ys=ys)


class _AdjointSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, box, y0, *params):
        solver, problem = box["solver"], box["problem"]
        records = StepRecords()
        with torch.no_grad():
            solution = solver.integrate(replace(problem, y0=y0.detach()), on_step=records.record)
        box["solution"], box["records"] = solution, records
        ctx.box = box
        return solution.ys

    @staticmethod
    def backward(ctx, grad_ys):
        box = ctx.box
        solver, problem, records = box["solver"], box["problem"], box["records"]
        params = box["params"]
        if not box["solution"].success:
            raise SolverError("cannot differentiate a solve in which a member failed")
        t = problem.t
        lam = torch.zeros_like(problem.y0)
        param_grads = [torch.zeros_like(p) for p in params]
        with torch.enable_grad():
            for j in range(len(t) - 1, 0, -1):
                lam = lam + grad_ys[j]
                lam = _adjoint_interval(solver, problem, records, box["tolerances"], params, param_grads,
                                        float(t[j]), float(t[j - 1]), lam)
        lam = lam + grad_ys[0]
        return (None, lam, *param_grads)


def _adjoint_interval(solver, problem, records, tolerances, params, param_grads, t_from, t_to, lam):
    """``lambda`` at ``t_to`` from ``lambda`` at ``t_from > t_to``; adds the interval's parameter
    gradient to ``param_grads`` in place."""
    func = problem.func
    jacobian = problem.jac or (lambda t, y: autodiff_jacobian(func, t, y))
    rtol, atol = tolerances

    def state(s):
        """Forward state at time ``-s``; ``s`` ``(B, 1)``."""
        values, _ = records.evaluate(-s)
        return values[:, 0]

    def adjoint_jacobian(s, lam):
        return jacobian(-s, state(s)).transpose(-1, -2)

    def adjoint_rhs(s, lam):  # linear in lambda: J(t, y(t))^T lambda
        return (adjoint_jacobian(s, lam) @ lam.unsqueeze(-1)).squeeze(-1)

    def adjoint_time_derivative(s, lam):
        """``-(dJ/dt)^T lambda`` by a central difference along the forward trajectory
        (``y +- delta f``), with ``delta`` a small fraction of the fastest local time scale."""
        t, y = -s, state(s)
        slope = func(t, y)
        local = ((y.abs() + problem.atol) / slope.abs().clamp(min=1e-300)).amin(dim=-1, keepdim=True)
        delta = 1e-6 * torch.minimum(local, t.abs().clamp(min=1.0))
        change = jacobian(t + delta, y + delta * slope) - jacobian(t - delta, y - delta * slope)
        return -((change / (2 * delta).unsqueeze(-1)).transpose(-1, -2) @ lam.unsqueeze(-1)).squeeze(-1)

    def quadrature(accepted, s_old, s_new, lam_old, lam_new, q):
        if not params:
            return
        h = torch.where(accepted, s_new - s_old, torch.zeros_like(s_new))
        for node, weight in zip(_GAUSS_NODES, _GAUSS_WEIGHTS):
            theta = torch.full_like(h, node).unsqueeze(-1)
            lam_node = interpolate(theta, lam_old, lam_new, q) * (weight * h).unsqueeze(-1)
            s = (s_old + node * (s_new - s_old)).unsqueeze(-1)
            with torch.enable_grad():
                value = func(-s, state(s).detach())
                grads = torch.autograd.grad(value, params, grad_outputs=lam_node.detach(), allow_unused=True)
            for total, grad in zip(param_grads, grads):
                if grad is not None:
                    total += grad

    adjoint = Problem(adjoint_rhs, lam.detach(), torch.tensor([-t_from, -t_to], dtype=lam.dtype, device=lam.device),
                      rtol, atol, adjoint_jacobian, problem.max_steps, None, False, dict(problem.options),
                      adjoint_time_derivative)
    with torch.no_grad():
        solution = solver.integrate(adjoint, on_step=quadrature)
    if not solution.success:
        from .base import Status

        reason = Status(int(solution.status[solution.status != 0][0])).describe()
        raise SolverError(f"the adjoint solve failed ({reason}) between t = {t_to:g} and {t_from:g}; "
                          "loosen adjoint_rtol/adjoint_atol or use backpropagation (adjoint=False)")
    return solution.ys[-1]
