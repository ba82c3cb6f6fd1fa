"""Batched, differentiable Rosenbrock integration in torch.

Every member of a batch ``(B, n)`` has its own time, step size and accept/reject decision; the
whole batch moves through the same sequence of tensor operations, so a member's result does not
depend on the others. Gradients flow by backpropagation through the steps (the step sizes
themselves are treated as constants).
"""

from __future__ import annotations

from typing import Callable

import contextlib
from dataclasses import dataclass

import torch

from ..errors import SolverError
from .base import Problem, Solution, Solver, SolverStats, Status
from .controller import PIController
from .dense import DenseOutput
from .jacobian import autodiff_jacobian, autodiff_time_derivative
from .tableaus import RosenbrockTableau

_INVERSE_MAX_SIZE = 24
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


class RosenbrockSolver(Solver):
    """A linearly implicit (Rosenbrock) method given by its tableau, with an embedded error
    estimate, PI step-size control and dense output. One LU factorisation of
    ``I/(h gamma) - J`` per step, one solve per stage; no Newton iterations.

    Options (``options=`` of :func:`kinetix.solve`): controller ``safety`` (0.9), ``min_factor``
    (0.2), ``max_factor`` (6), ``beta1`` (0.7), ``beta2`` (0.4); ``flush_every`` (64): steps between
    dense-output evaluations; ``check_every``: steps between checks for the end of the solve
    (1 on CPU, 16 on CUDA, where each check synchronises with the host); ``threads``: CPU threads
    (default: 1 for small batches, else torch's setting); ``compile``: run each step through
    ``torch.compile`` (fused kernels: about 4x faster per step, forward and backward, after a
    one-off compilation of tens of seconds per problem shape; worth it for training). Denormal
    numbers are flushed to zero during the solve.
    """

    stiff = True
    differentiable = True

    def __init__(self, tableau: RosenbrockTableau):
        if tableau.H is None:
            raise ValueError(f"{tableau.name} has no dense output")
        self.tableau = tableau
        self.name = tableau.name
        # stage i may reuse f of an earlier stage evaluated at the same time and state
        arguments = [(tableau.alpha[i], tableau.a[i]) for i in range(tableau.stages)]
        self._reuse = [arguments.index(arguments[i]) for i in range(tableau.stages)]

    def solve(self, problem: Problem) -> Solution:
        return _Integration(self, problem).run()

    def integrate(self, problem: Problem, on_step: Callable) -> Solution:
        """Like :meth:`solve`, calling ``on_step(accepted, t_old, t_new, y_old, y_new, q)`` after
        every iteration with the step just attempted by each member (see ``StepRecords``)."""
        return _Integration(self, problem, on_step).run()


class _Integration:
    """The state of one batched solve."""

    def __init__(self, solver: RosenbrockSolver, problem: Problem, on_step: Callable | None = None):
        unknown = set(problem.options) - _OPTIONS
        if unknown:
            raise SolverError(f"unknown option(s) {sorted(unknown)} for {solver.name}; known: {sorted(_OPTIONS)}")
        self.problem = problem
        self.on_step = on_step
        self.tableau = tableau = solver.tableau
        self.reuse = solver._reuse
        options = problem.options
        self.controller = PIController(**{k: float(options[k]) for k in ("safety", "min_factor", "max_factor",
                                                                             "beta1", "beta2") if k in options})
        y0 = problem.y0
        self.dtype, self.device = y0.dtype, y0.device
        self.flush_every = int(options.get("flush_every", 64))
        self.check_every = int(options.get("check_every", 16 if y0.is_cuda else 1))

        def coefficients(values):
            return torch.tensor(values, dtype=self.dtype, device=self.device)

        s = tableau.stages
        self.a_rows = [coefficients(tableau.a[i][:i]) for i in range(s)]
        self.c_rows = [coefficients(tableau.c[i][:i]) for i in range(s)]
        self.has_c = [any(tableau.c[i][:i]) for i in range(s)]
        self.b = coefficients(tableau.b)
        self.e = coefficients(tableau.e)
        self.H = coefficients(tableau.H)
        self.evaluations_per_step = 1 + len(set(self.reuse[1:]) - {0}) + (0 if problem.autonomous else 1)
        # internally time runs from 0 (t - t_out[0]), so that small steps stay representable far
        # from the origin; callbacks see absolute times
        self.origin = problem.t[0]
        func, jac, time_derivative = problem.func, problem.jac, problem.time_derivative
        self.func = lambda t, y: func(t + self.origin, y)
        self.jacobian = ((lambda t, y: jac(t + self.origin, y)) if jac is not None
                         else (lambda t, y: autodiff_jacobian(self.func, t, y)))
        self.time_derivative = ((lambda t, y: time_derivative(t + self.origin, y)) if time_derivative is not None
                                else (lambda t, y: autodiff_time_derivative(self.func, t, y)))
        if options.get("compile"):
            step = _compiled(_Integration.step)
            self.step = lambda t, y, h, f0: step(self, t, y, h, f0)

    def rhs(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.func(t.unsqueeze(-1), y)

    def error_norm(self, error, y, y_new):
        scale = self.problem.atol + self.problem.rtol * torch.maximum(y.abs(), y_new.abs())
        return (error / scale).square().mean(dim=-1).sqrt()

    def initial_step(self, t0, y0, f0, t_end):
        """Hairer & Wanner's starting step (Vol. I, II.4), per member."""
        problem, order = self.problem, self.tableau.embedded_order + 1
        scale = problem.atol + problem.rtol * y0.abs()
        d0 = (y0 / scale).square().mean(-1).sqrt()
        d1 = (f0 / scale).square().mean(-1).sqrt()
        h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
        h0 = torch.minimum(h0, t_end - t0)
        f1 = self.rhs(t0 + h0, y0 + h0.unsqueeze(-1) * f0)
        d2 = ((f1 - f0) / scale).square().mean(-1).sqrt() / h0
        biggest = torch.maximum(d1, d2)
        h1 = torch.where(biggest <= 1e-15, torch.maximum(torch.full_like(h0, 1e-6), h0 * 1e-3),
                         (0.01 / biggest).pow(1.0 / order))
        h = torch.minimum(100 * h0, h1)
        h = torch.where(torch.isfinite(h) & (h > 0), h, torch.full_like(h, 1e-6))
        return torch.minimum(h, t_end - t0)

    def step(self, t, y, h, f0):
        """One attempted step of every member: ``(y_new, error_norm, q)``."""
        tableau, problem = self.tableau, self.problem
        inverse_h = (1.0 / h).unsqueeze(-1)
        J = self.jacobian(t.unsqueeze(-1), y)
        W = torch.diag_embed((inverse_h / tableau.gamma).expand_as(y)) - J
        solve = self._linear_solver(W)
        f_t = None if problem.autonomous else self.time_derivative(t.unsqueeze(-1), y)
        ks: list[torch.Tensor] = []
        fs: list[torch.Tensor] = []
        for i in range(tableau.stages):
            if i:
                K = torch.stack(ks).view(i, -1)
            if i == 0:
                f_i = f0
            elif self.reuse[i] < i:
                f_i = fs[self.reuse[i]]
            else:
                f_i = self.rhs(t + tableau.alpha[i] * h, y + (self.a_rows[i] @ K).view_as(y))
            fs.append(f_i)
            rhs = f_i
            if self.has_c[i]:
                rhs = rhs + (self.c_rows[i] @ K).view_as(y) * inverse_h
            if f_t is not None and tableau.d[i] != 0:
                rhs = rhs + (tableau.d[i] * h).unsqueeze(-1) * f_t
            ks.append(solve(rhs))
        K = torch.stack(ks).view(tableau.stages, -1)
        y_new = y + (self.b @ K).view_as(y)
        error = (self.e @ K).view_as(y)
        q = (self.H @ K).view(-1, *y.shape).transpose(0, 1)
        return y_new, self.error_norm(error, y, y_new), q

    def _linear_solver(self, W: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``rhs (B, n) -> W^-1 rhs``: an explicit inverse for small systems (one matrix product per
        stage is cheaper than a triangular solve), an LU factorisation otherwise."""
        if W.shape[-1] <= _INVERSE_MAX_SIZE:
            inverse = torch.linalg.inv_ex(W)[0]
            return lambda rhs: (inverse @ rhs.unsqueeze(-1)).squeeze(-1)
        lu, pivots, _ = torch.linalg.lu_factor_ex(W)
        return lambda rhs: torch.linalg.lu_solve(lu, pivots, rhs.unsqueeze(-1)).squeeze(-1)

    def run(self) -> Solution:
        problem = self.problem
        threads = problem.options.get("threads")
        if threads is None and not problem.y0.is_cuda and problem.y0.numel() * problem.y0.shape[-1] < _SMALL_WORK:
            threads = 1
        with _cpu_settings(threads):
            return self._run()

    def _run(self) -> Solution:
        problem = self.problem
        y = problem.y0
        batch = y.shape[0]
        t_out = problem.t - self.origin
        dense = DenseOutput(t_out, y)
        zeros = torch.zeros(batch, dtype=torch.long, device=self.device)
        t = torch.full((batch,), float(t_out[0]), dtype=self.dtype, device=self.device)
        if len(t_out) == 1:
            return Solution(dense.values.transpose(0, 1), SolverStats.zeros(batch, self.device), zeros, t + self.origin)
        t_end = torch.full_like(t, float(t_out[-1]))
        f0 = self.rhs(t, y)
        if problem.first_step is not None:
            h = torch.full_like(t, problem.first_step)
        else:
            with torch.no_grad():
                h = self.initial_step(t, y.detach(), f0.detach(), t_end)
        active = torch.ones(batch, dtype=torch.bool, device=self.device)
        state = _ControlState(t, torch.minimum(h, t_end - t), active, torch.ones_like(t), ~active, ~active,
                              zeros, zeros, zeros)
        control = _compiled(_control) if problem.options.get("compile") else _control
        settings = (self.controller, self.tableau.embedded_order + 1, problem.max_steps, t_end)
        iteration = 0
        while True:
            t_old, final = state.t, state.h >= t_end - state.t  # h was clamped to reach the end exactly
            y_new, err, q = self.step(t_old, y, state.h, f0)
            with torch.no_grad():
                finite = torch.isfinite(err) & torch.isfinite(y_new).all(dim=-1)
                state, accept, t_new = control(state, settings, err.detach(), finite, final)
            dense.records.record(accept, t_old, t_new, y, y_new, q)
            if self.on_step is not None:
                self.on_step(accept, t_old + self.origin, t_new + self.origin, y, y_new, q)
            y = torch.where(accept.unsqueeze(-1), y_new, y)
            iteration += 1
            if len(dense.records) >= self.flush_every:
                dense.flush()
            if iteration % self.check_every == 0 and not bool(state.active.any()):
                break
            f0 = self.rhs(state.t, y)
        dense.flush()
        initial_evaluations = 1 if problem.first_step is not None else 2
        stats = SolverStats(state.accepted, state.attempts - state.accepted,
                            initial_evaluations + state.attempts * self.evaluations_per_step,
                            state.attempts.clone(), state.attempts.clone())
        return Solution(dense.values.transpose(0, 1), stats, state.status, state.t + self.origin)


@dataclass
class _ControlState:
    """Per-member step control, each ``(B,)``: time, next step, still running, last accepted error
    norm, whether the last attempt was rejected / non-finite, attempts, accepted steps, status."""

    t: torch.Tensor
    h: torch.Tensor
    active: torch.Tensor
    err_prev: torch.Tensor
    rejected_last: torch.Tensor
    nonfinite_last: torch.Tensor
    attempts: torch.Tensor
    accepted: torch.Tensor
    status: torch.Tensor


def _control(state: _ControlState, settings, err, finite, final):
    """Accept or reject every member's attempted step and choose its next one:
    ``(new state, accepted (B,), end time of the attempted step (B,))``."""
    controller, order, max_steps, t_end = settings
    t, h, active = state.t, state.h, state.active
    err = torch.where(finite, err, torch.full_like(err, torch.inf))
    accept, factor = controller(err, state.err_prev, order)
    accept = accept & active
    factor = torch.where(state.rejected_last & accept, factor.clamp(max=1.0), factor)
    last = accept & final
    t_new = torch.where(last, t_end, t + h)
    attempts = state.attempts + active
    t = torch.where(accept, t_new, t)
    nonfinite_last = torch.where(active, ~finite, state.nonfinite_last)
    running = active & ~last
    h = torch.where(running, h * factor, h)
    h = torch.where(running & (t + 1.01 * h >= t_end), t_end - t, h)  # no sliver before the end
    underflow = running & (h <= 16 * torch.finfo(h.dtype).eps * t.abs())
    out_of_steps = running & (attempts >= max_steps) & ~underflow
    status = torch.where(underflow, torch.where(nonfinite_last, Status.NONFINITE, Status.STEP_UNDERFLOW), state.status)
    status = torch.where(out_of_steps, Status.MAX_STEPS, status)
    new_state = _ControlState(
        t, h, running & ~underflow & ~out_of_steps, torch.where(accept, err.clamp(min=1e-4), state.err_prev),
        torch.where(active, ~accept, state.rejected_last), nonfinite_last, attempts, state.accepted + accept, status,
    )
    return new_state, accept, t_new


_COMPILED: dict = {}


def _compiled(function):
    """``torch.compile(function)``, built once per process."""
    if function not in _COMPILED:
        _COMPILED[function] = torch.compile(function, fullgraph=True, dynamic=False)
    return _COMPILED[function]
