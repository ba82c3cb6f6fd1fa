"""From a mechanism to a trajectory file: sample initial states, integrate, write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..mechanism import Mechanism
from ..simulate import integrate_mechanism
from ..solvers.api import DEFAULT_METHOD
from .atomic import refuse_existing
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
    refuse_existing(out, force)
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
        "mechanism_metadata": {key: str(value) for key, value in mechanism.metadata.items()},
    }
    return write_dataset(
        out, t=t.cpu().numpy(), y=y, y0=y0.cpu().numpy(), t0=mechanism.time_span[0], species=mechanism.state_names,
        mechanism=mechanism.name, mechanism_sha256=mechanism.content_hash(), units=mechanism.units,
        provenance=provenance, mechanism_definition=mechanism.content().decode("utf-8", errors="replace"), force=force,
    )
