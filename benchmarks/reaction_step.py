"""The reaction step of a flow solver: surrogate against Cantera on states from held-out trajectories.

    .venv/bin/python benchmarks/reaction_step.py RUN HELDOUT.h5 [--states 10000] [--dt 1e-6 1e-5] [--out FILE.json]

``--states`` states are drawn (seed 0) from the held-out trajectories (a trajectory, then an output
time, both uniform; constant-pressure data, the pressure from ``conditions/P``). Each is advanced by
``dt``:

- the reference: Cantera's ``IdealGasConstPressureReactor`` per state at rtol 1e-10, atol 1e-15 (not timed);
- Cantera timed as a flow solver would call it, rtol 1e-6, atol 1e-12, one reactor per state, one after another;
- the surrogate's reaction step (:func:`kinetix.export.reaction_step`) on the whole batch, eager, and its
  TorchScript export (what ``kinetix export`` writes), all on one thread, same process.

Errors are against the reference: temperature (max, 99th percentile, mean) and the largest mass-fraction
error, and the smallest mass fraction returned (negative: a species overshot zero); "no change" is the error of returning the input state unchanged (the size of the step itself).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cantera as ct
import numpy as np
import torch

from common import machine, median_time, table  # noqa: E402
from surrogate_ignition import load_run  # noqa: E402

from kinetix.export import export_surrogate, reaction_step  # noqa: E402
from kinetix_trainers.latent import pressure_states  # noqa: E402


def sampled_states(data, count: int, seed: int = 0) -> torch.Tensor:
    """``(count, 1 + K + 1)`` states ``[T, Y, P]`` drawn from ``data``'s trajectories."""
    _, y, _ = pressure_states(data)
    generator = torch.Generator().manual_seed(seed)
    trajectory = torch.randint(len(data), (count,), generator=generator)
    when = torch.randint(y.shape[1], (count,), generator=generator)
    return y[trajectory, when]


def cantera_steps(gas, states: np.ndarray, dt: float, rtol: float, atol: float) -> np.ndarray:
    """Each state ``[T, Y, P]`` advanced by ``dt`` in its own constant-pressure reactor."""
    out = np.empty_like(states)
    for i, state in enumerate(states):
        gas.TPY = state[0], state[-1], state[1:-1]
        reactor = ct.IdealGasConstPressureReactor(gas, clone=False)
        network = ct.ReactorNet([reactor])
        network.rtol, network.atol = rtol, atol
        network.advance(dt)
        out[i, 0], out[i, 1:-1], out[i, -1] = reactor.T, gas.Y, state[-1]
    return out


def errors(result: np.ndarray, reference: np.ndarray) -> dict:
    temperature = np.abs(result[:, 0] - reference[:, 0])
    return {"max |T error| K": float(temperature.max()), "p99 K": float(np.percentile(temperature, 99)),
            "mean K": float(temperature.mean()), "max |Y error|": float(np.abs(result[:, 1:-1] - reference[:, 1:-1]).max()),
            "min Y": float(result[:, 1:-1].min())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--states", type=int, default=10_000)
    parser.add_argument("--dt", type=float, nargs="+", default=[1e-6, 1e-5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder, surrogate, data, gas = load_run(args.run, args.data)
    states = sampled_states(data, args.states)
    if list(surrogate.species) != list(data.species) + ["P"]:
        raise SystemExit(f"{folder}: the surrogate's state {surrogate.species} is not the data's plus P")
    step = reaction_step(surrogate)
    with tempfile.TemporaryDirectory() as folder_:
        artifact = Path(folder_) / "step.pt"
        description = export_surrogate(surrogate, artifact)
        scripted = torch.jit.load(str(artifact))
    print(f"machine: {machine()}, Cantera {ct.__version__}\nsurrogate: {folder} ({surrogate.info.get('kind', 'full')}, "
          f"{description['integrator']['method']} rtol {description['integrator'].get('rtol', '-')})\n"
          f"states: {len(states)} from {args.data} ({len(data)} held-out conditions)\n", flush=True)
    results = {"machine": machine(), "surrogate": str(folder), "data": str(args.data), "states": len(states),
               "integrator": description["integrator"], "dt": {}}
    columns = ["dt s", "integrator", "time s", "us per state", "speed-up vs Cantera", "max |T error| K", "p99 K",
               "mean K", "max |Y error|", "min Y"]
    rows = []
    for dt in args.dt:
        numpy_states = states.numpy()
        reference = cantera_steps(gas, numpy_states, dt, 1e-10, 1e-15)
        theirs, cantera = median_time(lambda: cantera_steps(gas, numpy_states, dt, 1e-6, 1e-12), 1)
        dt_tensor = torch.tensor(dt, dtype=torch.float64)
        with torch.no_grad():
            eager_seconds, eager = median_time(lambda: step(states, dt_tensor), args.repeats)
            script_seconds, scripted_result = median_time(lambda: scripted(states, dt_tensor), args.repeats)
        entries = [("no change (input state)", None, numpy_states),
                   ("Cantera ReactorNet, rtol 1e-6, one after another", theirs, cantera),
                   ("surrogate, one batch (Python)", eager_seconds, eager.numpy()),
                   ("surrogate, TorchScript export", script_seconds, scripted_result.numpy())]
        results["dt"][str(dt)] = {}
        for name, seconds, result in entries:
            row = {"dt s": dt, "integrator": name, **errors(result, reference)}
            if seconds is not None:
                row.update({"time s": seconds, "us per state": seconds / len(states) * 1e6,
                            "speed-up vs Cantera": theirs / seconds})
            rows.append(row)
            results["dt"][str(dt)][name] = row
            finite = np.isfinite(result).all(axis=1)
            if not finite.all():
                print(f"warning: {name}: {int((~finite).sum())} states not finite at dt {dt}")
        print(table(rows[-len(entries):], columns), "\n", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
