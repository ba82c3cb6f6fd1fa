"""Species and mixture thermodynamics vs Cantera: NASA-7, multi-range NASA-9, range boundaries."""

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from cantera_reference import RATE_ZOO, random_states, reference  # noqa: E402

RTOL = 1e-9  # relative, on values above 1e-6 of the largest of their kind in each state
SPECIES = ("standard_cp_R", "standard_enthalpies_RT", "standard_entropies_R", "standard_gibbs_RT",
           "partial_molar_enthalpies", "partial_molar_int_energies", "partial_molar_cp", "concentrations",
           "mole_fractions")
MIXTURE = ("cp_mole", "cp_mass", "cv_mole", "cv_mass", "enthalpy_mass", "int_energy_mass", "density",
           "mean_molecular_weight")


def ours(kinetics, name, T, P, Y):
    """Our method ``name``, called with the arguments it takes."""
    arguments = {
        "standard_cp_R": (T,), "standard_enthalpies_RT": (T,), "standard_entropies_R": (T, P),
        "standard_gibbs_RT": (T, P), "partial_molar_enthalpies": (T,), "partial_molar_int_energies": (T,),
        "partial_molar_cp": (T,), "concentrations": (T, P, Y), "mole_fractions": (Y,), "cp_mole": (T, Y),
        "cp_mass": (T, Y), "cv_mole": (T, Y), "cv_mass": (T, Y), "enthalpy_mass": (T, Y),
        "int_energy_mass": (T, Y), "density": (T, P, Y), "mean_molecular_weight": (Y,),
    }[name]
    return getattr(kinetics, name)(*(torch.as_tensor(a) for a in arguments)).numpy()


def assert_matches(kinetics, gas, T, P, Y, names):
    cantera_name = {"mole_fractions": "X"}  # where Cantera's name differs
    theirs = reference(gas, T, P, Y, tuple(cantera_name.get(name, name) for name in names))
    for name in names:
        value, expected = ours(kinetics, name, T, P, Y), theirs[cantera_name.get(name, name)]
        scale = np.maximum(np.abs(expected), 1e-6 * np.abs(expected).max(axis=-1, keepdims=True) + 1e-300)
        assert np.max(np.abs(value - expected) / scale) <= RTOL, name


# airNASA9: three NASA-9 ranges up to 20000 K; the zoo mixes NASA-7 and NASA-9 species
@pytest.mark.parametrize("source, t_max", [("gri30.yaml", 3500.0), (RATE_ZOO, 6000.0), ("airNASA9.yaml", 20000.0)])
def test_random_states(source, t_max):
    gas = ct.Solution(source)
    T, P, Y = random_states(gas, 300, np.random.default_rng(0), t_range=(200.0, t_max))
    assert_matches(kinetix_cantera.Kinetics(source), gas, T, P, Y, SPECIES + MIXTURE)


@pytest.mark.parametrize("source", ["gri30.yaml", RATE_ZOO, "airNASA9.yaml"])
def test_range_boundaries_and_extrapolation(source):
    """At, just below and just above every range boundary, and beyond the fitted interval."""
    gas = ct.Solution(source)
    boundaries = set()
    for species in gas.species():
        c = species.thermo.coeffs
        if isinstance(species.thermo, ct.NasaPoly2):
            boundaries.add(c[0])
        else:
            boundaries.update(c[1 + 11 * i] for i in range(1, int(c[0])))
        boundaries.update((species.thermo.min_temp, species.thermo.max_temp))
    T = np.array(sorted({t * f for t in boundaries for f in (1 - 1e-12, 1.0, 1 + 1e-12)} | {100.0, 30000.0}))
    P = np.full_like(T, 2e5)
    Y = np.tile(random_states(gas, 1, np.random.default_rng(1))[2], (len(T), 1))
    assert_matches(kinetix_cantera.Kinetics(source), gas, T, P, Y, SPECIES[:3])


def test_pressure_from_density():
    gas = ct.Solution("gri30.yaml")
    kinetics = kinetix_cantera.Kinetics("gri30.yaml")
    T, P, Y = random_states(gas, 50, np.random.default_rng(2))
    density = kinetics.density(torch.tensor(T), torch.tensor(P), torch.tensor(Y))
    torch.testing.assert_close(kinetics.pressure(torch.tensor(T), density, torch.tensor(Y)), torch.tensor(P),
                               rtol=1e-14, atol=0)


def test_unsupported_species_thermo_is_refused():
    gas = ct.Solution(yaml="""
phases:
- name: gas
  thermo: ideal-gas
  elements: [Ar]
  species: [AR, AR2]
species:
- name: AR
  composition: {Ar: 1}
  thermo: {model: NASA7, temperature-ranges: [300.0, 5000.0], data: [[2.5, 0, 0, 0, 0, -745.375, 4.366]]}
- name: AR2
  composition: {Ar: 2}
  thermo: {model: constant-cp, T0: 300.0, h0: 0.0, s0: 150.0, cp0: 20.8}
""")
    with pytest.raises(kinetix.MechanismError, match=r"species 'AR2' uses ConstantCp thermo"):
        kinetix_cantera.Kinetics(gas)
