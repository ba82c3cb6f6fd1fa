"""Engine benchmarks: single stiff trajectories, the IVP test-set problems HIRES and OREGO, operator
calls per step and thread counts; kinetix against scipy (and diffrax, when installed) in one process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine.py [--only single|testset|threads|operators] [--repeats N]

The batch and gradient tables come from benchmarks/solvers.py (``--only batch``, ``--only gradient``).
Compile times are reported apart from run times; every time is a median after one warm-up.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from common import REPO, machine, median_time, references as ref, table

import kinetix

try:
    from peers import diffrax_peer
except ImportError:  # pragma: no cover
    diffrax_peer = None
DIFFRAX = diffrax_peer is not None and diffrax_peer.AVAILABLE


# ---------------------------------------------------------------- HIRES and OREGO (Hairer & Wanner II; IVP test set)

def hires(y):
    """HIRES (8 species), ``y`` ``(..., 8)``; works on numpy arrays and torch tensors alike."""
    y1, y2, y3, y4, y5, y6, y7, y8 = (y[..., i] for i in range(8))
    stack = torch.stack if isinstance(y, torch.Tensor) else (lambda parts, dim: np.stack(parts, axis=dim))
    return stack([-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007, 1.71 * y1 - 8.75 * y2,
                  -10.03 * y3 + 0.43 * y4 + 0.035 * y5, 8.32 * y2 + 1.71 * y3 - 1.12 * y4,
                  -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
                  -280 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
                  280 * y6 * y8 - 1.81 * y7, -280 * y6 * y8 + 1.81 * y7], -1)


def orego(y):
    """OREGO (the Oregonator, 3 species), ``y`` ``(..., 3)``."""
    y1, y2, y3 = (y[..., i] for i in range(3))
    stack = torch.stack if isinstance(y, torch.Tensor) else (lambda parts, dim: np.stack(parts, axis=dim))
    return stack([77.27 * (y2 + y1 * (1 - 8.375e-6 * y1 - y2)), (y3 - (1 + y1) * y2) / 77.27, 0.161 * (y1 - y3)], -1)


TEST_SET = {  # name: (field, y0, end)
    "hires": (hires, [1.0, 0, 0, 0, 0, 0, 0, 0.0057], 321.8122),
    "orego": (orego, [1.0, 2.0, 3.0], 360.0),
}


def numeric_jacobian(field):
    def jac(t, y):
        return torch.func.jacrev(lambda state: field(state))(torch.as_tensor(y)).numpy()
    return jac


def correct_digits(values, reference) -> float:
    """-log10 of the largest error relative to each component's size (floored at 1e-8 of its maximum)."""
    floor = 1e-8 * np.abs(reference).max(axis=0, keepdims=True)
    error = np.abs(values - reference) / np.maximum(np.abs(reference), floor)
    return float(-np.log10(max(error.max(), 1e-17)))


def timed_compile(function) -> tuple[float, object]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


def kinetix_field(field):
    def f(t, y):
        return field(y)
    f.autonomous = True
    return f


def single(repeats: int) -> str:
    """Robertson [0, 1e5] and POLLU [0, 60], rtol 1e-6, atol 1e-10."""
    grids = {"robertson": np.concatenate([[0.0], np.logspace(-5, 5, 50)]), "pollu": np.linspace(0, 60, 20)}
    problems = {"robertson": (ref.robertson_rhs, ref.robertson_jac, [1.0, 0.0, 0.0]),
                "pollu": (ref.pollu_rhs, ref.pollu_jac, ref.POLLU_Y0)}
    rows = []
    for name, times in grids.items():
        rhs, jac, y0 = problems[name]
        reference = solve_ivp(rhs, (0, times[-1]), y0, method="Radau", t_eval=times, rtol=1e-13, atol=1e-22,
                              jac=jac).y.T
        mechanism = kinetix.load_mechanism(name)
        entries = []
        for method in ("BDF", "Radau", "LSODA"):
            seconds, solution = median_time(lambda: solve_ivp(rhs, (0, times[-1]), y0, method=method, t_eval=times,
                                                              rtol=1e-6, atol=1e-10, jac=jac), repeats)
            entries.append((f"scipy {method}", seconds, "", correct_digits(solution.y.T, reference)))
        if DIFFRAX:
            peer = diffrax_peer.robertson if name == "robertson" else diffrax_peer.pollu
            result = peer(times[1:] if name == "robertson" else times, 1e-6, 1e-10, solver="Kvaerno5", repeats=repeats)
            entries.append(("diffrax Kvaerno5", result["run_s"], result["compile_s"], ""))
        t = torch.as_tensor(times)
        for method, options in (("rodas5p", {}), ("kvaerno5", {}), ("rodas5p", {"compile": True}),
                                ("rodas5p", {"compile": "solve"})):
            def run():
                with torch.no_grad():
                    return kinetix.integrate_mechanism(mechanism, t=t, method=method, rtol=1e-6, atol=1e-10,
                                                       options=dict(options))
            compile_s = timed_compile(run)[0] if options else ""
            seconds, solution = median_time(run, repeats)
            label = f"kinetix {method}" + {None: "", True: ", each step compiled",
                                           "solve": ", whole solve compiled"}[options.get("compile")]
            entries.append((label, seconds, compile_s, correct_digits(solution.ys.numpy(), reference)))
        bdf = entries[0][1]
        for label, seconds, compile_s, digits in entries:
            rows.append({"problem": name, "solver": label, "time ms": seconds * 1e3, "time / scipy BDF": seconds / bdf,
                         "compile s": compile_s, "digits": digits})
    return ("### One trajectory, rtol 1e-6, atol 1e-10 (analytic Jacobians; digits against Radau at 1e-13)\n\n"
            + table(rows, ["problem", "solver", "time ms", "time / scipy BDF", "compile s", "digits"]))


def testset(repeats: int) -> str:
    """HIRES and OREGO at rtol 1e-8 against scipy Radau at the same tolerance."""
    rows = []
    for name, (field, y0, end) in TEST_SET.items():
        times = np.linspace(0, end, 11)
        jac = numeric_jacobian(field)
        rhs = lambda t, y: field(np.asarray(y))  # noqa: E731
        reference = solve_ivp(rhs, (0, end), y0, method="Radau", t_eval=times, rtol=1e-13, atol=1e-16, jac=jac).y.T
        entries = []
        for method in ("Radau", "BDF"):
            seconds, solution = median_time(lambda: solve_ivp(rhs, (0, end), y0, method=method, t_eval=times,
                                                              rtol=1e-8, atol=1e-12, jac=jac), repeats)
            entries.append((f"scipy {method}", seconds, "", correct_digits(solution.y.T, reference)))
        f = kinetix_field(field)
        for method, options in (("rodas5p", {}), ("kvaerno5", {}), ("rodas5p", {"compile": "solve"})):
            def run():
                with torch.no_grad():
                    return kinetix.solve(f, torch.tensor(y0, dtype=torch.float64), torch.as_tensor(times),
                                         method=method, rtol=1e-8, atol=1e-12, options=dict(options))
            compile_s = timed_compile(run)[0] if options else ""
            seconds, solution = median_time(run, repeats)
            attempts = int(solution.stats.steps[0] + solution.stats.rejected[0])
            label = f"kinetix {method}" + (", whole solve compiled" if options else "")
            entries.append((f"{label} ({attempts} steps, {1e3 * seconds / attempts:.3f} ms each)", seconds, compile_s,
                            correct_digits(solution.ys.numpy(), reference)))
        radau = entries[0][1]
        for label, seconds, compile_s, digits in entries:
            rows.append({"problem": name, "solver": label, "time ms": seconds * 1e3, "time / scipy Radau": seconds / radau,
                         "compile s": compile_s, "digits": digits})
    return ("### IVP test set: HIRES and OREGO, rtol 1e-8, atol 1e-12 (digits against Radau at 1e-13)\n\n"
            + table(rows, ["problem", "solver", "time ms", "time / scipy Radau", "compile s", "digits"]))


_SECOND_PROCESS = """
import time
began = time.perf_counter()
import torch, kinetix
mechanism = kinetix.load_mechanism("robertson")
with torch.no_grad():
    kinetix.integrate_mechanism(mechanism, y0={y0}, rtol=1e-6, atol=1e-10, options={{"compile": "solve"}})
print(time.perf_counter() - began)
"""


def compiled(repeats: int) -> str:
    """One Robertson trajectory and 1024 of them: the eager loop against the whole solve compiled
    (``compile="solve"``); compile time and a second process's start apart."""
    import subprocess

    mechanism = kinetix.load_mechanism("robertson")
    rng = np.random.default_rng(0)
    y1 = torch.as_tensor(rng.uniform(0.5, 1.0, 1024))
    batch = torch.stack([y1, torch.zeros_like(y1), 1 - y1], dim=1)
    rows = []
    for label, y0, literal in (("1 trajectory", None, "None"),
                               ("1024 trajectories", batch, "torch.tensor([[0.75, 0.0, 0.25]] * 1024)")):
        def run(**options):
            with torch.no_grad():
                return kinetix.integrate_mechanism(mechanism, y0, rtol=1e-6, atol=1e-10, options=options)

        eager, reference = median_time(run, repeats)
        compile_s = timed_compile(lambda: run(compile="solve"))[0]
        seconds, solution = median_time(lambda: run(compile="solve"), repeats)
        second = subprocess.run([sys.executable, "-c", _SECOND_PROCESS.format(y0=literal)], capture_output=True,
                                text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append({"problem": label, "eager ms": eager * 1e3, "compiled ms": seconds * 1e3,
                     "eager / compiled": eager / seconds, "compile s (first process)": compile_s,
                     "second process: start + first solve s": float(second),
                     "same steps": bool((solution.stats.steps == reference.stats.steps).all()),
                     "max rel. difference": float(((solution.ys - reference.ys).abs()
                                                   / reference.ys.abs().clamp(min=1e-300)).max())})
    return ("### The whole solve compiled (Robertson, rodas5p, rtol 1e-6, default grid)\n\n"
            + table(rows, ["problem", "eager ms", "compiled ms", "eager / compiled", "compile s (first process)",
                           "second process: start + first solve s", "same steps", "max rel. difference"]))


def threads(repeats: int) -> str:
    """The same batched Robertson solve with one and two CPU threads, per batch size."""
    mechanism = kinetix.load_mechanism("robertson")
    rows = []
    rng = np.random.default_rng(0)
    for batch in (1, 64, 1024, 8192):
        y1 = torch.as_tensor(rng.uniform(0.5, 1.0, batch))
        y0 = torch.stack([y1, torch.zeros_like(y1), 1 - y1], dim=1)
        times = {}
        for count in (1, 2):
            def run():
                with torch.no_grad():
                    return kinetix.integrate_mechanism(mechanism, y0, method="rodas5p", rtol=1e-6, atol=1e-10,
                                                       options={"threads": count})
            times[count] = median_time(run, repeats)[0]
        rows.append({"batch": batch, "1 thread s": times[1], "2 threads s": times[2], "2 / 1": times[2] / times[1]})
    return ("### Threads: one batched Robertson solve (rodas5p, rtol 1e-6, default grid)\n\n"
            + table(rows, ["batch", "1 thread s", "2 threads s", "2 / 1"]))


def operators() -> str:
    """Torch operator calls per attempted step, counted at dispatch (views included)."""
    sys.path.insert(0, str(REPO / "tests" / "solvers"))
    from test_operator_count import OperatorCount

    rows = []
    for name in ("robertson", "pollu"):
        mechanism = kinetix.load_mechanism(name)
        for method in ("rodas5p", "kvaerno5"):
            counter = OperatorCount()
            with counter, torch.no_grad():
                solution = kinetix.integrate_mechanism(mechanism, method=method, rtol=1e-6, atol=1e-10)
            attempts = int(solution.stats.steps[0] + solution.stats.rejected[0])
            rows.append({"problem": name, "method": method, "steps": attempts,
                         "operator calls per step": sum(counter.calls.values()) / attempts})
    return "### Torch operator calls per attempted step (no gradient recorded)\n\n" + table(
        rows, ["problem", "method", "steps", "operator calls per step"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["single", "testset", "compiled", "threads", "operators"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}; diffrax {'installed' if DIFFRAX else 'not installed'}\n")
    sections = {"single": lambda: single(args.repeats), "testset": lambda: testset(args.repeats),
                "compiled": lambda: compiled(args.repeats),
                "threads": lambda: threads(args.repeats), "operators": operators}
    for name, section in sections.items():
        if args.only in (None, name):
            print(section(), "\n", flush=True)


if __name__ == "__main__":
    main()
