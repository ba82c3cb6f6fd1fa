"""The plugin system: built-ins and third-party plugins through the same hooks."""

import json
import sys
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


def test_a_taken_name_stays_with_its_owner_and_only_that_item_is_set_aside():
    catalog = plugins.build_catalog(entry_points=False)

    class Impostor:
        pass

    def register_solvers(register):
        register("brand-new", object)
        register("rodas5p", Impostor)

    with pytest.warns(plugins.PluginWarning, match="'clash::rodas5p' picks 'clash'"):
        catalog.add_plugin(make_plugin(register_solvers=register_solvers), "clash")
    solvers = catalog["solver"]
    assert solvers.entry("rodas5p").plugin == "kinetix.builtin.solvers"
    assert solvers.get("clash::rodas5p") is Impostor and "clash::rodas5p" in solvers
    assert solvers.get("kinetix.builtin.solvers::rodas5p") is solvers.get("rodas5p")
    assert solvers.get("brand-new") is object  # the rest of the plugin is kept
    assert catalog.plugins["clash"].shadowed == [
        plugins.Shadowed("solver", "rodas5p", "kinetix.builtin.solvers", "clash::rodas5p")]


def test_a_name_given_twice_by_one_plugin_leaves_the_catalog_unchanged():
    catalog = plugins.build_catalog(entry_points=False)

    def register_solvers(register):
        register("brand-new", object)
        register("brand-new", object)

    with pytest.raises(RegistryError, match="'brand-new' twice"):
        catalog.add_plugin(make_plugin(register_solvers=register_solvers), "twice")
    assert "brand-new" not in catalog["solver"] and "twice" not in catalog.plugins


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


def exits_at_import():
    raise SystemExit(3)


def exits_in_its_hook():
    def register_mechanisms(register):
        register("half-registered", lambda **options: None)
        raise SystemExit("bye")

    return make_plugin(register_mechanisms=register_mechanisms)


def test_a_plugin_calling_sys_exit_is_contained_like_any_failure(monkeypatch, capsys):
    points = [FakeEntryPoint("exits-at-import", exits_at_import), FakeEntryPoint("exits-in-hook", exits_in_its_hook),
              FakeEntryPoint("working", working)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points if group == "kinetix" else [])
    monkeypatch.delenv("KINETIX_LOAD_PLUGINS", raising=False)
    plugins.reset_catalog()
    try:
        with pytest.warns(plugins.PluginWarning) as warned:
            assert main(["plugins"]) == 0
    finally:
        plugins.reset_catalog()
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert sorted(str(warning.message) for warning in warned) == [
        "kinetix plugin 'exits-at-import' failed to load: SystemExit: 3",
        "kinetix plugin 'exits-in-hook' failed to load: SystemExit: bye"]
    assert rows["exits-at-import"]["error"] == "SystemExit: 3"
    assert rows["exits-in-hook"]["error"] == "SystemExit: bye"
    assert "error" not in rows["working"]


def test_keyboard_interrupt_still_stops_loading(monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(metadata, "entry_points", lambda group: [FakeEntryPoint("slow", interrupted)])
    monkeypatch.delenv("KINETIX_LOAD_PLUGINS", raising=False)
    with pytest.raises(KeyboardInterrupt):
        plugins.build_catalog()


def test_unknown_names_in_load_plugins_are_reported(fake_entry_points, monkeypatch, capsys):
    monkeypatch.setenv("KINETIX_LOAD_PLUGINS", "working, wroking")
    with pytest.warns(plugins.PluginWarning, match="'wroking' failed to load: KINETIX_LOAD_PLUGINS names it"):
        assert main(["plugins"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert "installed: broken, working" in rows["wroking"]["error"]
    assert "error" not in rows["working"] and "broken" not in rows


IMPOSTOR = """
import kinetix

def impostor(**options):
    return "impostor"

@kinetix.hookimpl
def register_mechanisms(register):
    register("robertson", impostor, description="not Robertson")
    register("brusselator", impostor, description="a new name")
"""


def install_plugin(path, monkeypatch, entry_point):
    """A third-party distribution ``impostor`` on ``sys.path`` exposing ``impostor_plugin`` as
    ``entry_point`` in the group ``kinetix``."""
    (path / "impostor_plugin.py").write_text(IMPOSTOR)
    info = path / "impostor-6.6.6.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 6.6.6\n")
    (info / "entry_points.txt").write_text(f"[kinetix]\n{entry_point} = impostor_plugin\n")
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.delitem(sys.modules, "impostor_plugin", raising=False)
    monkeypatch.setenv("KINETIX_LOAD_PLUGINS", f"{entry_point},mechanisms")
    plugins.reset_catalog()


def test_an_installed_plugin_cannot_take_a_builtin_name(tmp_path, monkeypatch, capsys):
    """'aaa' sorts before 'mechanisms': it once took 'robertson' and made the in-tree plugin fail."""
    install_plugin(tmp_path, monkeypatch, "aaa")
    try:
        with pytest.warns(plugins.PluginWarning, match="'robertson' stays with 'mechanisms'"):
            assert main(["plugins"]) == 0
        registry = plugins.get_catalog()["mechanism"]
        assert registry.entry("robertson").plugin == "mechanisms" and "pollu" in registry
        assert registry.entry("brusselator").plugin == "aaa"
        assert kinetix.load_mechanism("robertson").species == ("A", "B", "C")
        assert kinetix.load_mechanism("aaa::robertson") == "impostor"  # still the user's to choose
    finally:
        plugins.reset_catalog()
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["aaa"]["builtin"] is False and rows["aaa"]["distribution"] == "impostor"
    assert rows["aaa"]["shadowed"] == [
        {"kind": "mechanism", "name": "robertson", "owner": "mechanisms", "use": "aaa::robertson"}]
    assert rows["mechanisms"]["builtin"] is True and "shadowed" not in rows["mechanisms"]


def test_an_installed_plugin_cannot_take_a_builtin_plugin_name(tmp_path, monkeypatch, capsys):
    install_plugin(tmp_path, monkeypatch, "mechanisms")
    try:
        with pytest.warns(plugins.PluginWarning, match="the plugin name 'mechanisms' is taken by kinetix-mechanisms"):
            assert main(["mechanisms"]) == 0
    finally:
        plugins.reset_catalog()
    listing = capsys.readouterr().out
    assert "robertson" in listing and "pollu" in listing and "brusselator" not in listing
