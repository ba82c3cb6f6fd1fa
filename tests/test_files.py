"""No file of the user's is lost: atomic no-overwrite under races, stale temporaries, interrupts,
a failing disk, and bounded reading of hostile files."""

import multiprocessing
import os
import resource
import signal
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import kinetix
import kinetix.data.dataset
import kinetix.data.generate
from kinetix import interrupts
from kinetix.cli import main
from kinetix.data import atomic
from kinetix.data.atomic import atomic_path
from kinetix.errors import DatasetError, KinetixError, MechanismError
from test_dataset import write

TRIALS = 200


def _racer(name, kind, barrier, folder, results):
    for trial in range(TRIALS):
        barrier.wait()
        try:
            with atomic_path(Path(folder) / f"target-{trial}") as temporary:
                if kind == "folder":
                    temporary.mkdir()
                    (temporary / "who").write_text(name)
                else:
                    temporary.write_text(name)
                barrier.wait()  # both finish writing together and then race to move into place
            results.put((trial, name, "won"))
        except KinetixError as error:
            results.put((trial, name, "refused" if "already exists" in str(error) else str(error)))


@pytest.mark.parametrize("kind", ["file", "folder"])
@pytest.mark.parametrize("rename", ["renameat2", "fallback"])
def test_two_racing_writers_never_both_win(tmp_path, monkeypatch, kind, rename):
    if rename == "fallback":
        monkeypatch.setattr(atomic, "_RENAMEAT2", None)  # hard link (file) or exclusive mkdir (folder)
    elif atomic._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    writers = [context.Process(target=_racer, args=(name, kind, barrier, str(tmp_path), results))
               for name in ("first", "second")]
    for writer in writers:
        writer.start()
    outcomes = {}
    for _ in range(2 * TRIALS):
        trial, name, outcome = results.get(timeout=120)
        outcomes.setdefault(trial, {})[name] = outcome
    for writer in writers:
        writer.join()
    for trial, by_name in outcomes.items():
        winners = [name for name, outcome in by_name.items() if outcome == "won"]
        assert len(winners) == 1 and "refused" in by_name.values(), (trial, by_name)
        target = tmp_path / f"target-{trial}"
        assert (target / "who" if kind == "folder" else target).read_text() == winners[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"target-{t}" for t in range(TRIALS))


def _hold_a_temporary(target, writing):
    with interrupts.trapped():
        try:
            with atomic_path(target, force=True) as temporary:
                temporary.write_text("partial")
                writing.set()
                time.sleep(60)
        except KeyboardInterrupt:
            os._exit(128 + interrupts.received())
    os._exit(0)


def _start_writer(target):
    """A process (forked: no start-up cost) stopped in the middle of an atomic write to ``target``."""
    context = multiprocessing.get_context("fork")
    writing = context.Event()
    process = context.Process(target=_hold_a_temporary, args=(target, writing))
    process.start()
    assert writing.wait(timeout=30)
    return process


def _temporaries(folder):
    """Temporary files under ``folder``, chunk folders (``OUT.partial/``) included."""
    return sorted(p.name for p in folder.rglob("*") if ".tmp-" in p.name)


def _generate_stopping_mid_write(target, writing):
    """``kinetix generate`` that stops for a minute once the temporary file is written."""
    write_bytes = Path.write_bytes

    def slow_write_bytes(self, data):
        written = write_bytes(self, data)
        writing.set()
        time.sleep(60)
        return written

    Path.write_bytes = slow_write_bytes
    os._exit(main(["generate", "robertson", "--out", str(target), "--force", "--no-progress"]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, sig):
    target = tmp_path / "out.h5"
    target.write_text("old")
    context = multiprocessing.get_context("fork")
    writing = context.Event()
    process = context.Process(target=_generate_stopping_mid_write, args=(target, writing))
    process.start()
    assert writing.wait(timeout=60)
    assert len(_temporaries(tmp_path)) == 1
    os.kill(process.pid, sig)
    process.join(timeout=30)
    assert process.exitcode == 128 + sig
    assert _temporaries(tmp_path) == [] and target.read_text() == "old"


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.txt"
    alive = _start_writer(target)  # a live writer's temporary must survive the next write
    killed = _start_writer(target)
    killed.kill()
    killed.join()
    try:
        owners = [f"-{process.pid}-" for process in (killed, alive)]
        assert [[owner in name for owner in owners] for name in _temporaries(tmp_path)] in (
            [[True, False], [False, True]], [[False, True], [True, False]])
        with atomic_path(target, force=True) as temporary:
            temporary.write_text("new")
        assert target.read_text() == "new"
        remaining = _temporaries(tmp_path)
        assert len(remaining) == 1 and f"-{alive.pid}-" in remaining[0]
    finally:
        alive.kill()
        alive.join()


def test_a_swallowed_interrupt_never_commits(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with interrupts.trapped():
        with pytest.raises(KeyboardInterrupt):
            with atomic_path(target, force=True) as temporary:
                temporary.write_text("new")
                try:  # a library catching the interrupt and carrying on
                    os.kill(os.getpid(), signal.SIGINT)
                except KeyboardInterrupt:
                    pass
    assert target.read_text() == "old" and _temporaries(tmp_path) == []


def test_a_swallowed_interrupt_never_exits_with_success(tmp_path, monkeypatch, capsys):
    path = write(tmp_path / "d.h5")
    real = kinetix.data.dataset.load_dataset

    def interrupted_load(file):
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return real(file)

    monkeypatch.setattr(kinetix.data.dataset, "load_dataset", interrupted_load)
    assert main(["inspect", str(path)]) == 130
    assert "interrupted" in capsys.readouterr().err


def _generate_on_a_small_disk(target, stderr):
    """``kinetix generate`` with files limited to 10 kB (``ulimit -f 10``), stderr to a file."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (10 * 1024, 10 * 1024))
    with open(stderr, "w") as sys.stderr:
        code = main(["generate", "robertson", "-n", "20", "--out", str(target), "--force", "--no-progress"])
    os._exit(code)


def test_a_failing_disk_is_one_line_and_keeps_the_old_file(tmp_path):
    target, stderr = tmp_path / "data" / "data.h5", tmp_path / "stderr.txt"
    target.parent.mkdir()
    target.write_bytes(b"the previous dataset")
    process = multiprocessing.get_context("fork").Process(target=_generate_on_a_small_disk, args=(target, stderr))
    process.start()
    process.join(timeout=300)
    message = stderr.read_text()
    assert process.exitcode == 1, message  # before: a segfault after HDF5 tracebacks
    assert message.count("\n") == 1 and "cannot write (File too large)" in message
    assert target.read_bytes() == b"the previous dataset"
    assert [p.name for p in target.parent.iterdir()] == ["data.h5"]


def test_generate_checks_the_output_folder_before_integrating(tmp_path, monkeypatch, capsys):
    def integrate(*args, **kwargs):
        raise AssertionError("integrated before checking the output path")

    monkeypatch.setattr(kinetix.data.generate, "integrate_mechanism", integrate)
    assert main(["generate", "robertson", "--out", str(tmp_path / "missing" / "x.h5"), "--no-progress"]) == 1
    assert f"folder {tmp_path / 'missing'} does not exist" in capsys.readouterr().err


def test_a_huge_declared_dataset_is_refused_before_reading(tmp_path):
    path = write(tmp_path / "d.h5")
    with h5py.File(path, "a") as f:
        del f["y"]
        f.create_dataset("y", shape=(100_000, 50, 2_000), dtype="f8", chunks=(1, 50, 2_000), compression="gzip")
    assert path.stat().st_size < 100_000
    with pytest.raises(DatasetError, match=r"'y' declares shape \(100000, 50, 2000\) \(74.5 GiB\)"):
        kinetix.load_dataset(path)


def test_a_huge_time_grid_is_refused_before_allocating(tmp_path):
    text = (Path(__file__).parent.parent / "mechanisms" / "robertson.yaml").read_text()
    assert "points: 50}" in text
    path = tmp_path / "big.yaml"
    path.write_text(text.replace("points: 50}", "points: 1000000000}"))
    with pytest.raises(MechanismError, match="time.grid.points: expected a positive integer up to 100000"):
        kinetix.load_mechanism(path)


def test_inspect_escapes_terminal_sequences(tmp_path, capsys):
    path = write(tmp_path / "d.h5", species=("A\x1b[2J", "B\x07", "C\u202e"), mechanism="toy\x1b]0;owned\x07")
    assert main(["inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert r"A\x1b[2J" in printed and r"toy\x1b]0;owned\x07" in printed and r"C\u202e" in printed
