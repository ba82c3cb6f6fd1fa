"""Built-in solvers."""

from functools import partial

from ..hookspecs import hookimpl
from ..solvers.scipy_solver import ScipySolver


@hookimpl
def register_solvers(register):
    for method, what in (("Radau", "implicit Runge-Kutta, order 5"), ("BDF", "variable-order BDF"),
                         ("LSODA", "automatic stiff/non-stiff switching")):
        register(f"scipy-{method.lower()}", partial(ScipySolver, method),
                 description=f"scipy {method} ({what}); reference only, CPU, no gradients")
