"""Mechanisms shipped with Cantera that need more than one ideal-gas phase with complete data:
single-pressure Chebyshev fits, a phase chosen by name, incomplete transport data, surface phases,
and the mixtures the reactor accepts. Each against Cantera's own numbers."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from kinetix.cli import main  # noqa: E402
from cantera_reference import GROSS_RTOL, RTOL, random_states, reference, relative_error  # noqa: E402

PAVAN = "example_data/methane-plasma-pavan-2023.yaml"
NAMES = ("forward_rate_constants", "net_production_rates", "creation_rates", "destruction_rates")


def compare(gas, kinetics, count=200, **options):
    """Our forward rate constants and net production rates against Cantera's at random states."""
    T, P, Y = random_states(gas, count, np.random.default_rng(1), **options)
    theirs = reference(gas, T, P, Y, NAMES)
    T, P, Y = (torch.as_tensor(x) for x in (T, P, Y))
    assert relative_error(kinetics.forward_rate_constants(T, P, Y).numpy(), theirs["forward_rate_constants"]) <= RTOL
    gross = theirs["creation_rates"] + theirs["destruction_rates"]
    error = np.abs(kinetics.net_production_rates(T, P, Y).numpy() - theirs["net_production_rates"])
    assert np.all(error <= GROSS_RTOL * gross)


def test_single_pressure_chebyshev_matches_cantera():
    """The 41 Chebyshev fits of Cantera's methane-plasma mechanism give one pressure, [P, P]: the rate
    is the same at every pressure. The mechanism has no third-body reaction either."""
    plasma = ct.Solution(PAVAN)
    chebyshev = [r for r in plasma.reactions() if isinstance(r.rate, ct.ChebyshevRate)]
    assert len(chebyshev) == 41 and all(r.rate.pressure_range[0] == r.rate.pressure_range[1] for r in chebyshev)
    names = sorted({name for r in chebyshev for name in (*r.reactants, *r.products)})
    gas = ct.Solution(thermo="ideal-gas", kinetics="gas", species=[plasma.species(n) for n in names],
                      reactions=chebyshev)
    kinetics = kinetix_cantera.Kinetics(gas)
    compare(gas, kinetics, p_range_atm=(1e-3, 1e3))
    T, Y = torch.tensor([800.0, 1500.0]), torch.tensor(random_states(gas, 2, np.random.default_rng(0))[2])
    low, high = (kinetics.forward_rate_constants(T, torch.tensor(p), Y) for p in (1e2, 1e7))
    assert torch.equal(low, high)
    mech = kinetix_cantera.ReactorMechanism(gas, temperature=900.0, composition="N2:1, O2:1, CH4:0.1, N2+:1e-3, O2+:1e-3")
    y = mech.initial_state()
    numerical = torch.autograd.functional.jacobian(lambda state: mech.rhs(torch.tensor(0.0), state), y)
    torch.testing.assert_close(mech.jacobian(torch.tensor(0.0), y), numerical, rtol=1e-10, atol=1e-12 * numerical.abs().max().item())


def test_chebyshev_on_an_empty_range_is_refused():
    """Cantera evaluates a Chebyshev fit with two pressure coefficients over [P, P] to NaN: refused."""
    rate = ct.ChebyshevRate(temperature_range=(300.0, 2000.0), pressure_range=(ct.one_atm, ct.one_atm),
                            data=[[8.0, 0.1], [0.2, 0.01]])
    assert np.isnan(rate(1000.0, ct.one_atm))
    h2o2 = ct.Solution("h2o2.yaml")
    reaction = ct.Reaction(equation="H2 + O2 => 2 OH", rate=rate)
    gas = ct.Solution(thermo="ideal-gas", kinetics="gas", species=h2o2.species(), reactions=[reaction])
    with pytest.raises(kinetix.MechanismError, match=r"1 Chebyshev reaction\(s\) on an empty range.*reaction 0 "
                                                     r"'H2 \+ O2 => 2 OH'.*2 pressure coefficients"):
        kinetix_cantera.Kinetics(gas)


def test_phase_by_name_matches_cantera():
    """nDodecane_Reitz.yaml holds a Redlich-Kwong phase first and an ideal-gas one second."""
    kinetics = kinetix_cantera.Kinetics("nDodecane_Reitz.yaml", phase="nDodecane_IG")
    gas = ct.Solution("nDodecane_Reitz.yaml", "nDodecane_IG")
    assert kinetics.species_names == tuple(gas.species_names)
    compare(gas, kinetics, count=50)


def test_phase_option_of_the_mechanism_family(tmp_path, capsys):
    mech = kinetix.load_mechanism("cantera:nDodecane_Reitz.yaml", phase="nDodecane_IG", temperature=900.0,
                                  composition="c12h26:1, o2:18.5, n2:69.6")
    assert mech.n_state == 101 and mech.initial_state()[0].item() == 900.0
    out = str(tmp_path / "x.h5")
    assert main(["generate", "cantera:nDodecane_Reitz.yaml", "--out", out, "--option", "composition=c12h26:1"]) == 1
    assert "--option phase=nDodecane_IG" in capsys.readouterr().err
    assert main(["generate", "cantera:nDodecane_Reitz.yaml", "--out", out, "--option", "phase=nDodecane"]) == 1
    assert ("no phase named 'nDodecane'; the file's phases: nDodecane_RK (Redlich-Kwong), nDodecane_IG (ideal-gas)"
            in capsys.readouterr().err)


def test_incomplete_transport_data_are_not_needed(tmp_path):
    document = yaml.safe_load((Path(ct.__file__).parent / "data" / "h2o2.yaml").read_text())
    del next(s for s in document["species"] if s["name"] == "AR")["transport"]
    path = tmp_path / "h2o2-no-argon-transport.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ct.CanteraError, match="Missing gas-phase transport data for species 'AR'"):
        ct.Solution(str(path))
    compare(ct.Solution(str(path), transport_model=None), kinetix_cantera.Kinetics(path))


def test_canonical_text_leaves_transport_out():
    """The same mechanism gives the same text (and hash) whether or not it was loaded with transport."""
    assert kinetix_cantera.Kinetics(ct.Solution("h2o2.yaml")).yaml == kinetix_cantera.Kinetics("h2o2.yaml").yaml


def test_surface_phases_are_announced_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mech = kinetix_cantera.ReactorMechanism("ptcombust.yaml", composition="CH4:1, O2:2, AR:8")
        mech.with_conditions([{"temperature": 900.0}, {"temperature": 1000.0}])
        kinetix_cantera.Kinetics("gri30.yaml")
    messages = [str(w.message) for w in caught]
    assert messages == ["ptcombust.yaml: only the gas phase 'gas' is evaluated; the file's surface phase(s) "
                        "Pt_surf (ideal-surface) and their reactions are ignored (kinetix-cantera evaluates "
                        "gas-phase kinetics only)"]


@pytest.mark.parametrize("mixture, field", [
    ({"composition": "H2:2, O2:-1, N2:3.76"}, "composition"),
    ({"composition": "H2:2 O2:-1e-3 N2:3.76"}, "composition"),
    ({"composition": {"H2": 2.0, "O2": -0.5}}, "composition"),
    ({"equivalence_ratio": 1.0, "fuel": "H2:1, AR:-.5"}, "fuel"),
    ({"equivalence_ratio": 1.0, "fuel": "H2", "oxidizer": "O2:1, N2:-3.76"}, "oxidizer"),
])
def test_negative_mole_numbers_are_refused(mixture, field):
    """Cantera sets negative mole numbers to zero; a reactor refuses them, alone or in a conditions table."""
    gas = ct.Solution("h2o2.yaml")
    gas.X = "H2:2, O2:-1, N2:3.76"
    assert gas["O2"].X[0] == 0.0  # what Cantera does with them
    with pytest.raises(kinetix.MechanismError, match=f"h2o2.yaml: {field} has negative mole numbers"):
        kinetix.load_mechanism("cantera:h2o2.yaml", **mixture)
    with pytest.raises(kinetix.MechanismError, match=f"member 0 .*: {field} has negative mole numbers"):
        kinetix.load_mechanism("cantera:h2o2.yaml").with_conditions([{"temperature": 1000.0, **mixture}])


def test_species_names_with_signs_are_not_negative():
    mech = kinetix.load_mechanism("cantera:gri30.yaml", composition="C3H8:1, O2:5, N2:18.8, CH2(S):1e-9")
    assert mech.initial_state()[1:].min().item() >= 0
