"""Streaming trajectories from HDF5 into training: same items, same scales, same training."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import kinetix
from kinetix.data import lazy
from kinetix.data.generate import generate_dataset
from kinetix.data.streaming import StreamingTrajectories, dataset_scales, open_training_data
from kinetix.data.writer import write_dataset
from kinetix.errors import ConfigError


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(lazy, "BLOCK_BYTES", 2 * 5 * 3 * 8)  # two rows a block: reductions span blocks


def make(path, rows=7):
    rng = np.random.default_rng(0)
    y = rng.lognormal(size=(rows, 5, 3))
    write_dataset(path, t=np.geomspace(1e-3, 10, 5), y=y, y0=y[:, 0] * 1.1, t0=0.0, species=("A", "B", "C"),
                  mechanism="toy", mechanism_sha256="ab" * 32, units={"time": "s", "state": "1"}, provenance={},
                  conditions={"T0": rng.uniform(size=rows)})
    return path


def test_items_and_indexing_equal_the_in_memory_dataset(tmp_path):
    path = make(tmp_path / "d.h5")
    memory, streamed = kinetix.load_dataset(path), StreamingTrajectories(path)
    index = torch.tensor([5, 1, 5, 0])
    assert torch.equal(streamed.y[index], memory.y[index]) and torch.equal(streamed.y[index, :3], memory.y[index, :3])
    assert torch.equal(streamed.y[2], memory.y[2]) and torch.equal(streamed.y0, memory.y0)
    assert torch.equal(streamed.t, memory.t) and streamed.t0 == memory.t0 and len(streamed) == 7
    assert torch.equal(streamed.conditions["T0"], memory.conditions["T0"])


def test_dataloader_worker_processes_read_the_same_items(tmp_path):
    path = make(tmp_path / "d.h5")
    memory, streamed = kinetix.load_dataset(path), StreamingTrajectories(path)
    streamed[0]  # the parent opens the file before the workers fork: they must not share the handle
    batches = list(DataLoader(streamed, batch_size=3, num_workers=2))
    assert torch.equal(torch.cat([y for _, y in batches]), memory.y)
    assert torch.equal(torch.cat([y0 for y0, _ in batches]), memory.y0)


@pytest.mark.parametrize("species", ["max", "range", "none"])
@pytest.mark.parametrize("output", ["paper", "rate", "none"])
@pytest.mark.parametrize("inputs", ["none", "scale", "standard"])
def test_streamed_scales_equal_the_in_memory_ones(tmp_path, small_blocks, species, output, inputs):
    path = make(tmp_path / "d.h5")
    index = torch.tensor([0, 2, 3, 4, 6])
    memory = dataset_scales(kinetix.load_dataset(path), index, species, output, inputs)
    streamed = dataset_scales(StreamingTrajectories(path), index, species, output, inputs)
    for name, a, b in zip(("y_scale", "output", "shift"), memory[:3], streamed[:3]):
        if inputs == "standard" and name == "shift":
            torch.testing.assert_close(b, a, rtol=1e-13, atol=0)
        else:
            assert torch.equal(a, b), name
    torch.testing.assert_close(streamed[3], memory[3], rtol=1e-13 if inputs == "standard" else 0, atol=0)


def test_open_training_data(tmp_path, monkeypatch):
    path = make(tmp_path / "d.h5")
    assert isinstance(open_training_data(path, "on"), StreamingTrajectories)
    assert isinstance(open_training_data(path, "off"), kinetix.TrajectoryDataset)
    assert isinstance(open_training_data(path, "auto"), kinetix.TrajectoryDataset)
    from kinetix.data import streaming
    monkeypatch.setattr(streaming, "_available_memory", lambda: 1000.0)
    assert isinstance(open_training_data(path, "auto"), StreamingTrajectories)
    with pytest.raises(ConfigError, match="streaming: got 'sometimes'"):
        open_training_data(path, "sometimes")


TINY = """
epochs = 6
checkpoint_every = 3
[network]
width = 4
depth = 2
[data]
batch_size = 3
validation_fraction = 0.25
validate_every = 2
"""


@pytest.mark.slow
def test_training_from_a_stream_equals_training_in_memory(tmp_path, small_blocks):
    from kinetix.cli import main

    data = generate_dataset(kinetix.load_mechanism("robertson"), tmp_path / "r.h5",
                            trajectories=8, seed=2, rtol=1e-6, atol=1e-10, progress=False)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    for mode in ("off", "on"):
        assert main(["train", str(data), "--out", str(tmp_path / mode), "--config", str(config), "--no-progress",
                     "--streaming", mode]) == 0
    memory, streamed = (kinetix.Surrogate.load(tmp_path / mode / "surrogate") for mode in ("off", "on"))
    assert (tmp_path / "off" / "history.csv").read_text().split("seconds")[0] == \
        (tmp_path / "on" / "history.csv").read_text().split("seconds")[0]
    losses = [[row.split(",")[1] for row in (tmp_path / mode / "history.csv").read_text().splitlines()[1:]]
              for mode in ("off", "on")]
    assert losses[0] == losses[1] and len(losses[0]) == 6
    for a, b in zip(memory.field.state_dict().values(), streamed.field.state_dict().values()):
        assert torch.equal(a, b)
    assert memory.info["training"]["evaluation"] == streamed.info["training"]["evaluation"]
