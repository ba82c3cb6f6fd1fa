"""Foundation figures: compiled mechanisms against the papers' equations, simulate against scipy,
and the cost of writing a dataset.

    .venv/bin/python benchmarks/foundation.py

- right-hand sides and Jacobians of robertson.yaml and pollu.yaml at 10,000 random states against
  the hand-written equations of tests/references.py (and the Jacobians against central differences);
- ``kinetix.simulate`` (its default solver, rtol 1e-10) against scipy Radau at rtol 1e-10 on each
  mechanism's default grid;
- ``kinetix generate`` of 256 perturbed Robertson trajectories: wall time and file size.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

from common import machine, references as ref, table

import kinetix
from kinetix.data.generate import generate_dataset

PROBLEMS = {
    "robertson": (ref.robertson_rhs, ref.robertson_jac),
    "pollu": (ref.pollu_rhs, ref.pollu_jac),
}


def random_states(mechanism, count: int, generator: np.random.Generator) -> np.ndarray:
    """States ``(count, n)`` spread over decades around the mechanism's default trajectory."""
    reach = kinetix.simulate(mechanism).abs().amax(0).numpy()
    scale = np.where(reach > 0, reach, 1e-12)
    return scale * 10.0 ** generator.uniform(-3, 0.5, (count, len(scale)))


def relative(value: np.ndarray, expected: np.ndarray) -> float:
    magnitude = np.maximum(np.abs(expected), 1e-300)
    return float(np.max(np.abs(value - expected) / magnitude))


def equations(count: int = 10_000) -> str:
    generator = np.random.default_rng(0)
    rows = []
    for name, (rhs, jac) in PROBLEMS.items():
        mechanism = kinetix.load_mechanism(name)
        states = random_states(mechanism, count, generator)
        y = torch.as_tensor(states)
        with torch.no_grad():
            ours_rhs = mechanism.rhs(torch.zeros(()), y).numpy()
            ours_jac = mechanism.jacobian(torch.zeros(()), y).numpy()
            # the size of the terms that are summed, so that cancellation does not inflate the error
            gross = (mechanism.rates_of_progress(y).abs() @ mechanism.stoichiometry.abs().T).numpy()
        expected_rhs = np.stack([rhs(0.0, s) for s in states])
        expected_jac = np.stack([jac(0.0, s) for s in states])
        rhs_error = np.max(np.abs(ours_rhs - expected_rhs) / np.maximum(gross, 1e-300))
        nonzero = expected_jac != 0
        jac_error = relative(ours_jac[nonzero], expected_jac[nonzero])
        fd_error = 0.0
        for state, analytic in zip(states[:200], ours_jac[:200]):
            step = 1e-6 * np.maximum(np.abs(state), 1e-12)
            columns = []
            for k in range(len(state)):
                up, down = state.copy(), state.copy()
                up[k] += step[k]
                down[k] -= step[k]
                columns.append((rhs(0.0, up) - rhs(0.0, down)) / (2 * step[k]))
            numeric = np.stack(columns, axis=1)
            fd_error = max(fd_error, float(np.max(np.abs(numeric - analytic)) / np.max(np.abs(analytic))))
        rows.append({"mechanism": name, "states": count, "rhs: max error / gross rate": float(rhs_error),
                     "Jacobian vs hand-written: max relative": jac_error,
                     "Jacobian vs central differences (200 states)": fd_error})
    return ("### Right-hand sides and Jacobians against the papers' equations\n\n"
            + table(rows, list(rows[0])))


def simulate_against_scipy() -> str:
    rows = []
    for name, (rhs, jac) in PROBLEMS.items():
        mechanism = kinetix.load_mechanism(name)
        t = mechanism.default_times().numpy()
        y0 = mechanism.initial_state().numpy()
        began = time.perf_counter()
        with torch.no_grad():
            ours = kinetix.simulate(mechanism, rtol=1e-10, atol=1e-14).numpy()
        seconds = time.perf_counter() - began
        t0 = mechanism.time_span[0]
        reference = solve_ivp(rhs, (t0, t[-1]), y0, method="Radau", t_eval=t, rtol=1e-10, atol=1e-14, jac=jac).y.T
        scale = np.abs(reference).max(0)
        scale = np.where(scale > 0, scale, 1.0)
        rows.append({"mechanism": name, "times": len(t), "kinetix s": seconds,
                     "max |diff| / max |y| per species": float(np.max(np.abs(ours - reference) / scale))})
    return ("### `kinetix.simulate` (rodas5p, rtol 1e-10, atol 1e-14) against scipy Radau (rtol 1e-10, atol 1e-14)\n\n"
            + table(rows, list(rows[0])))


def generation() -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "robertson-256.h5"
        began = time.perf_counter()
        generate_dataset(kinetix.load_mechanism("robertson"), path, trajectories=256, seed=0, progress=False)
        seconds = time.perf_counter() - began
        size = path.stat().st_size
    return ("### `kinetix generate robertson --trajectories 256` (rodas5p, rtol 1e-8, atol 1e-12)\n\n"
            + table([{"trajectories": 256, "wall s": seconds, "file KiB": size / 1024}],
                    ["trajectories", "wall s", "file KiB"]))


def main():
    print(f"machine: {machine()}\n")
    for section in (equations, simulate_against_scipy, generation):
        print(section(), "\n", flush=True)


if __name__ == "__main__":
    main()
