"""Dataset pipeline steps: merge, split, subset, info and export (``kinetix data ...``).

Every step streams rows a block at a time (memory does not grow with the file), writes its
outputs atomically, refuses to replace files without ``force``, and records in the output's
provenance what it did and from what.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from .assemble import write_rows
from .atomic import atomic_path, refuse_existing
from .lazy import TrajectoryFile

EXPORT_FORMATS = (".csv", ".parquet")


def _origin(source: TrajectoryFile) -> dict[str, Any]:
    """What a derived file records about one of its sources."""
    metadata = source.metadata
    return {"path": str(source.path), "rows": len(source), "mechanism": metadata.get("mechanism"),
            "mechanism_sha256": metadata.get("mechanism_sha256"), "created": metadata.get("created"),
            "provenance": metadata["provenance"]}


def merge_datasets(sources: Sequence[str | Path], out: str | Path, *, allow_different_mechanisms: bool = False,
                   force: bool = False) -> Path:
    """Concatenate the rows of ``sources`` (in order) into ``out``. They must share species, output
    times and condition names; different mechanisms (by SHA-256) are refused unless
    ``allow_different_mechanisms``."""
    if len(sources) < 2:
        raise ConfigError("merge needs at least two datasets")
    files = [TrajectoryFile(path) for path in sources]
    provenance = {"operation": "merge", "sources": [_origin(source) for source in files]}
    return write_rows([(source, None) for source in files], out, provenance=provenance, force=force,
                      allow_mechanisms=allow_different_mechanisms)


def split_rows(rows: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Rows ``0..rows-1`` shuffled by ``numpy.random.default_rng(seed)`` and cut at the cumulative
    ``fractions`` (rounded), each part sorted."""
    order = np.random.default_rng(seed).permutation(rows)
    cuts = np.rint(np.cumsum([0.0, *fractions]) * rows).astype(int)
    return [np.sort(order[low:high]) for low, high in zip(cuts[:-1], cuts[1:])]


def split_dataset(source: str | Path, fractions: Mapping[str, float], *, seed: int = 0,
                  out_dir: str | Path | None = None, force: bool = False) -> dict[str, Path]:
    """Split ``source`` into parts named by ``fractions`` (``{"train": 0.8, "test": 0.2}``, summing to
    1), rows drawn at random by ``seed``: the same seed gives the same parts. Each part is written
    to ``<out_dir>/<stem>-<name>.h5`` (default: beside ``source``); either all parts are written or none."""
    data = TrajectoryFile(source)
    if not fractions or any(not (isinstance(f, (int, float)) and 0 < f <= 1) for f in fractions.values()):
        raise ConfigError(f"split fractions must be numbers in (0, 1], got {dict(fractions)}")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-9):
        raise ConfigError(f"split fractions must add up to 1, got {sum(fractions.values()):g} ({dict(fractions)})")
    folder = Path(out_dir) if out_dir is not None else data.path.parent
    outputs = {name: folder / f"{data.path.stem}-{name}.h5" for name in fractions}
    for path in outputs.values():
        refuse_existing(path, force)
    parts = split_rows(len(data), list(fractions.values()), seed)
    empty = [name for name, rows in zip(fractions, parts) if len(rows) == 0]
    if empty:
        raise ConfigError(f"{data.path}: split part(s) {', '.join(empty)} would hold no rows of {len(data)}; "
                          "raise their fractions")
    written: list[Path] = []
    try:
        for (name, path), rows in zip(outputs.items(), parts):
            provenance = {"operation": "split", "part": name, "fractions": dict(fractions), "seed": seed,
                          "source": _origin(data)}
            written.append(write_rows([(data, rows)], path, provenance=provenance, force=force))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return outputs


def parse_ranges(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """CLI ``--where NAME=LOW:HIGH`` items as ``{name: (low, high)}``."""
    ranges = {}
    for item in items:
        name, _, bounds = item.partition("=")
        low, sep, high = bounds.partition(":")
        try:
            ranges[name.strip()] = (float(low) if low.strip() else -math.inf, float(high) if high.strip() else math.inf)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--where {item!r}: expected NAME=LOW:HIGH (either bound may be empty), "
                              "e.g. temperature=1000:1200")
    return ranges


def subset_dataset(source: str | Path, out: str | Path, ranges: Mapping[str, tuple[float, float]], *,
                   force: bool = False) -> Path:
    """Write the rows of ``source`` whose conditions lie in ``ranges`` (``{name: (low, high)}``,
    bounds included) to ``out``."""
    data = TrajectoryFile(source)
    unknown = sorted(set(ranges) - set(data.conditions))
    if unknown:
        raise ConfigError(f"{data.path}: no condition(s) {', '.join(unknown)}; it has "
                          f"{', '.join(sorted(data.conditions)) or 'none'}")
    keep = np.ones(len(data), dtype=bool)
    for name, (low, high) in ranges.items():
        if not low <= high:
            raise ConfigError(f"range of {name}: low {low:g} is above high {high:g}")
        keep &= (data.conditions[name] >= low) & (data.conditions[name] <= high)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise DatasetError(f"{data.path}: no row has {_describe(ranges)}; nothing written")
    provenance = {"operation": "subset", "ranges": {name: list(bounds) for name, bounds in ranges.items()},
                  "source": _origin(data)}
    return write_rows([(data, rows)], out, provenance=provenance, force=force)


def _describe(ranges: Mapping[str, tuple[float, float]]) -> str:
    return " and ".join(f"{name} in [{low:g}, {high:g}]" for name, (low, high) in ranges.items())


def dataset_info(source: str | Path) -> dict[str, Any]:
    """A summary of ``source`` read without loading its states: shape, mechanism, times, per-species
    and per-condition ranges, and provenance."""
    data = TrajectoryFile(source)
    low = np.full(len(data.species), np.inf)
    high = -low
    for _, y0, y in data.blocks():
        low = np.minimum(low, np.minimum(y.min(axis=(0, 1)), y0.min(axis=0)))
        high = np.maximum(high, np.maximum(y.max(axis=(0, 1)), y0.max(axis=0)))
    data.close()
    metadata = data.metadata
    return {
        "file": str(data.path), "complete": True, "format_version": metadata.get("format_version"),
        "mechanism": metadata.get("mechanism"), "mechanism_sha256": metadata.get("mechanism_sha256"),
        "trajectories": len(data), "times": len(data.t), "t0": data.t0, "t": [float(data.t[0]), float(data.t[-1])],
        "units": {"time": metadata.get("time_units", ""), "state": metadata.get("state_units", "")},
        "species": {name: [float(a), float(b)] for name, a, b in zip(data.species, low, high)},
        "conditions": {key: [float(value.min()), float(value.max())] for key, value in data.conditions.items()},
        "created": metadata.get("created"), "provenance": metadata["provenance"],
    }


def export_dataset(source: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Write ``source`` as one long table to ``out`` (``.csv`` or ``.parquet``, by suffix): a row per
    trajectory and time, columns ``trajectory``, ``time``, the species, then the conditions.
    Provenance goes into the Parquet schema's ``kinetix`` metadata, or beside a CSV file as
    ``<out>.json``."""
    out = Path(out)
    if out.suffix not in EXPORT_FORMATS:
        raise ConfigError(f"{out}: export writes {' or '.join(EXPORT_FORMATS)} files (chosen by the suffix)")
    data = TrajectoryFile(source)
    header = {"source": _origin(data), "species": list(data.species), "time_units": data.metadata.get("time_units"),
              "state_units": data.metadata.get("state_units")}
    columns = ["trajectory", "time", *data.species, *data.conditions]
    if out.suffix == ".parquet":
        _export_parquet(data, out, columns, header, force)
    else:
        sidecar = out.with_name(out.name + ".json")
        refuse_existing(out, force)
        with atomic_path(sidecar, force=force) as temporary:
            temporary.write_text(json.dumps(header, indent=1), encoding="utf-8")
        try:
            with atomic_path(out, force=force) as temporary, open(temporary, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                for block in _table_blocks(data):
                    writer.writerows(zip(*(column.tolist() for column in block)))
        except BaseException:
            sidecar.unlink(missing_ok=True)
            raise
    data.close()
    return out


def _table_blocks(data: TrajectoryFile):
    """The long table a block of trajectories at a time: one array per column."""
    n_times = len(data.t)
    for rows, _, y in data.blocks():
        flat = y.reshape(-1, y.shape[-1])
        yield [np.repeat(rows, n_times), np.tile(data.t, len(rows)), *flat.T,
               *(np.repeat(value[rows], n_times) for value in data.conditions.values())]


def _export_parquet(data: TrajectoryFile, out: Path, columns: list[str], header: dict, force: bool) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(f"{out}: export to Parquet needs pyarrow (pip install pyarrow); or export to .csv") from None
    fields = [pa.field("trajectory", pa.int64())] + [pa.field(name, pa.float64()) for name in columns[1:]]
    schema = pa.schema(fields, metadata={"kinetix": json.dumps(header)})
    with atomic_path(out, force=force) as temporary, pq.ParquetWriter(temporary, schema) as writer:
        for block in _table_blocks(data):
            writer.write_table(pa.Table.from_arrays([pa.array(column) for column in block], schema=schema))
