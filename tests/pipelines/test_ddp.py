"""Data-parallel training with torchrun: the loss curve of one process, exact resume, rank 0 writes."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import kinetix
from kinetix.cli import main
from kinetix.data.generate import generate_dataset

CONFIG = """
epochs = 20
checkpoint_every = 5
[network]
width = 4
depth = 2
[data]
batch_size = 6
"""


def _losses(run):
    with open(run / "history.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def _torchrun(data, out, config, *extra):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "kinetix", "train", str(data), "--out", str(out), "--config", str(config), "--no-progress", *extra]


@pytest.mark.slow
def test_two_processes_follow_the_one_process_loss_curve_and_resume_exactly(tmp_path):
    data = generate_dataset(kinetix.load_mechanism("robertson"), tmp_path / "r.h5", trajectories=9, seed=5,
                            rtol=1e-6, atol=1e-10, progress=False)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert main(["train", str(data), "--out", str(tmp_path / "one"), "--config", str(config), "--no-progress"]) == 0
    subprocess.run(_torchrun(data, tmp_path / "two", config), env=environment, check=True, stdout=subprocess.DEVNULL)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 20
    assert max(abs(a - b) / abs(a) for a, b in zip(one, two)) <= 1e-10
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if not p.name.startswith(".")) == \
        ["checkpoint.pt", "config.json", "evaluation.json", "history.csv", "plots", "surrogate"]

    killed = tmp_path / "killed"
    process = subprocess.Popen(_torchrun(data, killed, config), env=environment, stdout=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # torchrun and both ranks
    process.wait()
    stopped_at = torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"]
    assert stopped_at < 19, "the run finished before it could be killed"
    subprocess.run(_torchrun(data, killed, config, "--resume"), env=environment, check=True, stdout=subprocess.DEVNULL)
    assert _losses(killed) == two
