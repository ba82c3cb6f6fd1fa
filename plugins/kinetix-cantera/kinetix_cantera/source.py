"""Opening a Cantera mechanism, and the canonical YAML text that defines it.

A *source* is what :class:`kinetix_cantera.Kinetics` accepts: a YAML name as Cantera resolves it
(``"gri30.yaml"``, ``"example_data/n-hexane-NUIG-2015.yaml"``), a file path, or a Cantera phase
object with kinetics (``cantera.Solution``; an ``Interface`` is refused later, by its reactions).
"""

from __future__ import annotations

from os import PathLike

import cantera as ct
import yaml
from kinetix import MechanismError


def is_phase(source) -> bool:
    """True for a Cantera object that has both thermo and kinetics (``Solution``, ``Interface``)."""
    return isinstance(source, ct.ThermoPhase) and isinstance(source, ct.Kinetics)


def describe(source) -> str:
    """A short name for ``source`` in messages: the file name, or the phase of a Solution."""
    if is_phase(source):
        return f"Cantera phase {source.name!r}"
    return str(source)


def open_solution(source) -> ct.ThermoPhase:
    """``source`` as a Cantera phase with kinetics; raises :class:`kinetix.MechanismError` naming it."""
    if is_phase(source):
        return source
    if not isinstance(source, (str, PathLike)):
        raise MechanismError(
            f"expected a Cantera YAML file name, a path or a cantera.Solution, got {type(source).__name__}"
        )
    name = str(source)
    try:
        return ct.Solution(name)
    except (ct.CanteraError, RuntimeError, OSError) as error:  # Cantera also raises bare C++ errors
        if "findInputFile" in str(error):
            raise MechanismError(
                f"{name}: no such mechanism file (looked in the working directory and in Cantera's data "
                f"directories {ct.get_data_directories()}); check the name or give a full path"
            ) from None
        raise MechanismError(f"{name}: Cantera cannot load it as a gas mechanism: {_first_lines(str(error))}") from None


def canonical_yaml(solution: ct.ThermoPhase) -> str:
    """The complete definition of ``solution`` (phase, species, reactions) as YAML, in SI units.

    Built from Cantera's own ``input_data``, without the phase's current state, with sorted keys:
    the same mechanism gives the same text however it was loaded, so the text is fit for hashing,
    and ``cantera.Solution(yaml=text)`` rebuilds the mechanism.
    """
    phase = {key: value for key, value in solution.input_data.items() if key != "state"}
    document = {
        "phases": [phase],
        "species": [species.input_data for species in solution.species()],
        "reactions": [reaction.input_data for reaction in solution.reactions()],
    }
    return yaml.safe_dump(_plain(document), sort_keys=True, default_flow_style=None, width=100)


def _plain(value):
    """``value`` with Cantera's ``AnyMap`` and numpy values turned into plain YAML-safe types."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _plain(value.tolist())
    return value


def _first_lines(message: str, count: int = 6) -> str:
    """The first ``count`` non-decorative lines of a Cantera error, joined on one line."""
    lines = [line.strip() for line in message.splitlines()]
    lines = [line for line in lines if line and set(line) != {"*"}]
    return " ".join(lines[:count])
