"""Reading trajectory datasets: ``kinetix.load_dataset``."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError
from .chunks import refuse_chunk, unfinished_message
from .format import FORMAT_NAME, FORMAT_VERSION, REQUIRED


@dataclass
class TrajectoryDataset(Dataset):
    """Trajectories of one mechanism, in float64 tensors.

    Attributes:
        t: output times ``(T,)``.
        y: states ``(N, T, n)``.
        y0: initial states ``(N, n)`` (at ``metadata["t0"]``, the start of integration).
        species: names of the ``n`` state components.
        metadata: the file's attributes (mechanism, hash, units, provenance, ...).
        conditions: per-trajectory values ``(N,)`` such as initial temperature.

    As a torch ``Dataset``, item ``i`` is ``(y0[i], y[i])``.
    """

    t: torch.Tensor
    y: torch.Tensor
    y0: torch.Tensor
    species: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, index):
        return self.y0[index], self.y[index]

    @property
    def t0(self) -> float:
        """Where integration starts (at or before ``t[0]``)."""
        return float(self.metadata["t0"])

    def content_sha256(self) -> str:
        """SHA-256 of what training sees: species names, ``t0``, ``t``, ``y0`` and ``y`` (as float64)."""
        digest = hashlib.sha256(json.dumps([list(self.species), self.t0]).encode())
        for array in (self.t, self.y0, self.y):
            digest.update(array.to(torch.float64).contiguous().numpy().tobytes())
        return digest.hexdigest()

    def subset(self, indices) -> TrajectoryDataset:
        """The trajectories at ``indices`` (a list or index tensor), sharing the metadata."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return TrajectoryDataset(self.t, self.y[indices], self.y0[indices], self.species, self.metadata,
                                 {key: value[indices] for key, value in self.conditions.items()}, self.path)

    def summary(self) -> str:
        n_traj, n_times, n = self.y.shape
        lines = [
            f"file:        {self.path}",
            f"mechanism:   {self.metadata.get('mechanism', '?')} (sha256 {str(self.metadata.get('mechanism_sha256', ''))[:12]})",
            f"trajectories {n_traj}, times {n_times} in [{float(self.t[0]):.4g}, {float(self.t[-1]):.4g}] "
            f"{self.metadata.get('time_units', '')}, from t0 = {self.t0:.4g}",
            f"state:       {n} components, units {self.metadata.get('state_units', '') or '-'}",
        ]
        width = max(len(name) for name in self.species)
        low, high = self.y.amin(dim=(0, 1)), self.y.amax(dim=(0, 1))
        for i, name in enumerate(self.species):
            lines.append(f"  {name:<{width}}  min {float(low[i]): .4e}  max {float(high[i]): .4e}")
        for key, value in self.conditions.items():
            lines.append(f"condition {key}: [{float(value.min()):.4g}, {float(value.max()):.4g}]")
        provenance = self.metadata.get("provenance", {})
        solver = provenance.get("solver", {})
        if solver:
            lines.append(f"solver:      {solver.get('method')} rtol {solver.get('rtol')} atol {solver.get('atol')}")
        lines.append(f"created:     {self.metadata.get('created', '?')}, seed {provenance.get('seed')}")
        return "\n".join(lines)


_H5_ERRORS = (OSError, RuntimeError, ValueError, TypeError, KeyError, UnicodeDecodeError)
MAX_COMPRESSION = 2000  # gzip compresses at most about 1000:1; a larger ratio of declared to stored bytes is not data


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 1 << 62


def _read(f: h5py.File, name: str, path: Path) -> np.ndarray:
    """Dataset ``name``, after checking that its declared size is plausible and fits in memory."""
    item = f.get(name)
    if not isinstance(item, h5py.Dataset):
        raise DatasetError(f"{path}: missing dataset '{name}'; regenerate the file with kinetix generate")
    declared = item.size * item.dtype.itemsize
    stored = item.id.get_storage_size()
    if declared > MAX_COMPRESSION * stored + (1 << 20):
        raise DatasetError(f"{path}: '{name}' declares shape {item.shape} ({declared / 2**30:.3g} GiB) but stores "
                           f"only {stored} bytes; the file is damaged or not kinetix data")
    if declared > _memory_bytes() // 2:
        raise DatasetError(f"{path}: '{name}' holds {declared / 2**30:.3g} GiB, more than half of this machine's "
                           "memory; split the dataset into smaller files")
    return item[()]


def _floats(name: str, array: np.ndarray, path: Path, ndim: int) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu" or array.ndim != ndim:
        raise DatasetError(f"{path}: '{name}' must be a {ndim}-D numeric array, got "
                           f"{getattr(array, 'dtype', type(array))} with shape {getattr(array, 'shape', None)}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise DatasetError(f"{path}: '{name}' holds NaN or infinite values (first at index {np.argwhere(bad)[0].tolist()})")
    return array


def _attribute(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    if isinstance(value, np.generic):
        return value.item()
    return value


def checked_attributes(f: h5py.File, path: Path) -> dict:
    """The file's attributes, after checking its format name and version; ``provenance`` parsed from JSON."""
    attrs = {key: _attribute(value) for key, value in f.attrs.items()}
    if attrs.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: not a kinetix trajectory file (attribute 'format' is "
                           f"{attrs.get('format')!r}, expected {FORMAT_NAME!r}); create one with kinetix generate")
    version = attrs.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {version!r} is not supported (this kinetix reads 1 to "
                           f"{FORMAT_VERSION}); upgrade kinetix")
    try:
        attrs["provenance"] = json.loads(attrs.get("provenance", "{}"))
    except (TypeError, json.JSONDecodeError):
        raise DatasetError(f"{path}: attribute 'provenance' is not valid JSON; the file is damaged") from None
    if not isinstance(attrs["provenance"], dict):
        raise DatasetError(f"{path}: attribute 'provenance' must be a JSON object")
    return attrs


def _read_file(path: Path) -> tuple[dict, dict, dict]:
    """Attributes, required arrays and conditions of the file, checked for format and version."""
    with h5py.File(path, "r") as f:
        attrs = checked_attributes(f, path)
        raw = {name: _read(f, name, path) for name in REQUIRED}
        group = f.get("conditions")
        conditions = {}
        if isinstance(group, h5py.Group):
            conditions = {key: _read(f, f"conditions/{key}", path) for key in group}
    return attrs, raw, conditions


def load_dataset(path: str | Path) -> TrajectoryDataset:
    """Read and validate a trajectory file. Raises :class:`kinetix.DatasetError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(unfinished_message(path) or f"{path}: no such file")
    try:
        attrs, raw, conditions = _read_file(path)
    except _H5_ERRORS as error:
        raise DatasetError(f"{path}: not a readable HDF5 file ({type(error).__name__}: {error}); "
                           "it may be truncated, damaged or of another format") from None
    t = _floats("t", raw["t"], path, 1)
    y = _floats("y", raw["y"], path, 3)
    y0 = _floats("y0", raw["y0"], path, 2)
    species_raw = raw["species"]
    if not isinstance(species_raw, np.ndarray) or species_raw.ndim != 1:
        raise DatasetError(f"{path}: 'species' must be a 1-D array of names")
    species = tuple(_attribute(name) if isinstance(name, (bytes, np.generic)) else name for name in species_raw)
    if not all(isinstance(name, str) and name for name in species) or len(set(species)) != len(species):
        raise DatasetError(f"{path}: 'species' must be distinct non-empty names, got {list(species)!r}")
    n_traj, n_times, n = y.shape
    if t.shape != (n_times,) or y0.shape != (n_traj, n) or len(species) != n:
        raise DatasetError(f"{path}: inconsistent shapes: t {t.shape}, y {y.shape}, y0 {y0.shape}, {len(species)} species")
    if n_times > 1 and not np.all(np.diff(t) > 0):
        raise DatasetError(f"{path}: 't' must be strictly increasing")
    tensor_conditions = {}
    for key, value in conditions.items():
        value = _floats(f"conditions/{key}", value, path, 1)
        if value.shape != (n_traj,):
            raise DatasetError(f"{path}: 'conditions/{key}' has shape {value.shape}, expected ({n_traj},)")
        tensor_conditions[key] = torch.from_numpy(value)
    refuse_chunk(path, attrs["provenance"])
    t0 = attrs.get("t0")
    if not isinstance(t0, (int, float)) or not np.isfinite(t0) or t0 > t[0]:
        raise DatasetError(f"{path}: attribute 't0' must be a finite time not after t[0] = {t[0]:g}, got {t0!r}")
    return TrajectoryDataset(torch.from_numpy(t), torch.from_numpy(y), torch.from_numpy(y0), species, attrs,
                             tensor_conditions, path)
