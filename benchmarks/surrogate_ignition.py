"""Ignition over held-out conditions of any pressure: a (latent or full-state) surrogate against the
Cantera-generated data, and its speed against Cantera for a batch of conditions.

    .venv/bin/python benchmarks/surrogate_ignition.py RUN HELDOUT.h5 [--count 256] [--out FILE.json]

Accuracy, on every held-out row (constant pressure, ``conditions/P``): the surrogate's ignition delay
is the time of the largest dT/dt of its own solution (``Surrogate.simulate`` on the data's output
times and ``SEARCH_PER_DECADE`` log-spaced times of its own, dT/dt exact from the field; then its
latent state is restarted one search time before that maximum and integrated on 257 points across
the two neighbouring intervals, parabolic vertex; the data's times alone are dense only around the
data's own peaks, and a peak later than the data's fell between them),
against ``conditions/ignition_delay``; the final temperature against the data's.

Speed: ``--count`` conditions drawn (seed 2) uniformly in the held-out T0 range and log-uniformly in
its P and phi ranges, integrated to shared output times (log-spaced, 20 per decade, from the data's
first to its last time): Cantera's ``IdealGasConstPressureReactor`` one after another (rtol 1e-6,
atol 1e-12) against one batched ``Surrogate.simulate`` on one thread.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cantera as ct
import numpy as np
import torch

from common import machine, median_time, table  # noqa: E402

import kinetix  # noqa: E402
from kinetix.data.conditions import log_times  # noqa: E402
from kinetix.reaction_step import make_step  # noqa: E402
from kinetix.surrogate import integrate  # noqa: E402
from kinetix_trainers.latent import pressure_states  # noqa: E402

FINE = 257
SEARCH_PER_DECADE = 1000   # the search grid's own log-spaced times (0.23 % apart)


class Dynamics:
    """The surrogate's state, temperature and dT/dt in its own variables (latent or full)."""

    def __init__(self, surrogate: kinetix.Surrogate):
        self.field = surrogate.field
        self.latent = hasattr(self.field, "encode")
        options = surrogate.solver_options
        self.options = options
        width = self.field.latent_size if self.latent else len(surrogate.species)
        atol = torch.as_tensor(options["atol"], dtype=torch.float64).expand(width)
        self.stepper = make_step(torch.nn.Identity(), self.field, torch.nn.Identity(), options["method"],
                                 options["rtol"], atol, 100_000)

    def encode(self, y):
        return self.field.encode(y) if self.latent else y

    def temperature(self, z):
        return self.field.decode(z)[..., 0] if self.latent else z[..., 0]

    def rate(self, z):
        """dT/dt ``(...)`` at variables ``z`` ``(..., m)``."""
        if not self.latent:
            return self.field(0.0, z)[..., 0]
        _, slope = torch.func.jvp(self.temperature, (z,), (self.field(0.0, z),))
        return slope

    def trajectory(self, y0, t):
        """Variables ``(T, N, m)`` at times ``t`` from ``y0`` at 0."""
        times = torch.cat([t.new_zeros(1), t])
        return integrate(self.field, self.encode(y0), times, **self.options)[1:]


def ignition_delays(dynamics: Dynamics, y0: torch.Tensor, data_times: torch.Tensor) -> np.ndarray:
    own = log_times(float(data_times[0]), float(data_times[-1]), SEARCH_PER_DECADE).to(data_times.dtype)
    t = torch.cat([data_times, own]).unique()                                 # sorted
    with torch.no_grad():
        zs = dynamics.trajectory(y0, t)
    rates = dynamics.rate(zs)                                                # (T, N)
    top = rates.argmax(0).clamp(1, len(t) - 2)
    members = torch.arange(y0.shape[0])
    start, end = t[top - 1], t[top + 1]
    z = zs[top - 1, members]
    fine_rates = [dynamics.rate(z)]
    with torch.no_grad():
        for _ in range(FINE - 1):
            z = dynamics.stepper(z, (end - start) / (FINE - 1))
            fine_rates.append(dynamics.rate(z))
    fine = torch.stack(fine_rates)                                            # (FINE, N)
    k = fine.argmax(0).clamp(1, FINE - 2)
    r0, r1, r2 = fine[k - 1, members], fine[k, members], fine[k + 1, members]
    offset = 0.5 * (r0 - r2) / (r0 - 2 * r1 + r2)
    return (start + (k + offset.clamp(-1, 1)) * (end - start) / (FINE - 1)).detach().numpy()


def sampled_conditions(data, count: int, gas) -> np.ndarray:
    """``(count, 1 + K + 1)`` initial states ``[T, Y, P]`` over the data's T0, P and phi ranges."""
    rows = data.metadata["provenance"]["conditions"]["rows"]
    generator = np.random.default_rng(2)
    T0, P, phi = (data.conditions[key].numpy() for key in ("T0", "P", "phi"))
    out = []
    for _ in range(count):
        temperature = generator.uniform(T0.min(), T0.max())
        pressure = np.exp(generator.uniform(np.log(P.min()), np.log(P.max())))
        ratio = np.exp(generator.uniform(np.log(phi.min()), np.log(phi.max())))
        gas.set_equivalence_ratio(ratio, rows[0]["fuel"], rows[0]["oxidizer"])
        gas.TP = temperature, pressure
        out.append([temperature, *gas.Y, pressure])
    return np.array(out)


def cantera_trajectories(gas, states: np.ndarray, times: np.ndarray) -> np.ndarray:
    out = np.empty((len(states), len(times), states.shape[1]))
    for member, state in enumerate(states):
        gas.TPY = state[0], state[-1], state[1:-1]
        reactor = ct.IdealGasConstPressureReactor(gas, clone=False)
        network = ct.ReactorNet([reactor])
        network.rtol, network.atol = 1e-6, 1e-12
        for i, t in enumerate(times):
            network.advance(t)
            out[member, i, 0], out[member, i, 1:-1], out[member, i, -1] = reactor.T, gas.Y, state[-1]
    return out


def load_run(run: Path, held_out: Path):
    """``(folder, surrogate, dataset, cantera.Solution)`` on one thread with denormals flushed."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    folder = run / "surrogate" if (run / "surrogate" / "surrogate.json").is_file() else run
    data = kinetix.load_dataset(held_out)
    return (folder, kinetix.Surrogate.load(folder), data,
            ct.Solution(data.metadata["provenance"]["mechanism_metadata"]["source"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder, surrogate, data, gas = load_run(args.run, args.data)
    y0, y, _ = pressure_states(data)
    print(f"machine: {machine()}, Cantera {ct.__version__}\nsurrogate: {folder} ({surrogate.info.get('kind', 'full')}, "
          f"{surrogate.solver_options['method']} rtol {surrogate.solver_options['rtol']:g})\n"
          f"held-out: {args.data} ({len(data)} conditions, {len(data.t)} output times)\n", flush=True)

    dynamics = Dynamics(surrogate)
    ours = ignition_delays(dynamics, y0, data.t)
    delays = data.conditions["ignition_delay"].numpy()
    error = ours / delays - 1
    with torch.no_grad():
        final = surrogate.simulate(y0, data.t[-1:])[-1]
    final_error = (final[:, 0] - y[:, -1, 0]).abs().numpy()
    accuracy = {"ignition-delay error max %": 100 * float(np.abs(error).max()),
                "mean %": 100 * float(np.abs(error).mean()),
                "within 3 %": f"{int((np.abs(error) <= 0.03).sum())}/{len(error)}",
                "final T error max K": float(final_error.max()), "mean K": float(final_error.mean())}
    print(table([accuracy], list(accuracy)), "\n")
    worst = np.argsort(-np.abs(error))[:5]
    print(table([{"T0 K": float(data.conditions["T0"][i]), "P atm": float(data.conditions["P"][i]) / 101325,
                  "phi": float(data.conditions["phi"][i]), "data tau s": float(delays[i]),
                  "surrogate tau s": float(ours[i]), "error %": 100 * float(error[i])} for i in worst],
                ["T0 K", "P atm", "phi", "data tau s", "surrogate tau s", "error %"]), "\n", flush=True)

    states = sampled_conditions(data, args.count, gas)
    times = log_times(float(data.t[0]), float(data.t[-1]), 20)
    theirs, _ = median_time(lambda: cantera_trajectories(gas, states, times.numpy()), args.repeats)
    batch = torch.from_numpy(states)
    with torch.no_grad():
        seconds, _ = median_time(lambda: surrogate.simulate(batch, times), args.repeats)
    speed = [{"integrator": f"Cantera ReactorNet, {args.count} one after another", "time s": theirs,
              "ms per condition": theirs / args.count * 1e3, "speed-up vs Cantera": 1.0},
             {"integrator": "surrogate, one batch", "time s": seconds, "ms per condition": seconds / args.count * 1e3,
              "speed-up vs Cantera": theirs / seconds}]
    print(f"{args.count} sampled conditions to {len(times)} shared output times:\n")
    print(table(speed, ["integrator", "time s", "ms per condition", "speed-up vs Cantera"]), "\n")
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "surrogate": str(folder), "data": str(args.data),
                                        "accuracy": accuracy, "speed": speed, "relative_error": error.tolist(),
                                        "ignition_delay": ours.tolist()}, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
