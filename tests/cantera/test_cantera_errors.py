"""What kinetix-cantera refuses, and how it says so."""

import pytest

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from kinetix import MechanismError  # noqa: E402
from cantera_reference import MECHANISMS  # noqa: E402


def test_unsupported_reaction_is_named():
    path = str(MECHANISMS / "blowers_masel.yaml")
    with pytest.raises(MechanismError) as error:
        kinetix_cantera.Kinetics(path)
    message = str(error.value)
    assert path in message
    assert "reaction 1 'H2 + OH <=> H + H2O' (Blowers-Masel)" in message
    assert "reaction 0" not in message
    assert "Supported:" in message


def test_plasma_reactions_are_named():
    with pytest.raises(MechanismError, match=r"reaction 325 'N2\+ \+ e \+ e => N2 \+ e' "
                                             r"\(three-body-two-temperature-plasma\)"):
        kinetix_cantera.Kinetics("example_data/methane-plasma-pavan-2023.yaml")


def test_surface_reactions_are_named():
    surface = ct.Interface("ptcombust.yaml", "Pt_surf")
    with pytest.raises(MechanismError, match=r"Pt_surf.*reaction 0 'H2 \+ 2 PT\(S\) => 2 H\(S\)' "
                                             r"\(interface-Arrhenius\).*reaction 2 .*\(sticking-Arrhenius\)"):
        kinetix_cantera.Kinetics(surface)


def test_non_ideal_gas_is_refused():
    with pytest.raises(MechanismError, match="nDodecane_Reitz.yaml: the phase uses thermo model 'Redlich-Kwong'"):
        kinetix_cantera.Kinetics("nDodecane_Reitz.yaml")


def test_missing_file():
    with pytest.raises(MechanismError, match="no-such-mechanism.yaml: no such mechanism file"):
        kinetix_cantera.Kinetics("no-such-mechanism.yaml")


@pytest.mark.parametrize("text", ["just: [a, mapping]\n", "not yaml at all: [\n", "# a comment only\n"])
def test_not_a_mechanism(tmp_path, text):
    path = tmp_path / "notes.yaml"
    path.write_text(text)
    with pytest.raises(MechanismError, match=f"{path}: Cantera cannot load it as a gas mechanism"):
        kinetix_cantera.Kinetics(path)


def test_directory(tmp_path):
    with pytest.raises(MechanismError, match=f"{tmp_path}: Cantera cannot load it as a gas mechanism"):
        kinetix_cantera.Kinetics(tmp_path)


def test_wrong_source_type():
    with pytest.raises(MechanismError, match="expected a Cantera YAML file name, a path or a cantera.Solution"):
        kinetix_cantera.Kinetics(42)
