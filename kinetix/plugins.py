"""The plugin manager: built-in and installed plugins filling one catalog of registries.

Installed plugins are found through the entry-point group ``kinetix``. The environment variable
``KINETIX_LOAD_PLUGINS`` (comma-separated entry-point names; empty for none) limits which installed
plugins load, which keeps tests hermetic. A plugin that fails to import is recorded with its error
and does not stop the others.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import RegistryError
from .registry import Registry

ENTRY_POINT_GROUP = "kinetix"
DEFAULT_PLUGINS = ("kinetix.builtin.solvers", "kinetix.builtin.networks", "kinetix.builtin.losses")
_HOOK_OF_KIND = {
    "mechanism": "register_mechanisms",
    "solver": "register_solvers",
    "network": "register_networks",
    "loss": "register_losses",
    "trainer": "register_trainers",
}
KINDS = tuple(_HOOK_OF_KIND)


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded; the others still are."""


@dataclass
class PluginInfo:
    """What ``kinetix plugins`` reports for one plugin."""

    name: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


class Catalog:
    """A plugin manager plus the registries its plugins filled."""

    def __init__(self):
        self.manager = pluggy.PluginManager("kinetix")
        self.manager.add_hookspecs(hookspecs)
        self.registries = {kind: Registry(kind) for kind in KINDS}
        self.plugins: dict[str, PluginInfo] = {}

    def add_plugin(self, plugin: object, name: str, *, builtin: bool = False, distribution=None, version=None):
        """Register ``plugin`` (a module or object with hook implementations) and collect its items.

        All or nothing: if any of its hooks raises or registers a bad item, the catalog is unchanged.
        """
        self.manager.register(plugin, name=name)
        info = PluginInfo(name, builtin, distribution, version)
        collected: list[tuple[str, tuple, dict]] = []
        try:
            for kind, hook_name in _HOOK_OF_KIND.items():
                hook = getattr(self.manager.hook, hook_name)
                impls = [impl for impl in hook.get_hookimpls() if impl.plugin_name == name]
                for impl in impls:

                    def register(item_name, factory, description: str = "", _kind=kind):
                        collected.append((_kind, (item_name, factory), {"description": description}))

                    impl.function(register=register)
                if impls:
                    info.hooks.append(hook_name)
            trial = {kind: Registry(kind) for kind in KINDS}
            for kind, args, kwargs in collected:
                if args[0] in self.registries[kind]:
                    other = self.registries[kind].entry(args[0]).plugin
                    raise RegistryError(
                        f"{kind} {args[0]!r} is registered twice, by plugins {other!r} and {name!r}; "
                        "uninstall one of them or leave one out with KINETIX_LOAD_PLUGINS"
                    )
                trial[kind].add(*args, plugin=name, **kwargs)
        except Exception:
            self.manager.unregister(name=name)
            raise
        for kind, args, kwargs in collected:
            self.registries[kind].add(*args, plugin=name, **kwargs)
        self.plugins[name] = info

    def add_failure(self, name: str, error: BaseException, *, distribution=None, version=None):
        self.plugins[name] = PluginInfo(
            name, False, distribution, version, error=f"{type(error).__name__}: {error}"
        )

    def __getitem__(self, kind: str) -> Registry:
        return self.registries[kind]


def _allowed_entry_points() -> set[str] | None:
    raw = os.environ.get("KINETIX_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def build_catalog(*, entry_points: bool = True) -> Catalog:
    """Load the built-in plugins and (unless ``entry_points`` is false) the installed ones."""
    catalog = Catalog()
    for module_name in DEFAULT_PLUGINS:
        catalog.add_plugin(importlib.import_module(module_name), module_name, builtin=True)
    if not entry_points:
        return catalog
    allowed = _allowed_entry_points()
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if allowed is not None and entry_point.name not in allowed:
            continue
        dist = entry_point.dist
        dist_name = dist.name if dist is not None else None
        version = dist.version if dist is not None else None
        if entry_point.name in catalog.plugins:
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = entry_point.load()
            catalog.add_plugin(plugin, entry_point.name, distribution=dist_name, version=version)
        except Exception as error:  # a broken plugin must not break the others
            catalog.add_failure(entry_point.name, error, distribution=dist_name, version=version)
            warnings.warn(f"kinetix plugin {entry_point.name!r} failed to load: {error}", PluginWarning, stacklevel=2)
    return catalog


_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The process-wide catalog, built on first use."""
    global _catalog
    if _catalog is None:
        _catalog = build_catalog()
    return _catalog


def reset_catalog(catalog: Catalog | None = None) -> None:
    """Replace the process-wide catalog (``None``: rebuild on next use). Meant for tests."""
    global _catalog
    _catalog = catalog
