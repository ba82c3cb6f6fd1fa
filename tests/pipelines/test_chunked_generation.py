"""Chunked, resumable generation: data independent of chunking, interruption and rerun."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import kinetix
from kinetix.data import generate
from kinetix.data.chunks import partial_folder
from kinetix.errors import ConfigError, DatasetError, SolverError
from kinetix.simulate import integrate_mechanism


def _make(out, chunk, n=7, **options):
    return generate.generate_dataset(kinetix.load_mechanism("robertson"), out, trajectories=n, seed=4, chunk=chunk,
                                     rtol=1e-5, atol=1e-9, progress=False, **options)


def test_same_data_whatever_the_chunk_size(tmp_path):
    files = {chunk: kinetix.load_dataset(_make(tmp_path / f"c{chunk}.h5", chunk, n=16)) for chunk in (5, 16)}
    # the reference: every member integrated in one batch, from the seed's states drawn at once
    mech = kinetix.load_mechanism("robertson")
    y0 = mech.sample_initial_states(16, np.random.default_rng(4))
    with torch.no_grad():
        ys = integrate_mechanism(mech, y0, mech.default_times(), rtol=1e-5, atol=1e-9).ys.transpose(0, 1)
    for data in files.values():
        assert torch.equal(data.y0, y0) and torch.equal(data.y, ys)
    assert not partial_folder(tmp_path / "c5.h5").exists()
    assert files[5].metadata["provenance"]["chunk_size"] == 5 and "chunk" not in files[5].metadata["provenance"]


def test_failed_chunk_reported_by_row_finished_chunks_kept_rerun_completes(tmp_path, monkeypatch):
    real = generate.integrate_mechanism
    calls = []

    def failing_second_chunk(mechanism, y0, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SolverError("batch member (1,) failed at t = 3 (max_steps reached)", member=1, t=3.0)
        return real(mechanism, y0, *args, **kwargs)

    monkeypatch.setattr(generate, "integrate_mechanism", failing_second_chunk)
    out = tmp_path / "r.h5"
    with pytest.raises(SolverError, match=r"1 chunk\(s\) failed: row 4: batch member .* The 2 finished chunks"):
        _make(out, 3)
    assert not out.exists() and len(calls) == 3
    with pytest.raises(DatasetError, match=r"unfinished dataset \(2 of 3 chunks"):
        kinetix.load_dataset(out)
    with pytest.raises(DatasetError, match="chunk \\[0, 3\\] of an unfinished dataset"):
        kinetix.load_dataset(partial_folder(out) / "states-000000.h5")
    calls.clear()
    _make(out, 3)
    assert len(calls) == 1  # only the failed chunk is integrated again
    monkeypatch.undo()
    assert torch.equal(kinetix.load_dataset(out).y, kinetix.load_dataset(_make(tmp_path / "whole.h5", 7)).y)


def test_rerun_with_other_settings_is_refused_unless_forced(tmp_path, monkeypatch):
    out = tmp_path / "r.h5"
    monkeypatch.setattr(generate, "_assemble", lambda *args: None)  # stop before assembling: a partial run
    _make(out, 3)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="another run \\(different seed\\).*--force"):
        generate.generate_dataset(kinetix.load_mechanism("robertson"), out, trajectories=7, seed=5, chunk=3,
                                  rtol=1e-5, atol=1e-9, progress=False)
    with pytest.raises(ConfigError, match="different chunk_size"):
        _make(out, 2)
    _make(out, 2, force=True)
    assert len(kinetix.load_dataset(out)) == 7 and not partial_folder(out).exists()


def test_foreign_partial_folder_is_not_touched(tmp_path):
    out = tmp_path / "r.h5"
    partial_folder(out).mkdir()
    (partial_folder(out) / "mine.txt").write_text("precious")
    with pytest.raises(Exception, match="kinetix did not make it"):
        _make(out, 3, force=True)
    assert (partial_folder(out) / "mine.txt").read_text() == "precious"


def _command(out, chunk):
    return [sys.executable, "-m", "kinetix.cli", "generate", "robertson", "-n", "24", "--seed", "2",
            "--chunk-size", str(chunk), "--out", str(out), "--no-progress"]


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_rerun_equals_uninterrupted(tmp_path):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "killed.h5"
    finished_before_kill = random.Random(os.getpid()).randint(1, 6)
    process = subprocess.Popen(_command(out, 2), env=environment)
    folder = partial_folder(out)
    deadline = time.monotonic() + 120
    while len(list(folder.glob("states-*.h5"))) < finished_before_kill if folder.exists() else True:
        assert process.poll() is None and time.monotonic() < deadline, "generation ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()
    kept = len(list(folder.glob("states-*.h5")))
    assert 0 < kept < 12
    subprocess.run(_command(out, 2), env=environment, check=True)
    assert not folder.exists()
    whole = generate.generate_dataset(kinetix.load_mechanism("robertson"), tmp_path / "whole.h5", trajectories=24,
                                      seed=2, chunk=24, progress=False)
    killed, whole = kinetix.load_dataset(out), kinetix.load_dataset(whole)
    assert torch.equal(killed.y, whole.y) and torch.equal(killed.y0, whole.y0)
    assert json.dumps(killed.metadata["provenance"]["solver"]) == json.dumps(whole.metadata["provenance"]["solver"])


def test_bad_settings_leave_no_chunk_folder(tmp_path):
    from kinetix.data.sampling import Perturbation

    out = tmp_path / "r.h5"
    with pytest.raises(ConfigError, match="unknown state component 'Q'"):
        _make(out, 3, perturbation=Perturbation(ranges={"Q": (0.0, 1.0)}))
    assert list(tmp_path.iterdir()) == []
    assert len(kinetix.load_dataset(_make(out, 3))) == 7  # the corrected command starts afresh
