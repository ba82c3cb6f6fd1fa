"""The ``cantera`` mechanism family, found through the ``kinetix`` entry point."""

import pytest

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from kinetix.plugins import get_catalog, reset_catalog  # noqa: E402


@pytest.fixture
def catalog(monkeypatch):
    """A catalog with the installed cantera plugin only, rebuilt for this test."""
    monkeypatch.setenv("KINETIX_LOAD_PLUGINS", "cantera")
    reset_catalog()
    yield get_catalog()
    reset_catalog()


def test_registered_by_the_installed_distribution(catalog):
    info = catalog.plugins["cantera"]
    assert info.error is None
    assert info.distribution == "kinetix-cantera"
    assert info.hooks == ["register_mechanisms", "register_solvers"]
    assert "cantera" in catalog["mechanism"]
    assert "cantera" in catalog["solver"]


def test_load_mechanism(catalog):
    mech = kinetix.load_mechanism("cantera:gri30.yaml", reactor="const-pressure", pressure=101325.0, temperature=1500,
                                  equivalence_ratio=1.0, fuel="CH4", oxidizer="O2:1, N2:3.76")
    assert isinstance(mech, kinetix_cantera.ReactorMechanism)
    assert isinstance(mech, kinetix.Mechanism)
    assert mech.name == "cantera:gri30"
    assert mech.n_state == 54
    assert mech.initial_state()[0].item() == 1500.0


def test_unknown_option(catalog):
    with pytest.raises(kinetix.ConfigError, match="unknown option.*volume.*known: reactor, pressure"):
        kinetix.load_mechanism("cantera:h2o2.yaml", volume=1.0)


def test_missing_mechanism_name(catalog):
    with pytest.raises(kinetix.MechanismError, match="needs a mechanism file"):
        kinetix.load_mechanism("cantera:", composition="H2:1")
