"""Trajectory files read a few rows at a time: the header is validated when the file is opened,
the rows when they are read. Memory then depends on the rows asked for, not on the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from ..errors import DatasetError
from .chunks import refuse_chunk, unfinished_message
from .dataset import _H5_ERRORS, _attribute, _floats, checked_attributes
from .format import REQUIRED

BLOCK_BYTES = 8 << 20  # states read at once when streaming a whole file


class TrajectoryFile:
    """A trajectory file opened for reading rows on demand (safe to pickle into worker processes:
    each process opens the file itself).

    Attributes: ``t`` ``(T,)``, ``species``, ``t0``, ``metadata`` (attributes, provenance parsed),
    ``conditions`` (per-row values ``(N,)``, read at open), ``shape`` ``(N, T, n)`` of ``y``.
    A chunk of an unfinished dataset is refused unless ``chunk`` (for assembling them).
    """

    def __init__(self, path: str | Path, *, chunk: bool = False):
        self.path = Path(path)
        self._chunk = chunk
        if not self.path.is_file():
            raise DatasetError(unfinished_message(self.path) or f"{self.path}: no such file")
        try:
            self._read_header()
        except _H5_ERRORS as error:
            raise DatasetError(f"{self.path}: not a readable HDF5 file ({type(error).__name__}: {error}); "
                               "it may be truncated, damaged or of another format") from None
        self._handle: h5py.File | None = None
        self._pid: int | None = None

    def _read_header(self) -> None:
        path = self.path
        with h5py.File(path, "r") as f:
            attrs = checked_attributes(f, path)
            for name in REQUIRED:
                if not isinstance(f.get(name), h5py.Dataset):
                    raise DatasetError(f"{path}: missing dataset '{name}'; regenerate the file with kinetix generate")
            if not self._chunk:
                refuse_chunk(path, attrs["provenance"])
            self.t = _floats("t", f["t"][()], path, 1)
            species = f["species"][()]
            self.shape = tuple(f["y"].shape)
            y0_shape = tuple(f["y0"].shape)
            group = f.get("conditions")
            names = list(group) if isinstance(group, h5py.Group) else []
            self.conditions = {key: _floats(f"conditions/{key}", f[f"conditions/{key}"][()], path, 1) for key in names}
        self.species = tuple(_attribute(name) for name in np.atleast_1d(species))
        if not all(isinstance(name, str) and name for name in self.species) or len(set(self.species)) != len(self.species):
            raise DatasetError(f"{path}: 'species' must be distinct non-empty names, got {list(self.species)!r}")
        if len(self.shape) != 3 or self.shape[1:] != (len(self.t), len(self.species)) \
                or y0_shape != (self.shape[0], len(self.species)):
            raise DatasetError(f"{path}: inconsistent shapes: t {self.t.shape}, y {self.shape}, y0 {y0_shape}, "
                               f"{len(self.species)} species")
        if len(self.t) > 1 and not np.all(np.diff(self.t) > 0):
            raise DatasetError(f"{path}: 't' must be strictly increasing")
        for key, value in self.conditions.items():
            if value.shape != (self.shape[0],):
                raise DatasetError(f"{path}: 'conditions/{key}' has shape {value.shape}, expected ({self.shape[0]},)")
        t0 = attrs.get("t0")
        if not isinstance(t0, (int, float)) or not np.isfinite(t0) or t0 > self.t[0]:
            raise DatasetError(f"{path}: attribute 't0' must be a finite time not after t[0] = {self.t[0]:g}, "
                               f"got {t0!r}")
        self.t0 = float(t0)
        self.metadata: dict[str, Any] = attrs

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None, "_pid": None}

    def _file(self) -> h5py.File:
        """This process's handle (a file handle inherited from another process is not used)."""
        if self._handle is None or self._pid != os.getpid():
            self._handle, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = self._pid = None

    def read(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """``(y0, y)`` of ``rows`` (a slice, or increasing indices): ``(k, n)`` and ``(k, T, n)``, checked finite."""
        f = self._file()
        try:
            y0, y = f["y0"][rows], f["y"][rows]
        except _H5_ERRORS as error:
            raise DatasetError(f"{self.path}: cannot read rows ({type(error).__name__}: {error}); the file may be "
                               "truncated or damaged") from None
        return _floats("y0", y0, self.path, 2), _floats("y", y, self.path, 3)

    def initial_states(self) -> np.ndarray:
        """Every row's ``y0`` ``(N, n)``, checked finite."""
        try:
            y0 = self._file()["y0"][()]
        except _H5_ERRORS as error:
            raise DatasetError(f"{self.path}: cannot read y0 ({type(error).__name__}: {error})") from None
        return _floats("y0", y0, self.path, 2)

    def block_rows(self) -> int:
        """Rows per block when streaming the whole file (about :data:`BLOCK_BYTES` of states)."""
        _, n_times, n = self.shape
        return max(1, BLOCK_BYTES // max(n_times * n * 8, 1))

    def blocks(self, indices: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(rows, y0, y)`` block after block over ``indices`` (increasing; default: every row)."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        size = self.block_rows()
        for start in range(0, len(indices), size):
            rows = indices[start: start + size]
            contiguous = len(rows) and rows[-1] - rows[0] == len(rows) - 1
            y0, y = self.read(slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows)
            yield rows, y0, y
