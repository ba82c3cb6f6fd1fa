"""Net production rates of Cantera mechanisms: kinetix-cantera (one batched call) vs Cantera (a loop).

    .venv/bin/python benchmarks/cantera_rates.py [--states 10000] [--threads N] [--device cuda] [--compile]

For each mechanism, ``--states`` random states (T 800-2500 K, P 0.5-20 atm, random compositions)
are evaluated by ``Kinetics.net_production_rates`` in one call and by Cantera state by state
(``gas.TPY = ...; gas.net_production_rates``). Prints the best of ``--repeats`` wall times, the
ratio, and the largest relative difference between the two results (to show they agree).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cantera as ct
import numpy as np
import torch

from kinetix_cantera import Kinetics

MECHANISMS = ("gri30.yaml", "h2o2.yaml")


def best_time(function, repeats: int) -> float:
    """The shortest of ``repeats`` wall times of ``function()`` [s]."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def benchmark(source: str, count: int, repeats: int, device: str, compile_: bool) -> None:
    gas = ct.Solution(source)
    kinetics = Kinetics(source).to(device)
    rng = np.random.default_rng(0)
    T = rng.uniform(800.0, 2500.0, count)
    P = ct.one_atm * rng.uniform(0.5, 20.0, count)
    Y = rng.random((count, gas.n_species))
    Y /= Y.sum(axis=1, keepdims=True)
    T_, P_, Y_ = (torch.tensor(x, device=device) for x in (T, P, Y))

    rates = torch.compile(kinetics.net_production_rates, dynamic=False) if compile_ else kinetics.net_production_rates
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def ours():
        rates(T_, P_, Y_)
        synchronise()

    ours()  # warm-up (and compilation)
    ours_time = best_time(ours, repeats)
    omega = rates(T_, P_, Y_).cpu().numpy()

    theirs = np.empty_like(omega)

    def cantera_loop():
        for i in range(count):
            gas.TPY = T[i], P[i], Y[i]
            theirs[i] = gas.net_production_rates

    cantera_time = best_time(cantera_loop, repeats)
    gross = np.empty_like(omega)
    for i in range(count):
        gas.TPY = T[i], P[i], Y[i]
        gross[i] = gas.creation_rates + gas.destruction_rates
    difference = np.max(np.abs(omega - theirs) / np.maximum(gross, 1e-300))

    print(f"{source:12s} K={gas.n_species:3d} R={gas.n_reactions:4d}  {count} states: "
          f"kinetix-cantera {ours_time * 1e3:8.1f} ms ({ours_time / count * 1e6:6.2f} us/state)  "
          f"Cantera loop {cantera_time * 1e3:8.1f} ms ({cantera_time / count * 1e6:6.2f} us/state)  "
          f"ratio {cantera_time / ours_time:5.1f}x  max |difference| / gross rate {difference:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the rate function first")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads, device {arguments.device}{', compiled' if arguments.compile else ''}), "
          f"cantera {ct.__version__}")
    for source in MECHANISMS:
        benchmark(source, arguments.states, arguments.repeats, arguments.device, arguments.compile)


if __name__ == "__main__":
    main()
