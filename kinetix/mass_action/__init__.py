"""Mass-action mechanisms defined in YAML files (see ``docs/mechanism-format.md``)."""

from .format import MechanismSpec, ReactionSpec, TimeGrid, load_spec, parse_spec
from .mechanism import MassActionMechanism, load_mass_action

__all__ = [
    "MassActionMechanism",
    "MechanismSpec",
    "ReactionSpec",
    "TimeGrid",
    "load_mass_action",
    "load_spec",
    "parse_spec",
]
