"""kinetix: neural-ODE surrogates of stiff chemical kinetics.

The public API::

    import kinetix

    mech = kinetix.load_mechanism("robertson")
    ys = kinetix.simulate(mech)                       # (T, n) at the default output times
    ys = kinetix.odeint(mech.rhs, mech.initial_state(), mech.default_times(), jac=mech.jacobian)
    data = kinetix.load_dataset("robertson.h5")       # .t, .y (N, T, n), .y0, .species, .metadata
    model = kinetix.Surrogate.load("run/surrogate")   # a trained neural ODE
    ys = model.simulate(y0, t)                        # (len(t), *y0.shape)
"""

from .errors import (
    ConfigError,
    DatasetError,
    KinetixError,
    MechanismError,
    RegistryError,
    SolverError,
    SurrogateError,
)
from .hookspecs import hookimpl
from .loading import load_mechanism
from .mechanism import Mechanism
from .simulate import integrate_mechanism, simulate
from .solvers.api import odeint, solve
from .data.dataset import TrajectoryDataset, load_dataset
from .surrogate import Surrogate
from . import plugins

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DatasetError",
    "KinetixError",
    "Mechanism",
    "MechanismError",
    "RegistryError",
    "SolverError",
    "Surrogate",
    "SurrogateError",
    "TrajectoryDataset",
    "hookimpl",
    "integrate_mechanism",
    "load_dataset",
    "load_mechanism",
    "odeint",
    "simulate",
    "solve",
]
