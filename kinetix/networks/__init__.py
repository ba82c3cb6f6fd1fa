"""Vector-field networks for neural ODEs (registered through the ``register_networks`` hook)."""

from .activations import ACTIVATIONS, Activation
from .mlp import ScaledMLP

__all__ = ["ACTIVATIONS", "Activation", "ScaledMLP"]
