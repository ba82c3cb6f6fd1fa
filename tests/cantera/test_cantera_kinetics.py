"""Rate constants, equilibrium constants, rates of progress and net production rates vs Cantera.

Each mechanism is compared at 1000 random states (T 500-3000 K, P 0.05-50 atm, mole fractions
spanning decades with about 10% exact zeros). Tolerance: relative 1e-9 on every value above 1e-290
(smaller ones must be as small in both); net production rates, which cancel, relative 1e-9 where
|omega_k| >= 1e-3 of the species' gross (creation + destruction) rate and within 1e-12 of the gross
rate everywhere.
"""

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from cantera_reference import (  # noqa: E402
    GROSS_FLOOR, GROSS_RTOL, RATE_ZOO, RTOL, random_states, reference, relative_error,
)

N_STATES = 1000
NAMES = ("forward_rate_constants", "reverse_rate_constants", "equilibrium_constants",
         "forward_rates_of_progress", "reverse_rates_of_progress", "net_rates_of_progress",
         "net_production_rates", "creation_rates", "destruction_rates")
MECHANISMS = {
    "h2o2.yaml": {},
    "gri30.yaml": {},
    # PLOG (several rates per pressure, specific collider), Chebyshev, SRI, Troe, Tsang, orders...;
    # the wider pressure range exercises PLOG and Chebyshev beyond their tables
    RATE_ZOO: {"p_range_atm": (1e-3, 1e3)},
    # PLOG (incl. a specific-collider PLOG), Troe, Lindemann, negative A, duplicates
    "example_data/ammonia-CO-H2-Alzueta-2023.yaml": {},
}


def evaluate(kinetics, T, P, Y) -> dict[str, np.ndarray]:
    T, P, Y = (torch.as_tensor(x) for x in (T, P, Y))
    rates = kinetics.rates(T, P, Y)
    return {
        "forward_rate_constants": rates.forward_constants,
        "reverse_rate_constants": rates.reverse_constants,
        "equilibrium_constants": kinetics.equilibrium_constants(T),
        "forward_rates_of_progress": rates.forward,
        "reverse_rates_of_progress": rates.reverse,
        "net_rates_of_progress": kinetics.net_rates_of_progress(T, P, Y),
        "net_production_rates": kinetics.net_production_rates(T, P, Y),
    }


def compare(name, source, options, count, seed=0):
    gas = ct.Solution(source)
    kinetics = kinetix_cantera.Kinetics(source)
    T, P, Y = random_states(gas, count, np.random.default_rng(seed), **options)
    theirs = reference(gas, T, P, Y, NAMES)
    ours = {key: value.numpy() for key, value in evaluate(kinetics, T, P, Y).items()}
    return ours, theirs


@pytest.fixture(scope="module", params=list(MECHANISMS), ids=lambda s: s.split("/")[-1])
def compared(request):
    return compare(request.param, request.param, MECHANISMS[request.param], N_STATES)


@pytest.mark.parametrize("name", ["forward_rate_constants", "reverse_rate_constants", "equilibrium_constants",
                                  "forward_rates_of_progress", "reverse_rates_of_progress"])
def test_matches_cantera(compared, name):
    ours, theirs = compared
    assert relative_error(ours[name], theirs[name]) <= RTOL


def assert_net_rates_close(ours, theirs, gross):
    error = np.abs(ours - theirs)
    assert np.all(error <= GROSS_RTOL * gross)
    significant = (np.abs(theirs) >= GROSS_FLOOR * gross) & (gross > 0)
    assert significant.sum() > 0.5 * (gross > 0).sum()  # the relative check covers most components
    assert np.max(error[significant] / np.abs(theirs[significant])) <= RTOL


def test_net_production_rates(compared):
    ours, theirs = compared
    gross = theirs["creation_rates"] + theirs["destruction_rates"]
    assert_net_rates_close(ours["net_production_rates"], theirs["net_production_rates"], gross)


def test_net_rates_of_progress(compared):
    ours, theirs = compared
    gross = theirs["forward_rates_of_progress"] + theirs["reverse_rates_of_progress"]
    assert_net_rates_close(ours["net_rates_of_progress"], theirs["net_rates_of_progress"], np.abs(gross))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:NasaPoly2")  # Cantera notes two species with discontinuous h/RT
def test_large_mechanism_matches_cantera():
    """n-hexane (NUIG 2015): 1268 species, 5336 reactions, 401 PLOG."""
    ours, theirs = compare("n-hexane", "example_data/n-hexane-NUIG-2015.yaml", {}, 300)
    for name in ("forward_rate_constants", "reverse_rate_constants", "equilibrium_constants"):
        assert relative_error(ours[name], theirs[name]) <= RTOL
    gross = theirs["creation_rates"] + theirs["destruction_rates"]
    assert_net_rates_close(ours["net_production_rates"], theirs["net_production_rates"], gross)


def test_rate_zoo_covers_every_supported_type():
    types = {reaction.reaction_type for reaction in ct.Solution(RATE_ZOO).reactions()}
    assert types == {
        "Arrhenius", "three-body-Arrhenius", "falloff-Lindemann", "falloff-Troe", "falloff-SRI",
        "falloff-Tsang", "chemically-activated-Lindemann", "chemically-activated-Troe",
        "chemically-activated-SRI", "pressure-dependent-Arrhenius",
        "three-body-pressure-dependent-Arrhenius", "Chebyshev",
    }


def test_pressures_at_and_beyond_the_plog_and_chebyshev_tables():
    """Exactly at tabulated PLOG pressures, at Chebyshev limits, and far outside both."""
    gas = ct.Solution(RATE_ZOO)
    kinetics = kinetix_cantera.Kinetics(RATE_ZOO)
    pressures = ct.one_atm * np.array([1e-5, 0.01, 0.1, 1.0, 10.0, 50.0, 100.0, 1e5])
    T, P = np.meshgrid([300.0, 1000.0, 2500.0, 3500.0], pressures)
    T, P = T.ravel(), P.ravel()
    Y = np.tile(random_states(gas, 1, np.random.default_rng(1), zero_fraction=0.0)[2], (len(T), 1))
    theirs = reference(gas, T, P, Y, ("forward_rate_constants",))["forward_rate_constants"]
    ours = kinetics.forward_rate_constants(torch.tensor(T), torch.tensor(P), torch.tensor(Y)).numpy()
    assert relative_error(ours, theirs) <= RTOL


def test_slightly_negative_mass_fractions_follow_cantera():
    """As inside a stiff solver: Cantera's reactors use unnormalised mass fractions as given."""
    gas = ct.Solution("gri30.yaml")
    kinetics = kinetix_cantera.Kinetics("gri30.yaml")
    T, P, Y = random_states(gas, 50, np.random.default_rng(2))
    Y[Y == 0.0] = -1e-12
    theirs = []
    for t, p, y in zip(T, P, Y):
        gas.set_unnormalized_mass_fractions(y)
        gas.TP = t, p
        theirs.append(gas.net_production_rates)
    ours = kinetics.net_production_rates(torch.tensor(T), torch.tensor(P), torch.tensor(Y)).numpy()
    assert np.all(np.isfinite(ours))
    scale = np.abs(np.array(theirs)).max(axis=1, keepdims=True)
    assert np.max(np.abs(ours - np.array(theirs)) / scale) <= 1e-12


def test_a_factor_that_few_reactions_have_is_multiplied_into_those_alone():
    """gri30's third product factor belongs to 8 of 325 reactions: it is gathered for those alone, and every
    reverse product is still prod_k C_k^nu_k over the products, here computed from Cantera's equations (0 for an
    irreversible reaction, which has no reverse)."""
    gas = ct.Solution("gri30.yaml")
    kinetics = kinetix_cantera.Kinetics("gri30.yaml")
    product = kinetics.reverse_product
    assert product.dense_width < product.slots.shape[0] and len(product.sparse_reactions) == 8
    concentrations = torch.rand(20, gas.n_species, dtype=torch.float64) + 0.5
    expected = torch.ones(20, gas.n_reactions, dtype=torch.float64)
    for j, reaction in enumerate(gas.reactions()):
        for name, nu in reaction.products.items():
            expected[:, j] *= concentrations[:, gas.species_index(name)] ** nu
    reversible = torch.tensor([r.reversible for r in gas.reactions()])
    ours = kinetics._to_cantera(product(concentrations))
    torch.testing.assert_close(ours[:, reversible], expected[:, reversible], rtol=1e-14, atol=0)
    assert (~reversible).any() and (ours[:, ~reversible] == 0).all()  # no reverse reaction: a product of 0


def test_fractional_orders_stay_finite_at_negative_concentrations():
    kinetics = kinetix_cantera.Kinetics(RATE_ZOO)
    Y = torch.full((kinetics.n_species,), 1.0 / kinetics.n_species, dtype=torch.float64)
    Y[kinetics.species_names.index("H2")] = -1e-10  # order 1.5 and -0.2 in the fixture
    Y[kinetics.species_names.index("O2")] = 0.0  # order 0.25
    omega = kinetics.net_production_rates(1500.0, ct.one_atm, Y)
    assert torch.isfinite(omega).all()


def test_batch_shapes_broadcast():
    kinetics = kinetix_cantera.Kinetics("h2o2.yaml")
    gas = ct.Solution("h2o2.yaml")
    _, _, Y = random_states(gas, 6, np.random.default_rng(3))
    Y = torch.tensor(Y).reshape(2, 3, -1)
    T = torch.tensor([1000.0, 1500.0, 2000.0], dtype=torch.float64)
    omega = kinetics.net_production_rates(T, ct.one_atm, Y)
    assert omega.shape == (2, 3, kinetics.n_species)
    flat = kinetics.net_production_rates(T.repeat(2), torch.full((6,), ct.one_atm, dtype=torch.float64), Y.reshape(6, -1))
    torch.testing.assert_close(omega.reshape(6, -1), flat, rtol=0, atol=0)
    assert kinetics.net_production_rates(1200.0, 2e5, Y[0, 0]).shape == (kinetics.n_species,)
    assert kinetics.equilibrium_constants(T).shape == (3, kinetics.n_reactions)


def test_sources_and_round_trip(tmp_path):
    gas = ct.Solution("h2o2.yaml")
    from_solution = kinetix_cantera.Kinetics(gas)
    from_name = kinetix_cantera.Kinetics("h2o2.yaml")
    assert from_solution.yaml == from_name.yaml
    assert from_name.species_names == tuple(gas.species_names)
    assert from_name.reaction_equations == tuple(gas.reaction_equations())
    path = tmp_path / "copy.yaml"
    path.write_text(from_name.yaml)
    rebuilt = kinetix_cantera.Kinetics(path)
    T, P, Y = random_states(gas, 20, np.random.default_rng(4))
    args = [torch.tensor(x) for x in (T, P, Y)]
    torch.testing.assert_close(rebuilt.net_production_rates(*args), from_name.net_production_rates(*args),
                               rtol=1e-12, atol=1e-300)
    assert from_name.solution().n_reactions == gas.n_reactions


def test_mechanism_without_reactions():
    kinetics = kinetix_cantera.Kinetics("airNASA9.yaml")
    Y = torch.full((kinetics.n_species,), 1.0 / kinetics.n_species, dtype=torch.float64)
    assert kinetics.net_production_rates(3000.0, ct.one_atm, Y).abs().max() == 0
    assert kinetics.forward_rate_constants(3000.0, ct.one_atm, Y).shape == (0,)
