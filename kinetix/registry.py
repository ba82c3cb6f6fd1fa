"""Named registries of pluggable pieces, with helpful errors for unknown names.

The first plugin to register a name owns it. An item whose name another plugin already owns is
kept too, reachable only by its qualified name ``plugin::name``, so a user can still choose it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from .errors import RegistryError
from .quoting import listing, quote

QUALIFIER = "::"


def qualified(plugin: str, name: str) -> str:
    """``"plugin::name"``: the name that picks ``plugin``'s item even when another plugin owns ``name``."""
    return f"{plugin}{QUALIFIER}{name}"


@dataclass(frozen=True)
class Entry:
    """One registered item: its factory, the plugin that added it and a one-line description."""

    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""


class Registry:
    """Items of one kind (``"mechanism"``, ``"solver"``, ...) by name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}  # by name: the owner
        self._qualified: dict[str, Entry] = {}  # by "plugin::name": every item

    def add(self, name: str, factory: Callable[..., Any], *, plugin: str, description: str = "") -> Entry:
        """Add ``plugin``'s item ``name``; returns the entry that owns ``name`` now (another
        plugin's when it came first: the new item is then reachable as ``plugin::name`` only)."""
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise RegistryError(
                f"plugin {plugin!r} registered {self.kind} name {quote(name)}: a name must be a "
                "non-empty string without ':' or surrounding spaces"
            )
        if not callable(factory):
            raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        key = qualified(plugin, name)
        if key in self._qualified:
            raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} twice")
        entry = self._qualified[key] = Entry(name, factory, plugin, description)
        return self._entries.setdefault(name, entry)

    def entry(self, name: str) -> Entry:
        """The entry for ``name``, or for ``plugin::name`` that plugin's item."""
        table = self._qualified if isinstance(name, str) and QUALIFIER in name else self._entries
        try:
            return table[name]
        except (KeyError, TypeError):
            raise RegistryError(self._unknown_message(name)) from None

    def get(self, name: str) -> Callable[..., Any]:
        return self.entry(name).factory

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        try:
            self.entry(name)  # type: ignore[arg-type]
        except RegistryError:
            return False
        return True

    def _unknown_message(self, name: str) -> str:
        available = self.names()
        message = f"unknown {self.kind} {quote(name)}"
        close = difflib.get_close_matches(str(name)[:100], available, n=1) if isinstance(name, str) else []
        if close:
            message += f"; did you mean {close[0]!r}?"
        names = listing(available, limit=40) if available else "none (is the plugin that provides it installed?)"
        return f"{message} (available: {names})"
