"""From a mechanism to a trajectory file: sample initial states, integrate, write."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, SolverError
from ..mechanism import Mechanism
from ..simulate import integrate_mechanism
from ..solvers.api import DEFAULT_METHOD
from .atomic import check_target
from .conditions import (
    SEARCH_POINTS_PER_DECADE, Conditions, ConditionsMechanism, Peaks, find_peaks, log_times, peak_resolving_times,
)
from .sampling import Perturbation, default_perturbation
from .writer import write_dataset

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-12


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
    chunk: int = 256,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``trajectories`` reference trajectories of ``mechanism`` to ``out`` (HDF5).

    With one trajectory and no ``perturbation`` the mechanism's own initial state is used;
    otherwise initial states are drawn with :func:`kinetix.data.sampling.sample_initial_states`
    from ``numpy.random.default_rng(seed)``. Integration runs in batches of ``chunk`` members.
    Nothing is written if any integration fails.
    """
    out = Path(out)
    check_target(out, force)
    sampled = trajectories > 1 or perturbation is not None
    if sampled:
        perturbation = default_perturbation(mechanism).merged_with(perturbation or Perturbation())
        y0 = mechanism.sample_initial_states(trajectories, np.random.default_rng(seed), perturbation)
    else:
        y0 = mechanism.initial_state().unsqueeze(0)
    t = mechanism.default_times()
    method = method or DEFAULT_METHOD
    parts = []
    with tqdm(total=len(y0), desc=f"integrating {mechanism.name}", unit="traj", disable=not progress) as bar:
        for start in range(0, len(y0), chunk):
            batch = y0[start: start + chunk]
            with torch.no_grad():
                solution = integrate_mechanism(mechanism, batch, t, method=method, rtol=rtol, atol=atol)
            parts.append(solution.ys.transpose(0, 1).cpu().numpy())
            bar.update(len(batch))
    y = np.concatenate(parts, axis=0)
    provenance = {
        "solver": {"method": method, "rtol": rtol, "atol": atol},
        "seed": seed if sampled else None,
        "perturbation": perturbation.describe() if sampled else "none",
    }
    return _write(mechanism, out, t.cpu().numpy(), y, y0.cpu().numpy(), provenance, force=force)


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


@contextlib.contextmanager
def _naming_rows(where: str, rows: list[dict], start: int):
    """Re-raise a :class:`SolverError` of the batch starting at row ``start`` naming the row that failed."""
    try:
        yield
    except SolverError as error:
        if error.member is None:
            raise
        row = start + error.member
        raise SolverError(f"{where}: row {row} {rows[row]}: {error}", member=row, t=error.t) from None


def generate_from_conditions(
    mechanism: Mechanism,
    conditions: Conditions,
    out: str | Path,
    *,
    method: str | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    chunk: int = 256,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write one trajectory per row of ``conditions`` (see :mod:`kinetix.data.conditions`) to ``out``.

    ``mechanism`` must implement :class:`~kinetix.data.conditions.ConditionsMechanism`. Members are
    integrated in batches of ``chunk``: a coarse pass and refinement windows find every peak
    time, which sets the shared output times; a last pass fills them. The dataset's conditions
    hold the batch's per-member values and the peak times. Nothing is written if any integration fails.
    """
    out = Path(out)
    check_target(out, force)
    where = str(conditions.path or "conditions")
    if not isinstance(mechanism, ConditionsMechanism):
        raise ConfigError(f"{mechanism.name}: cannot build trajectories from a conditions table (it has no "
                          "with_conditions); use a mechanism family that supports it, e.g. cantera:gri30.yaml")
    name, component = mechanism.peak_event
    method = method or DEFAULT_METHOD
    solver = {"method": method, "rtol": rtol, "atol": atol}
    rows = conditions.rows
    times = conditions.times
    search = log_times(times.first, times.search_end, SEARCH_POINTS_PER_DECADE)
    with tqdm(total=2 * len(rows), desc=f"integrating {mechanism.name}", unit="traj", disable=not progress) as bar:
        starts = range(0, len(rows), chunk)
        batches = [mechanism.with_conditions(rows[start: start + chunk]) for start in starts]
        peaks = []
        for start, batch in zip(starts, batches):
            with _naming_rows(where, rows, start):
                peaks.append(find_peaks(batch.mechanism, batch.y0, component, search, **solver))
            bar.update(len(batch.y0))
        peaks = Peaks(*(np.concatenate(column) for column in zip(*peaks)))
        t = peak_resolving_times(peaks, times, where)
        parts = []
        for start, batch in zip(starts, batches):
            with torch.no_grad(), _naming_rows(where, rows, start):
                solution = integrate_mechanism(batch.mechanism, batch.y0, t, **solver)
            parts.append(solution.ys.transpose(0, 1).cpu().numpy())
            bar.update(len(batch.y0))
    values = {key: np.concatenate([batch.conditions[key].cpu().numpy() for batch in batches])
              for key in batches[0].conditions}
    values[name] = peaks.time
    provenance = {
        "solver": solver,
        "conditions": {"file": where, "text": conditions.text, "options": conditions.options, "rows": rows},
        "peak_event": {"name": name, "definition": f"time of the largest d{component}/dt"},
    }
    return _write(mechanism, out, t.numpy(), np.concatenate(parts), torch.cat([b.y0 for b in batches]).cpu().numpy(),
                  provenance, conditions=values, force=force)
