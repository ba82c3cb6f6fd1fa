"""Ideal-gas reactor mechanisms: right-hand side and Jacobian vs Cantera, integration vs ReactorNet."""

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")
from scipy.integrate import solve_ivp  # noqa: E402

import kinetix  # noqa: E402
from cantera_reference import GROSS_FLOOR, GROSS_RTOL, RATE_ZOO, RTOL, random_states  # noqa: E402

REACTORS = ("const-pressure", "const-volume")


def cantera_rhs(gas, reactor, T, Y, pressure, density):
    """Cantera's reactor equations at one state, and a gross scale for each component (the same
    sums with magnitudes, which bound the round-off of the cancelling sums)."""
    if reactor == "const-pressure":
        gas.TPY = T, pressure, Y
        energies, heat = gas.partial_molar_enthalpies, gas.cp_mass
    else:
        gas.TDY = T, density, Y
        energies, heat = gas.partial_molar_int_energies, gas.cv_mass
    omega, gross = gas.net_production_rates, gas.creation_rates + gas.destruction_rates
    rho, W = gas.density, gas.molecular_weights
    rhs = np.concatenate([[-np.dot(energies, omega) / (rho * heat)], omega * W / rho])
    scale = np.concatenate([[np.dot(np.abs(energies), gross) / (rho * heat)], gross * W / rho])
    return rhs, scale


@pytest.mark.parametrize("reactor", REACTORS)
@pytest.mark.parametrize("source, options", [
    ("gri30.yaml", dict(equivalence_ratio=1.0, fuel="CH4")),
    (RATE_ZOO, dict(composition="H2:2, O2:1, AR:4, N2:1")),
])
def test_rhs_matches_cantera(source, options, reactor):
    mech = kinetix_cantera.ReactorMechanism(source, reactor, temperature=1200.0, pressure=3e5, **options)
    gas = ct.Solution(source)
    T, _, Y = random_states(gas, 200, np.random.default_rng(0), t_range=(800.0, 2800.0))
    ours = mech.rhs(torch.tensor(0.0), torch.tensor(np.column_stack([T, Y]))).numpy()
    theirs, scale = map(np.array, zip(*(cantera_rhs(gas, reactor, t, y, 3e5, mech.density.item())
                                        for t, y in zip(T, Y))))
    error = np.abs(ours - theirs)
    assert np.all(error <= GROSS_RTOL * scale)
    significant = (np.abs(theirs) >= GROSS_FLOOR * scale) & (scale > 0)
    assert np.max(error[significant] / np.abs(theirs[significant])) <= RTOL


@pytest.mark.parametrize("reactor", REACTORS)
def test_integration_matches_reactor_net(reactor):
    """H2/O2 ignition over 1 ms: scipy BDF on our rhs and analytic Jacobian vs Cantera's ReactorNet."""
    mech = kinetix_cantera.ReactorMechanism("h2o2.yaml", reactor, temperature=1100.0, pressure=2 * ct.one_atm,
                                            composition="H2:2, O2:1, AR:4", t_end=1e-3)
    times = [1e-4, 2e-4, 3e-4, 5e-4, 1e-3]
    gas = ct.Solution("h2o2.yaml")
    gas.TPX = 1100.0, 2 * ct.one_atm, "H2:2, O2:1, AR:4"
    cantera_reactor = (ct.IdealGasConstPressureReactor if reactor == "const-pressure" else ct.IdealGasReactor)(
        gas, clone=False)
    network = ct.ReactorNet([cantera_reactor])
    network.rtol, network.atol = 1e-10, 1e-20
    theirs = []
    for t in times:
        network.advance(t)
        theirs.append([cantera_reactor.T, *cantera_reactor.phase.Y])
    theirs = np.array(theirs)
    t0 = torch.tensor(0.0, dtype=torch.float64)
    solution = solve_ivp(lambda t, y: mech.rhs(t0, torch.from_numpy(y)).numpy(), (0.0, times[-1]),
                         mech.initial_state().numpy(), method="BDF", t_eval=times, rtol=1e-9, atol=1e-15,
                         jac=lambda t, y: mech.jacobian(t0, torch.from_numpy(y)).numpy())
    assert solution.success
    assert theirs[-1, 0] > 2500.0  # it ignited
    np.testing.assert_allclose(solution.y[0], theirs[:, 0], rtol=1e-6)
    np.testing.assert_allclose(solution.y[1:].T, theirs[:, 1:], rtol=0, atol=1e-8)


@pytest.mark.slow
def test_kinetix_solver_matches_reactor_net():
    """The whole platform: kinetix.simulate (Rosenbrock, batched) vs Cantera's ReactorNet."""
    temperatures = [1100.0, 1300.0]
    mech = kinetix_cantera.ReactorMechanism("h2o2.yaml", temperature=1100.0, composition="H2:2, O2:1, AR:4",
                                            t_end=1e-3, n_times=5)
    y0 = mech.initial_state().repeat(2, 1)
    y0[:, 0] = torch.tensor(temperatures, dtype=torch.float64)
    ys = kinetix.simulate(mech, y0=y0, rtol=1e-7, atol=1e-12)
    for member, T0 in enumerate(temperatures):
        gas = ct.Solution("h2o2.yaml")
        gas.TPX = T0, ct.one_atm, "H2:2, O2:1, AR:4"
        reactor = ct.IdealGasConstPressureReactor(gas, clone=False)
        network = ct.ReactorNet([reactor])
        network.rtol, network.atol = 1e-10, 1e-20
        for i, t in enumerate(mech.default_times().tolist()):
            network.advance(t)
            assert ys[i, member, 0].item() == pytest.approx(reactor.T, rel=1e-4)


@pytest.mark.parametrize("reactor", REACTORS)
@pytest.mark.parametrize("source, options", [
    ("h2o2.yaml", dict(composition="H2:2, O2:1, AR:4")),
    ("gri30.yaml", dict(equivalence_ratio=0.7, fuel="CH4:1, H2:1")),
    (RATE_ZOO, dict(composition="H2:2, O2:1, AR:4, N2:1")),
])
def test_analytic_jacobian_matches_autodiff(source, options, reactor):
    """Against the base class's forward-mode autodiff, at states with exact zeros (the initial
    mixture), random positive states and slightly negative mass fractions."""
    mech = kinetix_cantera.ReactorMechanism(source, reactor, temperature=1300.0, pressure=3e5, **options)
    generator = torch.Generator().manual_seed(0)
    y = mech.initial_state().repeat(6, 1)
    y[:, 0] += torch.linspace(0.0, 1200.0, 6, dtype=torch.float64)
    y[3:, 1:] = torch.rand(3, mech.n_state - 1, dtype=torch.float64, generator=generator) ** 3
    y[3:, 1:] /= y[3:, 1:].sum(-1, keepdim=True)
    y[5, 1:][y[5, 1:] < 1e-3] = -1e-12
    t = torch.tensor(0.0, dtype=torch.float64)
    ours = mech.jacobian(t, y)
    autodiff = kinetix.Mechanism.jacobian(mech, t, y)
    scale = autodiff.abs().amax(dim=(-2, -1), keepdim=True)
    assert ((ours - autodiff).abs() / scale).max() <= 1e-12


def test_initial_state_and_metadata():
    mech = kinetix_cantera.ReactorMechanism("gri30.yaml", temperature=1500.0, pressure=5e5, equivalence_ratio=0.8,
                                            fuel="CH4", t_end=2e-2, n_times=50)
    gas = ct.Solution("gri30.yaml")
    gas.set_equivalence_ratio(0.8, "CH4", "O2:1, N2:3.76")
    y0 = mech.initial_state()
    assert y0[0].item() == 1500.0
    np.testing.assert_allclose(y0[1:].numpy(), gas.Y, rtol=1e-14, atol=1e-300)
    assert mech.state_names == ("T", *gas.species_names)
    assert mech.species == tuple(gas.species_names)
    assert mech.units == {"time": "s", "state": "K, mass fraction"}
    assert mech.time_span == (0.0, 2e-2)
    times = mech.default_times()
    assert times.shape == (50,) and times[0].item() == pytest.approx(1e-7) and times[-1].item() == pytest.approx(2e-2)
    assert torch.all(times[1:] > times[:-1])
    assert mech.pressure.item() == 5e5


def test_const_volume_density():
    mech = kinetix_cantera.ReactorMechanism("h2o2.yaml", "const-volume", temperature=1000.0, pressure=2e5,
                                            composition="H2:2, O2:1")
    gas = ct.Solution("h2o2.yaml")
    gas.TPX = 1000.0, 2e5, "H2:2, O2:1"
    assert mech.density.item() == pytest.approx(gas.density, rel=1e-14)
    given = kinetix_cantera.ReactorMechanism("h2o2.yaml", "const-volume", density=0.5, composition="H2:2, O2:1")
    assert given.density.item() == 0.5


def test_content_identifies_mechanism_and_settings():
    def make(**options):
        return kinetix_cantera.ReactorMechanism("h2o2.yaml", composition="H2:2, O2:1, AR:4", **options)

    assert make().content_hash() == make().content_hash()
    assert make().content_hash() != make(temperature=1200.0).content_hash()
    assert make().content_hash() != make(reactor="const-volume").content_hash()
    assert b"H2 + O <=> H + OH" in make().content()


def test_sampled_initial_states_are_normalised():
    mech = kinetix_cantera.ReactorMechanism("h2o2.yaml", composition="H2:2, O2:1, AR:4")
    states = mech.sample_initial_states(8, np.random.default_rng(0))
    assert states.shape == (8, mech.n_state)
    torch.testing.assert_close(states[:, 1:].sum(-1), torch.ones(8, dtype=torch.float64), rtol=1e-14, atol=0)


@pytest.mark.parametrize("options, message", [
    (dict(reactor="plug-flow", composition="H2:1"), "unknown reactor 'plug-flow'"),
    (dict(composition="H2:1", equivalence_ratio=1.0, fuel="H2"), "not both"),
    (dict(equivalence_ratio=1.0), "needs fuel="),
    (dict(composition="H2:1", density=1.0), "density= applies to reactor='const-volume' only"),
    (dict(composition="XX:1"), "cannot set the initial state"),
    (dict(composition="H2:1", t_end=1e-8), "t_first < t_end"),
])
def test_bad_options(options, message):
    with pytest.raises(kinetix.MechanismError, match=message):
        kinetix_cantera.ReactorMechanism("h2o2.yaml", **options)


@pytest.mark.parametrize("reactor", REACTORS)
def test_without_a_mixture_there_is_no_initial_state(reactor):
    """The mixture may come later, per member, from conditions; until then asking for a state says how to give it."""
    mech = kinetix_cantera.ReactorMechanism("h2o2.yaml", reactor)
    with pytest.raises(kinetix.MechanismError, match="no initial mixture; give it either as composition="):
        mech.initial_state()
    if reactor == "const-volume":
        with pytest.raises(kinetix.MechanismError, match="const-volume reactor needs density="):
            mech.rhs(torch.tensor(0.0), torch.ones(mech.n_state, dtype=torch.float64))
