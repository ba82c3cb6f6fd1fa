"""Built-in networks."""

from ..hookspecs import hookimpl
from ..networks import ConservedField, MassActionNetwork, ScaledMLP


@hookimpl
def register_networks(register):
    register("mlp", ScaledMLP, description="MLP with per-species input/output scaling and an analytic Jacobian")
    register("mass_action", MassActionNetwork,
             description="mass-action network: learned orders, log rate constants and stoichiometry")
    register("conserved", ConservedField,
             description="wraps a network so that the mechanism's conserved quantities stay exactly constant")
