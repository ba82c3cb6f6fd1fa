"""The training command end to end: config validation, surrogate artifact, evaluation, exact resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import kinetix
from kinetix.cli import main
from kinetix.errors import ConfigError, SurrogateError
from kinetix.surrogate import Surrogate

pytest.importorskip("kinetix_trainers")
from kinetix_trainers import parse_config  # noqa: E402


@pytest.mark.parametrize("values, message", [
    ({"epoch": 3}, "epoch: unknown setting"),
    ({"network": {"output": "cubic"}}, "network.output: got 'cubic'; choose from linear, sinh"),
    ({"optimizer": {"lr": -1.0}}, "optimizer.lr: must be positive"),
    ({"network": {"width": "five"}}, "network.width: expected an integer"),
    ({"data": {"validation_fraction": 1.5}}, "validation_fraction must be in"),
    ({"solver": 3}, r"\[solver\] must be a table"),
    ({"optimizer": {"betas": [0.9]}}, "expected a list of 2 numbers"),
])
def test_bad_settings_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(values, "run.toml")


def test_documented_example_configs_parse():
    for path in sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.toml")):
        from kinetix.training import read_config

        from kinetix_trainers.flow_map import parse_flow_map_config
        from kinetix_trainers.latent import parse_latent_config
        from kinetix_trainers.progress import parse_progress_config

        config = read_config(path)
        parse = {"latent": parse_latent_config, "progress": parse_progress_config, "flowmap": parse_flow_map_config}
        if config.get("trainer") in parse:
            parse[config["trainer"]](config)
        else:
            parse_config(config, str(path))


def history(path):
    with open(path) as f:
        return [(row["epoch"], row["loss"], row["grad_norm"], row["val_loss"], row["horizon"]) for row in csv.DictReader(f)]


def test_train_evaluate_simulate(robertson_data, tiny_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(robertson_data), "--out", str(out), "--config", str(tiny_config), "--epochs", "12",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "train: scaled MAE" in printed and "validation: scaled MAE" in printed
    for name in ("checkpoint.pt", "history.csv", "config.json", "plots/training.png", "plots/trajectories_train.png",
                 "surrogate/surrogate.json", "surrogate/weights.pt"):
        assert (out / name).is_file(), name
    assert len(history(out / "history.csv")) == 12

    surrogate = Surrogate.load(out / "surrogate")
    data = kinetix.load_dataset(robertson_data)
    ys = surrogate.simulate(data.y0, data.t)
    assert ys.shape == (len(data.t), len(data), 3)
    recorded = json.loads((out / "evaluation.json").read_text())
    assert 0 < recorded["train"]["scaled_mae"] < 1

    assert main(["evaluate", str(out), str(robertson_data), "--out", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    independent = ((ys.transpose(0, 1) - data.y).abs() / torch.tensor(surrogate.info["scales"]["y_scale"])).mean()
    assert result["scaled_mae"] == pytest.approx(float(independent), rel=1e-6)
    assert set(result["scaled_mae_per_species"]) == {"A", "B", "C"}
    assert main(["evaluate", str(out), str(robertson_data), "--out", str(tmp_path / "eval.json")]) == 1  # no --force

    assert main(["simulate", str(out), "--out", str(tmp_path / "one.csv"), "--y0", "A=0.7", "--y0", "C=0.3"]) == 0
    rows = (tmp_path / "one.csv").read_text().splitlines()
    assert rows[0] == "t,A,B,C" and len(rows) == 1 + len(data.t)
    assert main(["simulate", str(out), "--out", str(tmp_path / "all.h5"), "--from", str(robertson_data)]) == 0
    assert kinetix.load_dataset(tmp_path / "all.h5").y.shape == data.y.shape

    assert main(["train", str(robertson_data), "--out", str(out), "--epochs", "3", "--no-progress"]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err


def test_plain_trainer_runs(robertson_data, tmp_path):
    out = tmp_path / "plain"
    assert main(["train", str(robertson_data), "--out", str(out), "--trainer", "plain", "--epochs", "3",
                 "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["solver"]["method"] == "dopri5" and config["network"]["output_scale"] == "none"


def test_resume_after_kill_gives_the_same_loss_curve(robertson_data, tiny_config, tmp_path):
    epochs = "40"
    reference = tmp_path / "reference"
    assert main(["train", str(robertson_data), "--out", str(reference), "--config", str(tiny_config),
                 "--epochs", epochs, "--no-progress"]) == 0
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "kinetix.cli", "train", str(robertson_data), "--out", str(out), "--config",
               str(tiny_config), "--epochs", epochs, "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    assert stopped_at < int(epochs) - 1, "the run finished before it could be killed"
    assert main(["train", str(robertson_data), "--out", str(out), "--config", str(tiny_config), "--epochs", epochs,
                 "--resume", "--no-progress"]) == 0
    assert history(out / "history.csv") == history(reference / "history.csv")


def test_resume_with_other_settings_is_refused(robertson_data, tiny_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(robertson_data), "--out", str(out), "--config", str(tiny_config), "--epochs", "5",
                 "--no-progress"]) == 0
    assert main(["train", str(robertson_data), "--out", str(out), "--config", str(tiny_config), "--epochs", "5",
                 "--seed", "9", "--resume", "--no-progress"]) == 1
    assert "another configuration" in capsys.readouterr().err


@pytest.fixture
def saved(robertson_data, tiny_config, tmp_path):
    out = tmp_path / "run"
    main(["train", str(robertson_data), "--out", str(out), "--config", str(tiny_config), "--epochs", "3",
          "--no-progress"])
    return out / "surrogate"


def test_tampered_weights_are_refused(saved):
    weights = saved / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(SurrogateError, match="does not match its SHA-256"):
        Surrogate.load(saved)


def test_truncated_weights_are_refused(saved):
    weights = saved / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SurrogateError, match="weights.pt does not match"):
        Surrogate.load(saved)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format="other"), "not a kinetix surrogate"),
    (lambda m: m.update(format_version=9), "format_version 9"),
    (lambda m: m["network"].update(name="transformer"), "cannot build network 'transformer'"),
    (lambda m: m["network"]["config"].update(width=99), "cannot load the weights"),
    (lambda m: m.pop("species"), "'species' must be"),
])
def test_inconsistent_manifest_is_refused(saved, edit, message):
    manifest = json.loads((saved / "surrogate.json").read_text())
    edit(manifest)
    (saved / "surrogate.json").write_text(json.dumps(manifest))
    with pytest.raises(SurrogateError, match=message):
        Surrogate.load(saved)


def test_foreign_folder_and_bad_json(tmp_path):
    with pytest.raises(SurrogateError, match="not a surrogate folder"):
        Surrogate.load(tmp_path)
    (tmp_path / "surrogate.json").write_text("{nope")
    with pytest.raises(SurrogateError, match="not valid JSON"):
        Surrogate.load(tmp_path)


def test_surrogate_loads_without_the_trainer_plugin(saved, robertson_data):
    code = ("import kinetix, sys; s = kinetix.Surrogate.load(sys.argv[1]); "
            "print(s.simulate().shape, [p.name for p in kinetix.plugins.get_catalog().plugins.values()])")
    environment = {**os.environ, "KINETIX_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-c", code, str(saved)], capture_output=True, text=True, env=environment,
                            check=True)
    assert "torch.Size([" in result.stdout and "trainers" not in result.stdout


def test_a_non_finite_gradient_leaves_the_weights_alone(robertson_data, tmp_path, monkeypatch):
    """A finite loss whose gradient is NaN (here: sqrt at 0 times 0) must skip the update, not
    poison the weights: after three such epochs the network is its initialisation."""
    from kinetix_trainers import trainer as module

    original = module._Run.loss

    def poisoned(self, index, horizon, *, tolerance="train"):
        loss, solution = original(self, index, horizon, tolerance=tolerance)
        if tolerance == "train":
            loss = loss + torch.sqrt(0.0 * sum(p.sum() for p in self.parameters))
        return loss, solution

    settings = {"epochs": 3, "checkpoint_every": 1, "network": {"width": 4, "depth": 2},
                "data": {"batch_size": 2}}
    untouched = module.StiffTrainer({**settings, "epochs": 0}).train(
        kinetix.load_dataset(robertson_data), tmp_path / "untouched", progress=False)
    monkeypatch.setattr(module._Run, "loss", poisoned)
    trained = module.StiffTrainer(settings).train(kinetix.load_dataset(robertson_data), tmp_path / "poisoned",
                                                  progress=False)
    for before, after in zip(untouched.field.state_dict().values(), trained.field.state_dict().values()):
        assert torch.equal(before, after)
    rows = list(csv.DictReader(open(tmp_path / "poisoned" / "history.csv")))
    assert len(rows) == 3 and all(row["grad_norm"] == "nan" for row in rows)


def test_a_failed_epoch_halves_the_last_update(robertson_data, tmp_path, monkeypatch):
    """When the solver fails after an update, the weights move halfway back, so the next epoch
    does not retry the same unsolvable field."""
    from kinetix_trainers import trainer as module

    original, seen = module._Run.loss, []

    def failing_third(self, index, horizon, *, tolerance="train"):
        loss, solution = original(self, index, horizon, tolerance=tolerance)
        if tolerance == "train":
            seen.append([p.detach().clone() for p in self.parameters])
            if len(seen) == 3:
                loss = loss * float("nan")
        return loss, solution

    monkeypatch.setattr(module._Run, "loss", failing_third)
    settings = {"epochs": 3, "network": {"width": 4, "depth": 2}, "data": {"batch_size": 2}}
    trained = module.StiffTrainer(settings).train(kinetix.load_dataset(robertson_data), tmp_path / "run",
                                                  progress=False)
    for after, first, second in zip(trained.field.parameters(), seen[1], seen[2]):
        assert not torch.equal(first, second)
        torch.testing.assert_close(after, (first + second) / 2, rtol=0, atol=1e-15)


@pytest.mark.slow  # compiles the solve's forward and backward programs: minutes
def test_training_with_the_solve_compiled_takes_the_same_epochs(robertson_data, tiny_config, tmp_path):
    compiled_config = tmp_path / "compiled.toml"
    compiled_config.write_text(tiny_config.read_text() + "[solver]\ncompile = true\n")
    runs = {}
    for name, config in (("eager", tiny_config), ("compiled", compiled_config)):
        assert main(["train", str(robertson_data), "--out", str(tmp_path / name), "--config", str(config),
                     "--epochs", "4", "--no-progress"]) == 0
        runs[name] = history(tmp_path / name / "history.csv")
    assert [row[0] for row in runs["compiled"]] == [row[0] for row in runs["eager"]]
    for eager, compiled in zip(runs["eager"], runs["compiled"]):
        assert float(compiled[1]) == pytest.approx(float(eager[1]), rel=1e-8)  # the loss
        assert float(compiled[2]) == pytest.approx(float(eager[2]), rel=1e-6)  # the gradient's norm
