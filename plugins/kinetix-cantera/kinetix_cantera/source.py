"""Opening a Cantera mechanism, and the canonical YAML text that defines it.

A *source* is what :class:`kinetix_cantera.Kinetics` accepts: a YAML name as Cantera resolves it
(``"gri30.yaml"``, ``"example_data/n-hexane-NUIG-2015.yaml"``), a file path, or a Cantera phase
object with kinetics (``cantera.Solution``; an ``Interface`` is refused later, by its reactions).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

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


def open_solution(source, phase: str | None = None) -> ct.ThermoPhase:
    """``source`` as a Cantera phase with kinetics and without transport (kinetics needs none);
    ``phase``: the name of a phase in the file (default: its first). Raises
    :class:`kinetix.MechanismError` naming the file; nothing of a file that is not a Cantera
    mechanism is quoted."""
    if is_phase(source):
        if phase is not None and phase != source.name:
            raise MechanismError(f"{describe(source)}: phase={phase!r} applies to mechanism files; "
                                 "this Solution is already one phase")
        return source
    if not isinstance(source, (str, PathLike)):
        raise MechanismError(
            f"expected a Cantera YAML file name, a path or a cantera.Solution, got {type(source).__name__}"
        )
    name = str(source)
    try:
        return ct.Solution(name, phase or "", transport_model=None)
    except (ct.CanteraError, RuntimeError, OSError, UnicodeError) as error:  # bare C++ errors; undecodable messages
        message = str(error)
    if "findInputFile" in message:
        raise MechanismError(
            f"{name}: no such mechanism file (looked in the working directory and in Cantera's data "
            f"directories {ct.get_data_directories()}); check the name or give a full path"
        )
    path = find_file(name)
    if path is None or not _has_phases(path):
        raise MechanismError(f"{name}: not a Cantera mechanism (no top-level 'phases:' list); give a Cantera "
                             "YAML mechanism (Chemkin files convert with Cantera's ck2yaml)")
    if phase and "does not contain a map where 'name'" in message:
        raise MechanismError(f"{name}: no phase named {phase!r}; the file's phases: {_listing(file_phases(path))}")
    raise MechanismError(f"{name}: Cantera cannot load it as a gas mechanism: {_first_lines(message)}")


def find_file(name: str) -> Path | None:
    """The file that Cantera opens for ``name``: the path itself, else the first match in Cantera's
    data directories; ``None`` if there is no such regular file."""
    for candidate in (Path(name), *(Path(d) / name for d in ct.get_data_directories())):
        if candidate.is_file():
            return candidate
    return None


def file_phases(path: Path) -> list[dict]:
    """The entries of the file's top-level ``phases:`` list (``name``, ``thermo``, ``kinetics``,
    ``adjacent-phases``...), read from that block alone; ``[]`` where there is none."""
    block = _phases_block(path)
    try:
        phases = yaml.load("".join(block), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if block else None
    except yaml.YAMLError:
        return []
    phases = phases.get("phases") if isinstance(phases, dict) else None
    return [entry for entry in phases if isinstance(entry, dict)] if isinstance(phases, list) else []


def _phases_block(path: Path) -> list[str]:
    """The lines of the top-level ``phases:`` entry (up to the next top-level key), or ``[]``."""
    block: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for line in file:
                if block and line[:1] not in ("", " ", "-", "#", "\n", "\t"):
                    break
                if block or line.startswith("phases:"):
                    block.append(line)
    except OSError:
        return []
    return block


def _has_phases(path: Path) -> bool:
    return bool(_phases_block(path))


def _listing(phases: list[dict]) -> str:
    """``"a (ideal-gas), b (Redlich-Kwong)"``."""
    return ", ".join(f"{entry.get('name')} ({entry.get('thermo')})" for entry in phases) or "none found"


def ideal_gas_phases(source) -> list[str]:
    """The names of the ideal-gas phases of the mechanism file ``source`` (``[]`` for a Solution)."""
    return [str(entry.get("name")) for entry in _source_phases(source) if entry.get("thermo") == "ideal-gas"]


def ignored_surfaces(source, phase: str) -> list[str]:
    """The surface and edge phases of the mechanism file ``source`` next to ``phase`` (or with no
    ``adjacent-phases``), as ``"name (thermo)"``: phases whose reactions a gas-only evaluation leaves out."""
    return [
        f"{entry.get('name')} ({entry.get('thermo')})" for entry in _source_phases(source)
        if entry.get("kinetics") in ("surface", "edge") and phase in entry.get("adjacent-phases", [phase])
    ]


def _source_phases(source) -> list[dict]:
    """:func:`file_phases` of the file ``source`` names; ``[]`` for a Solution or a missing file."""
    path = None if is_phase(source) else find_file(str(source))
    return file_phases(path) if path else []


def canonical_yaml(solution: ct.ThermoPhase) -> str:
    """The complete definition of ``solution`` (phase, species, reactions) as YAML, in SI units.

    Built from Cantera's own ``input_data``, without the phase's current state or transport model
    (kinetics needs none), with sorted keys: the same mechanism gives the same text however it was
    loaded, so the text is fit for hashing, and ``cantera.Solution(yaml=text)`` rebuilds the mechanism.
    """
    phase = {key: value for key, value in solution.input_data.items() if key not in ("state", "transport")}
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


def _first_lines(message: str, count: int = 6, limit: int = 400) -> str:
    """The first ``count`` non-decorative lines of a Cantera error, joined on one line, at most
    ``limit`` characters."""
    lines = [line.strip() for line in message.splitlines()]
    lines = [line for line in lines if line and set(line) != {"*"}]
    text = " ".join(lines[:count])
    return text if len(text) <= limit else text[: limit - 3] + "..."
