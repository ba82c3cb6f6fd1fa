"""Where chunks are computed: in this process, or on a dask.distributed cluster.

A runner takes :class:`Task` s (a module-level function and its arguments; the function writes its
chunk's file and returns ``None``, or a one-line failure naming the row) and returns the failures.
Finished chunks are on disk whatever happens to the others.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterable, NamedTuple

from tqdm.auto import tqdm

from ..errors import ConfigError, KinetixError


class Task(NamedTuple):
    """Chunk ``index`` covering rows ``[start, stop)``: ``function(*args)`` writes it."""

    index: int
    start: int
    stop: int
    function: Callable[..., str | None]
    args: tuple


class SerialRunner:
    """Runs every task here, one after the other."""

    def share(self, value: Any) -> Any:
        """``value`` as tasks should receive it (here: itself)."""
        return value

    def run(self, tasks: Iterable[Task], bar: tqdm) -> list[str]:
        failures = []
        for task in tasks:
            failure = task.function(*task.args)
            if failure:
                failures.append(failure)
            bar.update(task.stop - task.start)
        return failures

    def close(self) -> None:
        pass


class DaskRunner:
    """Runs tasks on a dask.distributed cluster: a local one with ``workers`` processes (one thread
    each), or the existing one at ``scheduler`` (``tcp://host:8786``). A task that raises (a worker
    died, ran out of memory, ...) is retried ``retries`` times, then reported by its rows. At most
    ``2 x workers`` tasks are queued at once, so memory does not grow with the number of chunks.
    Workers write chunk files themselves: on a multi-machine cluster the output folder must be
    shared (the same path on every machine)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, retries: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("parallel generation needs dask.distributed: pip install 'dask[distributed]'") from None
        if (workers is None) == (scheduler is None):
            raise ConfigError("give either the number of local workers or a scheduler address, not both")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.retries = retries
        self.cluster = None
        if scheduler is None:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as error:
                raise KinetixError(f"--scheduler {scheduler}: cannot connect ({error}); start one with "
                                   "dask scheduler and dask worker, or use --workers N") from None

    def share(self, value: Any) -> Any:
        """``value`` sent once to every worker; tasks receive it in place of the returned handle."""
        return self.client.scatter(value, broadcast=True)

    def run(self, tasks: Iterable[Task], bar: tqdm) -> list[str]:
        from distributed import as_completed

        workers = max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        pending = iter(tasks)
        failures = []
        running = as_completed()
        submitted = {}

        def submit_next() -> bool:
            task = next(pending, None)
            if task is None:
                return False
            future = self.client.submit(task.function, *task.args, retries=self.retries, pure=False,
                                        key=f"kinetix-chunk-{task.index}-{id(self)}")
            submitted[future.key] = task
            running.add(future)
            return True

        for _ in range(2 * workers):
            if not submit_next():
                break
        for future in running:
            task = submitted.pop(future.key)
            if future.status == "error":
                error = future.exception()
                failures.append(f"rows {task.start}-{task.stop - 1}: failed {self.retries + 1} times "
                                f"({type(error).__name__}: {error})")
            elif future.result():
                failures.append(future.result())
            future.release()
            bar.update(task.stop - task.start)
            submit_next()
        return failures

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        self.client.close()


@contextlib.contextmanager
def make_runner(workers: int | None = None, scheduler: str | None = None):
    """A :class:`SerialRunner`, or a :class:`DaskRunner` when ``workers`` or ``scheduler`` is given."""
    runner = SerialRunner() if workers is None and scheduler is None else DaskRunner(workers, scheduler)
    try:
        yield runner
    finally:
        runner.close()
