"""Training runs keep the user's files and refuse what they cannot do: --force only on run folders,
no partial folder after a failure, resume on the same data only, no unusable surrogate saved, and
bad settings or manifests refused before any allocation."""

import json
import math
import time

import numpy as np
import pytest

import kinetix
from kinetix.cli import main
from kinetix.errors import ConfigError, SurrogateError
from kinetix.networks.mlp import ScaledMLP
from kinetix.surrogate import Surrogate
from test_dataset import write

pytest.importorskip("kinetix_trainers")
from kinetix_trainers import parse_config  # noqa: E402

SMALL = """
[network]
width = 4
depth = 2
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from kinetix.data.generate import generate_dataset

    folder = tmp_path_factory.mktemp("data")
    mechanism = kinetix.load_mechanism("robertson")
    return [generate_dataset(mechanism, folder / f"robertson-{seed}.h5", trajectories=2, seed=seed, progress=False)
            for seed in (1, 2)]


def train(data, out, *extra, config=SMALL, epochs=1):
    path = out.parent / f"{out.name}.toml"
    path.write_text(config)
    return main(["train", str(data), "--out", str(out), "--config", str(path), "--epochs", str(epochs),
                 "--no-progress", *extra])


def test_force_replaces_only_a_kinetix_run_folder(data, tmp_path, capsys):
    mine = tmp_path / "results"
    (mine / "plots").mkdir(parents=True)
    (mine / "plots" / "figure.png").write_bytes(b"a user's figure")
    (mine / "config.json").write_text("{}")
    assert train(data[0], mine, "--force") == 1
    assert f"{mine}: exists and is not a kinetix run folder" in capsys.readouterr().err
    assert sorted(p.name for p in mine.rglob("*")) == ["config.json", "figure.png", "plots"]

    run = tmp_path / "run"
    assert train(data[0], run) == 0
    (run / "notes.txt").write_text("kept")
    assert train(data[0], run, "--force") == 0
    assert (run / "surrogate" / "surrogate.json").is_file() and (run / "notes.txt").read_text() == "kept"


@pytest.mark.parametrize("trainer", ["latent", "progress"])
def test_the_reduced_trainers_force_only_a_kinetix_run_folder(trainer, data, tmp_path, capsys):
    mine = tmp_path / "results"
    (mine / "surrogate").mkdir(parents=True)
    (mine / "surrogate" / "model.pt").write_bytes(b"a user's model")
    (mine / "history.csv").write_text("a user's history")
    assert main(["train", str(data[0]), "--trainer", trainer, "--out", str(mine), "--force", "--no-progress"]) == 1
    assert f"{mine}: exists and is not a kinetix run folder" in capsys.readouterr().err
    assert sorted(p.name for p in mine.rglob("*")) == ["history.csv", "model.pt", "surrogate"]


def test_a_failed_run_leaves_no_folder_behind(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data[0], out, config="[network]\nwidth = 100000\n") == 1
    assert "needs more than 1 GiB" in capsys.readouterr().err
    assert not out.exists()
    assert train(data[0], out) == 0  # the same command, corrected, runs without --force


def test_resume_on_other_data_is_refused(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data[0], out) == 0
    assert train(data[1], out, "--resume") == 1
    assert f"{out}: the checkpoint was trained on other data than {data[1]}" in capsys.readouterr().err
    assert train(data[0], out, "--resume") == 0


def test_an_unusable_surrogate_is_not_saved(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data[0], out, config=SMALL + "[solver]\nmax_steps = 1\n") == 1
    assert "cannot be integrated over the train trajectories" in capsys.readouterr().err
    assert not (out / "surrogate").exists()
    assert train(data[0], out, "--force", config=SMALL + "[optimizer]\nlr = 1e308\n") == 1
    assert "training produced non-finite weights" in capsys.readouterr().err
    assert not (out / "surrogate").exists()


@pytest.mark.parametrize("values, message", [
    ({"optimizer": {"weight_decay": math.nan}}, "optimizer.weight_decay: expected a finite number, got nan"),
    ({"optimizer": {"lr": math.inf}}, "optimizer.lr: expected a finite number, got inf"),
    ({"optimizer": {"betas": [0.9, 1.5]}}, r"optimizer.betas must both be in \[0, 1\), got \[0.9, 1.5\]"),
    ({"solver": {"method": "scipy-bdf"}}, "solver.method: 'scipy-bdf' gives no gradients"),
    ({"solver": {"method": "no-such-solver"}}, "solver.method: .*no-such-solver"),
])
def test_bad_training_settings_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(values, "run.toml")


@pytest.fixture
def surrogate(tmp_path):
    network = {"name": "mlp", "config": {"n_species": 3, "width": 4, "depth": 2}}
    model = Surrogate(ScaledMLP(**network["config"]), network, ("A", "B", "C"),
                      {"y0": [1.0, 0.0, 0.0], "t": [1.0, 2.0], "t0": 0.0})
    return model.save(tmp_path / "surrogate")


def test_a_manifest_asking_for_a_huge_network_is_refused_at_once(surrogate):
    manifest = json.loads((surrogate / "surrogate.json").read_text())
    manifest["network"]["config"]["width"] = 200_000
    (surrogate / "surrogate.json").write_text(json.dumps(manifest))
    began = time.perf_counter()
    with pytest.raises(SurrogateError, match="needs more than 1 GiB"):
        Surrogate.load(surrogate)
    assert time.perf_counter() - began < 5


def test_a_deeply_nested_manifest_is_refused(surrogate):
    (surrogate / "surrogate.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SurrogateError, match="nested too deeply"):
        Surrogate.load(surrogate)


def test_simulate_from_data_of_other_species_says_so(surrogate, tmp_path, capsys):
    other = write(tmp_path / "other.h5", y=np.ones((1, 2, 4)), species=("X", "Y", "Z", "W"), conditions={})
    assert main(["simulate", str(surrogate), "--from", str(other), "--out", str(tmp_path / "s.h5")]) == 1
    assert "species ['X', 'Y', 'Z', 'W'] do not match the surrogate's ['A', 'B', 'C']" in capsys.readouterr().err


def test_the_surrogate_records_the_data_fingerprint(data, tmp_path):
    assert train(data[0], tmp_path / "run") == 0
    info = Surrogate.load(tmp_path / "run" / "surrogate").info
    assert info["dataset"]["sha256"] == kinetix.load_dataset(data[0]).content_sha256()
    assert kinetix.load_dataset(data[0]).content_sha256() != kinetix.load_dataset(data[1]).content_sha256()
