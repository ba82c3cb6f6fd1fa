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


def _validated_state(y0) -> torch.Tensor:
    """``y0`` as a real floating tensor, 0-d or ``(..., n)`` with at least one member."""
    if isinstance(y0, tuple):
        raise SolverError("y0 is a tuple: kinetix integrates a single tensor state (..., n); "
                          "join the parts with torch.cat (tuple states are not supported)")
    y0 = _as_tensor(y0, "y0")
    if y0.is_complex():
        raise SolverError(f"y0 is complex ({y0.dtype}); kinetix integrates real states: "
                          "split it into real and imaginary components")
    if not y0.is_floating_point():
        y0 = y0.to(torch.get_default_dtype())
    if y0.dim() and y0.shape[-1] < 1:
        raise SolverError(f"y0 must have shape (..., n) with n >= 1, got {tuple(y0.shape)}")
    if y0.numel() == 0:
        raise SolverError(f"y0 is an empty batch (shape {tuple(y0.shape)}); pass at least one member")
    if not torch.isfinite(y0).all():
        raise SolverError("y0 contains NaN or infinite values")
    return y0


def _check_mechanism_size(func, n: int) -> None:
    """A mechanism (or its method) given ``n`` components must have ``n`` state components."""
    from ..mechanism import Mechanism

    owner = func if isinstance(func, Mechanism) else getattr(func, "__self__", None)
    if isinstance(owner, Mechanism) and owner.n_state != n:
        raise SolverError(f"y0 has {n} components but mechanism {owner.name!r} has {owner.n_state} "
                          f"({', '.join(owner.state_names)}); pass y0 shaped (..., {owner.n_state})")


def _probe(func, jac, y0: torch.Tensor, t0: torch.Tensor, with_grad: bool) -> torch.Tensor:
    """``func`` (and ``jac``) on the whole batch at the first time, checked for shape and dtype before any
    work; returns ``func``'s value (with its autograd graph when ``with_grad``)."""
    y = y0.reshape(-1, y0.shape[-1]).detach()
    t = t0.detach().expand(len(y), 1)
    shape = tuple(y.shape)
    with torch.set_grad_enabled(with_grad):
        value = func(t, y)
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise SolverError(f"func returned {got} for y of shape {shape}: it must return dy/dt shaped like y")
    if value.dtype != y.dtype:
        raise SolverError(f"y0 is {y.dtype} but func computes in {value.dtype}: convert one to match "
                          f"(y0.to({value.dtype}) or func.to({y.dtype}))")
    if jac is not None:
        with torch.no_grad():
            matrix = jac(t, y)
        if not isinstance(matrix, torch.Tensor) or tuple(matrix.shape) != (*shape, shape[-1]):
            got = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
            raise SolverError(f"the Jacobian returned {got} for y of shape {shape}: it must be shaped {(*shape, shape[-1])}")
    return value


def _with_start(t: torch.Tensor, t0) -> tuple[torch.Tensor, bool]:
    """``t`` with ``t0`` in front when it differs from ``t[0]``, and whether it was put there."""
    if t0 is None:
        return t, False
    try:
        t0 = float(t0) if not isinstance(t0, bool) else math.nan
    except (TypeError, ValueError, RuntimeError):
        t0 = math.nan
    if not math.isfinite(t0):
        raise SolverError("t0 must be a finite number")
    if t0 == float(t[0]):
        return t, False
    if len(t) > 1 and (t0 < float(t[0])) != bool(t[1] > t[0]):
        raise SolverError(f"t0 = {t0:g} must come before t[0] = {float(t[0]):g} in the direction of integration")
    return torch.cat([t.new_tensor([t0]), t]), True


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
    t0: float | None = None,
    method: str | None = None,
    rtol=1e-6,
    atol=1e-10,
    jac: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    adjoint: bool = False,
    adjoint_params=None,
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
        t0: start the integration here instead, ``y0`` being the state at ``t0``; it must come
            before ``t[0]`` in the direction of integration (or equal it). ``ys`` still holds ``t`` only.
        method: a registered solver name (``kinetix solvers``); default :data:`DEFAULT_METHOD`.
        rtol, atol: relative and absolute tolerances, scalars or ``(n,)``.
        jac: analytic Jacobian ``jac(t, y)`` → ``(B, n, n)``; by default ``func.jacobian`` if ``func``
            has one (mechanisms and kinetix networks do), otherwise forward-mode autodiff.
        adjoint: gradients by the adjoint method instead of backpropagation through the steps,
            with respect to ``y0``, ``t`` and the adjoint parameters.
        adjoint_params: the tensors the adjoint differentiates (default: the grad-requiring
            parameters and buffers of ``func``'s module); any other tensor requiring grad that
            ``func`` uses is an error, not a silently missing gradient.
        max_steps: steps allowed per member before it fails.
        first_step: initial step size; default chosen automatically.
        options: method-specific options.
        raise_on_failure: raise :class:`SolverError` naming the first failed member (with the
            solution attached as ``error.solution``) instead of returning it.

    Returns:
        :class:`Solution` whose ``ys`` is shaped ``(T, *y0.shape)`` (``(T,)`` for a 0-d ``y0``).
        Failed members hold NaN; their gradients are zero if the loss ignores them, NaN otherwise.
    """
    from ..plugins import get_catalog

    if not callable(func):
        raise SolverError(f"func must be callable, got {type(func).__name__}")
    if jac is not None and not callable(jac):
        raise SolverError(f"jac must be callable or None, got {type(jac).__name__}")
    y0 = _validated_state(y0)
    scalar = y0.dim() == 0  # torchdiffeq accepts a 0-d state: one component, output (T,)
    y0 = y0.reshape(1) if scalar else y0
    t, decreasing = _validated_times(t, y0.dtype, y0.device)
    t, prepended = _with_start(t, t0)
    if prepended:
        decreasing = bool(t[1] < t[0])
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
    _check_mechanism_size(func, n)
    if jac is None and callable(getattr(func, "jacobian", None)):
        jac = func.jacobian
    if adjoint:
        from .adjoint import adjoint_parameters, check_no_lost_gradients

        if adjoint_params is not None and "adjoint_params" in options:
            raise SolverError("adjoint_params given twice (argument and option); pass it once")
        params = adjoint_parameters(func, adjoint_params if adjoint_params is not None
                                    else options.pop("adjoint_params", None))
        check_no_lost_gradients(_probe(func, jac, y0, t[0], with_grad=True), params)
    else:
        _probe(func, jac, y0, t[0], with_grad=False)
    solver = get_catalog()["solver"].get(method or DEFAULT_METHOD)()
    autonomous = bool(options.pop("autonomous", getattr(func, "autonomous", False)))

    batch_shape = y0.shape[:-1]
    problem = Problem(func, y0.reshape(-1, n), t, rtol, atol, jac, max_steps,
                      None if first_step is None else float(first_step), autonomous, options)
    if decreasing:
        problem = _reversed(problem)
    if adjoint:
        from .adjoint import solve_with_adjoint

        solution = solve_with_adjoint(solver, problem, params)
    else:
        solution = solver.solve(problem)
    if decreasing:
        solution = replace(solution, t_reached=-solution.t_reached)
    ys = solution.ys[1:] if prepended else solution.ys
    solution = replace(solution, ys=ys.reshape(len(ys), *(() if scalar else (*batch_shape, n))))
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


def odeint(func, y0, t, *, t0: float | None = None, method: str | None = None, rtol=1e-6, atol=1e-10, jac=None,
           adjoint: bool = False, adjoint_params=None, max_steps: int = 100_000, first_step: float | None = None,
           options: dict | None = None) -> torch.Tensor:
    """Like ``torchdiffeq.odeint``: the solution ``(len(t), *y0.shape)``; see :func:`solve`."""
    return solve(func, y0, t, t0=t0, method=method, rtol=rtol, atol=atol, jac=jac, adjoint=adjoint,
                 adjoint_params=adjoint_params, max_steps=max_steps, first_step=first_step, options=options).ys
