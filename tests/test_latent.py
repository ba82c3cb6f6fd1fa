"""The latent surrogate: the element projection against a KKT solve, invariants kept by the decoded
state, and the trainer end to end on a synthetic ignition-like dataset (pressure appended, method
chosen and recorded, simulate and export hiding the latent space)."""

import math

import numpy as np
import pytest
import torch

from kinetix.data.dataset import TrajectoryDataset
from kinetix.errors import ConfigError
from kinetix.export import reaction_step
from kinetix.surrogate import Surrogate
from kinetix_trainers.latent import LatentTrainer, element_matrix
from kinetix.networks.conserved import project
from kinetix_trainers.latent_network import LatentODE

SPECIES = ("T", "H2", "O2", "H2O", "N2")


def test_projection_is_the_weighted_least_change():
    generator = torch.Generator().manual_seed(0)
    elements = torch.rand(2, 5, generator=generator, dtype=torch.float64)
    weights = torch.rand(5, generator=generator, dtype=torch.float64) + 0.1
    y = torch.rand(3, 5, generator=generator, dtype=torch.float64)
    target = torch.rand(3, 2, generator=generator, dtype=torch.float64)
    got = project(y, elements, weights, target).numpy()
    for i in range(3):  # min |W^-1 (x - y)|^2 s.t. E x = b, as one KKT system
        kkt = np.block([[np.diag(weights.numpy() ** -2), elements.numpy().T], [elements.numpy(), np.zeros((2, 2))]])
        rhs = np.concatenate([np.diag(weights.numpy() ** -2) @ y[i].numpy(), target[i].numpy()])
        assert np.allclose(got[i], np.linalg.solve(kkt, rhs)[:5], rtol=1e-12, atol=1e-14)


def test_element_matrix_from_cantera():
    matrix = np.array(element_matrix("cantera:h2o2.yaml", ["H2", "O2", "H2O", "N2"]))
    weights = {"H2": 2.016, "O2": 31.998, "H2O": 18.015, "N2": 28.014}
    assert matrix.shape == (3, 4)  # H, O, N (Ar appears in no listed species)
    w = [weights[name] for name in ("H2", "O2", "H2O", "N2")]
    expected = {"H": [2 / w[0], 0, 2 / w[2], 0], "O": [0, 2 / w[1], 1 / w[2], 0], "N": [0, 0, 0, 2 / w[3]]}
    for row in expected.values():
        assert any(np.allclose(found, row, rtol=1e-3, atol=0) for found in matrix)
    assert element_matrix("robertson", ["A"]) == []


def ignition_dataset(count=6) -> TrajectoryDataset:
    """Ignition-like trajectories: H2 + 1/2 O2 -> H2O along a sigmoid in log time, delay set by T0 and P."""
    t = torch.logspace(-6, -2, 40, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    t0 = 1000 + 300 * torch.rand(count, generator=generator, dtype=torch.float64)
    pressure = 101325 * (1 + 19 * torch.rand(count, generator=generator, dtype=torch.float64))
    delay = 1e-4 * torch.exp(8000 / t0 - 8) * (pressure / 101325) ** -0.3
    progress = torch.sigmoid((torch.log(t) - torch.log(delay[:, None])) / 0.15)       # (N, T)
    w_h2, w_o2, w_h2o = 2.016, 31.998, 18.015
    y_h2 = torch.full((count,), 0.028, dtype=torch.float64)
    burnt = y_h2[:, None] * progress
    states = torch.stack([t0[:, None] + 2000 * progress, y_h2[:, None] - burnt,
                          0.226 - burnt * 0.5 * w_o2 / w_h2, burnt * w_h2o / w_h2,
                          torch.full_like(progress, 0.746)], dim=-1)
    y0 = torch.stack([t0, y_h2, torch.full_like(t0, 0.226), torch.zeros_like(t0), torch.full_like(t0, 0.746)], -1)
    return TrajectoryDataset(t, states, y0, SPECIES, {"mechanism": "cantera:h2o2", "t0": 0.0},
                             {"T0": t0, "P": pressure, "ignition_delay": delay})


@pytest.mark.slow
def test_latent_trainer_writes_a_surrogate_that_hides_its_latent_space(tmp_path):
    dataset = ignition_dataset(3)
    config = {"epochs": 2, "latent": 2, "width": 4, "depth": 1, "batch_size": 4, "window": 2,
              "methods": ["bosh3", "rodas3p"]}
    LatentTrainer(config).train(dataset, tmp_path / "run", progress=False)
    loaded = Surrogate.load(tmp_path / "run" / "surrogate")
    assert loaded.species == (*SPECIES, "P") and loaded.info["kind"] == "latent"
    choice = loaded.info["solver_choice"]
    assert set(choice) == {"bosh3", "rodas3p"} and loaded.solver_options["method"] in choice
    assert all(entry["seconds"] > 0 for entry in choice.values())
    assert loaded.info["training"]["peak_memory_mb"] > 0
    assert (tmp_path / "run" / "plots" / "trajectories_validation.png").is_file()
    assert (tmp_path / "run" / "plots" / "training.png").is_file()

    y0 = torch.cat([dataset.y0, dataset.conditions["P"][:, None]], dim=-1)
    ys = loaded.simulate(y0, dataset.t, rtol=1e-10)                             # (T, N, n): the full state
    assert ys.shape == (len(dataset.t), len(dataset), len(SPECIES) + 1)
    elements = torch.tensor(element_matrix("cantera:h2o2", SPECIES[1:]), dtype=torch.float64)
    assert torch.allclose(ys[..., 1:5] @ elements.T, (y0[:, 1:5] @ elements.T).expand_as(ys[..., :3]), rtol=1e-12)
    assert torch.allclose(ys[..., -1], y0[:, -1].expand(len(dataset.t), -1), rtol=1e-14)
    at = 30
    step = reaction_step(loaded, rtol=1e-10, max_steps=100_000)(y0, dataset.t[at])
    assert torch.allclose(step, ys[at], rtol=1e-6)  # the reaction step integrates the same latent field


@pytest.mark.slow
def test_latent_trainer_learns(tmp_path):
    config = {"epochs": 25, "latent": 2, "width": 8, "depth": 1, "batch_size": 8, "window": 3,
              "methods": ["bosh3"], "lr": 1e-2}
    surrogate = LatentTrainer(config).train(ignition_dataset(), tmp_path / "run", progress=False)
    history = [float(line.split(",")[1]) for line in surrogate.history.splitlines()[1:]]
    assert np.mean(history[-5:]) < 0.5 * np.mean(history[:5])
    assert surrogate.info["training"]["evaluation"]["validation"]["scaled_mae"] < 0.5


def test_latent_trainer_refusals(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting"):
        LatentTrainer({"latnet": 3})
    with pytest.raises(ConfigError, match="train_method"):
        LatentTrainer({"train_method": "rodas5p"})
    with pytest.raises(ConfigError, match="--resume"):
        LatentTrainer({}).train(ignition_dataset(2), tmp_path / "run", resume=True)


def test_decoded_states_keep_invariants_for_any_latent_value():
    model = LatentODE(6, latent=3, elements=[[1.0, 0.0, 2.0, 0.0], [0.0, 2.0, 1.0, 0.0]], pressure=True)
    y = torch.tensor([[1200.0, 0.02, 0.2, 0.0, 0.78, 2e5]], dtype=torch.float64)
    zc = model.encode(y)
    zc = torch.cat([zc[:, :3] + torch.randn(4, 3, dtype=torch.float64), zc[:, 3:].expand(4, -1)], dim=-1)
    decoded = model.decode(zc)
    assert torch.allclose(decoded[:, 1:5] @ model.elements.T, (y[:, 1:5] @ model.elements.T).expand(4, -1),
                          rtol=1e-12)
    assert decoded[:, -1].tolist() == pytest.approx([2e5] * 4, rel=1e-14)
    assert math.isclose(float(model(0.0, zc).detach()[:, 3:].abs().max()), 0.0)
