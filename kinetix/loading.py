"""Finding mechanisms by name, family or file path."""

from __future__ import annotations

from pathlib import Path

from .errors import MechanismError
from .mechanism import Mechanism


def load_mechanism(name_or_path: str | Path | Mechanism, **options) -> Mechanism:
    """A :class:`Mechanism` from a registered name (``"robertson"``), a family member
    (``"cantera:gri30.yaml"``) or a mass-action YAML file path. ``options`` go to the factory.
    """
    from .mass_action import load_mass_action
    from .plugins import get_catalog

    if isinstance(name_or_path, Mechanism):
        return name_or_path
    if isinstance(name_or_path, Path) or Path(str(name_or_path)).is_file():
        if options:
            raise MechanismError(f"{name_or_path}: a mechanism file takes no options, got {sorted(options)}")
        return load_mass_action(name_or_path)
    if not isinstance(name_or_path, str):
        raise MechanismError(f"expected a mechanism name or path, got {type(name_or_path).__name__}")
    name = name_or_path
    registry = get_catalog()["mechanism"]
    family, sep, argument = name.partition(":")
    if sep and family in registry:
        return registry.get(family)(argument, **options)
    if name.endswith((".yaml", ".yml")) or "/" in name:
        raise MechanismError(f"{name}: no such mechanism file")
    return registry.get(name)(**options)
