"""Writing trajectory datasets to HDF5, atomically."""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from ..errors import DatasetError
from .atomic import atomic_path, check_target
from .format import FORMAT_NAME, FORMAT_VERSION

_CHUNK_BYTES = 1 << 16  # about 64 KiB of states per compressed chunk


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers in a dataset."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("kinetix", "torch", "numpy", "scipy", "h5py", "cantera"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _fixed_text(text: str) -> np.bytes_:
    """UTF-8 text as a fixed-length HDF5 string, stored inside its checksummed header (variable-length
    strings live in HDF5's global heap, which has no checksum)."""
    return np.bytes_(text.encode("utf-8") or b" ")


def _check_finite(name: str, array: np.ndarray, path: Path) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise DatasetError(f"{path}: refusing to write {name}: NaN or infinite value at index {where}")


def write_dataset(
    path: str | Path,
    *,
    t: np.ndarray,
    y: np.ndarray,
    y0: np.ndarray,
    t0: float,
    species: tuple[str, ...] | list[str],
    mechanism: str,
    mechanism_sha256: str,
    units: Mapping[str, str],
    provenance: Mapping[str, Any],
    mechanism_definition: str = "",
    conditions: Mapping[str, np.ndarray] | None = None,
    force: bool = False,
) -> Path:
    """Write one dataset file: ``t`` ``(T,)``, ``y`` ``(N, T, n)``, ``y0`` ``(N, n)`` at time ``t0``.

    ``conditions`` holds optional per-trajectory values ``(N,)`` (initial temperature, ignition
    delay, ...). Refuses non-finite data and an existing file (unless ``force``); the file appears
    only when complete. The file is built in memory (its compressed size, at most about that of
    ``y``) and written by Python, so a failing disk (full, file too large) is a one-line
    :class:`kinetix.KinetixError` that leaves any previous file intact.
    """
    path = Path(path)
    check_target(path, force)
    t, y, y0 = (np.asarray(a, dtype=np.float64) for a in (t, y, y0))
    n_traj, n_times, n = y.shape if y.ndim == 3 else (None, None, None)
    if y.ndim != 3 or t.shape != (n_times,) or y0.shape != (n_traj, n) or len(species) != n:
        raise DatasetError(
            f"{path}: inconsistent shapes t {t.shape}, y {y.shape}, y0 {y0.shape}, {len(species)} species; "
            "expected t (T,), y (N, T, n), y0 (N, n)"
        )
    if not (np.isfinite(t0) and t0 <= t[0]):
        raise DatasetError(f"{path}: t0 = {t0} must be finite and not after the first output time {t[0]}")
    for name, array in (("t", t), ("y", y), ("y0", y0)):
        _check_finite(name, array, path)
    conditions = {key: np.asarray(value, dtype=np.float64) for key, value in (conditions or {}).items()}
    for key, value in conditions.items():
        if value.shape != (n_traj,):
            raise DatasetError(f"{path}: condition {key!r} has shape {value.shape}, expected ({n_traj},)")
        _check_finite(f"conditions/{key}", value, path)

    # checksummed metadata (libver v110) and data (fletcher32): damage is detected, not misread
    with h5py.File(path.name, "w", driver="core", backing_store=False, libver=("v110", "latest")) as f:
        texts = {
            "format": FORMAT_NAME,
            "mechanism": mechanism,
            "mechanism_sha256": mechanism_sha256,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "time_units": units.get("time", ""),
            "state_units": units.get("state", ""),
            "provenance": json.dumps({**provenance, "versions": package_versions(), "command": " ".join(sys.argv)},
                                     sort_keys=True),
            "mechanism_definition": mechanism_definition,
        }
        for key, text in texts.items():
            f.attrs[key] = _fixed_text(text)
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["t0"] = float(t0)
        f.create_dataset("t", data=t, fletcher32=True, chunks=t.shape)
        rows = int(np.clip(_CHUNK_BYTES // (n_times * n * 8), 1, max(n_traj, 1)))
        chunk = (rows, n_times, n)
        f.create_dataset("y", data=y, chunks=chunk, compression="gzip", compression_opts=4, shuffle=True,
                         fletcher32=True)
        f.create_dataset("y0", data=y0, fletcher32=True, chunks=y0.shape)
        names = [name.encode("utf-8") for name in species]
        f.create_dataset("species", data=np.array(names, dtype=h5py.string_dtype("utf-8", max(map(len, names)))),
                         fletcher32=True, chunks=(len(names),))
        group = f.create_group("conditions")
        for key, value in conditions.items():
            group.create_dataset(key, data=value, fletcher32=True, chunks=value.shape)
        f.flush()
        image = f.id.get_file_image()
    with atomic_path(path, force=force) as temporary:
        temporary.write_bytes(image)
    return path
