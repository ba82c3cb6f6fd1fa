"""Generation on a dask.distributed cluster: same data as in one process, retries, failures by row."""

import io

import pytest
import torch
from tqdm import tqdm

import kinetix
from kinetix.data import generate
from kinetix.data.runners import DaskRunner, Task
from kinetix.errors import ConfigError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        yield local


def _make(out, **options):
    return generate.generate_dataset(kinetix.load_mechanism("robertson"), out, trajectories=20, seed=1, chunk=4,
                                     rtol=1e-5, atol=1e-9, progress=False, **options)


def test_same_data_on_a_cluster_as_in_one_process(tmp_path, cluster):
    runner = DaskRunner(scheduler=cluster.scheduler_address)
    try:
        parallel = kinetix.load_dataset(_make(tmp_path / "dask.h5", runner=runner))
    finally:
        runner.close()
    serial = kinetix.load_dataset(_make(tmp_path / "serial.h5"))
    assert torch.equal(parallel.y, serial.y) and torch.equal(parallel.y0, serial.y0)
    assert parallel.metadata["provenance"]["seed"] == 1 and "chunk" not in parallel.metadata["provenance"]


_attempts = {}


def _flaky(path, fail_times):
    """Raises the first ``fail_times`` calls (a worker that died), then writes ``path``."""
    _attempts[path] = _attempts.get(path, 0) + 1
    if _attempts[path] <= fail_times:
        raise MemoryError("worker ran out of memory")
    path.write_text("done")
    return None


def test_a_failing_chunk_is_retried_then_reported_by_rows_and_others_are_kept(tmp_path, cluster):
    runner = DaskRunner(scheduler=cluster.scheduler_address, retries=2)
    tasks = [Task(0, 0, 5, _flaky, (tmp_path / "a", 2)),     # succeeds on the third attempt
             Task(1, 5, 9, _flaky, (tmp_path / "b", 10)),    # never succeeds
             Task(2, 9, 12, _flaky, (tmp_path / "c", 0))]
    bar = tqdm(total=12, file=io.StringIO())
    try:
        failures = runner.run(iter(tasks), bar)
    finally:
        runner.close()
    assert failures == ["rows 5-8: failed 3 times (MemoryError: worker ran out of memory)"]
    assert (tmp_path / "a").read_text() == "done" and (tmp_path / "c").read_text() == "done"
    assert not (tmp_path / "b").exists() and _attempts[tmp_path / "b"] == 3 and bar.n == 12


def test_runner_needs_one_of_workers_or_scheduler():
    with pytest.raises(ConfigError, match="either"):
        DaskRunner(workers=2, scheduler="tcp://localhost:1")
    with pytest.raises(ConfigError, match="either"):
        DaskRunner()


@pytest.mark.slow
def test_cli_with_two_local_workers_equals_one_process(tmp_path):
    from kinetix.cli import main

    common = ["generate", "robertson", "-n", "12", "--seed", "3", "--chunk-size", "4", "--rtol", "1e-5",
              "--atol", "1e-9", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "p.h5"), "--workers", "2"]) == 0
    assert main([*common, "--out", str(tmp_path / "s.h5")]) == 0
    assert torch.equal(kinetix.load_dataset(tmp_path / "p.h5").y, kinetix.load_dataset(tmp_path / "s.h5").y)
