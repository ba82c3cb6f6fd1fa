"""Built-in networks."""

from ..hookspecs import hookimpl
from ..networks import ScaledMLP


@hookimpl
def register_networks(register):
    register("mlp", ScaledMLP, description="MLP with per-species input/output scaling and an analytic Jacobian")
