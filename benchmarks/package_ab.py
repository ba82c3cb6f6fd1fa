"""A/B of two versions of the compiled solve: each version's package for the same problem, run in turn on
the same inputs in one process (CPU time), so that this machine's drift between processes (±30 %) cancels.

    # in each checkout, A then B: build the problem's package and keep it with its inputs
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/package_ab.py capture robertson A.pt
    # in either checkout: the two packages against each other
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/package_ab.py compare A.pt B.pt --repeats 60

Problems (rodas5p): ``robertson`` (one trajectory, 50 output times, rtol 1e-6), ``pollu`` (20 times,
rtol 1e-6), ``h2`` (one H2/air ignition, 1200 K, to 1 ms, rtol 1e-6), ``h2-256`` (256 ignitions from
1000-1300 K, 100 output times, rtol 1e-4), ``ch4`` (one CH4/air ignition on gri30, 1500 K, to 10 ms,
rtol 1e-6). A package's name covers kinetix's sources, so two checkouts build two packages and may share
``KINETIX_CACHE_DIR``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from common import machine

import kinetix
from kinetix.data.conditions import log_times
from kinetix.solvers import package


def problem(name: str) -> tuple:
    """``(mechanism, y0, times, tolerances)``."""
    if name in ("robertson", "pollu"):
        times = np.logspace(-5, 5, 50) if name == "robertson" else np.linspace(0, 60, 20)
        return kinetix.load_mechanism(name), None, torch.as_tensor(times), {"rtol": 1e-6, "atol": 1e-10}
    if name == "ch4":
        mechanism = kinetix.load_mechanism("cantera:gri30.yaml", temperature=1500.0, equivalence_ratio=1.0, fuel="CH4")
        return mechanism, mechanism.initial_state()[None], torch.tensor([1e-2], dtype=torch.float64), \
            {"rtol": 1e-6, "atol": 1e-12}
    mechanism = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    if name == "h2":
        return mechanism, mechanism.initial_state()[None], torch.tensor([1e-3], dtype=torch.float64), \
            {"rtol": 1e-6, "atol": 1e-12}
    y0 = mechanism.initial_state().repeat(256, 1)
    y0[:, 0] = torch.tensor(np.random.default_rng(0).uniform(1000.0, 1300.0, 256))
    return mechanism, y0, log_times(1e-6, 1e-3, 100 / 3), {"rtol": 1e-4, "atol": 1e-12}


def capture(name: str, out: Path) -> None:
    """Solve ``name`` with its whole solve compiled (building the package if needed), then once more to
    record the package's path and the inputs it was run on; write both to ``out``."""
    mechanism, y0, times, tolerances = problem(name)
    solve = lambda: kinetix.integrate_mechanism(mechanism, y0, times, **tolerances, options={"compile": "solve"})  # noqa: E731
    with torch.no_grad():
        solve()
        if len(package._LOADED) != 1:
            raise SystemExit(f"{name}: expected one solve package in this process, found {len(package._LOADED)} "
                             "(no C++ compiler, or the solve fell back to compiling in the process)")
        (path, run), = package._LOADED.items()
        inputs = []

        def recorded(*arguments):
            inputs.append([argument.clone() for argument in arguments])
            return run(*arguments)

        package._LOADED[path] = recorded
        solve()
    torch.save({"problem": name, "path": str(path), "inputs": inputs[0]}, out)
    print(f"{name}: {path} -> {out}")


def compare(a: Path, b: Path, repeats: int) -> None:
    first, second = torch.load(a), torch.load(b)
    if first["problem"] != second["problem"]:
        raise SystemExit(f"{a} holds {first['problem']!r} but {b} holds {second['problem']!r}: capture the same problem")
    run_a, run_b = package.load(Path(first["path"])), package.load(Path(second["path"]))
    inputs = first["inputs"]
    out_a, out_b = run_a(*inputs), run_b(*inputs)  # (t, attempts, accepted, status, values)
    difference = float((out_a[-1] - out_b[-1]).abs().max())
    times_a, times_b = [], []
    for _ in range(repeats):  # in turn, so that each pair of calls sees the machine at the same speed
        for runs, times in ((run_a, times_a), (run_b, times_b)):
            began = time.process_time()
            runs(*inputs)
            times.append(time.process_time() - began)
    ratio = statistics.median(a / b for a, b in zip(times_a, times_b))
    print(f"{machine()}\n{first['problem']}: attempts A {int(out_a[1].max())}, B {int(out_b[1].max())}; "
          f"outputs differ by {difference:.3g} at most\n"
          f"A {statistics.median(times_a) * 1e3:.3f} ms, B {statistics.median(times_b) * 1e3:.3f} ms (medians of "
          f"{repeats}, CPU time); A / B {ratio:.3f} (median of paired ratios)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    captured = commands.add_parser("capture", help="build a problem's package and keep it with its inputs")
    captured.add_argument("problem", choices=["robertson", "pollu", "h2", "h2-256", "ch4"])
    captured.add_argument("out", type=Path)
    compared = commands.add_parser("compare", help="time two captured packages against each other")
    compared.add_argument("a", type=Path)
    compared.add_argument("b", type=Path)
    compared.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "capture":
        capture(args.problem, args.out)
    else:
        compare(args.a, args.b, args.repeats)


if __name__ == "__main__":
    main()
