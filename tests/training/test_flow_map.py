"""The learned flow map: mixture thermodynamics against Cantera, a step that keeps elements, enthalpy and
pressure to rounding, the contract for steps outside the trained range, and a small training end to end."""

import cantera as ct
import pytest
import torch

import kinetix
from kinetix.errors import ConfigError, SolverError
from kinetix.surrogate import Surrogate
from kinetix_trainers.flow_map import parse_flow_map_config, sample_steps
from kinetix_trainers.flow_map_network import NEWTON, FlowMap
from kinetix_trainers.thermo import MixtureThermo, nasa7_description

from training.test_progress import SPECIES, burning_states, unburnt

gas = ct.Solution("h2o2.yaml")
K = len(SPECIES)


def random_flow_map(seed: int = 0, dt_min: float = 1e-6, dt_max: float = 1e-5) -> FlowMap:
    """A flow map of H2/air on h2o2.yaml with random weights and plausible scales."""
    torch.manual_seed(seed)
    model = FlowMap(K + 2, **nasa7_description("h2o2", SPECIES), dt_min=dt_min, dt_max=dt_max, width=16, depth=2)
    with torch.no_grad():
        features = model.features(burning_states(8), torch.full((8,), dt_min, dtype=torch.float64))
        model.feature_shift.copy_(features.mean(0))
        model.feature_scale.copy_(features.std(0).clamp(min=1.0))
        model.output_scale.copy_(torch.linspace(10.0, 1000.0, K, dtype=torch.float64))   # [1/s]
    return model.requires_grad_(False)


def test_mixture_thermo_matches_cantera():
    thermo = MixtureThermo(**{k: v for k, v in nasa7_description("h2o2", SPECIES).items() if k != "elements"})
    states = burning_states(12, seed=4)
    for state in states.numpy():
        gas.TPY = state[0], state[-1], state[1:-1]
        T, Y = torch.tensor(state[0], dtype=torch.float64), torch.tensor(state[1:-1], dtype=torch.float64)
        h, cp = thermo.evaluate(T, thermo.tables(Y))
        assert float(h) == pytest.approx(gas.enthalpy_mass, rel=1e-12, abs=1e-6)
        assert float(cp) == pytest.approx(gas.cp_mass, rel=1e-12)
        assert float(thermo.temperature(h, Y, T + 300.0, NEWTON)) == pytest.approx(state[0], rel=1e-12)


def test_step_keeps_elements_enthalpy_and_pressure():
    model = random_flow_map()
    y = burning_states(16, seed=6)
    moved = model.advance(y, torch.tensor(3e-6, dtype=torch.float64))
    assert (moved[:, 1:-1] - y[:, 1:-1]).abs().max() > 1e-4          # the step moved the states
    elements = model.elements.T
    assert torch.allclose(moved[:, 1:-1] @ elements, y[:, 1:-1] @ elements, rtol=0, atol=1e-16)
    assert torch.equal(moved[:, -1], y[:, -1])
    for before, after in zip(y.numpy(), moved.numpy()):   # sum Y_k h_k(T), Y as it is (some may be < 0)
        gas.TPY = before[0], before[-1], before[1:-1]
        h = gas.enthalpy_mass
        gas.TP = after[0], after[-1]
        assert (gas.partial_molar_enthalpies / gas.molecular_weights) @ after[1:-1] == pytest.approx(h, rel=1e-10, abs=1e-4)


def test_steps_outside_the_trained_range():
    """Shorter than dt_min: the mean rate over dt_min; longer than dt_max: NaN from advance, equal
    steps of at most dt_max from trajectory."""
    model, quarter = random_flow_map(seed=1), random_flow_map(seed=1)
    y = burning_states(6, seed=7)
    with torch.no_grad():
        quarter.output_scale.mul_(0.25)   # a quarter of every mean rate (the projection is the same)
    short = model.advance(y, torch.tensor(0.25e-6, dtype=torch.float64))
    assert torch.allclose(short, quarter.advance(y, torch.tensor(1e-6, dtype=torch.float64)), rtol=1e-14, atol=1e-17)
    assert (short[:, 1:-1] - y[:, 1:-1]).abs().max() > 1e-6
    assert torch.isnan(model.advance(y, torch.tensor(2e-5, dtype=torch.float64))).all()
    path = model.trajectory(y, torch.tensor([0.0, 4e-6, 2.9e-5], dtype=torch.float64))   # then 3 steps of 2.5e-5 / 3
    assert torch.equal(path[0], y)
    first = model.advance(y, torch.tensor(4e-6, dtype=torch.float64))
    assert torch.equal(path[1], first)
    expected = first
    for _ in range(3):
        expected = model.advance(expected, torch.tensor(2.5e-5 / 3, dtype=torch.float64))
    assert torch.allclose(path[2], expected, rtol=1e-14, atol=0)


def test_species_consumed_below_zero_are_pulled_back(monkeypatch):
    """Changes larger than the radicals' mass fractions: the alternating rounds (no species below zero, elements
    kept) leave the most negative mass fraction several times smaller than one projection does, elements kept."""
    from kinetix_trainers import flow_map_network

    model = random_flow_map(seed=5)
    y = burning_states(32, seed=9)
    with torch.no_grad():
        model.output_scale.mul_(50.0)
    dt = torch.tensor(1e-5, dtype=torch.float64)
    moved = model.advance(y, dt)
    assert (moved[:, 1:-1] - y[:, 1:-1]).abs().max() > 0.05
    assert torch.allclose(moved[:, 1:-1] @ model.elements.T, y[:, 1:-1] @ model.elements.T, rtol=0, atol=1e-15)
    monkeypatch.setattr(flow_map_network, "FEASIBLE", 1)
    once = model.advance(y, dt)
    assert once[:, 1:-1].min() < -1e-3 and moved[:, 1:-1].min() > 0.2 * once[:, 1:-1].min()


def test_steps_at_the_range_end_in_rounding_and_refused_steps():
    """Evenly spaced output times whose differences exceed dt_max by rounding are steps of dt_max; a negative or
    non-finite step is NaN; output times that go backwards are refused."""
    model = random_flow_map(seed=2)
    y = burning_states(3, seed=8)
    times = torch.tensor([1e-5, 2e-5, 3e-5, 4e-5, 5e-5], dtype=torch.float64)
    assert float(times[3] - times[2]) > 1e-5                          # 1.0000000000000003e-05
    assert torch.isfinite(model.trajectory(y, times)).all()
    for dt in (-1e-6, float("nan"), float("inf")):
        assert torch.isnan(model.advance(y, torch.tensor(dt, dtype=torch.float64))).all()
    mixed = model.advance(y, torch.tensor([1e-6, -1e-6, 2e-6], dtype=torch.float64))
    assert torch.isfinite(mixed[[0, 2]]).all() and torch.isnan(mixed[1]).all()
    with pytest.raises(SolverError, match="forward only"):
        model.trajectory(y, torch.tensor([2e-6, 1e-6], dtype=torch.float64))


def test_a_flow_map_refuses_solvers_and_exports_its_step_range(tmp_path):
    from kinetix.export import export_surrogate

    model = random_flow_map(seed=4)
    info = {"y0": unburnt(1.0, 1100.0, 5e5), "t": [1e-5], "kind": "flowmap", "solver": {"method": "flowmap"}}
    surrogate = Surrogate(model, {"name": "flowmap", "config": model.config}, ("T", *SPECIES, "P"), info)
    with pytest.raises(SolverError, match="use method 'flowmap'"):
        surrogate.simulate(method="rodas5p")
    description = export_surrogate(surrogate, tmp_path / "step.pt")
    assert description["integrator"] == {"method": "flowmap", "dt_min": 1e-6, "dt_max": 1e-5}


def test_sampled_steps():
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(sample_steps((1e-6, 1e-5), 1e-5, 4, "listed", generator), torch.full((4,), 1e-5, dtype=torch.float64))
    drawn = sample_steps((1e-6, 1e-5), 1e-6, 20_000, "log-uniform", generator)
    assert drawn.min() >= 1e-6 and drawn.max() <= 1e-5
    assert abs(float((drawn.log10() < -5.5).double().mean()) - 0.5) < 0.02   # half below the geometric mean


@pytest.mark.parametrize("settings, message", [({"speed": 1}, "unknown setting"), ({"dt": [1e-6, -1.0]}, "positive"),
                                               ({"precision": "half"}, "unknown precision"),
                                               ({"validation_fraction": 1.0}, "validation_fraction"),
                                               ({"dt_sampling": "uniform"}, "dt_sampling"),
                                               ({"dt": "1e-6"}, "a list of them")])
def test_config_refusals(settings, message):
    with pytest.raises(ConfigError, match=message):
        parse_flow_map_config(settings)


def test_a_small_training_runs_end_to_end(tmp_path):
    """The trainer on twelve ignitions: its held-out 1e-6 s steps beat returning the state unchanged, the saved surrogate
    reloads with the float32 network, and its reaction step and simulate are the map's own steps."""
    from kinetix.cli import main
    from kinetix.export import reaction_step

    conditions = tmp_path / "conditions.toml"
    conditions.write_text('sampling = "random"\ncount = 12\nseed = 5\n[options]\nreactor = "const-pressure"\n'
                          '[conditions]\ntemperature = {low = 1100.0, high = 1300.0}\n'
                          'pressure = {low = 101325.0, high = 1013250.0, scale = "log"}\n'
                          'equivalence_ratio = {low = 0.5, high = 2.0}\nfuel = "H2"\noxidizer = "O2:1, N2:3.76"\n'
                          '[times]\nfirst = 1e-7\nhorizon = 3.0\npoints_per_decade = 10\n')
    config = tmp_path / "flowmap.toml"
    config.write_text('trainer = "flowmap"\nstates = 3000\nwidth = 64\ndepth = 2\nepochs = 3000\nbatch_size = 512\n'
                      'validation_fraction = 0.25\n')
    data, run = tmp_path / "h2.h5", tmp_path / "run"
    assert main(["generate", "cantera:h2o2.yaml", "--conditions", str(conditions), "--out", str(data),
                 "--method", "cantera", "--no-progress"]) == 0
    assert main(["train", str(data), "--out", str(run), "--config", str(config), "--no-progress"]) == 0
    surrogate = kinetix.Surrogate.load(run / "surrogate")
    model = surrogate.field
    assert model.network.layers[0].weight.dtype == torch.float32 and surrogate.solver_options["method"] == "flowmap"
    evaluation = surrogate.info["training"]["evaluation"]
    assert set(evaluation) == {"validation, dt 1e-06 s", "validation, dt 1e-05 s"}
    short = evaluation["validation, dt 1e-06 s"]   # (nine training ignitions are too few for 1e-5 s steps)
    assert short["mean_T_error_K"] < 0.5 * short["no_change_mean_K"]
    y = torch.tensor([unburnt(1.0, 1200.0, 2e5)], dtype=torch.float64)
    dt = torch.tensor(1e-5, dtype=torch.float64)
    assert torch.equal(reaction_step(surrogate)(y, dt), model.advance(y, dt))
    path = surrogate.simulate(y[0], torch.tensor([1e-5, 2e-5], dtype=torch.float64))
    # simulate returns y0 plus the change (to rounding), and its second step is 2e-5 - 1e-5 s (to rounding)
    assert torch.allclose(path[1], model.advance(model.advance(y, dt), dt)[0], rtol=1e-9, atol=1e-12)
