"""Datasets over tables of initial conditions: the TOML format, per-member reactors, the command line."""

import math

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from kinetix.cli import main  # noqa: E402
from kinetix.data.conditions import Peaks, TimeGrid, peak_resolving_times, read_conditions  # noqa: E402

H2_AIR = """
[conditions]
temperature = [1100.0, 1300.0]
equivalence_ratio = [0.5, 2.0]
fuel = "H2"
"""


def write(tmp_path, text, name="conditions.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_rows_are_every_combination_in_file_order(tmp_path):
    conditions = read_conditions(write(tmp_path, """
[options]
reactor = "const-volume"
[conditions]
temperature = {low = 1000, high = 1200, points = 3}
pressure = {low = 1e5, high = 1e7, points = 3, scale = "log"}
fuel = ["H2", "CH4"]
oxidizer = "O2:1, AR:4"
"""))
    assert conditions.options == {"reactor": "const-volume"}
    assert len(conditions.rows) == 18
    assert conditions.rows[0] == {"temperature": 1000.0, "pressure": 1e5, "fuel": "H2", "oxidizer": "O2:1, AR:4"}
    assert conditions.rows[1]["fuel"] == "CH4" and conditions.rows[2]["pressure"] == pytest.approx(1e6)
    assert conditions.times == TimeGrid()


def test_random_rows_are_reproducible_and_in_range(tmp_path):
    text = """
sampling = "random"
count = 200
seed = 3
[conditions]
temperature = {low = 1000.0, high = 1300.0}
pressure = {low = 1e4, high = 1e6, scale = "log"}
fuel = ["H2", "CH4"]
"""
    a, b = (read_conditions(write(tmp_path, text)).rows for _ in range(2))
    assert a == b and len(a) == 200
    temperatures = np.array([row["temperature"] for row in a])
    pressures = np.array([row["pressure"] for row in a])
    assert 1000 <= temperatures.min() and temperatures.max() <= 1300
    assert 1e4 <= pressures.min() and pressures.max() <= 1e6
    assert 0.3 < np.mean(np.log10(pressures) < 5) < 0.7  # log-uniform: half the draws in each decade
    assert {row["fuel"] for row in a} == {"H2", "CH4"}
    other_seed = read_conditions(write(tmp_path, text.replace("seed = 3", "seed = 4"))).rows
    assert other_seed != a


@pytest.mark.parametrize("text, message", [
    ("[conditions]\n", r"\[conditions\] must be a table of option names"),
    ("sampling = \"latin\"\n[conditions]\nT = 1\n", "sampling: got 'latin'; choose 'grid' or 'random'"),
    ("sampling = \"random\"\n[conditions]\nT = 1\n", "count: sampling = \"random\" needs the number of trajectories"),
    ("count = 3\n[conditions]\nT = 1\n", "count applies to sampling = \"random\""),
    ("[conditions]\nT = {low = 2, high = 1, points = 3}\n", "conditions.T: a range needs finite numbers low <= high"),
    ("[conditions]\nT = {low = 1, high = 2}\n", "conditions.T: a grid range needs points"),
    ("sampling = \"random\"\ncount = 2\n[conditions]\nT = {low = 1, high = 2, points = 3}\n",
     r"conditions.T: unknown key\(s\) points \(points applies to sampling = \"grid\"\)"),
    ("[conditions]\nT = {low = 0, high = 2, points = 3, scale = \"log\"}\n", "scale = \"log\" needs low > 0"),
    ("[conditions]\nT = []\n", "conditions.T: expected a number, a text, a non-empty list"),
    ("[conditions]\nT = 1\n[times]\nfirst = -1.0\n", "times.first: expected a positive number"),
    ("[conditions]\nT = 1\n[times]\nstep = 1.0\n", "times.step: unknown setting"),
    ("[conditions]\nT = 1\n[times]\nhorizon = 1.0\n", "times.horizon: .* must exceed 1"),
    ("[conditions]\nT = 1\n[options]\nT = 2\n", r"T given both in \[options\] and \[conditions\]"),
    ("[conditions]\nT = 1\n[extra]\n", r"unknown key\(s\) extra"),
    ("[conditions\n", "not valid TOML"),
])
def test_errors_name_the_file_and_the_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(kinetix.ConfigError, match=message) as error:
        read_conditions(path)
    assert str(error.value).startswith(str(path))


def test_members_have_their_own_pressure_and_state():
    mech = kinetix.load_mechanism("cantera:h2o2.yaml")
    batch = mech.with_conditions([
        {"temperature": 1000.0, "pressure": 1e5, "equivalence_ratio": 0.5, "fuel": "H2"},
        {"temperature": 1200.0, "pressure": 1e6, "composition": "H2:2, O2:1, AR:7"},
    ])
    assert batch.y0.shape == (2, mech.n_state)
    assert batch.mechanism.pressure.tolist() == [1e5, 1e6]
    assert set(batch.conditions) == {"T0", "P"}  # no phi: one member gives a composition
    gas = ct.Solution("h2o2.yaml")
    gas.TPX = 1200.0, 1e6, "H2:2, O2:1, AR:7"
    # the batched right-hand side equals each member's own reactor
    single = kinetix_cantera.ReactorMechanism("h2o2.yaml", temperature=1200.0, pressure=1e6,
                                              composition="H2:2, O2:1, AR:7")
    np.testing.assert_allclose(batch.y0[1].numpy(), single.initial_state().numpy(), rtol=1e-15)
    y = batch.y0.clone()
    y[:, 0] += 300.0
    t = torch.tensor(0.0, dtype=torch.float64)
    torch.testing.assert_close(batch.mechanism.rhs(t, y)[1], single.rhs(t, y[1]), rtol=1e-13, atol=0)
    torch.testing.assert_close(batch.mechanism.jacobian(t, y)[1], single.jacobian(t, y[1]), rtol=1e-13, atol=1e-300)
    with pytest.raises(kinetix.MechanismError, match=r"holds 2 reactors .* integrate the members together"):
        batch.mechanism.rhs(t, y[0])


def test_members_share_one_cantera_gas(monkeypatch):
    """A Cantera Solution per member held ~25 MB each for GRI-Mech 3.0 (13 GB for 512 conditions); one gas
    serves them all, and a member's state does not depend on the one before it."""
    mech = kinetix.load_mechanism("cantera:h2o2.yaml")
    built = []
    solution = mech.kinetics.solution
    monkeypatch.setattr(mech.kinetics, "solution", lambda: built.append(1) or solution())
    rows = [{"temperature": 900.0 + 50 * i, "pressure": 1e5 * (1 + i), "equivalence_ratio": 0.5 + 0.25 * i, "fuel": "H2"}
            for i in range(6)] + [{"temperature": 1000.0, "pressure": 2e5, "composition": "H2:1, O2:1, AR:3"}]
    batch = mech.with_conditions(rows)
    assert len(built) == 1
    gas = ct.Solution("h2o2.yaml")
    for member, row in enumerate(rows):
        if "composition" in row:
            gas.TPX = row["temperature"], row["pressure"], row["composition"]
        else:
            gas.set_equivalence_ratio(row["equivalence_ratio"], "H2", "O2:1, N2:3.76")
            gas.TP = row["temperature"], row["pressure"]
        np.testing.assert_allclose(batch.y0[member].numpy(), [gas.T, *gas.Y], rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(float(batch.mechanism.density[member]), gas.density, rtol=1e-14)


def test_conditions_errors_name_the_member():
    mech = kinetix.load_mechanism("cantera:h2o2.yaml")
    with pytest.raises(kinetix.ConfigError, match=r"condition\(s\) volume of member 0 are not reactor settings"):
        mech.with_conditions([{"temperature": 1000.0, "volume": 1.0}])
    with pytest.raises(kinetix.MechanismError, match=r"member 1 \(temperature=1100.0\): give the initial mixture"):
        mech.with_conditions([{"temperature": 1000.0, "composition": "H2:1, O2:1"}, {"temperature": 1100.0}])
    with pytest.raises(kinetix.ConfigError, match="'density' of member 0 applies to reactor='const-volume' only"):
        mech.with_conditions([{"density": 1.0, "composition": "H2:1, O2:1"}])


def test_const_volume_members_keep_their_density():
    mech = kinetix.load_mechanism("cantera:h2o2.yaml", reactor="const-volume", composition="H2:2, O2:1, AR:7")
    batch = mech.with_conditions([{"temperature": 1000.0, "pressure": 2e5}, {"temperature": 1200.0, "density": 0.3}])
    gas = ct.Solution("h2o2.yaml")
    gas.TPX = 1000.0, 2e5, "H2:2, O2:1, AR:7"
    np.testing.assert_allclose(batch.conditions["density"].numpy(), [gas.density, 0.3], rtol=1e-14)


def test_time_grid_resolves_every_front():
    peaks = Peaks(time=np.array([1e-4, 3e-5]), low=np.array([0.99e-4, 2.5e-5]), high=np.array([1.01e-4, 3.6e-5]))
    grid = TimeGrid(first=1e-7, horizon=3.0, points_per_decade=10, front_points=5)
    t = peak_resolving_times(peaks, grid).numpy()
    assert t[0] == pytest.approx(1e-7) and t[-1] == pytest.approx(3e-4) and np.all(np.diff(t) > 0)
    for low, high in zip(peaks.low, peaks.high):
        assert np.sum((t >= low) & (t <= high)) >= 5
    assert np.all(np.diff(np.log10(t[t < 2.5e-5])) <= 0.1 + 1e-12)  # the base grid elsewhere
    with pytest.raises(kinetix.ConfigError, match="needs .* output times, more than times.max_points = 50"):
        peak_resolving_times(peaks, TimeGrid(front_points=5, max_points=50), "h2.toml")


def test_generate_from_conditions(tmp_path, capsys):
    path = write(tmp_path, H2_AIR + "[times]\nfirst = 1e-6\npoints_per_decade = 10\nfront_points = 3\n")
    out = tmp_path / "h2.h5"
    assert main(["generate", "cantera:h2o2.yaml", "--conditions", str(path), "--out", str(out), "--rtol", "1e-6",
                 "--no-progress"]) == 0
    data = kinetix.load_dataset(out)
    assert data.y.shape[0] == 4 and data.species[0] == "T"
    assert set(data.conditions) == {"T0", "P", "phi", "ignition_delay"}
    assert data.conditions["T0"].tolist() == [1100.0, 1100.0, 1300.0, 1300.0]
    assert data.conditions["phi"].tolist() == [0.5, 2.0, 0.5, 2.0]
    delay = data.conditions["ignition_delay"]
    assert data.t[-1].item() == pytest.approx(3 * delay.max().item(), rel=1e-12)
    # on the output times, dT/dt is largest at one of the two around each delay
    batch = kinetix.load_mechanism("cantera:h2o2.yaml").with_conditions(
        read_conditions(path).rows).mechanism
    rates = batch.rhs(torch.tensor(0.0), data.y.transpose(0, 1))[..., 0]  # (T, N)
    for member, tau in enumerate(delay.tolist()):
        after = int(torch.searchsorted(data.t, torch.tensor(tau, dtype=torch.float64)))
        assert int(rates[:, member].argmax()) in (after - 1, after)
    provenance = data.metadata["provenance"]
    assert provenance["conditions"]["rows"][1] == {"temperature": 1100.0, "equivalence_ratio": 2.0, "fuel": "H2"}
    assert provenance["peak_event"]["name"] == "ignition_delay"
    assert data.metadata["mechanism"] == "cantera:h2o2"


def test_generate_options_and_clashes(tmp_path, capsys):
    out = tmp_path / "x.h5"
    path = write(tmp_path, H2_AIR)
    assert main(["generate", "cantera:h2o2.yaml", "--conditions", str(path), "--out", str(out), "-n", "3"]) == 1
    assert "--conditions sets the trajectories; drop --trajectories" in capsys.readouterr().err
    assert main(["generate", "robertson", "--conditions", str(path), "--out", str(out)]) == 1
    assert "robertson: cannot build trajectories from a conditions table" in capsys.readouterr().err
    assert main(["generate", "cantera:h2o2.yaml", "--out", str(out), "--no-progress"]) == 1
    assert "no initial mixture" in capsys.readouterr().err
    short = write(tmp_path, H2_AIR + "[times]\nsearch_end = 1e-5\n", "short.toml")
    assert main(["generate", "cantera:h2o2.yaml", "--conditions", str(short), "--out", str(out), "--rtol", "1e-5",
                 "--no-progress"]) == 1
    assert (f"{short}: row 0 {{'temperature': 1100.0, 'equivalence_ratio': 0.5, 'fuel': 'H2'}}: the largest dT/dt of "
            "member 0 is at the last output time") in capsys.readouterr().err
    assert main(["generate", "cantera:h2o2.yaml", "--option", "oops", "--out", str(out)]) == 1
    assert "--option 'oops': expected KEY=VALUE" in capsys.readouterr().err
    # --option values: numbers where they look like numbers
    assert main(["generate", "cantera:h2o2.yaml", "--out", str(out), "--option", "temperature=1500",
                 "--option", "pressure=2e5", "--option", "composition=H2:2, O2:1, AR:7", "--option", "t_end=1e-4",
                 "--option", "n_times=5", "--rtol", "1e-6", "--no-progress"]) == 0
    data = kinetix.load_dataset(out)
    assert data.y0[0, 0].item() == 1500.0 and data.y.shape == (1, 5, 11)
    assert '"pressure": 200000.0' in data.metadata["mechanism_definition"]


def test_cantera_solver_integrates_reactors_only():
    mech = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, composition="H2:2, O2:1, AR:7", t_end=1e-3)
    times = torch.tensor([2e-4, 1e-3], dtype=torch.float64)
    ours = kinetix.simulate(mech, t=times, rtol=1e-9, atol=1e-14)
    theirs = kinetix.simulate(mech, t=times, method="cantera", rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-9)
    with pytest.raises(kinetix.SolverError, match="the cantera solver integrates kinetix-cantera reactors"):
        kinetix.simulate("robertson", method="cantera")
    assert math.isfinite(float(theirs.sum()))
