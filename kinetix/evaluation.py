"""Judging and using a saved surrogate independently of its training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .data.atomic import atomic_path, check_target
from .data.dataset import TrajectoryDataset, load_dataset
from .errors import ConfigError
from .surrogate import Surrogate


def require_same_species(dataset: TrajectoryDataset, surrogate: Surrogate) -> None:
    """Raise unless ``dataset`` holds the surrogate's species, in its order."""
    if tuple(dataset.species) != surrogate.species:
        raise ConfigError(f"{dataset.path}: species {list(dataset.species)} do not match the surrogate's "
                          f"{list(surrogate.species)}; use data of the mechanism it was trained on")


def evaluate_surrogate(surrogate: Surrogate, dataset: TrajectoryDataset, **solver_options) -> dict:
    """Integrate ``surrogate`` from every initial state of ``dataset`` and compare with its states.

    Errors are scaled per species by the surrogate's training scale (``info["scales"]["y_scale"]``,
    else the dataset's ``max |y|``). Returns overall and per-species scaled MAE and max error.
    """
    require_same_species(dataset, surrogate)
    scale = surrogate.info.get("scales", {}).get("y_scale")
    scale = torch.as_tensor(scale, dtype=dataset.y.dtype) if scale is not None else dataset.y.abs().amax(dim=(0, 1))
    surrogate.info["t0"] = dataset.t0
    with torch.no_grad():
        pred = surrogate.simulate(dataset.y0, dataset.t, **solver_options).transpose(0, 1)  # (N, T, n)
    error = (pred - dataset.y).abs() / scale
    species = list(dataset.species)
    return {
        "surrogate": str(surrogate.info.get("path", "")),
        "dataset": str(dataset.path),
        "trajectories": len(dataset),
        "scaled_mae": float(error.mean()),
        "max_scaled_error": float(error.max()),
        "scaled_mae_per_species": dict(zip(species, error.mean(dim=(0, 1)).tolist())),
        "max_scaled_error_per_species": dict(zip(species, error.amax(dim=(0, 1)).tolist())),
        "scaled_mae_per_trajectory": error.mean(dim=(1, 2)).tolist(),
    }


def write_json(path: Path, value: dict, *, force: bool = False) -> None:
    with atomic_path(path, force=force) as temporary:
        temporary.write_text(json.dumps(value, indent=2))


def _initial_state(surrogate: Surrogate, items) -> torch.Tensor:
    y0 = torch.as_tensor(surrogate.info["y0"], dtype=torch.float64).clone()
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in surrogate.species:
            raise ConfigError(f"--y0 {item!r}: expected NAME=VALUE with NAME one of {', '.join(surrogate.species)}")
        try:
            y0[surrogate.species.index(name.strip())] = float(value)
        except ValueError:
            raise ConfigError(f"--y0 {item!r}: {value!r} is not a number") from None
    return y0


def _times(text: str) -> torch.Tensor:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--times {text!r}: expected numbers separated by commas") from None
    if not values:
        raise ConfigError("--times: give at least one time")
    return torch.tensor(values, dtype=torch.float64)


def simulate_to_file(surrogate: Surrogate, out: Path, *, y0_items=(), source=None, times=None,
                     force: bool = False) -> Path:
    """Write trajectories of ``surrogate`` to ``out``: ``.csv`` (one trajectory: ``t`` then one column
    per species) or ``.h5`` (the trajectory dataset format)."""
    out = Path(out)
    if out.suffix not in (".csv", ".h5"):
        raise ConfigError(f"{out}: the output must end in .csv or .h5")
    check_target(out, force)
    if source is not None:
        dataset = load_dataset(source)
        require_same_species(dataset, surrogate)
        y0, t, t0 = dataset.y0, dataset.t, dataset.t0
        if y0_items:
            raise ConfigError("give either --from or --y0, not both")
    else:
        y0 = _initial_state(surrogate, y0_items).unsqueeze(0)
        t = torch.as_tensor(surrogate.info["t"], dtype=torch.float64)
        t0 = float(surrogate.info.get("t0", float(t[0])))
    if times is not None:
        t = _times(times)
    surrogate.info["t0"] = min(t0, float(t[0]))
    with torch.no_grad():
        ys = surrogate.simulate(y0, t).transpose(0, 1).numpy()  # (N, T, n)
    if out.suffix == ".csv":
        if len(ys) != 1:
            raise ConfigError(f"{out}: a CSV holds one trajectory; write {len(ys)} to an .h5 file")
        table = np.column_stack([t.numpy(), ys[0]])
        with atomic_path(out, force=force) as temporary:
            np.savetxt(temporary, table, delimiter=",", header=",".join(["t", *surrogate.species]), comments="")
        return out
    from .data.writer import write_dataset

    network = surrogate.info.get("dataset", {}).get("mechanism") or "unknown"
    return write_dataset(out, t=t.numpy(), y=ys, y0=y0.numpy(), t0=surrogate.info["t0"], species=surrogate.species,
                         mechanism=f"surrogate of {network}", mechanism_sha256="", units=surrogate.info.get("units", {}),
                         provenance={"surrogate": surrogate.network, "solver": surrogate.solver_options}, force=force)
