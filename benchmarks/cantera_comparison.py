"""kinetix-cantera against Cantera, in one process: rates, ignition delays, ignition speed.

    .venv/bin/python benchmarks/cantera_comparison.py                     # every section (about 10 minutes)
    .venv/bin/python benchmarks/cantera_comparison.py --only batch        # rates | accuracy | batch | single
    .venv/bin/python benchmarks/cantera_comparison.py --no-compile        # skip the torch.compile'd variants
    .venv/bin/python benchmarks/cantera_comparison.py --threads 1         # one torch thread

Sections (every ratio is printed; Cantera is the peer throughout):

- rates: net production rates of 10,000 random states (1,000 for n-hexane), one batched torch call
  (eager, eager with the product form not chosen (dense or CSR), and through ``torch.compile``)
  vs a Cantera loop, in CPU
  seconds of the process (robust to other jobs on a shared machine), as medians of each and as the
  median ratio of back-to-back pairs (which a drifting machine spreads less);
- accuracy: ignition delays (time of the largest dT/dt) of H2/air and CH4/air at 1 atm, phi = 1,
  kinetix (rodas5p on the torch reactor, one batched solve) vs Cantera's ReactorNet stepped at
  rtol 1e-12 (tests/cantera/cantera_reference.py);
- batch: 256 H2/air ignitions (T0 uniform in 1000-1300 K) to 1 ms, 100 output times: one batched
  kinetix solve vs Cantera one reactor after another, at several tolerances, with each one's
  largest temperature error against a tight reference (a work-precision comparison);
- single: one ignition, h2o2 at 1200 K to 1 ms and gri30 CH4/air at 1500 K to 10 ms, rtol 1e-6.

Compiled variants (``options={"compile": True}``: the Rosenbrock step through ``torch.compile``)
are timed after a first, untimed run; its compilation time (first run minus a timed one) is
reported on its own, from an empty inductor cache (a temporary ``TORCHINDUCTOR_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cantera as ct
import numpy as np
import torch

from common import REPO, machine, median_time, paired_ratio, table

import kinetix
from kinetix.data.conditions import find_peaks, log_times
from kinetix_cantera import Kinetics

sys.path.insert(0, str(REPO / "tests" / "cantera"))
from cantera_reference import ignition_delay  # noqa: E402


# ------------------------------------------------------------------------------ rates

RATE_MECHANISMS = ("h2o2.yaml", "gri30.yaml", "example_data/n-hexane-NUIG-2015.yaml")


def rates(states: int, large_states: int, repeats: int, compile_: bool) -> str:
    rows = []
    for source in RATE_MECHANISMS:
        gas = ct.Solution(source, transport_model=None)
        kinetics = Kinetics(source)
        count = states if gas.n_species < 200 else large_states
        rng = np.random.default_rng(0)
        T = rng.uniform(800.0, 2500.0, count)
        P = ct.one_atm * rng.uniform(0.5, 20.0, count)
        Y = rng.random((count, gas.n_species))
        Y /= Y.sum(axis=1, keepdims=True)
        arguments = [torch.tensor(x) for x in (T, P, Y)]
        theirs = np.empty((count, gas.n_species))
        gross = np.empty_like(theirs)

        def cantera_loop():
            for i in range(count):
                gas.TPY = T[i], P[i], Y[i]
                theirs[i] = gas.net_production_rates

        cantera, _ = median_time(cantera_loop, repeats, time.process_time)
        for i in range(count):
            gas.TPY = T[i], P[i], Y[i]
            gross[i] = gas.creation_rates + gas.destruction_rates
        variants = [("eager", kinetics.net_production_rates, None)]
        if compile_:
            compiled = torch.compile(kinetics.net_production_rates, dynamic=False)
            began = time.perf_counter()
            with torch.no_grad():
                compiled(*arguments)
            variants.append(("torch.compile", compiled, time.perf_counter() - began))
        chosen = kinetics.production.sparse
        variants.append(("eager, the other product form", kinetics.net_production_rates, None))
        for name, function, compilation in variants:
            sparse = chosen != (name == "eager, the other product form")
            kinetics.production.sparse = kinetics.reciprocal_kc.sparse = sparse
            with torch.no_grad():
                ours, omega = median_time(lambda: function(*arguments), repeats, time.process_time)
                paired = paired_ratio(cantera_loop, lambda: function(*arguments), repeats)
            kinetics.production.sparse = kinetics.reciprocal_kc.sparse = chosen
            rows.append({"mechanism": f"{source.split('/')[-1]} (K={gas.n_species}, R={gas.n_reactions})",
                         "states": count, "kinetix-cantera": name + (f" (compile {compilation:.0f} s wall)"
                                                                     if compilation else ""),
                         "products": "CSR" if sparse else "dense",
                         "kinetix ms": ours * 1e3, "Cantera loop ms": cantera * 1e3, "Cantera / kinetix": cantera / ours,
                         "Cantera / kinetix, paired": paired,
                         "max |diff| / gross rate": float(np.max(np.abs(omega.numpy() - theirs)
                                                                 / np.maximum(gross, 1e-300)))})
    return ("### Net production rates of random states (T 800-2500 K, P 0.5-20 atm), CPU time\n\n"
            + table(rows, list(rows[0])))


# ------------------------------------------------------------------------------ accuracy

def accuracy() -> str:
    rows = []
    for source, fuel, temperatures in (("h2o2.yaml", "H2", np.arange(1000.0, 1401.0, 50.0)),
                                       ("gri30.yaml", "CH4", np.arange(1400.0, 1801.0, 100.0))):
        mech = kinetix.load_mechanism(f"cantera:{source}")
        batch = mech.with_conditions([{"temperature": T, "equivalence_ratio": 1.0, "fuel": fuel}
                                      for T in temperatures])
        began = time.perf_counter()
        ours = find_peaks(batch.mechanism, batch.y0, "T", log_times(1e-7, 0.1, 50), rtol=1e-8, atol=1e-12).time
        seconds = time.perf_counter() - began
        for T, tau in zip(temperatures, ours):
            reference = ignition_delay(source, T, ct.one_atm, equivalence_ratio=1.0, fuel=fuel)
            rows.append({"mixture": f"{fuel}/air, phi 1, 1 atm", "T0 K": int(T), "Cantera tau s": f"{reference:.6e}",
                         "kinetix tau s": f"{tau:.6e}", "relative difference": f"{tau / reference - 1:+.1e}"})
        rows.append({"mixture": f"(kinetix: one batch of {len(temperatures)}, {seconds:.1f} s)"})
    return ("### Ignition delays: kinetix (rodas5p, rtol 1e-8, atol 1e-12) vs Cantera ReactorNet (rtol 1e-12, "
            "atol 1e-20)\n\n"
            + table(rows, ["mixture", "T0 K", "Cantera tau s", "kinetix tau s", "relative difference"]))


# ------------------------------------------------------------------------------ speed

def cantera_ignitions(gas, states, pressure, times, rtol, atol) -> np.ndarray:
    """Each initial state ``[T, Y]`` in its own Cantera reactor (constant pressure) on ``gas`` (a
    ``cantera.Solution``, loaded beforehand): ``(N, T, 1 + K)`` at ``times``."""
    out = np.empty((len(states), len(times), len(states[0])))
    for member, state in enumerate(states):
        gas.TPY = state[0], pressure, state[1:]
        reactor = ct.IdealGasConstPressureReactor(gas, clone=False)
        network = ct.ReactorNet([reactor])
        network.rtol, network.atol = rtol, atol
        for i, t in enumerate(times):
            network.advance(t)
            out[member, i] = [reactor.T, *gas.Y]
    return out


def kinetix_ignitions(mech, y0, times, compile_, **tolerances) -> torch.Tensor:
    """``compile_``: False, True (each step compiled) or ``"solve"`` (the whole solve compiled)."""
    options = {"options": {"compile": compile_}} if compile_ else {}
    with torch.no_grad():
        return kinetix.integrate_mechanism(mech, y0, times, **tolerances, **options).ys.transpose(0, 1)


def timed_kinetix(mech, y0, times, compile_, repeats: int, **tolerances):
    """``(seconds, states, compile seconds)``; compiled: the first run, minus a run's time, is compilation."""
    if compile_:
        began = time.perf_counter()
        kinetix_ignitions(mech, y0, times, compile_, **tolerances)
        first = time.perf_counter() - began
        seconds, states = median_time(lambda: kinetix_ignitions(mech, y0, times, compile_, **tolerances), repeats)
        return seconds, states, first - seconds
    seconds, states = median_time(lambda: kinetix_ignitions(mech, y0, times, False, **tolerances), repeats)
    return seconds, states, None


def batch(count: int, repeats: int, compile_: bool) -> str:
    source = "h2o2.yaml"
    mech = kinetix.load_mechanism(f"cantera:{source}", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    temperatures = np.random.default_rng(0).uniform(1000.0, 1300.0, count)
    y0 = mech.initial_state().repeat(count, 1)
    y0[:, 0] = torch.tensor(temperatures)
    times = log_times(1e-6, 1e-3, 100 / 3)
    gas = ct.Solution(source)
    reference = cantera_ignitions(gas, y0.numpy(), ct.one_atm, times.numpy(), 1e-10, 1e-16)

    def error(states):
        return float(np.abs(np.asarray(states)[..., 0] - reference[..., 0]).max())

    rows = []
    for rtol, atol in ((1e-6, 1e-12), (1e-6, 1e-15), (1e-8, 1e-15)):
        seconds, states = median_time(lambda: cantera_ignitions(gas, y0.numpy(), ct.one_atm, times.numpy(), rtol, atol),
                                      repeats)
        rows.append({"integrator": f"Cantera ReactorNet, {count} one after another", "rtol": rtol, "atol": atol,
                     "time s": seconds, "ms per ignition": seconds / count * 1e3, "max T error K": error(states)})
    cantera = rows[0]["time s"]
    for rtol in (1e-6, 1e-5, 1e-4):
        for compiled in (False, True) if compile_ else (False,):
            seconds, states, compilation = timed_kinetix(mech, y0, times, compiled, repeats, rtol=rtol, atol=1e-12)
            label = "kinetix rodas5p, one batched solve" + (", compiled" if compiled else "")
            if compiled and compilation > 1:
                label += f" (compile {compilation:.0f} s)"
            rows.append({"integrator": label, "rtol": rtol, "atol": 1e-12, "time s": seconds,
                         "ms per ignition": seconds / count * 1e3, "max T error K": error(states)})
    for row in rows:
        row["Cantera (1e-6, 1e-12) / this"] = cantera / row["time s"]
    return (f"### {count} H2/air ignitions (phi 1, 1 atm, T0 uniform in 1000-1300 K) to 1 ms, 100 output times; "
            "errors against Cantera at rtol 1e-10, atol 1e-16\n\n"
            + table(rows, ["integrator", "rtol", "atol", "time s", "ms per ignition", "Cantera (1e-6, 1e-12) / this",
                           "max T error K"]))


def single(repeats: int, compile_: bool) -> str:
    rows = []
    for source, fuel, T0, t_end in (("h2o2.yaml", "H2", 1200.0, 1e-3), ("gri30.yaml", "CH4", 1500.0, 1e-2)):
        mech = kinetix.load_mechanism(f"cantera:{source}", temperature=T0, equivalence_ratio=1.0, fuel=fuel)
        y0 = mech.initial_state()[None]
        times = torch.tensor([t_end], dtype=torch.float64)
        gas = ct.Solution(source)
        theirs_run = lambda: cantera_ignitions(gas, y0.numpy(), ct.one_atm, [t_end], 1e-6, 1e-12)  # noqa: E731
        cantera, theirs = median_time(theirs_run, repeats)
        label = f"{fuel}/air {T0:.0f} K to {t_end * 1e3:g} ms"
        rows.append({"ignition": label, "integrator": "Cantera ReactorNet", "time ms": cantera * 1e3,
                     "time / Cantera": 1.0, "time / Cantera, paired": 1.0, "T(t_end) K": theirs[0, -1, 0]})
        for compiled in (False, True, "solve") if compile_ else (False,):
            seconds, ours, compilation = timed_kinetix(mech, y0, times, compiled, repeats, rtol=1e-6, atol=1e-12)
            name = "kinetix rodas5p" + ({True: ", each step compiled", "solve": ", whole solve compiled"}.get(compiled, "")
                                        + (f" (compile {compilation:.0f} s)" if compiled else ""))
            paired = paired_ratio(theirs_run, lambda: kinetix_ignitions(mech, y0, times, compiled, rtol=1e-6, atol=1e-12),
                                  repeats)
            rows.append({"ignition": label, "integrator": name, "time ms": seconds * 1e3,
                         "time / Cantera": seconds / cantera, "time / Cantera, paired": 1.0 / paired,
                         "T(t_end) K": float(ours[0, -1, 0])})
    return ("### One ignition (phi 1, 1 atm), rtol 1e-6, atol 1e-12\n\n"
            + table(rows, ["ignition", "integrator", "time ms", "time / Cantera", "time / Cantera, paired", "T(t_end) K"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["rates", "accuracy", "batch", "single"])
    parser.add_argument("--states", type=int, default=10_000, help="states in the rates section")
    parser.add_argument("--large-states", type=int, default=1_000, help="states for n-hexane in the rates section")
    parser.add_argument("--batch", type=int, default=256, help="ignitions in the batch section")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd variants")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="kinetix-inductor-")  # honest compile times
    print(f"machine: {machine()}; cantera {ct.__version__}; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f}\n", flush=True)
    sections = {"rates": lambda: rates(args.states, args.large_states, args.repeats, not args.no_compile),
                "accuracy": accuracy,
                "batch": lambda: batch(args.batch, args.repeats, not args.no_compile),
                "single": lambda: single(args.repeats, not args.no_compile)}
    for name, section in sections.items():
        if args.only in (None, name):
            print(section(), "\n", flush=True)


if __name__ == "__main__":
    main()
