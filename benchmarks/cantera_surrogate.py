"""A trained ignition surrogate on held-out conditions: ignition delays, species errors, plots, and
its speed against Cantera at equal output times.

    .venv/bin/python benchmarks/cantera_surrogate.py RUN HELDOUT.h5 --out DIR [--rtol 1e-4 1e-5] [--compile]

RUN is a training run folder (or its ``surrogate/``); HELDOUT a dataset written by
``kinetix generate cantera:... --conditions`` (its ``conditions/ignition_delay`` is the reference).
The surrogate's ignition delay is the time of the largest dT/dt of its own simulated
temperature, found like the dataset's (``kinetix.data.conditions.find_peaks`` on the learned field).
Speed: the surrogate integrates every held-out initial state in one batched solve at each
``--rtol`` on one thread; Cantera integrates the same states one after another to the same output times
(rtol 1e-6, atol 1e-12). With ``--throughput N``, the same for N conditions drawn uniformly over the
held-out T0 and log-uniformly over its phi range (seed 2), to the held-out output times (no
reference delays for them: their accuracy is that of the held-out rows at the same rtol).
Also the final temperature error and the drift of the element amounts per unit mass (the reactor's
exact invariants) along the surrogate's held-out trajectories.
Writes ``DIR/surrogate-heldout.png`` and ``DIR/surrogate-heldout.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cantera as ct
import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cantera_comparison import cantera_ignitions  # noqa: E402
from common import machine, median_time, table  # noqa: E402

import kinetix  # noqa: E402
from kinetix.data.conditions import find_peaks, log_times  # noqa: E402

KEY_SPECIES = ("T", "H2", "O2", "H2O", "OH", "H", "HO2")


class LearnedField(kinetix.Mechanism):
    """The surrogate's vector field as an autonomous mechanism, for :func:`find_peaks`."""

    def __init__(self, surrogate: kinetix.Surrogate, t_end: float):
        super().__init__()
        self.field = surrogate.field
        self.names = surrogate.species
        self.t_end = t_end
        self.name = "surrogate"

    @property
    def state_names(self):
        return self.names

    @property
    def time_span(self):
        return (0.0, self.t_end)

    def rhs(self, t, y):
        return self.field(t, y)

    def jacobian(self, t, y):
        return self.field.jacobian(t, y)

    def initial_state(self):
        return torch.zeros(len(self.names), dtype=torch.float64)

    def default_times(self):
        return torch.tensor([self.t_end], dtype=torch.float64)

    def content(self):
        return b"surrogate"


def sampled_states(data, count: int) -> torch.Tensor:
    """Initial states ``(count, n)`` of ``count`` conditions drawn over the ranges of ``data``'s T0 and phi."""
    rows = data.metadata["provenance"]["conditions"]["rows"]
    source = data.metadata["provenance"]["mechanism_metadata"]["source"]
    generator = np.random.default_rng(2)
    T0, phi = data.conditions["T0"].numpy(), data.conditions["phi"].numpy()
    temperatures = generator.uniform(T0.min(), T0.max(), count)
    ratios = np.exp(generator.uniform(np.log(phi.min()), np.log(phi.max()), count))
    mech = kinetix.load_mechanism(f"cantera:{source}")
    return mech.with_conditions([{**rows[0], "temperature": float(T), "equivalence_ratio": float(r)}
                                 for T, r in zip(temperatures, ratios)]).y0


def element_drift(mechanism, y0: torch.Tensor, pred: torch.Tensor) -> dict[str, float]:
    """Per element: the largest ``|C_e y(t) - C_e y0|`` over conditions and times ``pred`` ``(N, T, n)``,
    relative to the largest initial amount ``C_e y0`` (absolute [kmol/kg] where no condition has any)."""
    invariants = mechanism.invariants
    matrix = invariants.tensor(pred.dtype)
    start = y0 @ matrix.T                                                          # (N, m)
    change = ((pred @ matrix.T) - start[:, None]).abs().amax(dim=(0, 1))            # (m,)
    scale = start.abs().amax(dim=0)
    return {element: float(d / s if s > 0 else d) for element, d, s in zip(invariants.elements, change, scale)}


def simulate(surrogate, y0, t, rtol, compile_):
    """The surrogate's states ``(N, T, n)``, on one CPU thread (as Cantera), optionally compiled."""
    options = {"threads": 1, **({"compile": True} if compile_ else {})}
    with torch.no_grad():
        return surrogate.simulate(y0, t, rtol=rtol, atol=1e-10, options=options).transpose(0, 1)


def plot(path: Path, data, pred, index, delays, ours):
    species = list(data.species)
    figure, axes = plt.subplots(2, 4, figsize=(13, 6))
    t = data.t.numpy() * 1e3
    for panel, (axis, name) in enumerate(zip(axes.flat, KEY_SPECIES)):
        k = species.index(name)
        for j, member in enumerate(index):
            label = (f"T0 {data.conditions['T0'][member]:.0f} K, phi {data.conditions['phi'][member]:.2f}"
                     if panel == 0 else None)
            axis.plot(t, data.y[member, :, k], "o", color=f"C{j}", markersize=2, label=label)
            axis.plot(t, pred[member, :, k], "-", color=f"C{j}", linewidth=1.2)
        axis.set_xscale("log")
        axis.set_title(name if name == "T" else f"Y {name}", fontsize=10)
        axis.set_xlabel("t [ms]", fontsize=8)
        axis.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7)
    error = np.abs(ours / delays - 1)
    axes.flat[-1].semilogy(delays * 1e3, error * 100 + 1e-6, "o")
    axes.flat[-1].set_xscale("log")
    axes.flat[-1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.flat[-1].set_title("|ignition delay error| [%]", fontsize=10)
    axes.flat[-1].set_xlabel("data ignition delay [ms]", fontsize=8)
    figure.suptitle("held-out conditions: data (dots, kinetix rodas5p rtol 1e-8) vs surrogate (lines)", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rtol", type=float, nargs="+", default=[1e-4, 1e-5, 1e-6])
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd solver step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--throughput", type=int, default=0, help="also time N sampled conditions (one batch)")
    args = parser.parse_args()
    folder = args.run / "surrogate" if (args.run / "surrogate" / "surrogate.json").is_file() else args.run
    surrogate = kinetix.Surrogate.load(folder)
    data = kinetix.load_dataset(args.data)
    source = data.metadata["provenance"]["mechanism_metadata"]["source"]
    delays = data.conditions["ignition_delay"].numpy()
    pressure = data.conditions["P"].numpy()
    if np.ptp(pressure) > 0:
        raise SystemExit(f"{args.data}: the speed comparison assumes one pressure for all conditions")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\nsurrogate: {folder}\nheld-out: {args.data} ({len(data)} conditions, "
          f"{len(data.t)} output times)\n", flush=True)

    field = LearnedField(surrogate, float(data.t[-1]))
    mech = kinetix.load_mechanism(f"cantera:{source}")
    search = log_times(float(data.t[0]), float(data.t[-1]), 50)
    results = {"rtol": {}}
    rows = []
    gas = ct.Solution(source)
    theirs, _ = median_time(lambda: cantera_ignitions(gas, data.y0.numpy(), pressure[0], data.t.numpy(), 1e-6, 1e-12),
                            args.repeats)
    rows.append({"integrator": f"Cantera ReactorNet, {len(data)} one after another", "rtol": 1e-6,
                 "time ms": theirs * 1e3, "ms per condition": theirs / len(data) * 1e3, "speed-up vs Cantera": 1.0})
    for rtol in args.rtol:
        ours = find_peaks(field, data.y0, "T", search, rtol=rtol, atol=1e-10).time
        error = np.abs(ours / delays - 1)
        for compiled in (False, True) if args.compile else (False,):
            if compiled:
                began = time.perf_counter()
                simulate(surrogate, data.y0, data.t, rtol, True)
                first = time.perf_counter() - began
            seconds, pred = median_time(lambda: simulate(surrogate, data.y0, data.t, rtol, compiled), args.repeats)
            name = "surrogate, one batched solve"
            if compiled:
                name += f", compiled (compile {first - seconds:.0f} s)"
            rows.append({"integrator": name, "rtol": rtol, "time ms": seconds * 1e3,
                         "ms per condition": seconds / len(data) * 1e3, "speed-up vs Cantera": theirs / seconds,
                         "max ignition-delay error %": 100 * error.max(), "mean %": 100 * error.mean()})
        scale = torch.as_tensor(surrogate.info["scales"]["y_scale"])
        scaled = ((pred - data.y).abs() / scale).mean(dim=(0, 1))
        results["rtol"][str(rtol)] = {
            "ignition_delay": ours.tolist(), "relative_error": (ours / delays - 1).tolist(),
            "scaled_mae_per_species": dict(zip(data.species, scaled.tolist())),
            "max_abs_error_T": float((pred[..., 0] - data.y[..., 0]).abs().max()),
            "final_T_error": {"mean": float((pred[:, -1, 0] - data.y[:, -1, 0]).abs().mean()),
                              "max": float((pred[:, -1, 0] - data.y[:, -1, 0]).abs().max())},
            "element_drift": element_drift(mech, data.y0, pred),
        }
    columns = ["integrator", "rtol", "time ms", "ms per condition", "speed-up vs Cantera",
               "max ignition-delay error %", "mean %"]
    print(table(rows, columns), "\n")
    if args.throughput:
        y0 = sampled_states(data, args.throughput)
        many, _ = median_time(lambda: cantera_ignitions(gas, y0.numpy(), pressure[0], data.t.numpy(), 1e-6, 1e-12), 1)
        throughput = [{"integrator": f"Cantera ReactorNet, {len(y0)} one after another", "rtol": 1e-6,
                       "time ms": many * 1e3, "ms per condition": many / len(y0) * 1e3, "speed-up vs Cantera": 1.0}]
        for rtol in args.rtol:
            for compiled in (False, True) if args.compile else (False,):
                simulate(surrogate, y0, data.t, rtol, compiled)  # compiled: compiles for this batch size
                seconds, _ = median_time(lambda: simulate(surrogate, y0, data.t, rtol, compiled), args.repeats)
                error = results["rtol"][str(rtol)]["relative_error"]
                throughput.append({"integrator": "surrogate, one batched solve" + (", compiled" if compiled else ""),
                                   "rtol": rtol, "time ms": seconds * 1e3, "ms per condition": seconds / len(y0) * 1e3,
                                   "speed-up vs Cantera": many / seconds,
                                   "max ignition-delay error %": 100 * np.abs(error).max(),
                                   "mean %": 100 * np.abs(error).mean()})
        print(f"{len(y0)} sampled conditions, same output times (ignition-delay errors: the held-out rows'):\n")
        print(table(throughput, columns), "\n")
        results["throughput"] = throughput

    best = str(args.rtol[-1])
    print(f"per condition (surrogate at rtol {best}):\n")
    per_condition = [{"T0 K": f"{data.conditions['T0'][i]:.1f}", "phi": f"{data.conditions['phi'][i]:.3f}",
                      "data tau ms": f"{delays[i] * 1e3:.5f}",
                      "surrogate tau ms": f"{results['rtol'][best]['ignition_delay'][i] * 1e3:.5f}",
                      "error %": f"{100 * results['rtol'][best]['relative_error'][i]:+.2f}"} for i in range(len(data))]
    print(table(per_condition, list(per_condition[0])), "\n")
    species = results["rtol"][best]["scaled_mae_per_species"]
    print("scaled MAE per component (error / max |y| of the training data, mean over conditions and times):\n")
    print(table([{"component": k, "scaled MAE": v} for k, v in species.items()], ["component", "scaled MAE"]), "\n")
    print(f"largest |T error|: {results['rtol'][best]['max_abs_error_T']:.1f} K")
    final = results["rtol"][best]["final_T_error"]
    print(f"final |T error|: mean {final['mean']:.2f} K, max {final['max']:.2f} K")
    print("element drift along the held-out trajectories (largest change / largest initial amount):",
          ", ".join(f"{e} {d:.1e}" for e, d in results["rtol"][best]["element_drift"].items()))

    pred = simulate(surrogate, data.y0, data.t, float(best), False).numpy()
    order = np.argsort(delays)
    shown = order[np.linspace(0, len(order) - 1, 4).round().astype(int)]
    plot(args.out / "surrogate-heldout.png", data, pred, shown, delays,
         np.array(results["rtol"][best]["ignition_delay"]))
    results.update({"table": rows, "machine": machine(), "surrogate": str(folder), "data": str(args.data)})
    (args.out / "surrogate-heldout.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out / 'surrogate-heldout.png'} and {args.out / 'surrogate-heldout.json'}")


if __name__ == "__main__":
    main()
