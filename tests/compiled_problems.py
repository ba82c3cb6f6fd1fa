"""The integration of a three-component problem as a compiled solve builds it: what tests of the compiled
program and of its package's name take apart."""

import torch

from kinetix.solvers.base import Problem
from kinetix.solvers.loop import _Integration
from kinetix.solvers.rosenbrock import Rosenbrock
from kinetix.solvers.tableaus import RODAS5P


def compiled_integration(func, tableau=RODAS5P, rtol=1e-6, times=(0.0, 1.0)) -> _Integration:
    """``func`` (its ``jacobian`` where it has one) from ``[1, 0, 0]`` at ``times``, rtol ``rtol``, atol 1e-10,
    ``compile="solve"``."""
    y0 = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    problem = Problem(func=func, y0=y0, t=torch.tensor(times, dtype=torch.float64),
                      rtol=torch.full((3,), rtol, dtype=torch.float64), atol=torch.full((3,), 1e-10, dtype=torch.float64),
                      jac=getattr(func, "jacobian", None), autonomous=True, options={"compile": "solve"})
    return _Integration(Rosenbrock(tableau), problem)
