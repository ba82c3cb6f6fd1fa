"""Training from files larger than memory: trajectories read from HDF5 when a batch needs them.

:class:`StreamingTrajectories` has the attributes of a :class:`~kinetix.data.dataset.TrajectoryDataset`
(``t``, ``y0``, ``species``, ``metadata``, ``conditions``, ``path``), but its ``y`` is read on
indexing (``y[index]``, ``y[index, :horizon]``). The trainer uses it like the in-memory dataset;
:func:`dataset_scales` computes its data scales a block of rows at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import scaling
from ..errors import ConfigError
from .dataset import TrajectoryDataset, load_dataset
from .lazy import TrajectoryFile

STREAMING = ("auto", "on", "off")
MEMORY_FRACTION = 0.25  # "auto" streams a file whose states would take more of the available memory


class LazyStates:
    """The states ``(N, T, n)`` of a file, read on indexing: ``states[index]`` or
    ``states[index, :horizon]`` with ``index`` an integer tensor ``(B,)`` gives a float64 tensor."""

    def __init__(self, file: TrajectoryFile):
        self.file = file
        self.shape = torch.Size(file.shape)
        self.dtype = torch.float64

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        index, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        scalar = isinstance(index, int) or (isinstance(index, torch.Tensor) and index.ndim == 0)
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1).numpy()
        rows, inverse = np.unique(index, return_inverse=True)  # h5py reads increasing rows
        _, y = self.file.read(rows)
        states = torch.from_numpy(y[inverse])
        states = states[0] if scalar else states
        return states[(slice(None),) * (0 if scalar else 1) + tuple(rest)] if rest else states


class StreamingTrajectories(Dataset):
    """A trajectory file read lazily; item ``i`` is ``(y0[i], y[i])``. Safe with DataLoader worker
    processes: each process opens the file itself. ``y0`` and the conditions are held in memory
    (``T`` times smaller than the states)."""

    def __init__(self, path: str | Path):
        self.file = TrajectoryFile(path)
        self.path = self.file.path
        self.t = torch.from_numpy(self.file.t)
        self.species = self.file.species
        self.metadata = self.file.metadata
        self.conditions = {key: torch.from_numpy(value) for key, value in self.file.conditions.items()}
        self.y0 = torch.from_numpy(self.file.initial_states())
        self.y = LazyStates(self.file)

    @property
    def t0(self) -> float:
        return self.file.t0

    def __len__(self) -> int:
        return len(self.file)

    def __getitem__(self, index):
        return self.y0[index], self.y[index]

    def content_sha256(self) -> str:
        """:meth:`TrajectoryDataset.content_sha256 <kinetix.data.dataset.TrajectoryDataset.content_sha256>`,
        the states hashed a block at a time."""
        digest = hashlib.sha256(json.dumps([list(self.species), self.t0]).encode())
        for array in (self.t.numpy(), self.y0.numpy()):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        for _, _, y in self.file.blocks():
            digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
        self.file.close()
        return digest.hexdigest()


def open_training_data(path: str | Path, streaming: str = "auto") -> TrajectoryDataset | StreamingTrajectories:
    """The dataset at ``path``, in memory or streamed: ``"on"``, ``"off"``, or ``"auto"`` (streamed
    when its states would take more than :data:`MEMORY_FRACTION` of the available memory)."""
    if streaming not in STREAMING:
        raise ConfigError(f"streaming: got {streaming!r}; choose from {', '.join(STREAMING)}")
    if streaming == "auto":
        file = TrajectoryFile(path)
        states = 8 * int(np.prod(file.shape))
        streaming = "on" if states > MEMORY_FRACTION * _available_memory() else "off"
    return StreamingTrajectories(path) if streaming == "on" else load_dataset(path)


def _available_memory() -> float:
    """Bytes of memory available now (infinite where the system does not say)."""
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def dataset_scales(dataset, index: torch.Tensor, species_scale: str, output_scale: str, input_kind: str):
    """``(y_scale, output_scale, input_shift, input_scale)`` ``(n,)`` each, from the trajectories
    ``index`` of ``dataset`` (see :mod:`kinetix.scaling`). A streamed dataset is reduced a block of
    rows at a time: maxima and minima are exact, so the scales equal the in-memory ones, except the
    ``"standard"`` input normalisation's mean and standard deviation (equal to rounding)."""
    if not isinstance(dataset, StreamingTrajectories):
        y = dataset.y[index]
        full_t, full_y = scaling.with_initial_states(dataset.t, y, dataset.y0[index], dataset.t0)
        y_scale = scaling.species_scale(y, species_scale)
        shift, in_scale = scaling.input_normalisation(full_y, y_scale, input_kind)
        return y_scale, scaling.output_scale(full_t, full_y, y_scale, output_scale), shift, in_scale
    file = dataset.file
    rows = np.sort(torch.as_tensor(index).numpy())
    full_t = scaling.with_initial_states(dataset.t, torch.zeros(1, len(dataset.t), 1), torch.zeros(1, 1),
                                         dataset.t0)[0]
    extremes, slopes, moments = [], [], (0, 0.0, 0.0)  # count, mean, sum of squared deviations
    for block, y0, y in file.blocks(rows):
        y = torch.from_numpy(y)
        extremes += [y.amax(dim=(0, 1)), y.amin(dim=(0, 1))]
        full_y = scaling.with_initial_states(dataset.t, y, torch.from_numpy(y0), dataset.t0)[1]
        if output_scale == "rate":
            slopes.append(((full_y[:, 1:] - full_y[:, :-1]).abs() / (full_t[1:] - full_t[:-1]).unsqueeze(-1))
                          .amax(dim=(0, 1)))
        if input_kind == "standard":
            moments = _combined(moments, full_y.reshape(-1, full_y.shape[-1]))
    file.close()
    # the extreme values are data values: a (1, K, n) tensor of them has the data's max |y| and range
    y_scale = scaling.species_scale(torch.stack(extremes).unsqueeze(0), species_scale)
    if output_scale == "rate":
        if len(full_t) < 2:
            raise ConfigError("rate scaling needs at least two times per trajectory")
        out_scale = scaling._positive(torch.stack(slopes).amax(dim=0))
    else:
        out_scale = scaling.output_scale(full_t, torch.zeros(0), y_scale, output_scale)
    if input_kind == "standard":
        count, mean, squares = moments
        return y_scale, out_scale, mean, scaling._positive((squares / (count - 1)).sqrt())
    shift, in_scale = scaling.input_normalisation(torch.zeros(0, len(y_scale)), y_scale, input_kind)
    return y_scale, out_scale, shift, in_scale


def _combined(moments: tuple, values: torch.Tensor) -> tuple:
    """``(count, mean, sum of squared deviations)`` ``(n,)`` of the values seen so far, updated with
    ``values`` ``(k, n)`` (Chan et al.'s pairwise combination)."""
    count, mean, squares = moments
    block_mean = values.mean(dim=0)
    block_squares = ((values - block_mean) ** 2).sum(dim=0)
    total = count + len(values)
    delta = block_mean - mean
    return total, mean + delta * len(values) / total, squares + block_squares + delta ** 2 * count * len(values) / total
