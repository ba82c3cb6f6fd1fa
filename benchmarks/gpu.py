"""kinetix on a CUDA device against the same code on this machine's CPU, and against Cantera.

    .venv/bin/python benchmarks/gpu.py              # on a machine with CUDA: the issue's sizes
    .venv/bin/python benchmarks/gpu.py --small      # small sizes, on the CPU too: checks the script

One prepared run for a machine with a GPU (the sizes of the engine issue); every section times one call
after a warm-up call, the device synchronised, and scales the CPU's and Cantera's time on a subset to the
full size (both are per-member loops or batches whose cost is linear in the members):

- robertson: N members (default 100,000; y1(0) uniform in [0.5, 1], y3 = 1 - y1) in one batched rodas5p
  solve, rtol 1e-6, atol 1e-10, 50 output times to 1e5; the CPU's time for 1024 members; the largest
  difference of the first 64 members from the CPU solve, relative to the species' range;
- ignitions: N H2/air ignitions (default 10,000; T0 uniform in 1000-1300 K, 1 atm, phi 1) to 1 ms in one
  batched solve at rtol 1e-5, atol 1e-12; Cantera one reactor after another for 64; the largest
  temperature difference of the first 64 from Cantera at rtol 1e-10, atol 1e-16;
- rates: gri30 net production rates of N random states (default 1,000,000, in chunks of 100,000); a
  Cantera loop over 10,000 states; the largest difference from Cantera relative to the gross rate.
"""

from __future__ import annotations

import argparse
import time

import cantera as ct
import numpy as np
import torch

from cantera_comparison import cantera_ignitions
from common import machine, table

import kinetix
from kinetix.data.conditions import log_times
from kinetix_cantera import Kinetics

CHUNK = 100_000  # states per rates call on the device
COLUMNS = ["section", "device s", "peer", "peer s (scaled)", "peer / device", "agreement"]


def timed(function, device: torch.device) -> tuple[float, object]:
    """Seconds of one call of ``function()`` after a warm-up call, the device synchronised; and its result."""
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - began, result


def robertson(count: int, device: torch.device) -> dict:
    rng = np.random.default_rng(0)
    y1 = rng.uniform(0.5, 1.0, count)
    y0 = torch.tensor(np.stack([y1, np.zeros_like(y1), 1 - y1], axis=1))
    times = torch.logspace(-5, 5, 50, dtype=torch.float64)
    mechanism = kinetix.load_mechanism("robertson")

    def solve(mech, y, t):
        with torch.no_grad():
            return kinetix.integrate_mechanism(mech, y, t, rtol=1e-6, atol=1e-10).ys

    subset = min(count, 1024)
    cpu, reference = timed(lambda: solve(mechanism, y0[:subset], times), torch.device("cpu"))
    seconds, ys = timed(lambda: solve(mechanism.to(device), y0.to(device), times.to(device)), device)
    difference = (ys[:, :64].cpu() - reference[:, :64]).abs().amax(dim=(0, 1)) / reference.abs().amax(dim=(0, 1))
    return {"section": f"Robertson, {count} members, rodas5p rtol 1e-6", "device s": seconds,
            "peer": f"this code on the CPU, {subset} members", "peer s (scaled)": cpu * count / subset,
            "agreement": f"{float(difference.max()):.3g}"}


def ignitions(count: int, device: torch.device) -> dict:
    mech = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    y0 = mech.initial_state().repeat(count, 1)
    y0[:, 0] = torch.tensor(np.random.default_rng(0).uniform(1000.0, 1300.0, count))
    times = log_times(1e-6, 1e-3, 100 / 3)
    gas, subset = ct.Solution("h2o2.yaml"), min(count, 64)
    began = time.process_time()
    cantera_ignitions(gas, y0[:subset].numpy(), ct.one_atm, times.numpy(), 1e-6, 1e-12)
    cantera = (time.process_time() - began) * count / subset
    reference = cantera_ignitions(gas, y0[:subset].numpy(), ct.one_atm, times.numpy(), 1e-10, 1e-16)

    def solve():
        with torch.no_grad():
            return kinetix.integrate_mechanism(mech.to(device), y0.to(device), times.to(device), rtol=1e-5,
                                               atol=1e-12).ys

    seconds, ys = timed(solve, device)
    error = float(np.abs(ys[:, :subset, 0].cpu().numpy().T - reference[..., 0]).max())
    return {"section": f"H2/air, {count} ignitions to 1 ms, rodas5p rtol 1e-5", "device s": seconds,
            "peer": f"Cantera (rtol 1e-6, atol 1e-12), {subset} one by one", "peer s (scaled)": cantera,
            "agreement": f"{error:.3g} K"}


def rates(count: int, device: torch.device) -> dict:
    gas, kinetics = ct.Solution("gri30.yaml", transport_model=None), Kinetics("gri30.yaml")
    rng = np.random.default_rng(0)
    T = rng.uniform(800.0, 2500.0, count)
    P = ct.one_atm * rng.uniform(0.5, 20.0, count)
    Y = rng.random((count, gas.n_species))
    Y /= Y.sum(axis=1, keepdims=True)
    subset = min(count, 10_000)
    began = time.process_time()
    theirs, gross = np.empty((subset, gas.n_species)), np.empty((subset, gas.n_species))
    for i in range(subset):
        gas.TPY = T[i], P[i], Y[i]
        theirs[i] = gas.net_production_rates
    cantera = (time.process_time() - began) * count / subset
    for i in range(subset):
        gas.TPY = T[i], P[i], Y[i]
        gross[i] = gas.creation_rates + gas.destruction_rates
    on_device = kinetics.to(device)
    T_, P_, Y_ = (torch.tensor(x, device=device) for x in (T, P, Y))

    def evaluate():
        with torch.no_grad():
            return torch.cat([on_device.net_production_rates(T_[i:i + CHUNK], P_[i:i + CHUNK], Y_[i:i + CHUNK])
                              for i in range(0, count, CHUNK)])

    seconds, omega = timed(evaluate, device)
    difference = float(np.max(np.abs(omega[:subset].cpu().numpy() - theirs) / np.maximum(gross, 1e-300)))
    return {"section": f"gri30 net production rates, {count} states", "device s": seconds,
            "peer": f"a Cantera loop over {subset}", "peer s (scaled)": cantera, "agreement": f"{difference:.3g}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="256 members, 16 ignitions, 20,000 states")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", choices=["robertson", "ignitions", "rates"])
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = {"robertson": 256, "ignitions": 16, "rates": 20_000} if args.small else \
        {"robertson": 100_000, "ignitions": 10_000, "rates": 1_000_000}
    print(f"machine: {machine()}; device {device}; cantera {ct.__version__}")
    rows = []
    for name, section in (("robertson", robertson), ("ignitions", ignitions), ("rates", rates)):
        if args.only in (None, name):
            row = section(sizes[name], device)
            rows.append({**row, "peer / device": row["peer s (scaled)"] / row["device s"]})
            print(table(rows[-1:], COLUMNS), flush=True)  # each section as it ends: a run cut short keeps them
    print("\n" + table(rows, COLUMNS))


if __name__ == "__main__":
    main()
