"""Cantera's own integrator (``ReactorNet``, CVODES) as the kinetix solver ``cantera``: the reference
for kinetix-cantera reactors, e.g. ``kinetix generate cantera:h2o2.yaml --conditions ... --method cantera``."""

from __future__ import annotations

import cantera as ct
import numpy as np
import torch
from kinetix.data.conditions import TimeScaled
from kinetix.errors import SolverError
from kinetix.solvers.base import Problem, Solution, Solver, SolverStats, Status

from .reactor import ReactorMechanism

CANTERA_REACTORS = {"const-pressure": ct.IdealGasConstPressureReactor, "const-volume": ct.IdealGasReactor}


def _reactor_and_scale(func, batch: int) -> tuple[ReactorMechanism, np.ndarray]:
    """The :class:`ReactorMechanism` that ``func`` evaluates (the mechanism, its ``rhs``, or a
    :class:`~kinetix.data.conditions.TimeScaled` of one) and the time scale of each member ``(B,)``."""
    owner = getattr(func, "__self__", func)
    scale = np.ones(batch)
    if isinstance(owner, TimeScaled):
        scale = owner.scale.detach().cpu().numpy().astype(np.float64)
        owner = owner.mechanism
    if not isinstance(owner, ReactorMechanism):
        raise SolverError(f"the cantera solver integrates kinetix-cantera reactors (cantera:<mechanism>) only, "
                          f"got {type(owner).__name__}; use rodas5p for other right-hand sides")
    return owner, scale


class CanteraSolver(Solver):
    """Each member in its own Cantera ``IdealGasConstPressureReactor`` or ``IdealGasReactor``
    (``ReactorNet``, CVODES with its sparse analytic Jacobian), one after another, on the CPU.

    Pressures and densities are the mechanism's (per member for a batch). Cantera takes one
    relative and one absolute tolerance for its whole state: the smallest of ``rtol`` and ``atol``
    are used. No gradients; no options.
    """

    name = "cantera"
    stiff = True
    differentiable = False

    def solve(self, problem: Problem) -> Solution:
        if problem.options:
            raise SolverError(f"{self.name} takes no options, got {sorted(problem.options)}")
        batch, n = problem.y0.shape
        mechanism, scale = _reactor_and_scale(problem.func, batch)
        if mechanism.pressure.dim() and mechanism.pressure.shape[0] != batch:
            raise SolverError(f"{mechanism.name}: the batch holds {mechanism.pressure.shape[0]} reactors, "
                              f"got {batch} initial states")
        dtype, device = problem.y0.dtype, problem.y0.device
        elapsed = (problem.t - problem.t[0]).detach().cpu().numpy().astype(np.float64)
        y0 = problem.y0.detach().cpu().numpy().astype(np.float64)
        pressure = np.broadcast_to(mechanism.pressure.detach().cpu().numpy(), (batch,))
        density = (np.broadcast_to(mechanism.density.detach().cpu().numpy(), (batch,))
                   if mechanism.density is not None else None)
        if mechanism.reactor == "const-volume" and density is None:
            raise SolverError(f"{mechanism.name}: a const-volume reactor needs density= or an initial mixture")
        ys = np.full((len(elapsed), batch, n), np.nan)
        ys[0] = y0
        stats = SolverStats.zeros(batch)
        status = torch.zeros(batch, dtype=torch.long)
        t_reached = np.zeros(batch)
        gas = mechanism.kinetics.solution()
        for member in range(batch):
            if mechanism.reactor == "const-pressure":
                gas.TPY = y0[member, 0], pressure[member], y0[member, 1:]
            else:
                gas.TDY = y0[member, 0], density[member], y0[member, 1:]
            reactor = CANTERA_REACTORS[mechanism.reactor](gas, clone=False)
            network = ct.ReactorNet([reactor])
            network.rtol = float(problem.rtol.min())
            network.atol = float(problem.atol.min())
            network.max_steps = problem.max_steps
            try:
                for i in range(1, len(elapsed)):
                    network.advance(scale[member] * elapsed[i])
                    ys[i, member] = [reactor.T, *reactor.phase.Y]
                    t_reached[member] = elapsed[i]
            except ct.CanteraError:
                status[member] = Status.FAILED
            solver_stats = network.solver_stats
            stats.steps[member] = solver_stats["steps"]
            stats.rejected[member] = solver_stats["err_test_fails"] + solver_stats["nonlinear_conv_fails"]
            stats.rhs_evals[member] = solver_stats["rhs_evals"]
            stats.jacobian_evals[member] = solver_stats["jac_evals"]
            stats.lu_decompositions[member] = solver_stats["lin_solve_setups"]
        return Solution(torch.as_tensor(ys, dtype=dtype, device=device), stats, status.to(device),
                        torch.as_tensor(t_reached, dtype=dtype, device=device) + problem.t[0])
