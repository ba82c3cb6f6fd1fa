"""Writing a dataset from rows of other trajectory files, a block at a time (bounded memory).

Chunk assembly, ``merge``, ``split`` and ``subset`` all come down to :func:`write_rows`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from ..errors import DatasetError
from .atomic import atomic_path
from .lazy import TrajectoryFile
from .writer import _CHUNK_BYTES, _fixed_text, package_versions

_REPLACED = ("provenance", "created")


def _check_compatible(sources: Sequence[TrajectoryFile], allow_mechanisms: bool) -> None:
    first = sources[0]
    for other in sources[1:]:
        where = f"{other.path} and {first.path}"
        if other.species != first.species:
            raise DatasetError(f"{where}: different state components ({', '.join(other.species)} vs "
                               f"{', '.join(first.species)}); only datasets of one mechanism combine")
        if other.t.shape != first.t.shape or not np.array_equal(other.t, first.t) or other.t0 != first.t0:
            raise DatasetError(f"{where}: different output times; only datasets on the same times combine")
        if sorted(other.conditions) != sorted(first.conditions):
            raise DatasetError(f"{where}: different conditions ({', '.join(sorted(other.conditions)) or 'none'} vs "
                               f"{', '.join(sorted(first.conditions)) or 'none'})")
        ours, theirs = first.metadata.get("mechanism_sha256"), other.metadata.get("mechanism_sha256")
        if ours != theirs and not allow_mechanisms:
            raise DatasetError(f"{where}: different mechanisms (sha256 {str(theirs)[:12]} vs {str(ours)[:12]}); "
                               "pass --allow-different-mechanisms (allow_different_mechanisms=True) to combine them")


def write_rows(parts: Sequence[tuple[TrajectoryFile, np.ndarray | None]], out: str | Path, *,
               provenance: Mapping[str, Any], force: bool = False, allow_mechanisms: bool = False) -> Path:
    """Write the rows ``indices`` (increasing; ``None``: all) of each source, in order, to ``out``.

    The sources must share species, times and condition names (and the mechanism, unless
    ``allow_mechanisms``); ``out`` takes the first source's attributes with ``provenance`` (plus
    package versions and the command). Written atomically; memory stays at a block of rows.
    """
    out = Path(out)
    if not parts:
        raise DatasetError(f"{out}: nothing to write (no source rows)")
    sources = [source for source, _ in parts]
    _check_compatible(sources, allow_mechanisms)
    selections = [np.arange(len(source)) if rows is None else np.asarray(rows, dtype=np.int64)
                  for source, rows in parts]
    total = sum(len(rows) for rows in selections)
    if total == 0:
        raise DatasetError(f"{out}: no rows selected; nothing written")
    first = sources[0]
    _, n_times, n = first.shape
    with atomic_path(out, force=force) as temporary, h5py.File(temporary, "w", libver=("v110", "latest")) as f:
        with h5py.File(first.path, "r") as source:
            for key, value in source.attrs.items():
                if key not in _REPLACED:
                    f.attrs[key] = value
            for name in ("t", "species"):
                source.copy(source[name], f, name=name)
        f.attrs["created"] = _fixed_text(datetime.now(timezone.utc).isoformat(timespec="seconds"))
        record = {**provenance, "versions": package_versions(), "command": " ".join(sys.argv)}
        f.attrs["provenance"] = _fixed_text(json.dumps(record, sort_keys=True))
        rows = int(np.clip(_CHUNK_BYTES // (n_times * n * 8), 1, total))
        y = f.create_dataset("y", shape=(total, n_times, n), dtype=np.float64, chunks=(rows, n_times, n),
                             compression="gzip", compression_opts=4, shuffle=True, fletcher32=True)
        y0 = f.create_dataset("y0", shape=(total, n), dtype=np.float64, fletcher32=True,
                              chunks=(int(np.clip(_CHUNK_BYTES // (n * 8), 1, total)), n))
        conditions = f.create_group("conditions")
        for key in first.conditions:
            value = np.concatenate([source.conditions[key][rows] for source, rows in zip(sources, selections)])
            conditions.create_dataset(key, data=value, fletcher32=True, chunks=(min(total, _CHUNK_BYTES // 8),))
        at = 0
        for source, selection in zip(sources, selections):
            for block, block_y0, block_y in source.blocks(selection):
                y[at: at + len(block)] = block_y
                y0[at: at + len(block)] = block_y0
                at += len(block)
            source.close()
    return out
