"""The plugin system: built-ins and third-party plugins through the same hooks."""

import json
import types
from importlib import metadata

import pytest

import kinetix
from kinetix import plugins
from kinetix.cli import main
from kinetix.errors import RegistryError


def make_plugin(**hooks):
    module = types.ModuleType("my_plugin")
    for name, function in hooks.items():
        setattr(module, name, kinetix.hookimpl(function))
    return module


def test_in_process_plugin_adds_a_mechanism():
    catalog = plugins.build_catalog(entry_points=False)

    def register_mechanisms(register):
        register("toy", lambda **options: kinetix.load_mechanism("robertson"), description="a toy")

    catalog.add_plugin(make_plugin(register_mechanisms=register_mechanisms), "my-plugin")
    entry = catalog["mechanism"].entry("toy")
    assert entry.plugin == "my-plugin" and entry.description == "a toy"
    assert catalog.plugins["my-plugin"].hooks == ["register_mechanisms"]
    assert "rodas5p" in catalog["solver"]  # built-ins came through the same hooks
    assert catalog.plugins["kinetix.builtin.solvers"].builtin


def test_duplicate_names_are_refused_and_leave_the_catalog_unchanged():
    catalog = plugins.build_catalog(entry_points=False)

    def register_solvers(register):
        register("brand-new", object)
        register("rodas5p", object)

    with pytest.raises(RegistryError, match="'rodas5p' is registered twice"):
        catalog.add_plugin(make_plugin(register_solvers=register_solvers), "clash")
    assert "brand-new" not in catalog["solver"] and "clash" not in catalog.plugins


def test_unknown_name_lists_what_is_available():
    catalog = plugins.build_catalog(entry_points=False)
    with pytest.raises(RegistryError) as info:
        catalog["solver"].get("rodas5")
    assert "did you mean 'rodas5p'" in str(info.value) and "scipy-bdf" in str(info.value)


class FakeEntryPoint:
    def __init__(self, name, loader):
        self.name, self._loader = name, loader
        self.dist = types.SimpleNamespace(name=f"kinetix-{name}", version="9.9")

    def load(self):
        return self._loader()


def broken():
    raise ImportError("No module named 'missing_dependency'")


def working():
    def register_mechanisms(register):
        register("extra", lambda **options: None)

    return make_plugin(register_mechanisms=register_mechanisms)


@pytest.fixture
def fake_entry_points(monkeypatch):
    points = [FakeEntryPoint("broken", broken), FakeEntryPoint("working", working)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points if group == "kinetix" else [])
    monkeypatch.delenv("KINETIX_LOAD_PLUGINS", raising=False)
    plugins.reset_catalog()
    yield
    plugins.reset_catalog()


def test_a_broken_plugin_is_reported_and_does_not_break_the_others(fake_entry_points, capsys):
    with pytest.warns(plugins.PluginWarning, match="'broken' failed to load"):
        catalog = plugins.get_catalog()
    assert "extra" in catalog["mechanism"]
    assert main(["plugins"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["broken"]["error"] == "ImportError: No module named 'missing_dependency'"
    assert rows["broken"]["distribution"] == "kinetix-broken"
    assert "error" not in rows["working"] and rows["working"]["hooks"] == ["register_mechanisms"]


def test_load_plugins_variable_limits_installed_plugins(fake_entry_points, monkeypatch):
    monkeypatch.setenv("KINETIX_LOAD_PLUGINS", "working")
    catalog = plugins.build_catalog()
    assert "broken" not in catalog.plugins and "working" in catalog.plugins
    monkeypatch.setenv("KINETIX_LOAD_PLUGINS", "")
    assert set(plugins.build_catalog().plugins) == set(plugins.DEFAULT_PLUGINS)
