"""The plugin manager: built-in and installed plugins filling one catalog of registries.

Installed plugins are found through the entry-point group ``kinetix``. Built-in plugins load
first, so their names win: the modules in ``DEFAULT_PLUGINS``, then the in-tree distributions in
``BUILTIN_ENTRY_POINTS`` (recognised by entry-point name *and* distribution). Third-party plugins
follow in entry-point name order. A name that an earlier plugin already registered stays the
earlier plugin's; the later item is kept under ``plugin::name`` (see :mod:`kinetix.registry`) and
the collision is reported. The environment variable ``KINETIX_LOAD_PLUGINS`` (comma-separated
entry-point names; empty for none) limits which installed plugins load, which keeps tests
hermetic. A plugin that fails to import or whose hook fails (with any exception, ``SystemExit``
included; only ``KeyboardInterrupt`` goes through) is recorded with its error and does not stop
the others. Every such event is a :class:`PluginWarning` and a field of ``kinetix plugins``.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import RegistryError
from .quoting import listing, quote
from .registry import Registry, qualified

ENTRY_POINT_GROUP = "kinetix"
DEFAULT_PLUGINS = ("kinetix.builtin.solvers", "kinetix.builtin.networks", "kinetix.builtin.losses")
BUILTIN_ENTRY_POINTS = {  # entry-point name -> the in-tree distribution that must provide it, in load order
    "mechanisms": "kinetix-mechanisms",
    "trainers": "kinetix-trainers",
    "cantera": "kinetix-cantera",
}
_HOOK_OF_KIND = {
    "mechanism": "register_mechanisms",
    "solver": "register_solvers",
    "network": "register_networks",
    "loss": "register_losses",
    "trainer": "register_trainers",
}
KINDS = tuple(_HOOK_OF_KIND)


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded, lost a name to another plugin, or was asked for
    and not found; everything else still loads."""


@dataclass(frozen=True)
class Shadowed:
    """An item a plugin registered under a name another plugin already owns."""

    kind: str
    name: str
    owner: str  # the plugin whose item the plain name gives
    use: str  # the qualified name that gives this plugin's item


@dataclass
class PluginInfo:
    """What ``kinetix plugins`` reports for one plugin."""

    name: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    shadowed: list[Shadowed] = field(default_factory=list)
    error: str | None = None

    def as_row(self) -> dict:
        """The JSON row of ``kinetix plugins``."""
        row: dict = {"name": self.name, "builtin": self.builtin, "hooks": self.hooks}
        if self.distribution:
            row["distribution"] = self.distribution
            row["version"] = self.version
        if self.shadowed:
            row["shadowed"] = [vars(item) for item in self.shadowed]
        if self.error:
            row["error"] = self.error
        return row


def _warn(message: str) -> None:
    warnings.warn(message, PluginWarning, stacklevel=3)


def describe(error: BaseException) -> str:
    """``"ImportError: No module named 'x'"``, shortened; never raises, whatever the exception."""
    try:
        text = str(error)
    except Exception:
        text = "<unprintable>"
    return f"{type(error).__name__}: {text if len(text) <= 300 else quote(text)}"


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
        An item whose name another plugin already owns is kept as ``name::item`` only; it is
        listed in the plugin's ``shadowed`` and warned about.
        """
        if ":" in name or name in self.plugins:
            raise RegistryError(f"plugin name {quote(name)} is taken or contains ':'")
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
                trial[kind].add(*args, plugin=name, **kwargs)
        except BaseException:
            self.manager.unregister(name=name)
            raise
        for kind, args, kwargs in collected:
            owner = self.registries[kind].add(*args, plugin=name, **kwargs).plugin
            if owner != name:
                item = Shadowed(kind, args[0], owner, qualified(name, args[0]))
                info.shadowed.append(item)
                _warn(f"kinetix plugin {name!r} registers {kind} {item.name!r}, which plugin {owner!r} "
                      f"already provides: {item.name!r} stays with {owner!r}, {item.use!r} picks {name!r}'s")
        self.plugins[name] = info

    def add_failure(self, name: str, error: BaseException | str, *, key: str | None = None,
                    distribution=None, version=None):
        """Record (under ``key``, default ``name``) a plugin that did not load, and warn."""
        message = error if isinstance(error, str) else describe(error)
        self.plugins[key or name] = PluginInfo(name, False, distribution, version, error=message)
        _warn(f"kinetix plugin {name!r} failed to load: {message}")

    def __getitem__(self, kind: str) -> Registry:
        return self.registries[kind]


def _allowed_entry_points() -> set[str] | None:
    raw = os.environ.get("KINETIX_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _normalized(distribution: str | None) -> str | None:
    return re.sub(r"[-_.]+", "-", distribution).lower() if distribution else None


def _distribution(entry_point) -> tuple[str | None, str | None]:
    dist = entry_point.dist
    return (dist.name, dist.version) if dist is not None else (None, None)


def _is_builtin(entry_point) -> bool:
    return BUILTIN_ENTRY_POINTS.get(entry_point.name) == _normalized(_distribution(entry_point)[0])


def _load_order(entry_point) -> tuple:
    """Built-ins first, in ``BUILTIN_ENTRY_POINTS`` order; then third-party plugins by name."""
    if _is_builtin(entry_point):
        return (0, list(BUILTIN_ENTRY_POINTS).index(entry_point.name), "")
    return (1, 0, entry_point.name)


def _add_entry_point(catalog: Catalog, entry_point) -> None:
    dist_name, version = _distribution(entry_point)
    name = entry_point.name
    loaded = catalog.plugins.get(name)
    if loaded is not None:
        if _normalized(loaded.distribution) != _normalized(dist_name):
            catalog.add_failure(name, f"the plugin name {name!r} is taken by {loaded.distribution or 'kinetix'}",
                                key=f"{name} ({dist_name})", distribution=dist_name, version=version)
        return  # otherwise the same distribution seen twice on sys.path
    try:
        plugin = entry_point.load()
        catalog.add_plugin(plugin, name, builtin=_is_builtin(entry_point),
                           distribution=dist_name, version=version)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # a broken plugin, even one calling sys.exit(), must not stop kinetix
        catalog.add_failure(name, error, distribution=dist_name, version=version)


def build_catalog(*, entry_points: bool = True) -> Catalog:
    """Load the built-in plugins and (unless ``entry_points`` is false) the installed ones."""
    catalog = Catalog()
    for module_name in DEFAULT_PLUGINS:
        catalog.add_plugin(importlib.import_module(module_name), module_name, builtin=True)
    if not entry_points:
        return catalog
    allowed = _allowed_entry_points()
    found = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=_load_order)
    for entry_point in found:
        if allowed is None or entry_point.name in allowed:
            _add_entry_point(catalog, entry_point)
    installed = sorted({entry_point.name for entry_point in found})
    for name in sorted((allowed or set()) - set(installed)):
        catalog.add_failure(name, f"KINETIX_LOAD_PLUGINS names it, but no installed plugin has this name "
                                  f"(installed: {listing(installed) or 'none'})")
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
