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
from .loop import LoopSolver

_GAUSS_NODES = (0.5 - math.sqrt(15) / 10, 0.5, 0.5 + math.sqrt(15) / 10)
_GAUSS_WEIGHTS = (5 / 18, 8 / 18, 5 / 18)
def adjoint_parameters(func, explicit) -> list[torch.Tensor]:
    """The tensors the adjoint differentiates: ``explicit`` if given (those requiring grad), else
    the grad-requiring parameters and buffers of the module ``func`` is, or is a method of
    (``mech.rhs`` counts as ``mech``). Call it on the caller's ``func``, before any wrapping."""
    if explicit is not None:
        tensors = list(explicit)
        if not all(isinstance(tensor, torch.Tensor) for tensor in tensors):
            raise SolverError("adjoint_params must be a sequence of tensors")
    else:
        owner = func if isinstance(func, torch.nn.Module) else getattr(func, "__self__", None)
        if not isinstance(owner, torch.nn.Module):
            return []
        tensors = [*owner.parameters(), *owner.buffers()]
    unique = {id(tensor): tensor for tensor in tensors if tensor.requires_grad}
    return list(unique.values())


def check_no_lost_gradients(value: torch.Tensor, params: list[torch.Tensor]) -> set[int]:
    """Raise if ``value`` (``func`` evaluated once with grad enabled on detached inputs) depends on a
    tensor requiring grad that is not among ``params``: the adjoint would drop its gradient. Returns the
    ids of the ``params`` that ``value`` depends on."""
    if value.grad_fn is None:
        return set()
    leaves = {id(p) for p in params if p.grad_fn is None}
    stops = {p.grad_fn: id(p) for p in params if p.grad_fn is not None}
    seen, pending, missing, reached = set(), [value.grad_fn], [], set()
    while pending:
        node = pending.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in stops:
            reached.add(stops[node])
            continue
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf tensor
        if variable is not None:
            if id(variable) not in leaves:
                missing.append(tuple(variable.shape))
            reached.add(id(variable))
            continue
        pending.extend(next_node for next_node, _ in node.next_functions)
    if missing:
        shapes = ", ".join(str(shape) for shape in missing)
        raise SolverError(f"adjoint=True: func uses tensor(s) of shape {shapes} that require grad but are not "
                          "adjoint parameters, so their gradients would be lost; pass them as adjoint_params=[...] "
                          "(or make func an nn.Module that owns them)")
    return reached


def solve_with_adjoint(solver, problem: Problem, params: list[torch.Tensor]) -> Solution:
    """Solve ``problem`` so that its output's gradient, with respect to ``problem.y0``,
    ``problem.t`` and ``params``, comes from the adjoint equation.

    Options (besides the method's own): ``adjoint_rtol``/``adjoint_atol``, the adjoint solve's
    tolerances (default: the forward ones).
    """
    if not isinstance(solver, LoopSolver):
        raise SolverError(f"adjoint=True needs one of kinetix's stiff methods, not {solver.name}")
    options = dict(problem.options)
    dtype, device = problem.y0.dtype, problem.y0.device
    adjoint_tolerances = (
        torch.as_tensor(options.pop("adjoint_rtol", problem.rtol), dtype=dtype, device=device).expand_as(problem.rtol),
        torch.as_tensor(options.pop("adjoint_atol", problem.atol), dtype=dtype, device=device).expand_as(problem.atol),
    )
    t = problem.t
    problem = replace(problem, options=options, t=t.detach())
    box = {"solver": solver, "problem": problem, "tolerances": adjoint_tolerances, "params": params}
    ys = _AdjointSolve.apply(box, problem.y0, t, *params)
    return replace(box["solution"], ys=ys)


def _member_dot(a: torch.Tensor, b: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``sum over kept members of <a, b>`` for ``(B, n)`` tensors and ``keep`` ``(B,)``."""
    return torch.where(keep.unsqueeze(-1), a * b, torch.zeros_like(a)).sum()


class _AdjointSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, box, y0, t, *params):
        solver, problem = box["solver"], box["problem"]
        records = StepRecords()
        with torch.no_grad():
            solution = solver.integrate(replace(problem, y0=y0.detach()), on_step=records.record)
        box["solution"], box["records"] = solution, records
        ctx.box = box
        return solution.ys

    @staticmethod
    def backward(ctx, grad_ys):
        """Failed members are left out of the adjoint (their states are not known throughout): their
        ``y0`` gradient is zero if the loss ignores them, NaN if it uses them, and then so are the
        gradients of everything they share (``t``, the parameters)."""
        box = ctx.box
        solver, problem, records, solution = box["solver"], box["problem"], box["records"], box["solution"]
        params = box["params"]
        t, y0 = problem.t, problem.y0
        failed = solution.status != 0
        used = (grad_ys != 0).any(dim=0).any(dim=-1) & failed
        grad_ys = torch.where(failed.view(1, -1, 1), torch.zeros_like(grad_ys), grad_ys)
        ok = ~failed
        needs_t = ctx.needs_input_grad[2]
        grad_t = torch.zeros_like(t) if needs_t else None

        def slope(j):
            with torch.no_grad():
                time = t[j].expand(len(y0), 1)
                return problem.func(time, torch.where(failed.unsqueeze(-1), y0, solution.ys[j]))

        lam = torch.zeros_like(y0)
        param_grads = [torch.zeros_like(p) for p in params]
        with torch.enable_grad():
            for j in range(len(t) - 1, 0, -1):
                if needs_t:
                    grad_t[j] = _member_dot(grad_ys[j], slope(j), ok)
                lam = lam + grad_ys[j]
                lam = _adjoint_interval(solver, problem, records, box["tolerances"], params, param_grads,
                                        float(t[j]), float(t[j - 1]), lam, failed)
        if needs_t and len(t) > 1:
            grad_t[0] = -_member_dot(lam, slope(0), ok)
        lam = lam + grad_ys[0]
        if bool(used.any()):
            lam = torch.where(used.unsqueeze(-1), torch.full_like(lam, torch.nan), lam)
            param_grads = [torch.full_like(grad, torch.nan) for grad in param_grads]
            grad_t = None if grad_t is None else torch.full_like(grad_t, torch.nan)
        return (None, lam, grad_t, *param_grads)


def _adjoint_interval(solver, problem, records, tolerances, params, param_grads, t_from, t_to, lam, failed):
    """``lambda`` at ``t_to`` from ``lambda`` at ``t_from > t_to``; adds the interval's parameter
    gradient to ``param_grads`` in place. ``failed`` members ``(B,)`` (``lambda = 0``) stay at ``y0``."""
    func = problem.func
    jacobian = problem.jac or (lambda t, y: autodiff_jacobian(func, t, y))
    rtol, atol = tolerances

    def state(s):
        """Forward state at time ``-s``; ``s`` ``(B, 1)``."""
        values, _ = records.evaluate(-s)
        return torch.where(failed.unsqueeze(-1), problem.y0, values[:, 0])

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
