"""What kinetix-cantera refuses, and how it says so."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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


def test_non_ideal_gas_is_refused_and_the_ideal_gas_phase_named():
    with pytest.raises(MechanismError, match=r"nDodecane_Reitz.yaml: phase 'nDodecane_RK' uses thermo model "
                                             r"'Redlich-Kwong'.*ideal-gas phases \(nDodecane_IG\) with phase=.*"
                                             r"Kinetics\(source, phase='nDodecane_IG'\).*--option phase=nDodecane_IG"):
        kinetix_cantera.Kinetics("nDodecane_Reitz.yaml")


def test_unknown_phase():
    with pytest.raises(MechanismError, match=r"nDodecane_Reitz.yaml: no phase named 'gas'; the file's phases: "
                                             r"nDodecane_RK \(Redlich-Kwong\), nDodecane_IG \(ideal-gas\)$"):
        kinetix_cantera.Kinetics("nDodecane_Reitz.yaml", phase="gas")
    with pytest.raises(MechanismError, match="phase='gas' applies to mechanism files"):
        kinetix_cantera.Kinetics(ct.Solution("h2o2.yaml"), phase="gas")


def test_missing_file():
    with pytest.raises(MechanismError, match="no-such-mechanism.yaml: no such mechanism file"):
        kinetix_cantera.Kinetics("no-such-mechanism.yaml")


def not_a_mechanism(path) -> str:
    return (f"{path}: not a Cantera mechanism (no top-level 'phases:' list); give a Cantera YAML mechanism "
            "(Chemkin files convert with Cantera's ck2yaml)")


@pytest.mark.parametrize("text", ["just: [a, mapping]\n", "not yaml at all: [\n", "# a comment only\n",
                                  "root:x:0:0:root:/root:/bin/bash\nsecret: hunter2\n"])
def test_not_a_mechanism_is_not_quoted(tmp_path, text):
    path = tmp_path / "notes.yaml"
    path.write_text(text)
    with pytest.raises(MechanismError) as error:
        kinetix_cantera.Kinetics(path)
    assert str(error.value) == not_a_mechanism(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_no_text_of_a_non_mechanism_reaches_the_message(tmp_path, text):
    assume("phases:" not in text)
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MechanismError) as error:
        kinetix_cantera.Kinetics(path)
    assert str(error.value) == not_a_mechanism(path)


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="no /etc/passwd")
def test_system_file():
    with pytest.raises(MechanismError) as error:
        kinetix_cantera.Kinetics("/etc/passwd")
    assert str(error.value) == not_a_mechanism("/etc/passwd")


def test_broken_mechanism_error_is_bounded(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("phases:\n- name: gas\n  thermo: ideal-gas\n  species: [" + "A, " * 5000 + "B]\n")
    with pytest.raises(MechanismError, match=f"{path}: Cantera cannot load it as a gas mechanism: ") as error:
        kinetix_cantera.Kinetics(path)
    assert len(str(error.value)) < 500 + len(str(path))


def test_directory(tmp_path):
    with pytest.raises(MechanismError) as error:
        kinetix_cantera.Kinetics(tmp_path)
    assert str(error.value) == not_a_mechanism(tmp_path)


def test_wrong_source_type():
    with pytest.raises(MechanismError, match="expected a Cantera YAML file name, a path or a cantera.Solution"):
        kinetix_cantera.Kinetics(42)
