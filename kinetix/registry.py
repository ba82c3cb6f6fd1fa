"""Named registries of pluggable pieces, with helpful errors for unknown names."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from .errors import RegistryError


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
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, factory: Callable[..., Any], *, plugin: str, description: str = ""):
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise RegistryError(
                f"plugin {plugin!r} registered {self.kind} name {name!r}: a name must be a "
                "non-empty string without ':' or surrounding spaces"
            )
        if not callable(factory):
            raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if name in self._entries:
            other = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice, by plugins {other!r} and {plugin!r}; "
                "uninstall one of them or block it with KINETIX_LOAD_PLUGINS"
            )
        self._entries[name] = Entry(name, factory, plugin, description)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(self._unknown_message(name)) from None

    def get(self, name: str) -> Callable[..., Any]:
        return self.entry(name).factory

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def _unknown_message(self, name: str) -> str:
        available = self.names()
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(str(name), available, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        listing = ", ".join(available) if available else "none (is the plugin that provides it installed?)"
        return f"{message} (available: {listing})"
