"""From a mechanism to a trajectory file: sample initial states, integrate chunk by chunk, assemble.

Rows are integrated in chunks; each finished chunk is written at once (see
:mod:`kinetix.data.chunks`), so memory does not grow with the number of trajectories, a rerun of
an interrupted command continues it, and chunks can be computed in parallel (see
:mod:`kinetix.data.runners`). The data do not depend on the chunk size or the number of workers:
every member is integrated on its own step sequence, and initial states are drawn row after row
from one generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, SolverError
from ..mechanism import Mechanism
from ..simulate import integrate_mechanism
from ..solvers.api import DEFAULT_METHOD
from .assemble import write_rows
from .atomic import atomic_path
from .chunks import ChunkStore, open_store
from .conditions import (
    SEARCH_POINTS_PER_DECADE, Conditions, ConditionsMechanism, Peaks, find_peaks, log_times, peak_resolving_times,
)
from .lazy import TrajectoryFile
from .runners import SerialRunner, Task
from .sampling import Perturbation, default_perturbation
from .writer import write_dataset

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-12
DEFAULT_CHUNK = 256
MEMBER_GROUP = 16  # batches are padded to a multiple of this (see _padded)


def generate_dataset(
    mechanism: Mechanism,
    out: str | Path,
    *,
    trajectories: int = 1,
    seed: int = 0,
    perturbation: Perturbation | None = None,
    method: str | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    chunk: int = DEFAULT_CHUNK,
    force: bool = False,
    progress: bool = True,
    runner=None,
) -> Path:
    """Write ``trajectories`` reference trajectories of ``mechanism`` to ``out`` (HDF5).

    With one trajectory and no ``perturbation`` the mechanism's own initial state is used;
    otherwise initial states are drawn with :func:`kinetix.data.sampling.sample_initial_states`
    from ``numpy.random.default_rng(seed)``, row after row. Members are integrated in chunks of
    ``chunk`` rows on ``runner`` (default: this process; see :mod:`kinetix.data.runners`).
    ``out`` appears only when every chunk succeeded; rerunning the same call continues an
    interrupted or failed run.
    """
    out = Path(out)
    sampled = trajectories > 1 or perturbation is not None
    if sampled:
        perturbation = default_perturbation(mechanism).merged_with(perturbation or Perturbation())
    method = method or DEFAULT_METHOD
    provenance = {
        "solver": {"method": method, "rtol": rtol, "atol": atol},
        "seed": seed if sampled else None,
        "perturbation": perturbation.describe() if sampled else "none",
    }
    rows = trajectories if sampled else 1
    store = open_store(out, rows=rows, chunk_size=chunk, force=force,
                       job={"mechanism_sha256": mechanism.content_hash(), **provenance})
    with store.removed_if_empty_on_error():
        _integrate_all(mechanism, store, runner or SerialRunner(), sampled, seed, perturbation, provenance["solver"],
                       progress)
    return _assemble(mechanism, store, provenance, force)


def _integrate_all(mechanism: Mechanism, store: ChunkStore, runner, sampled: bool, seed: int,
                   perturbation: Perturbation | None, solver: dict, progress: bool) -> None:
    """Write every missing chunk of :func:`generate_dataset`'s ``store``."""
    shared = runner.share(mechanism)
    t = mechanism.default_times()
    done = store.done("states")

    def tasks() -> Iterator[Task]:
        generator = np.random.default_rng(seed)
        for index in range(store.count):
            start, stop = store.bounds(index)
            y0 = (mechanism.sample_initial_states(stop - start, generator, perturbation) if sampled
                  else mechanism.initial_state().unsqueeze(0))  # drawn for every chunk: later rows depend on it
            if index not in done:
                yield Task(index, start, stop, _integrate_chunk,
                           (shared, y0, t, solver, start, store.path("states", index)))

    _run(runner, tasks(), store, "states", f"integrating {mechanism.name}", progress)


def _integrate_chunk(mechanism: Mechanism, y0: torch.Tensor, t: torch.Tensor, solver: dict, start: int,
                     path: Path) -> str | None:
    """Integrate the members ``y0`` ``(k, n)`` (rows ``start`` on) and write their chunk file; the
    failure, naming the row, if one fails."""
    try:
        with torch.no_grad():
            ys = integrate_mechanism(mechanism, _padded(y0), t, **solver).ys[:, :len(y0)]
    except SolverError as error:
        return _row_failure(error, start, len(y0))
    _write(mechanism, path, t.cpu().numpy(), ys.transpose(0, 1).cpu().numpy(), y0.cpu().numpy(),
           {"chunk": [start, start + len(y0)]})
    return None


def _padded(members):
    """``members`` (a tensor ``(k, n)`` or a list of rows) padded with copies of the last one to a
    multiple of :data:`MEMBER_GROUP`: vectorised kernels treat members in groups, and a partial group
    takes another code path whose rounding differs (about 1e-12), while the data must not depend on
    how rows fall into chunks."""
    missing = -len(members) % MEMBER_GROUP
    if isinstance(members, torch.Tensor):
        return torch.cat([members, members[-1:].expand(missing, *members.shape[1:])])
    return list(members) + [members[-1]] * missing


def _row_failure(error: SolverError, start: int, rows: list[dict] | int, where: str = "") -> str:
    """The failure of member ``error.member`` of a chunk of ``rows`` (their conditions, or their number)
    starting at row ``start`` of ``where`` (a conditions file), naming the row; argument errors (no
    member) are raised."""
    if error.member is None:
        raise error
    member = min(error.member, (rows if isinstance(rows, int) else len(rows)) - 1)  # a padding copy
    described = f" {rows[member]}" if isinstance(rows, list) else ""
    return f"{where + ': ' if where else ''}row {start + member}{described}: {error}"


def _run(runner, tasks: Iterator[Task], store: ChunkStore, stage: str, description: str, progress: bool) -> None:
    """Run ``tasks`` with a progress bar over rows; raise naming the failed rows, keeping finished chunks."""
    done = store.done(stage)
    finished = sum(stop - start for start, stop in map(store.bounds, done))
    with tqdm(total=store.rows, initial=finished, desc=description, unit="traj", disable=not progress) as bar:
        failures = runner.run(tasks, bar)
    if failures:
        kept = len(store.done(stage))
        listed = "; ".join(failures[:3]) + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")
        raise SolverError(f"{store.out}: {len(failures)} chunk(s) failed: {listed}. The {kept} finished chunks are "
                          f"kept in {store.folder}: rerun the same command to retry the failed ones, or pass "
                          "--force to start afresh with other settings")


def _assemble(mechanism: Mechanism, store: ChunkStore, provenance: dict, force: bool) -> Path:
    """Copy every chunk into ``store.out`` (atomically; an ``out`` that appeared meanwhile is
    replaced only if ``force``) and remove the chunk folder."""
    provenance = {**provenance, "chunk_size": store.chunk_size,
                  "mechanism_metadata": {key: str(value) for key, value in mechanism.metadata.items()}}
    path = write_rows([(TrajectoryFile(path, chunk=True), None) for path in store.paths("states")], store.out,
                      provenance=provenance, force=force)
    store.remove()
    return path


def _write(mechanism: Mechanism, out: Path, t: np.ndarray, y: np.ndarray, y0: np.ndarray, provenance: dict,
           **options) -> Path:
    """:func:`write_dataset` with everything that describes ``mechanism`` filled in (name, hash,
    units, definition, species, ``t0``, and its metadata under ``provenance``)."""
    provenance = {**provenance, "mechanism_metadata": {key: str(value) for key, value in mechanism.metadata.items()}}
    return write_dataset(
        out, t=t, y=y, y0=y0, t0=mechanism.time_span[0], species=mechanism.state_names, mechanism=mechanism.name,
        mechanism_sha256=mechanism.content_hash(), units=mechanism.units, provenance=provenance,
        mechanism_definition=mechanism.content().decode("utf-8", errors="replace"), **options,
    )


def generate_from_conditions(
    mechanism: Mechanism,
    conditions: Conditions,
    out: str | Path,
    *,
    method: str | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    chunk: int = DEFAULT_CHUNK,
    force: bool = False,
    progress: bool = True,
    runner=None,
) -> Path:
    """Write one trajectory per row of ``conditions`` (see :mod:`kinetix.data.conditions`) to ``out``.

    ``mechanism`` must implement :class:`~kinetix.data.conditions.ConditionsMechanism`. Rows are
    integrated in chunks of ``chunk`` on ``runner``: a first pass finds every member's peak time
    (kept per chunk), which sets the shared output times; a second pass fills them. The dataset's
    conditions hold the per-member values and the peak times. ``out`` appears only when every
    chunk succeeded; rerunning the same call continues an interrupted or failed run.
    """
    out = Path(out)
    where = str(conditions.path or "conditions")
    if not isinstance(mechanism, ConditionsMechanism):
        raise ConfigError(f"{mechanism.name}: cannot build trajectories from a conditions table (it has no "
                          "with_conditions); use a mechanism family that supports it, e.g. cantera:gri30.yaml")
    name, component = mechanism.peak_event
    solver = {"method": method or DEFAULT_METHOD, "rtol": rtol, "atol": atol}
    rows = conditions.rows
    store = open_store(out, rows=len(rows), chunk_size=chunk, force=force,
                       job={"mechanism_sha256": mechanism.content_hash(), "solver": solver,
                            "conditions": conditions.text, "options": conditions.options})
    with store.removed_if_empty_on_error():
        _integrate_conditions(mechanism, conditions, store, runner or SerialRunner(), solver, progress)
    provenance = {
        "solver": solver,
        "conditions": {"file": where, "text": conditions.text, "options": conditions.options, "rows": rows},
        "peak_event": {"name": name, "definition": f"time of the largest d{component}/dt"},
    }
    return _assemble(mechanism, store, provenance, force)


def _integrate_conditions(mechanism, conditions: Conditions, store: ChunkStore, runner, solver: dict,
                          progress: bool) -> None:
    """Write every missing peaks and states chunk of :func:`generate_from_conditions`'s ``store``."""
    where, rows, (name, component) = str(conditions.path or "conditions"), conditions.rows, mechanism.peak_event
    shared = runner.share(mechanism)
    search = log_times(conditions.times.first, conditions.times.search_end, SEARCH_POINTS_PER_DECADE)

    def stage(stage: str, suffix: str, function, *args) -> Iterator[Task]:
        done = store.done(stage, suffix)
        for index in range(store.count):
            start, stop = store.bounds(index)
            if index not in done:
                yield Task(index, start, stop, function,
                           (shared, rows[start:stop], start, where, *args, solver, store.path("peaks", index, ".npz"),
                            store.path(stage, index, suffix)))

    _run(runner, stage("peaks", ".npz", _peaks_chunk, component, search), store, "peaks", f"peaks of {mechanism.name}",
         progress)
    peaks = Peaks(*(np.concatenate(column) for column in zip(*map(_read_peaks, store.paths("peaks", ".npz")))))
    t = peak_resolving_times(peaks, conditions.times, where)
    _run(runner, stage("states", ".h5", _conditions_chunk, name, t), store, "states",
         f"integrating {mechanism.name}", progress)


def _peaks_chunk(mechanism, rows: list[dict], start: int, where: str, component: str, search: torch.Tensor,
                 solver: dict, path: Path, _: Path) -> str | None:
    """Find the peaks of rows ``start, ...`` and write them (``time``, ``low``, ``high`` ``(k,)``) to ``path``."""
    batch = mechanism.with_conditions(_padded(rows))
    try:
        peaks = find_peaks(batch.mechanism, batch.y0, component, search, **solver)
    except SolverError as error:
        return _row_failure(error, start, rows, where)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **{key: value[:len(rows)] for key, value in peaks._asdict().items()})
    return None


def _read_peaks(path: Path) -> Peaks:
    with np.load(path, allow_pickle=False) as saved:
        return Peaks(*(saved[key] for key in Peaks._fields))


def _conditions_chunk(mechanism, rows: list[dict], start: int, where: str, name: str, t: torch.Tensor,
                      solver: dict, peaks: Path, path: Path) -> str | None:
    """Integrate rows ``start, ...`` over ``t`` and write their chunk file to ``path``, with their
    conditions and peak times (from the chunk's ``peaks`` file)."""
    batch = mechanism.with_conditions(_padded(rows))
    try:
        with torch.no_grad():
            ys = integrate_mechanism(batch.mechanism, batch.y0, t, **solver).ys[:, :len(rows)]
    except SolverError as error:
        return _row_failure(error, start, rows, where)
    values = {key: value[:len(rows)].cpu().numpy() for key, value in batch.conditions.items()}
    values[name] = _read_peaks(peaks).time
    _write(mechanism, path, t.numpy(), ys.transpose(0, 1).cpu().numpy(), batch.y0[:len(rows)].cpu().numpy(),
           {"chunk": [start, start + len(rows)]}, conditions=values)
    return None
