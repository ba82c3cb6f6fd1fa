"""torchdiffeq's explicit methods behind kinetix's Solver interface (non-stiff problems only)."""

from __future__ import annotations

import torch

from .base import Problem, Solution, Solver, SolverStats, Status

FIXED_STEP = {"euler", "midpoint", "rk4", "explicit_adams", "implicit_adams"}


class TorchdiffeqSolver(Solver):
    """``torchdiffeq.odeint`` with ``method`` (``"dopri5"``, ``"bosh3"``, ``"rk4"``, ...).

    The batch is integrated as one system with shared steps (torchdiffeq's semantics): members are
    not independent as with kinetix's own methods. ``max_steps`` bounds the adaptive methods; a
    fixed-step method needs ``options={"step_size": h}``. Statistics count right-hand-side
    evaluations only.
    """

    stiff = False
    differentiable = True

    def __init__(self, method: str):
        self.method = method
        self.name = method

    def solve(self, problem: Problem) -> Solution:
        batch = problem.batch
        calls = [0]

        def counted(t, y):
            calls[0] += 1
            return problem.func(t, y)

        options = dict(problem.options)
        if self.method not in FIXED_STEP:
            options.setdefault("max_num_steps", problem.max_steps)
            if problem.first_step is not None:
                options.setdefault("first_step", problem.first_step)
        stats = SolverStats.zeros(batch, device=problem.y0.device)
        status = torch.zeros(batch, dtype=torch.long, device=problem.y0.device)
        import torchdiffeq  # on first use: with scipy it costs 0.35 s at start-up

        try:
            ys = torchdiffeq.odeint(counted, problem.y0, problem.t, rtol=float(problem.rtol.min()),
                                    atol=float(problem.atol.min()), method=self.method, options=options)
            reached = problem.t[-1]
        except AssertionError as error:  # torchdiffeq signals exhausted steps and underflow this way
            if "max_num_steps" not in str(error) and "underflow" not in str(error):
                raise
            ys = torch.full((len(problem.t), *problem.y0.shape), torch.nan, dtype=problem.y0.dtype,
                            device=problem.y0.device)
            status[:] = Status.MAX_STEPS if "max_num_steps" in str(error) else Status.STEP_UNDERFLOW
            reached = problem.t[0]
        if not torch.isfinite(ys).all():
            status[:] = torch.where(torch.isfinite(ys).all(dim=(0, 2)), status, Status.NONFINITE)
        stats.rhs_evals[:] = calls[0]
        return Solution(ys, stats, status, torch.full((batch,), float(reached), dtype=problem.y0.dtype,
                                                      device=problem.y0.device))
