"""kinetix plugin: Cantera mechanisms as batched, differentiable torch kinetics and reactors.

    import kinetix
    from kinetix_cantera import Kinetics, ReactorMechanism

    gas = Kinetics("gri30.yaml")                         # a torch.nn.Module; .to("cuda") works
    wdot = gas.net_production_rates(T, P, Y)             # (..., K) kmol/m^3/s
    mech = kinetix.load_mechanism("cantera:gri30.yaml", temperature=1500, equivalence_ratio=1.0,
                                  fuel="CH4", oxidizer="O2:1, N2:3.76")
"""

from .elements import ElementInvariants
from .kinetics import Kinetics
from .plugin import register_mechanisms, register_solvers
from .reactor import ReactorMechanism
from .reference import CanteraSolver

__version__ = "0.1.0"

__all__ = ["CanteraSolver", "ElementInvariants", "Kinetics", "ReactorMechanism", "register_mechanisms", "register_solvers"]
