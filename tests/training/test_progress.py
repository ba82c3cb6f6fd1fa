"""The progress-variable surrogate: exact encoder invariants against Cantera, a decoder and a step that keep
elements, progress and enthalpy to rounding, the analytic Jacobian, and the rate regression on exact rates."""

import cantera as ct
import numpy as np
import pytest
import torch

import kinetix
from kinetix_trainers import progress as progress_module
from kinetix_trainers.progress import network_config, parse_progress_config, progress_rates
from kinetix_trainers.progress_network import ProgressODE
from kinetix.errors import ConfigError

gas = ct.Solution("h2o2.yaml")
SPECIES = gas.species_names


def unburnt(phi: float, T: float = 1000.0, P: float = ct.one_atm) -> list[float]:
    gas.set_equivalence_ratio(phi, "H2", "O2:1, N2:3.76")
    gas.TP = T, P
    return [T, *gas.Y, P]


def random_model(seed: int = 0, **settings) -> ProgressODE:
    """A progress network for H2/air on h2o2.yaml with random weights and plausible scales; ``settings``
    go to :class:`ProgressODE`."""
    torch.manual_seed(seed)
    y0 = torch.tensor([unburnt(phi)[1:-1] for phi in (0.5, 1.0, 3.0)], dtype=torch.float64)
    config = network_config("h2o2", SPECIES, y0, torch.full((len(SPECIES),), 0.1, dtype=torch.float64),
                            ("H2O", "HO2", "H2O2"))
    model = ProgressODE(len(SPECIES) + 2, **config, width=8, depth=2, **settings)
    states = torch.tensor([unburnt(phi, T, P) for phi in (0.5, 1, 3) for T in (900, 1400) for P in (1e5, 2e6)],
                          dtype=torch.float64)
    with torch.no_grad():
        invariants = model.invariants(states)
        model.invariant_shift.copy_(invariants.mean(0))
        model.invariant_scale.copy_(invariants.std(0).clamp(min=1e-6))
        model.s_shift.fill_(-15.0)
        model.s_scale.fill_(8.0)
        model.rate_shift.fill_(8.0)
        model.output_scale.fill_(1e-4)
    return model.requires_grad_(False)


def burning_states(count: int, seed: int = 1) -> torch.Tensor:
    """States ``[T, Y, P]`` part way through H2/air ignitions (Cantera), at random conditions."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        gas.set_equivalence_ratio(rng.uniform(0.5, 3), "H2", "O2:1, N2:3.76")
        gas.TP = rng.uniform(1000, 1400), rng.uniform(1, 20) * ct.one_atm
        reactor = ct.IdealGasConstPressureReactor(gas, clone=False)
        ct.ReactorNet([reactor]).advance(rng.uniform(1e-6, 1e-3))
        out.append([gas.T, *gas.Y, gas.P])
    return torch.tensor(out, dtype=torch.float64)


def test_encoder_invariants_are_exact_against_cantera():
    model = random_model()
    states = burning_states(6)
    invariants = model.invariants(states)
    for state, row in zip(states.numpy(), invariants.numpy()):
        gas.TPY = state[0], state[-1], state[1:-1]
        amounts = [gas.elemental_mass_fraction(e) / gas.atomic_weight(e) for e in gas.element_names]
        assert np.allclose(row[:4], amounts, rtol=1e-13, atol=1e-18)
        assert row[4] == pytest.approx(gas.enthalpy_mass, rel=1e-12, abs=1e-6)
        assert row[5] == pytest.approx(np.log(state[-1]), rel=1e-15)
        # T0: the unburnt mixture of the same elements with the same enthalpy, by Cantera
        gas.set_equivalence_ratio(row[1] / (2 * row[0]), "H2", "O2:1, N2:3.76")
        gas.TP = 1000 / row[6], state[-1]
        assert gas.enthalpy_mass == pytest.approx(row[4], rel=1e-12, abs=1e-6)
        assert row[7] == pytest.approx(np.log(row[1] / row[0]), rel=1e-14)          # ln(H / O)


def test_decoder_and_step_keep_elements_progress_and_enthalpy():
    model = random_model()
    states = burning_states(5, seed=3)
    z = model.encode(states)
    z = z + 0.1 * torch.randn(z.shape, dtype=torch.float64).mul(model.moving)      # other progress, same invariants
    decoded = model.decode(z)
    s, _, v = model.progress_of(z)
    invariants = v * model.invariant_scale + model.invariant_shift
    assert torch.allclose(decoded[:, 1:-1] @ model.elements.T, invariants[:, :4], rtol=1e-12, atol=1e-16)
    c = torch.exp(s) - model.floor
    assert torch.allclose(decoded[:, 1:-1] @ model.progress, c, rtol=1e-12, atol=1e-16)
    h = invariants[:, 4]
    assert (decoded[:, 0] > 200).all()
    assert torch.allclose(model.enthalpy(decoded[:, 0], decoded[:, 1:-1]), h, rtol=1e-12, atol=1e-3)
    assert torch.allclose(decoded[:, -1], states[:, -1], rtol=1e-14)
    moved = model.combine(states, model.decode(model.encode(states)), decoded)
    assert torch.allclose(moved[:, 1:-1] @ model.elements.T, states[:, 1:-1] @ model.elements.T, rtol=1e-12, atol=1e-16)
    before = model.enthalpy(states[:, 0], states[:, 1:-1])
    assert torch.allclose(model.enthalpy(moved[:, 0], moved[:, 1:-1]), before, rtol=1e-12, atol=1e-3)


def test_latent_end_is_the_equilibrium_and_decodes_to_it():
    """``s_end`` is the progress of the exact HP equilibrium of the state's elements, enthalpy and pressure, and
    the decoded state there is that equilibrium whatever the decoder's weights (Cantera's ``equilibrate``)."""
    model = random_model(seed=19)
    states = burning_states(5, seed=20)
    z = model.encode(states)
    at_end = z.clone()
    at_end[:, 0] = -800.0                                                # s = s_end to rounding
    decoded = model.decode(at_end)
    for state, latent, end in zip(states.numpy(), z, decoded.numpy()):
        gas.TPY = state[0], state[-1], state[1:-1]
        gas.equilibrate("HP")
        c_eq = gas.Y @ model.progress.numpy()
        assert float(latent[2]) == pytest.approx(np.log(c_eq + model.floor), abs=1e-10)
        assert end[0] == pytest.approx(gas.T, abs=1e-6)
        np.testing.assert_allclose(end[1:-1], gas.Y, rtol=0, atol=1e-10)


def test_jacobian_matches_autograd_and_invariants_do_not_move():
    model = random_model(seed=4)
    z = model.encode(burning_states(3, seed=5))
    numeric = torch.stack([torch.autograd.functional.jacobian(lambda v: model(0.0, v), row) for row in z])
    assert torch.allclose(model.jacobian(0.0, z), numeric, rtol=1e-10, atol=1e-12)
    assert (model(0.0, z)[:, 1:] == 0).all()


def test_field_in_u_is_the_progress_rate_and_vanishes_at_equilibrium():
    model = random_model(seed=6)
    z = model.encode(burning_states(4, seed=7)).repeat(3, 1)
    z[:4, 1], z[4:8, 1] = 1.0, -1.0                                      # below and above s_end
    z[8:, 0] = -30.0                                                     # within 1e-13 of s_end
    s, d, v = model.progress_of(z)
    # ds/dt = -d du/dt against the rate written for s: exp(g) (1 - exp(s - s_end))
    expected = torch.exp(model.log_rate(s, v)) * -torch.expm1(s - z[:, 2])
    rate = -d * model(0.0, z)[:, 0]
    assert torch.allclose(rate[:8], expected[:8], rtol=1e-12, atol=0)
    assert torch.allclose(rate[8:], expected[8:], rtol=1e-2, atol=0)   # s - s_end itself is rounded there
    assert (expected[:4] > 0).all() and (expected[4:8] < 0).all() and (expected[8:].abs() < 1e-9).all()


def test_config_refusals():
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_progress_config({"widht": 3})
    with pytest.raises(ConfigError, match="not in h2o2"):
        network_config("h2o2", SPECIES, torch.tensor([unburnt(1.0)[1:-1]], dtype=torch.float64),
                       torch.ones(len(SPECIES), dtype=torch.float64), ("CO2",))


def test_decoded_state_is_the_unburnt_one_until_progress_starts():
    model = random_model(seed=9)
    y0 = torch.tensor([unburnt(phi, T, P) for phi, T, P in ((0.6, 950, 2e5), (2.5, 1350, 1.5e6))], dtype=torch.float64)
    z0 = model.encode(y0)
    assert torch.allclose(model.decode(z0), y0, rtol=1e-10, atol=1e-15)
    # the temperature barely moves while c is below 1e-12: no spurious dT/dt from the first microsecond
    z = z0.clone()
    z[:, 0] = torch.log(z[:, 2] - torch.log(torch.tensor(1e-12 + model.floor)))
    assert (model.decode(z)[:, 0] - y0[:, 0]).abs().max() < 1e-3


def test_gate_sets_the_decoded_temperature_slope_near_no_progress():
    """The decoder's departure from the unburnt state is weighted by c / (c + gate): near c = 0 the decoded
    T moves by (decoder error) x c / gate, times dc/dt a spurious dT/dt; for CH4/air c reaches 5e-10 in 0.1 us
    and gate = 1e-8 (H2/air's) put the largest dT/dt of a 37 ms ignition there."""
    y0 = torch.tensor([unburnt(phi, T, P) for phi, T, P in ((0.6, 950, 2e5), (2.5, 1350, 1.5e6))], dtype=torch.float64)
    slopes = {}
    for gate in (1e-8, 1e-5):
        model = random_model(seed=9, gate=gate)
        assert ProgressODE(**model.config).gate == gate                       # kept in the surrogate's config
        z = model.encode(y0)
        z[:, 0] = torch.log(z[:, 2] - torch.log(torch.tensor(1e-10 + model.floor)))
        slopes[gate] = (model.decode(z)[:, 0] - y0[:, 0]).abs() / 1e-10    # K per unit c
    assert (slopes[1e-5] < 2e-3 * slopes[1e-8]).all() and (slopes[1e-8] > 0).all()
    assert parse_progress_config({"gate": 1e-5}).gate == 1e-5
    with pytest.raises(ConfigError, match="gate, lr, delay_lr > 0"):
        parse_progress_config({"gate": 0.0})


def test_quadrature_trajectory_matches_a_tight_rosenbrock_solve():
    model = random_model(seed=10)
    y0 = torch.tensor([unburnt(phi, T, P) for phi, T, P in ((0.6, 950, 2e5), (2.5, 1350, 1.5e6), (1.0, 1100, 1e6))],
                      dtype=torch.float64)
    z0 = model.encode(y0)
    times = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-7, 1, 60, dtype=torch.float64)])
    reference = kinetix.solve(model, z0, times, method="rodas5p", rtol=1e-11, atol=1e-12).ys
    quadrature = model.trajectory(z0, times)
    s_ref, s_quad = model.progress_of(reference)[0], model.progress_of(quadrature)[0]
    assert (s_ref[-1] - s_ref[0]).abs().min() > 5                        # the whole ignition, to equilibrium
    assert torch.allclose(s_quad, s_ref, rtol=0, atol=1e-5)
    assert torch.equal(quadrature[..., 1:], z0[..., 1:].expand_as(quadrature[..., 1:]))   # only u moves


def test_advance_matches_the_trajectory_per_member():
    model = random_model(seed=11)
    unburnt_states = torch.tensor([unburnt(phi, T, P) for phi, T, P in ((0.6, 950, 2e5), (2.5, 1350, 1.5e6))],
                                  dtype=torch.float64)          # c = 0: the rate falls by decades along the step
    z0 = model.encode(torch.cat([burning_states(6, seed=12), unburnt_states]))
    dt = torch.tensor([0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-5, 1e-3], dtype=torch.float64)
    stepped = model.advance(z0, dt)
    expected = torch.stack([kinetix.solve(model, z0[i:i + 1], torch.tensor([0.0, float(dt[i])], dtype=torch.float64),
                                          method="rodas5p", rtol=1e-11, atol=1e-12).ys[-1, 0] if dt[i] > 0 else z0[i]
                            for i in range(8)])
    s_step, s_expected = model.progress_of(stepped)[0], model.progress_of(expected)[0]
    assert torch.allclose(s_step, s_expected, rtol=0, atol=1e-7)
    assert torch.equal(stepped[0], z0[0])


def test_latent_states_at_equilibrium_stay_finite():
    """A Rosenbrock solve drives u = ln|s_end - s| linearly to -1e6 and beyond; exp(u) underflows to 0 there."""
    model = random_model(seed=13)
    z = model.encode(burning_states(2, seed=14))
    z[:, 0] = torch.tensor([-800.0, -1e6], dtype=torch.float64)
    stepped = model.advance(z, torch.tensor(1e-6, dtype=torch.float64))
    along = model.trajectory(z, torch.tensor([0.0, 1e-3], dtype=torch.float64))
    for latent in (stepped, along[-1]):
        assert torch.isfinite(latent).all() and (latent[:, 0] < z[:, 0]).all()
        assert torch.equal(model.progress_of(latent)[0], z[:, 2])            # s = s_end


def test_progress_rates_in_parts_at_each_state_pressure(monkeypatch):
    """The exact rates the rate MLP is fitted on come in parts of RATE_STATES states (a right-hand side of
    GRI-Mech 3.0 on 160,000 states would hold ~4 GB), each state at its own pressure: Cantera's rates."""
    monkeypatch.setattr(progress_module, "RATE_STATES", 3)
    states = burning_states(7, seed=11)
    data = type("Data", (), {"metadata": {"mechanism": "cantera:h2o2.yaml"}})()
    weights = torch.tensor([1.0 if s in ("H2O", "HO2", "H2O2") else 0.0 for s in SPECIES], dtype=torch.float64)
    rates = progress_rates(data, states, states[:, -1], weights)
    expected = []
    for state in states.tolist():
        gas.TPY = state[0], state[-1], state[1:-1]
        expected.append(float(gas.net_production_rates @ (gas.molecular_weights * weights.numpy())) / gas.density)
    np.testing.assert_allclose(rates.numpy(), expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())  # net of large rates


def test_float32_networks_agree_with_float64_and_reload():
    model = random_model(seed=15)
    z = model.encode(burning_states(4, seed=16))
    field, decoded, jacobian = model(0.0, z), model.decode(z), model.jacobian(0.0, z)
    model.set_precision("float32")
    assert model.rate.layers[0].weight.dtype == torch.float32 and model.config["precision"] == "float32"
    assert torch.equal(model.encode(burning_states(4, seed=16)), z)     # the encoder has no network
    for ours, theirs, rtol in ((model(0.0, z), field, 1e-6), (model.decode(z), decoded, 1e-6),
                               (model.jacobian(0.0, z), jacobian, 1e-3)):      # the slope: a difference of large terms
        assert ours.dtype == torch.float64
        assert torch.allclose(ours, theirs, rtol=rtol, atol=1e-9 * theirs.abs().max())
        assert not torch.equal(ours, theirs)                          # it did compute in float32
    reloaded = ProgressODE(**model.config)
    reloaded.load_state_dict(model.state_dict())
    assert torch.equal(reloaded.decode(z), model.decode(z))
    with pytest.raises(ConfigError, match="unknown precision"):
        parse_progress_config({"precision": "float16"})


def test_elapsed_time_to_a_coordinate_inverts_advance_and_has_a_gradient():
    from kinetix_trainers import progress_time

    model = random_model(seed=17)
    z0 = model.encode(burning_states(4, seed=18))
    dt = torch.tensor([1e-7, 1e-6, 1e-5, 1e-4], dtype=torch.float64)
    w = progress_time.coordinate(model.advance(z0, dt)[:, 0])
    model.rate.requires_grad_(True)
    elapsed = progress_time.elapsed(model, z0, w, 400)
    assert torch.allclose(elapsed.detach(), dt, rtol=1e-7, atol=0)
    elapsed.sum().backward()
    assert model.rate.layers[0].weight.grad.abs().max() > 0


def test_a_small_training_runs_end_to_end(tmp_path):
    """The whole trainer on four ignitions, a few steps each: the equilibrium's iterations are the fewest that
    converge plus 4, the float32 networks and that count are in the saved surrogate, and its end state is
    Cantera's equilibrium."""
    from kinetix.cli import main
    from kinetix_trainers.equilibrium import ITERATIONS
    from kinetix_trainers.latent import pressure_states

    conditions = tmp_path / "conditions.toml"
    conditions.write_text('sampling = "random"\ncount = 4\nseed = 3\n[options]\nreactor = "const-pressure"\n'
                          '[conditions]\ntemperature = {low = 1100.0, high = 1300.0}\n'
                          'pressure = {low = 101325.0, high = 1013250.0, scale = "log"}\n'
                          'equivalence_ratio = {low = 0.5, high = 2.0}\nfuel = "H2"\noxidizer = "O2:1, N2:3.76"\n'
                          '[times]\nfirst = 1e-7\nhorizon = 3.0\npoints_per_decade = 10\n')
    config = tmp_path / "progress.toml"
    config.write_text('trainer = "progress"\nwidth = 8\ndepth = 2\npoints_per_trajectory = 20\nrate_epochs = 20\n'
                      'delay_epochs = 5\ndecoder_epochs = 20\nbatch_size = 64\nmethods = ["quadrature"]\n'
                      'precision = "float32"\n')
    data, run = tmp_path / "h2.h5", tmp_path / "run"
    assert main(["generate", "cantera:h2o2.yaml", "--conditions", str(conditions), "--out", str(data),
                 "--method", "cantera", "--no-progress"]) == 0
    assert main(["train", str(data), "--out", str(run), "--config", str(config), "--no-progress"]) == 0
    surrogate = kinetix.Surrogate.load(run / "surrogate")
    model, dataset = surrogate.field, kinetix.load_dataset(data)
    assert model.config["precision"] == "float32" and model.rate.layers[0].weight.dtype == torch.float32
    chosen = model.config["equilibrium_iterations"]
    y0 = pressure_states(dataset)[0]
    end = model.encode(y0)[:, -1 - len(SPECIES)]
    for iterations, agrees in ((chosen - 4, True), (chosen - 8, False), (ITERATIONS, True)):
        model.equilibrium.iterations = iterations
        assert bool(((model.encode(y0)[:, -1 - len(SPECIES)] - end).abs() <= 1e-9).all()) == agrees
    model.equilibrium.iterations = chosen
    final = surrogate.simulate(y0, torch.tensor([10.0], dtype=torch.float64))[-1]
    for state, result in zip(y0.numpy(), final.numpy()):
        gas.TPY = state[0], state[-1], state[1:-1]
        gas.equilibrate("HP")
        assert result[0] == pytest.approx(gas.T, abs=1e-6)
