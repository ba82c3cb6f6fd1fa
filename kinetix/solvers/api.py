"""The front door: ``kinetix.odeint`` and ``kinetix.solve``, with torchdiffeq's calling convention."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch

from ..errors import SolverError
from .base import Problem, Solution, Status

DEFAULT_METHOD = "rodas5p"


def _as_tensor(value, name: str, dtype=None, device=None) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise SolverError(f"{name} must be a tensor or array of numbers ({error})") from None
    return tensor


def _tolerance(value, name: str, n: int, dtype, device) -> torch.Tensor:
    tol = _as_tensor(value, name, dtype=dtype, device=device).detach()
    if tol.dim() > 1 or (tol.dim() == 1 and tol.shape[0] != n):
        raise SolverError(f"{name} must be a scalar or have one value per state component ({n}), got shape {tuple(tol.shape)}")
    if not torch.isfinite(tol).all() or (tol < 0).any():
        raise SolverError(f"{name} must be finite and non-negative, got {tol.tolist()}")
    return tol.expand(n).clone()


def _validated_times(t, dtype, device) -> tuple[torch.Tensor, bool]:
    """``t`` as a 1-D tensor and whether it decreases."""
    t = _as_tensor(t, "t", dtype=dtype, device=device)
    if t.dim() != 1 or t.shape[0] < 1:
        raise SolverError(f"t must be a non-empty 1-D tensor of times, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise SolverError("t must be finite")
    if t.shape[0] == 1:
        return t, False
    steps = t[1:] - t[:-1]
    if (steps > 0).all():
        return t, False
    if (steps < 0).all():
        return t, True
    raise SolverError("t must be strictly increasing or strictly decreasing")


def _first_failure(solution: Solution, batch_shape: torch.Size) -> tuple[int, tuple[int, ...]]:
    failed = (solution.status != Status.SUCCESS).nonzero()
    flat = int(failed[0, 0])
    index = tuple(int(i) for i in np.unravel_index(flat, tuple(batch_shape))) if len(batch_shape) else ()
    return flat, index


def solve(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    y0,
    t,
    *,
    method: str | None = None,
    rtol=1e-6,
    atol=1e-10,
    jac: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    adjoint: bool = False,
    max_steps: int = 100_000,
    first_step: float | None = None,
    options: dict[str, Any] | None = None,
    raise_on_failure: bool = True,
) -> Solution:
    """Integrate ``dy/dt = func(t, y)`` and return the states with per-member statistics.

    Args:
        func: ``func(t, y)`` with ``t`` a scalar tensor and ``y`` ``(B, n)``; any callable or
            ``nn.Module``. An attribute ``autonomous = True`` on it promises that it ignores ``t``.
        y0: initial state ``(n,)`` or a batch ``(..., n)`` of independent problems.
        t: output times ``(T,)``, strictly monotonic; integration starts at ``t[0]``.
        method: a registered solver name (``kinetix solvers``); default :data:`DEFAULT_METHOD`.
        rtol, atol: relative and absolute tolerances, scalars or ``(n,)``.
        jac: analytic Jacobian ``jac(t, y)`` → ``(B, n, n)``; by default ``func.jacobian`` if ``func``
            has one (mechanisms and kinetix networks do), otherwise forward-mode autodiff.
        adjoint: gradients by the adjoint method instead of backpropagation through the steps.
        max_steps: steps allowed per member before it fails.
        first_step: initial step size; default chosen automatically.
        options: method-specific options.
        raise_on_failure: raise :class:`SolverError` naming the first failed member (with the
            solution attached as ``error.solution``) instead of returning it.

    Returns:
        :class:`Solution` whose ``ys`` is shaped ``(T, *y0.shape)``.
    """
    from ..plugins import get_catalog

    if not callable(func):
        raise SolverError(f"func must be callable, got {type(func).__name__}")
    if jac is not None and not callable(jac):
        raise SolverError(f"jac must be callable or None, got {type(jac).__name__}")
    y0 = _as_tensor(y0, "y0")
    if not y0.is_floating_point():
        y0 = y0.to(torch.get_default_dtype())
    if y0.dim() < 1 or y0.shape[-1] < 1:
        raise SolverError(f"y0 must have shape (..., n) with n >= 1, got {tuple(y0.shape)}")
    if not torch.isfinite(y0).all():
        raise SolverError("y0 contains NaN or infinite values")
    t, decreasing = _validated_times(t, y0.dtype, y0.device)
    n = y0.shape[-1]
    rtol = _tolerance(rtol, "rtol", n, y0.dtype, y0.device)
    atol = _tolerance(atol, "atol", n, y0.dtype, y0.device)
    if ((rtol == 0) & (atol == 0)).any():
        raise SolverError("rtol and atol must not both be zero for any component")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise SolverError(f"max_steps must be a positive integer, got {max_steps!r}")
    if first_step is not None and not (isinstance(first_step, (int, float)) and 0 < first_step < math.inf):
        raise SolverError(f"first_step must be a positive number, got {first_step!r}")
    options = dict(options or {})
    if jac is None and callable(getattr(func, "jacobian", None)):
        jac = func.jacobian
    solver = get_catalog()["solver"].get(method or DEFAULT_METHOD)()
    autonomous = bool(options.pop("autonomous", getattr(func, "autonomous", False)))

    batch_shape = y0.shape[:-1]
    problem = Problem(func, y0.reshape(-1, n), t, rtol, atol, jac, max_steps,
                      None if first_step is None else float(first_step), autonomous, options)
    if decreasing:
        problem = _reversed(problem)
    if adjoint:
        from .adjoint import solve_with_adjoint

        solution = solve_with_adjoint(solver, problem)
    else:
        solution = solver.solve(problem)
    if decreasing:
        solution = replace(solution, t_reached=-solution.t_reached)
    solution = replace(solution, ys=solution.ys.reshape(len(t), *batch_shape, n))
    if raise_on_failure and not solution.success:
        flat, index = _first_failure(solution, batch_shape)
        reason = Status(int(solution.status[flat])).describe()
        where = f"batch member {index}" if index else "the solution"
        error = SolverError(
            f"{where} failed at t = {float(solution.t_reached[flat]):.6g} ({reason}; method {solver.name}); "
            "loosen the tolerances, raise max_steps, or check the right-hand side",
            member=flat, t=float(solution.t_reached[flat]),
        )
        error.solution = solution
        raise error
    return solution


def _reversed(problem: Problem) -> Problem:
    """The same problem in ``s = -t``, so that time increases."""
    func, jac = problem.func, problem.jac

    def reversed_func(s, y):
        return -func(-s, y)

    reversed_jac = None if jac is None else (lambda s, y: -jac(-s, y))
    return replace(problem, func=reversed_func, jac=reversed_jac, t=-problem.t)


def odeint(func, y0, t, *, method: str | None = None, rtol=1e-6, atol=1e-10, jac=None, adjoint: bool = False,
           max_steps: int = 100_000, first_step: float | None = None, options: dict | None = None) -> torch.Tensor:
    """Like ``torchdiffeq.odeint``: the solution ``(len(t), *y0.shape)``; see :func:`solve`."""
    return solve(func, y0, t, method=method, rtol=rtol, atol=atol, jac=jac, adjoint=adjoint,
                 max_steps=max_steps, first_step=first_step, options=options).ys
