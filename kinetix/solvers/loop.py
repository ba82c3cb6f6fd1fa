"""The batched adaptive loop: any :class:`~kinetix.solvers.method.Method` as a :class:`Solver`.

Every member of a batch ``(B, n)`` has its own time, step size and accept/reject decision; the
whole batch moves through the same sequence of tensor operations, so a member's result does not
depend on the others. The loop owns what is common to all methods: the time origin, the initial
step, per-member PI control, dense output at the requested times, statistics and step callbacks.
Gradients flow by backpropagation through the steps (the step sizes are treated as constants).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import SolverError
from .base import Problem, Solution, Solver, SolverStats, Status
from .controller import PIController
from .dense import DenseOutput
from .jacobian import autodiff_jacobian, autodiff_time_derivative
from .method import Method, System

_SMALL_WORK = 1 << 16  # batch * n * n below which one CPU thread is fastest
_OPTIONS = {"safety", "min_factor", "max_factor", "beta1", "beta2", "flush_every", "check_every", "threads",
            "compile"}


@contextlib.contextmanager
def _cpu_settings(threads: int | None):
    """Flush denormals (decaying species reach 1e-310 and slow the CPU 100-fold) and, for small
    problems, use one thread (threads only add synchronisation to tiny operations); restore after."""
    old_threads = torch.get_num_threads()
    flushing = torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        if flushing:
            torch.set_flush_denormal(False)


class LoopSolver(Solver):
    """A :class:`Method` driven by the batched adaptive loop.

    Options (``options=`` of :func:`kinetix.solve`): controller ``safety`` (0.9), ``min_factor``
    (0.2), ``max_factor`` (6), ``beta1`` (0.7), ``beta2`` (0.4); ``flush_every`` (64): steps between
    dense-output evaluations; ``check_every``: steps between checks for the end of the solve
    (1 on CPU, 16 on CUDA, where each check synchronises with the host); ``threads``: CPU threads
    (default: 1 for small batches, else torch's setting); ``compile``: ``True`` runs each step
    through ``torch.compile`` (fused kernels, after a one-off compilation of tens of seconds per
    problem shape); ``"solve"`` runs the whole solve as one compiled program
    (:mod:`kinetix.solvers.compiled`; on CPU compiled once per machine into a package under
    ``$KINETIX_CACHE_DIR``, default ``~/.cache/kinetix``), and where a gradient is recorded its backward
    pass as another (:mod:`kinetix.solvers.compiled_gradient`). Denormal numbers are flushed to zero during
    the solve.
    """

    stiff = True
    differentiable = True

    def __init__(self, method: Method):
        self.method = method
        self.name = method.name

    def solve(self, problem: Problem) -> Solution:
        return _Integration(self.method, problem).run()

    def integrate(self, problem: Problem, on_step: Callable) -> Solution:
        """Like :meth:`solve`, calling ``on_step(accepted, t_old, t_new, y_old, y_new, q)`` after
        every iteration with the step just attempted by each member (see ``StepRecords``)."""
        return _Integration(self.method, problem, on_step).run()

    def __repr__(self) -> str:
        return f"LoopSolver({self.method!r})"


class _Integration:
    """The state of one batched solve."""

    def __init__(self, method: Method, problem: Problem, on_step: Callable | None = None):
        unknown = set(problem.options) - _OPTIONS
        if unknown:
            raise SolverError(f"unknown option(s) {sorted(unknown)} for {method.name}; known: {sorted(_OPTIONS)}")
        self.method, self.problem, self.on_step = method, problem, on_step
        options = problem.options
        if options.get("compile") not in (None, False, True, "solve"):
            raise SolverError(f"compile must be true, false or \"solve\", got {options['compile']!r}")
        self.controller = PIController(**{k: float(options[k]) for k in ("safety", "min_factor", "max_factor",
                                                                             "beta1", "beta2") if k in options})
        y0 = problem.y0
        self.flush_every = int(options.get("flush_every", 64))
        self.check_every = int(options.get("check_every", 16 if y0.is_cuda else 1))
        # time runs from the first output time inside the loop, so that small steps stay
        # representable far from the origin; func and callbacks see absolute times
        self.origin = problem.t[0]
        self.system = self._system(problem)
        root_n = y0.shape[-1] ** 0.5  # the norm below is an RMS
        self.atol_rms, self.rtol_rms = problem.atol * root_n, problem.rtol * root_n
        self.step = method.step
        self.whole_solve_compiled = options.get("compile") == "solve" and on_step is None
        if options.get("compile"):
            if not method.compilable:
                raise SolverError(f"{method.name} cannot run compiled (its iteration stops member by member); "
                                  "use a Rosenbrock method (rodas5p) or leave compile off")
            # compiled on first use: a whole solve from an ahead-of-time package never imports the compiler
            self.step = lambda *arguments: _compiled(type(method).step)(method, *arguments)

    def _system(self, problem: Problem) -> System:
        func, jac, time_derivative = problem.func, problem.jac, problem.time_derivative
        shifted = bool(self.origin != 0) or self.origin.requires_grad  # keep d/dt[0] for backpropagation
        origin = self.origin

        def absolute(t):  # (B, 1) loop times -> absolute times
            return t + origin if shifted else t

        def rhs(t, y):
            return func(absolute(t), y)

        if jac is not None:
            def jacobian(t, y):
                return jac(absolute(t), y)
        else:
            def jacobian(t, y):
                return autodiff_jacobian(func, absolute(t), y)

        derivative = None
        if not problem.autonomous:
            if time_derivative is not None:
                def derivative(t, y):
                    return time_derivative(absolute(t), y)
            else:
                def derivative(t, y):
                    return autodiff_time_derivative(func, absolute(t), y)
        return System(rhs, jacobian, derivative, problem.rtol, problem.atol)

    def error_norm(self, error, y, y_new):
        """RMS of ``error / (atol + rtol max(|y|, |y_new|))`` per member ``(B, 1)``; NaN where ``y_new``
        is not finite (``0 * y_new`` is added for that)."""
        scale = torch.addcmul(self.atol_rms, self.rtol_rms, torch.maximum(y.abs(), y_new.abs()))
        return torch.linalg.vector_norm(torch.add(error / scale, y_new, alpha=0.0), dim=-1, keepdim=True)

    def _finite_for_backpropagation(self, step, err, t, y, h, f0):
        """``step``, or where a member's attempt was not finite (so it is rejected), the same attempt
        again with that member's step empty (``h = 0``). Backpropagation meets the zero cotangent of a
        rejected member inside its step, where ``0 * inf`` is NaN, and the parameters that members
        share would get NaN gradients; the other members' results are the same. A host
        synchronisation per attempt, only where a gradient is recorded. (An attempt with a non-finite
        stage has a non-finite error norm.)"""
        if math.isfinite(float(err.sum())):
            return step
        return self.step(self.system, t, y, torch.where(torch.isfinite(err), h, torch.zeros_like(h)), f0)

    def initial_step(self, t0, y0, f0, t_end):
        """Hairer & Wanner's starting step (Vol. I, II.4), per member."""
        problem, order = self.problem, self.method.error_order + 1
        scale = problem.atol + problem.rtol * y0.abs()
        d0 = (y0 / scale).square().mean(-1).sqrt()
        d1 = (f0 / scale).square().mean(-1).sqrt()
        h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
        h0 = torch.minimum(h0, t_end - t0)
        f1 = self.system.rhs((t0 + h0).unsqueeze(-1), y0 + h0.unsqueeze(-1) * f0)
        d2 = ((f1 - f0) / scale).square().mean(-1).sqrt() / h0
        biggest = torch.maximum(d1, d2)
        h1 = torch.where(biggest <= 1e-15, torch.maximum(torch.full_like(h0, 1e-6), h0 * 1e-3),
                         (0.01 / biggest).pow(1.0 / order))
        h = torch.minimum(100 * h0, h1)
        h = torch.where(torch.isfinite(h) & (h > 0), h, torch.full_like(h, 1e-6))
        return torch.minimum(h, t_end - t0)

    def run(self) -> Solution:
        problem = self.problem
        threads = problem.options.get("threads")
        if threads is None and not problem.y0.is_cuda and problem.y0.numel() * problem.y0.shape[-1] < _SMALL_WORK:
            threads = 1
        with _cpu_settings(threads):
            return self._run()

    def _solve_compiled(self, h: torch.Tensor, t_out: torch.Tensor) -> Solution | None:
        """The whole solve as one compiled program, and its gradient as another where one is recorded;
        ``None`` where it cannot be compiled or a gradient would be lost (the loop then runs)."""
        from .compiled import solve_compiled
        from .compiled_gradient import solve_compiled_with_gradient

        y0 = self.problem.y0
        if torch.is_grad_enabled():
            return solve_compiled_with_gradient(self, y0, h, t_out)
        return solve_compiled(self, y0, h, t_out)

    def _run(self) -> Solution:
        problem, system, method = self.problem, self.system, self.method
        y = problem.y0
        batch, dtype, device = y.shape[0], y.dtype, y.device
        t_out = problem.t - self.origin
        dense = DenseOutput(t_out, y)
        zeros = torch.zeros(batch, 1, dtype=torch.long, device=device)
        t = torch.full((batch, 1), float(t_out[0]), dtype=dtype, device=device)  # per-member columns
        if len(t_out) == 1:
            return Solution(dense.values.transpose(0, 1), SolverStats.zeros(batch, device), zeros.view(-1),
                            t.view(-1) + self.origin)
        t_end = torch.full_like(t, float(t_out[-1]))
        f0 = system.rhs(t, y)
        if problem.first_step is not None:
            h = torch.full_like(t, problem.first_step)
        else:
            with torch.no_grad():
                h = self.initial_step(t.view(-1), y.detach(), f0.detach(), t_end.view(-1)).view(batch, 1)
        if self.whole_solve_compiled:
            solution = self._solve_compiled(h, t_out)
            if solution is not None:
                return solution
        active = torch.ones(batch, 1, dtype=torch.bool, device=device)
        h = torch.minimum(h, t_end - t)
        state = ControlState(t, h, h >= t_end - t, active, torch.ones_like(t), ~active, zeros, zeros, zeros, zeros)
        decide = _compiled(control) if problem.options.get("compile") else control
        settings = (self.controller, method.error_order + 1, problem.max_steps, t_end,
                    *(torch.tensor(code, device=device) for code in (Status.MAX_STEPS, Status.STEP_UNDERFLOW,
                                                                     Status.NONFINITE)))
        nominal_evaluations, iteration = None, 0
        while True:
            t_old, h_old = state.t, state.h
            step = self.step(system, t_old, y, h_old, f0)
            y_new = step.y_new
            if nominal_evaluations is None:
                nominal_evaluations = step.rhs_evals
            with torch.no_grad():
                err = self.error_norm(step.error, y, y_new)
                if step.rhs_evals != nominal_evaluations:  # counted per attempt below; correct the difference
                    state.rhs_evals = torch.add(state.rhs_evals, state.active, alpha=step.rhs_evals - nominal_evaluations)
                state, accept, t_new = decide(state, settings, err, step.ok)
            if y_new.requires_grad:
                step = self._finite_for_backpropagation(step, err, t_old, y, h_old, f0)
                y_new = step.y_new
            dense.records.record(accept, t_old, t_new, y, y_new, step.dense)
            if self.on_step is not None:
                self.on_step(accept.view(-1), t_old.view(-1) + self.origin, t_new.view(-1) + self.origin, y, y_new,
                             step.dense)
            y = torch.where(accept, y_new, y)
            iteration += 1
            if len(dense.records) >= self.flush_every:
                dense.flush()
            if iteration % self.check_every == 0 and not bool(state.active.any()):
                break
            f0 = system.rhs(state.t, y)
        dense.flush()
        attempts, accepted = state.attempts.view(-1), state.accepted.view(-1)
        rhs_evals = (1 if problem.first_step is not None else 2) + attempts * (1 + nominal_evaluations)
        stats = SolverStats(accepted, attempts - accepted, rhs_evals + state.rhs_evals.view(-1),
                            attempts * method.jacobians_per_step, attempts * method.factorizations_per_step)
        return Solution(dense.values.transpose(0, 1), stats, state.status.view(-1), state.t.view(-1) + self.origin)


@dataclass
class ControlState:
    """Per-member step control, each a ``(B, 1)`` column: time, next step, whether that step ends
    the solve, still running, last accepted error norm, whether the last attempt was rejected,
    attempts, accepted steps, evaluations of ``f`` beyond the method's nominal count, status."""

    t: torch.Tensor
    h: torch.Tensor
    final: torch.Tensor
    active: torch.Tensor
    err_prev: torch.Tensor
    rejected_last: torch.Tensor
    attempts: torch.Tensor
    accepted: torch.Tensor
    rhs_evals: torch.Tensor
    status: torch.Tensor


def control(state: ControlState, settings, err, ok):
    """Accept or reject every member's attempted step and choose its next one:
    ``(new state, accepted (B, 1), end time of the attempted step (B, 1))``; every field of the
    state is a ``(B, 1)`` column. ``err`` is non-finite
    where the step was; ``ok`` ``(B,)`` or ``None``: where false, the method failed to complete
    the step, which is rejected like a non-finite one.

    Written for few operator calls: fields that only matter while a member runs are not frozen
    when it stops (its ``h`` is, so that it stays a valid step size)."""
    controller, order, max_steps, t_end, max_steps_code, underflow_code, nonfinite_code = settings
    t, h, active = state.t, state.h, state.active
    finite = err < torch.inf  # false for NaN too
    accept, factor = controller(err, state.err_prev, order, ok, state.rejected_last)
    accept = accept & active
    t_new = torch.where(state.final, t_end, t + h)  # a final step was clamped to reach the end exactly
    t = torch.where(accept, t_new, t)
    running = active ^ (accept & state.final)
    remaining = t_end - t
    h_next = h * factor
    final = h_next * 1.01 >= remaining  # no sliver before the end
    h = torch.where(running, torch.where(final, remaining, h_next), h)
    attempts = state.attempts + active
    underflow = running & (h <= t * (16 * torch.finfo(h.dtype).eps))
    out_of_steps = running & (attempts >= max_steps)
    status = torch.where(out_of_steps, max_steps_code, state.status)
    status = torch.where(underflow, torch.where(finite, underflow_code, nonfinite_code), status)
    new_state = ControlState(
        t, h, final, running ^ (underflow | out_of_steps), torch.where(accept, err.clamp(min=1e-4), state.err_prev),
        ~accept, attempts, state.accepted + accept, state.rhs_evals, status,
    )
    return new_state, accept, t_new


_COMPILED: dict = {}


def _compiled(function):
    """``torch.compile(function)``, built once per process."""
    if function not in _COMPILED:
        _COMPILED[function] = torch.compile(function, fullgraph=True, dynamic=False)
    return _COMPILED[function]
