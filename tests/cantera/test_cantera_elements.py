"""Element amounts per unit mass as the exact invariants of Cantera reactors: against Cantera's own
``elemental_mass_fraction``, kept by the reactor's right-hand side, and kept through a solve by a
learned field wrapped with ``network.conserve = "mechanism"``."""

import cantera as ct
import numpy as np
import pytest
import torch

import kinetix
from kinetix import ConfigError, MechanismError
from kinetix.data.dataset import TrajectoryDataset
from kinetix_cantera import ElementInvariants

pytest.importorskip("kinetix_trainers")
from kinetix_trainers.config import parse_config  # noqa: E402
from kinetix_trainers.fields import build_field  # noqa: E402

# OH and H2O2 carry H and O only ever 1:1 (dependent rows); no species carries C.
TWO_SPECIES = """
phases:
- name: gas
  thermo: ideal-gas
  elements: [O, H, C]
  species: [OH, H2O2]
  kinetics: gas
  reactions: none
species:
- name: OH
  composition: {O: 1, H: 1}
  thermo: {model: constant-cp, T0: 300, h0: 0, s0: 0, cp0: 30000}
- name: H2O2
  composition: {O: 2, H: 2}
  thermo: {model: constant-cp, T0: 300, h0: 0, s0: 0, cp0: 30000}
"""


@pytest.mark.parametrize("name", ["h2o2.yaml", "gri30.yaml"])
def test_element_amounts_match_cantera_elemental_mass_fractions(name):
    gas = ct.Solution(name)
    invariants = ElementInvariants.of(name)
    assert invariants.elements == tuple(gas.element_names)  # all carried, all independent
    matrix = invariants.tensor()
    assert matrix.shape == (gas.n_elements, 1 + gas.n_species) and not matrix[:, 0].any()
    generator = np.random.default_rng(0)
    for _ in range(5):
        gas.TPY = 1200.0, ct.one_atm, generator.dirichlet(np.ones(gas.n_species))
        amounts = matrix[:, 1:].numpy() @ gas.Y                                   # kmol/kg
        expected = [gas.elemental_mass_fraction(e) / gas.atomic_weight(e) for e in invariants.elements]
        np.testing.assert_allclose(amounts, expected, rtol=1e-13, atol=0)


def test_unused_and_dependent_elements_are_left_out():
    invariants = ElementInvariants.of(ct.Solution(yaml=TWO_SPECIES))
    w_oh, w_h2o2 = ct.Solution(yaml=TWO_SPECIES).molecular_weights
    assert invariants.elements == ("O",)
    np.testing.assert_allclose(invariants.amounts, [[1 / w_oh, 2 / w_h2o2]], rtol=1e-15)
    subset = ElementInvariants.of("h2o2.yaml", ["H2", "O2", "H2O", "N2"])           # no Ar in these species
    assert subset.elements == ("O", "H", "N") and subset.tensor().shape == (3, 5)


def test_bad_mechanisms_are_refused_clearly():
    no_elements = TWO_SPECIES.replace("{O: 1, H: 1}", "{}").replace("{O: 2, H: 2}", "{}")
    with pytest.raises(MechanismError, match="no species carries an element"):
        ElementInvariants.of(ct.Solution(yaml=no_elements))
    with pytest.raises(MechanismError, match="no species 'CH4' in the mechanism"):
        ElementInvariants.of("h2o2.yaml", ["H2", "CH4"])
    with pytest.raises(MechanismError, match="stored Cantera mechanism definition does not load"):
        ElementInvariants.of_definition("phases: [")


@pytest.mark.parametrize("reactor", ["const-pressure", "const-volume"])
def test_the_reactor_keeps_its_element_amounts(reactor):
    mechanism = kinetix.load_mechanism("cantera:h2o2.yaml", reactor=reactor, temperature=1200.0,
                                       equivalence_ratio=1.0, fuel="H2")
    matrix = mechanism.invariants.tensor()
    y = mechanism.initial_state()
    y[1:] = y[1:] + 0.01 * torch.rand(y.shape[0] - 1, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    rates = mechanism.rhs(torch.tensor(0.0), y)
    assert (matrix @ rates).abs().max() <= 1e-13 * (matrix.abs() @ rates.abs()).max()


def h2_air_dataset(mechanism) -> TrajectoryDataset:
    """An in-memory dataset of one H2/air state (its trajectory is never read) that holds the
    reactor's definition, as ``kinetix generate`` writes it."""
    y0 = mechanism.initial_state()[None]
    t = torch.tensor([1e-4], dtype=torch.float64)
    metadata = {"mechanism": mechanism.name, "mechanism_definition": mechanism.content().decode(), "t0": 0.0}
    return TrajectoryDataset(t, y0[:, None], y0, mechanism.state_names, metadata)


def learned_field(dataset, conserve: str):
    torch.manual_seed(0)
    y_scale = torch.tensor([1500.0, *[0.1] * (len(dataset.species) - 1)], dtype=torch.float64)
    net = parse_config({"network": {"width": 16, "depth": 2, "conserve": conserve}}).network
    scales = {"input_shift": dataset.y0[0], "input_scale": y_scale, "output_scale": y_scale / 1e-4}
    return build_field(net, dataset, y_scale, scales)[0]


def test_conserved_field_keeps_h2_air_element_amounts_through_a_solve():
    mechanism = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    dataset = h2_air_dataset(mechanism)
    matrix = mechanism.invariants.tensor()
    t = torch.linspace(0.0, 1e-4, 6, dtype=torch.float64)
    drift = {}
    for conserve in ("none", "mechanism"):
        with torch.no_grad():
            ys = kinetix.solve(learned_field(dataset, conserve), dataset.y0, t, method="rodas5p", rtol=1e-6,
                               atol=1e-9).ys                                             # (6, 1, 11)
        amounts = ys @ matrix.T
        drift[conserve] = float((amounts - amounts[0]).abs().max() / amounts[0].abs().max())   # Ar: none
    assert drift["mechanism"] < 1e-13
    assert drift["none"] > 1e-3  # the same network unprojected does not keep them


def test_conserve_mechanism_names_a_cantera_dataset_without_its_definition():
    mechanism = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    dataset = h2_air_dataset(mechanism)
    dataset.metadata["mechanism_definition"] = ""
    with pytest.raises(ConfigError, match="mechanism_definition: .*use network.conserve = 'none'"):
        learned_field(dataset, "mechanism")
