"""Built-in solvers."""

from functools import cache, partial

from ..hookspecs import hookimpl
from ..solvers.explicit import TorchdiffeqSolver
from ..solvers.esdirk import ESDIRK
from ..solvers.loop import LoopSolver
from ..solvers.rosenbrock import Rosenbrock
from ..solvers.scipy_solver import ScipySolver
from ..solvers.tableaus import ESDIRK_TABLEAUS, TABLEAUS


@hookimpl
def register_solvers(register):
    for name, tableau in TABLEAUS.items():
        stability = "L-stable" + (", stiffly accurate" if tableau.stiffly_accurate else "")
        register(name, partial(_loop, Rosenbrock, tableau),
                 description=f"Rosenbrock {tableau.order}({tableau.embedded_order}), {tableau.stages} stages, "
                             f"{stability}; batched, differentiable")
    for name, tableau in ESDIRK_TABLEAUS.items():
        register(name, partial(_loop, ESDIRK, tableau),
                 description=f"ESDIRK {tableau.order}({tableau.embedded_order}), {tableau.stages} stages, L-stable, "
                             "stiffly accurate, simplified Newton; batched, differentiable")
    for method, what in (("Radau", "implicit Runge-Kutta, order 5"), ("BDF", "variable-order BDF"),
                         ("LSODA", "automatic stiff/non-stiff switching")):
        register(f"scipy-{method.lower()}", partial(ScipySolver, method),
                 description=f"scipy {method} ({what}); reference only, CPU, no gradients")
    for method, what in (("dopri5", "Dormand-Prince 5(4)"), ("bosh3", "Bogacki-Shampine 3(2)"),
                         ("fehlberg2", "Runge-Kutta-Fehlberg 2(1)"), ("adaptive_heun", "Heun-Euler 2(1)"),
                         ("rk4", "classic Runge-Kutta 4, fixed step"), ("euler", "forward Euler, fixed step"),
                         ("midpoint", "explicit midpoint, fixed step")):
        register(method, partial(TorchdiffeqSolver, method),
                 description=f"torchdiffeq {what}; explicit, non-stiff only, shared steps across the batch")


def _loop(method, tableau):
    return LoopSolver(_method(method, tableau))


@cache
def _method(method, tableau):
    """One method object per tableau, so that compiled programs and coefficient tensors are reused."""
    return method(tableau)
