"""Vector-field networks for neural ODEs (registered through the ``register_networks`` hook)."""

from .activations import ACTIVATIONS, Activation
from .conserved import ConservedField
from .mass_action import MassActionNetwork
from .mlp import ScaledMLP

__all__ = ["ACTIVATIONS", "Activation", "ConservedField", "MassActionNetwork", "ScaledMLP"]
