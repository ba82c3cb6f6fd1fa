"""Finding mechanisms by name, family or file path."""

from __future__ import annotations

from pathlib import Path

from .errors import MechanismError
from .mechanism import Mechanism
from .registry import QUALIFIER


def load_mechanism(name_or_path: str | Path | Mechanism, **options) -> Mechanism:
    """A :class:`Mechanism` from a registered name (``"robertson"``), a family member
    (``"cantera:gri30.yaml"``) or a mass-action YAML file path. ``options`` go to the factory.
    A name qualified by its plugin (``"mechanisms::robertson"``, ``"cantera::cantera:gri30.yaml"``)
    picks that plugin's item when two plugins register the same name.
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
    plugin, qualifier, rest = name.partition(QUALIFIER)
    prefix, rest = (plugin + qualifier, rest) if qualifier and ":" not in plugin else ("", name)
    family, sep, argument = rest.partition(":")
    if sep and prefix + family in registry:
        return registry.get(prefix + family)(argument, **options)
    if name.endswith((".yaml", ".yml")) or "/" in name:
        raise MechanismError(f"{name}: no such mechanism file")
    return registry.get(name)(**options)
