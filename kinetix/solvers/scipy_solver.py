"""scipy's stiff integrators (Radau, BDF, LSODA) as a reference Solver.

Members are integrated one after another on the CPU in float64; no gradients flow through them.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import SolverError
from .base import Problem, Solution, Solver, SolverStats, Status
from .jacobian import autodiff_jacobian


class ScipySolver(Solver):
    """scipy's ``OdeSolver`` classes; ``method`` is ``"Radau"``, ``"BDF"`` or ``"LSODA"``.

    Uses the problem's analytic Jacobian when given, otherwise one from autodiff. Output times are
    filled from scipy's dense output, so steps are not clamped to them. scipy takes one relative
    tolerance: with per-component ``rtol`` the smallest is used.
    """

    stiff = True
    differentiable = False

    def __init__(self, method: str):
        self.method = method
        self.name = f"scipy-{method.lower()}"

    def solve(self, problem: Problem) -> Solution:
        if problem.options:
            raise SolverError(f"{self.name} takes no options, got {sorted(problem.options)}")
        batch, n = problem.y0.shape
        dtype, device = problem.y0.dtype, problem.y0.device
        t_out = problem.t.detach().cpu().numpy().astype(np.float64)
        y0 = problem.y0.detach().cpu().numpy().astype(np.float64)
        rtol = problem.rtol.detach().cpu().numpy().astype(np.float64)
        atol = problem.atol.detach().cpu().numpy().astype(np.float64)
        rtol = float(rtol.min())  # scipy's stiff methods take one relative tolerance

        def as_tensors(t, y):
            return (torch.as_tensor(t, dtype=dtype, device=device),
                    torch.as_tensor(np.asarray(y), dtype=dtype, device=device))

        def rhs(t, y):
            with torch.no_grad():
                return problem.func(*as_tensors(t, y)).cpu().numpy().astype(np.float64)

        def jacobian(t, y):
            time, state = as_tensors(t, y)
            with torch.no_grad():
                if problem.jac is not None:
                    matrix = problem.jac(time, state.unsqueeze(0))[0]
                else:
                    matrix = autodiff_jacobian(problem.func, time, state)
            return matrix.cpu().numpy().astype(np.float64)

        ys = np.full((len(t_out), batch, n), np.nan)
        stats = SolverStats.zeros(batch)
        status = torch.zeros(batch, dtype=torch.long)
        t_reached = np.full(batch, t_out[0])
        import scipy.integrate  # on first use: it costs 0.3 s at start-up

        method = getattr(scipy.integrate, self.method)
        for member in range(batch):
            ys[0, member] = y0[member]
            if len(t_out) == 1:
                continue
            with np.errstate(all="ignore"):
                solver = method(rhs, t_out[0], y0[member], t_out[-1], rtol=rtol, atol=atol,
                                jac=jacobian, first_step=problem.first_step)
                next_output, steps, outcome = 1, 0, Status.SUCCESS
                while solver.status == "running":
                    if steps >= problem.max_steps:
                        outcome = Status.MAX_STEPS
                        break
                    message = solver.step()
                    steps += 1
                    if solver.status == "failed":
                        outcome = Status.STEP_UNDERFLOW if "step size" in str(message) else Status.FAILED
                        break
                    if not np.all(np.isfinite(solver.y)):
                        outcome = Status.NONFINITE
                        break
                    end = np.searchsorted(t_out, solver.t, side="right")
                    if end > next_output:
                        interpolant = solver.dense_output()
                        ys[next_output:end, member] = interpolant(t_out[next_output:end]).T
                        next_output = end
                    t_reached[member] = solver.t
            status[member] = outcome
            stats.steps[member] = steps
            stats.rhs_evals[member] = solver.nfev
            stats.jacobian_evals[member] = solver.njev
            stats.lu_decompositions[member] = solver.nlu
        return Solution(torch.as_tensor(ys, dtype=dtype, device=device), stats, status.to(device),
                        torch.as_tensor(t_reached, dtype=dtype, device=device))
