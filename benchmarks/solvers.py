"""Solver benchmarks: kinetix's stiff methods against scipy and diffrax, in one process.

    .venv/bin/python benchmarks/solvers.py            # everything (several minutes)
    .venv/bin/python benchmarks/solvers.py --quick    # fewer repeats, batch peer extrapolated

Prints Markdown tables with every ratio; docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from common import machine, median_time, references as ref, table

import kinetix
from kinetix.networks import ScaledMLP

try:
    from peers import diffrax_peer
except ImportError:  # pragma: no cover
    diffrax_peer = None
DIFFRAX = diffrax_peer is not None and diffrax_peer.AVAILABLE

METHODS = ("rodas5p", "rodas4", "rodas3p")
SCIPY = ("BDF", "Radau", "LSODA")
PROBLEMS = {
    "robertson": (ref.robertson_rhs, ref.robertson_jac, np.array([1.0, 0.0, 0.0])),
    "pollu": (ref.pollu_rhs, ref.pollu_jac, ref.POLLU_Y0),
}


def scipy_solve(problem, times, method, rtol, atol):
    rhs, jac, y0 = PROBLEMS[problem]
    solution = solve_ivp(rhs, (0.0, times[-1]), y0, method=method, t_eval=times, rtol=rtol, atol=atol, jac=jac)
    if not solution.success:
        raise RuntimeError(f"scipy {method} failed on {problem}: {solution.message}")
    return solution


def kinetix_solve(mechanism, times, method, rtol, atol, y0=None, **options):
    with torch.no_grad():
        return kinetix.integrate_mechanism(mechanism, y0, torch.as_tensor(times), method=method, rtol=rtol, atol=atol,
                                           options=options)


def correct_digits(values: np.ndarray, reference: np.ndarray) -> float:
    """-log10 of the largest error relative to each component's size (floored at 1e-8 of its maximum)."""
    floor = 1e-8 * np.abs(reference).max(axis=0, keepdims=True)
    error = np.abs(values - reference) / np.maximum(np.abs(reference), floor)
    return float(-np.log10(max(error.max(), 1e-17)))


def work_precision(repeats: int) -> str:
    grids = {"robertson": np.logspace(-5, 11, 50), "pollu": np.linspace(0, 60, 20)}
    rows = []
    for problem, times in grids.items():
        reference = scipy_solve(problem, times, "Radau", 1e-13, 1e-22).y.T
        mechanism = kinetix.load_mechanism(problem)
        for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
            atol = rtol * 1e-4
            for method in METHODS:
                seconds, solution = median_time(lambda: kinetix_solve(mechanism, times, method, rtol, atol), repeats)
                rows.append({"problem": problem, "rtol": rtol, "method": method, "steps": int(solution.stats.steps),
                             "rhs evals": int(solution.stats.rhs_evals), "time ms": seconds * 1e3,
                             "digits": correct_digits(solution.ys.numpy(), reference)})
            for method in SCIPY:
                seconds, solution = median_time(lambda: scipy_solve(problem, times, method, rtol, atol), repeats)
                rows.append({"problem": problem, "rtol": rtol, "method": f"scipy {method}", "steps": "",
                             "rhs evals": solution.nfev, "time ms": seconds * 1e3,
                             "digits": correct_digits(solution.y.T, reference)})
    return ("### Work-precision (atol = 1e-4 rtol; reference: scipy Radau at rtol 1e-13)\n\n"
            + table(rows, ["problem", "rtol", "method", "steps", "rhs evals", "time ms", "digits"]))


def single_trajectory(repeats: int) -> str:
    grids = {"robertson": np.logspace(-5, 5, 50), "pollu": np.linspace(0, 60, 20)}
    rows = []
    for problem, times in grids.items():
        mechanism = kinetix.load_mechanism(problem)
        peers = {f"scipy {m}": median_time(lambda: scipy_solve(problem, times, m, 1e-6, 1e-10), repeats)[0]
                 for m in SCIPY}
        if DIFFRAX:
            solve = diffrax_peer.robertson if problem == "robertson" else diffrax_peer.pollu
            for solver in ("Kvaerno3", "Kvaerno5"):
                result = solve(times, 1e-6, 1e-10, solver=solver, repeats=repeats)
                peers[f"diffrax {solver} (compile {result['compile_s']:.1f} s)"] = result["run_s"]
        for method in METHODS:
            seconds, _ = median_time(lambda: kinetix_solve(mechanism, times, method, 1e-6, 1e-10), repeats)
            peers[f"kinetix {method}"] = seconds
        compiled = {"options": {"compile": True}}
        with torch.no_grad():
            kinetix.integrate_mechanism(mechanism, method="rodas5p", rtol=1e-6, atol=1e-10, **compiled)
            seconds, _ = median_time(lambda: kinetix.integrate_mechanism(
                mechanism, t=torch.as_tensor(times), method="rodas5p", rtol=1e-6, atol=1e-10, **compiled), repeats)
        peers["kinetix rodas5p, compiled"] = seconds
        bdf = peers["scipy BDF"]
        for name, seconds in peers.items():
            rows.append({"problem": problem, "solver": name, "time ms": seconds * 1e3, "time / scipy BDF": seconds / bdf})
    return ("### One trajectory, rtol 1e-6, atol 1e-10 (analytic Jacobians everywhere)\n\n"
            + table(rows, ["problem", "solver", "time ms", "time / scipy BDF"]))


def batch(quick: bool) -> str:
    rng = np.random.default_rng(0)
    y1 = rng.uniform(0.5, 1.0, 1024)
    y0 = np.stack([y1, np.zeros_like(y1), 1 - y1], axis=1)
    times = np.logspace(-5, 5, 50)
    mechanism = kinetix.load_mechanism("robertson")
    subset = 64 if quick else 1024
    reference = np.stack([solve_ivp(ref.robertson_rhs, (0, 1e5), y, method="Radau", t_eval=times, rtol=1e-12,
                                    atol=1e-18, jac=ref.robertson_jac).y.T for y in y0[:64]])
    rows = []
    seconds, _ = median_time(lambda: [scipy_solve_from(y, times) for y in y0[:subset]], 1)
    bdf = seconds * 1024 / subset
    bdf_digits = correct_digits(np.stack([scipy_solve_from(y, times) for y in y0[:64]]), reference)
    rows.append({"solver": "scipy BDF, loop" + (" (64 timed, x16)" if quick else ""), "time s": bdf,
                 "speed-up vs BDF loop": 1.0, "digits (64 members)": bdf_digits})
    if DIFFRAX:
        result = diffrax_peer.robertson_batch(y0, times, 1e-6, 1e-10, solver="Kvaerno3", repeats=2 if quick else 3)
        rows.append({"solver": f"diffrax Kvaerno3, vmap (compile {result['compile_s']:.1f} s)", "time s": result["run_s"],
                     "speed-up vs BDF loop": bdf / result["run_s"],
                     "digits (64 members)": correct_digits(np.asarray(result["ys"])[:64], reference)})
    for method, rtol, atol, options in (("rodas5p", 1e-6, 1e-10, {}), ("rodas4", 1e-6, 1e-10, {}),
                                        ("rodas5p", 1e-6, 1e-10, {"compile": "solve"}),
                                        ("rodas5p", 1e-7, 1e-12, {"compile": "solve"})):  # diffrax's digits
        def run():
            return kinetix_solve(mechanism, times, method, rtol, atol, torch.as_tensor(y0), **options)

        began = time.perf_counter()
        run()
        first = time.perf_counter() - began
        seconds, solution = median_time(run, 2 if quick else 3)
        label = f"kinetix {method}, one batched call" + (f", rtol {rtol:g}, atol {atol:g}" if rtol != 1e-6 else "")
        if options:
            label += f", whole solve compiled (compile {first - seconds:.0f} s)"
        rows.append({"solver": label, "time s": seconds, "speed-up vs BDF loop": bdf / seconds,
                     "digits (64 members)": correct_digits(solution.ys.transpose(0, 1).numpy()[:64], reference)})
    return ("### 1024 Robertson problems (y1(0) ~ U[0.5, 1], y3 = 1 - y1), rtol 1e-6, atol 1e-10\n\n"
            + table(rows, ["solver", "time s", "speed-up vs BDF loop", "digits (64 members)"]))


def scipy_solve_from(y0, times):
    return solve_ivp(ref.robertson_rhs, (0, times[-1]), y0, method="BDF", t_eval=times, rtol=1e-6, atol=1e-10,
                     jac=ref.robertson_jac).y.T


def paper_network(seed=0):
    """The paper's Robertson network and data: 3 -> [5 GELU] x 6 -> 3, output * y_scale / 1e5."""
    mechanism = kinetix.load_mechanism("robertson")
    times = mechanism.default_times()
    with torch.no_grad():
        data = kinetix.simulate(mechanism, rtol=1e-10, atol=1e-14)
    y_scale = data.amax(0)
    torch.manual_seed(seed)
    field = ScaledMLP(3, width=5, depth=6, output_scale=y_scale, time_scale=1e5)
    return field, times, data, y_scale


def network_loss(field, times, data, y_scale, **options):
    t = torch.cat([times.new_zeros(1), times])
    ys = kinetix.odeint(field, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), t, rtol=1e-3, atol=1e-6, **options)
    return ((ys[1:] - data).abs() / y_scale).mean()


def gradient(repeats: int, trained: str | None) -> str:
    rows = []
    cases = [("random init", paper_network())]
    if trained:
        surrogate = kinetix.Surrogate.load(trained)
        field, times, data, y_scale = paper_network()
        field.load_state_dict(surrogate.field.state_dict())
        cases.append((f"trained ({trained})", (field, times, data, y_scale)))
    for label, (field, times, data, y_scale) in cases:
        params = list(field.parameters())
        for compiled, name in ((False, ""), (True, ", each step compiled"), ("solve", ", whole solve compiled")):
            options = {"options": {"compile": compiled}} if compiled else {}

            def loss_and_grad():
                loss = network_loss(field, times, data, y_scale, **options)
                return loss, torch.autograd.grad(loss, params)

            started = time.perf_counter()
            loss_and_grad()
            first = time.perf_counter() - started
            seconds, (loss, grads) = median_time(loss_and_grad, repeats)
            if compiled:
                name += f" (compile {first - seconds:.0f} s)"
            rows.append({"network": label, "implementation": "kinetix rodas5p" + name,
                         "loss": float(loss.detach()), "time ms": seconds * 1e3})
        flat = torch.cat([g.reshape(-1) for g in grads])
        worst = 0.0
        for index in torch.linspace(0, flat.numel() - 1, 12).long().tolist():
            param, offset = _locate(params, index)
            with torch.no_grad():
                original = param.view(-1)[offset].item()
                step = 1e-6 * max(abs(original), 1e-2)
                param.view(-1)[offset] = original + step
                plus = network_loss(field, times, data, y_scale).item()
                param.view(-1)[offset] = original - step
                minus = network_loss(field, times, data, y_scale).item()
                param.view(-1)[offset] = original
            fd = (plus - minus) / (2 * step)
            worst = max(worst, abs(fd - flat[index].item()) / max(flat.abs().max().item(), 1e-300))
        rows[-1]["max |grad - FD| / max|grad|"] = worst
        if DIFFRAX and not field.sinh_output:
            weights = [(layer.weight.detach(), layer.bias.detach()) for layer in field.layers]
            result = diffrax_peer.robertson_network_loss_and_grad(
                weights, times.numpy(), data.numpy(), y_scale.numpy(), float(field.time_scale), solver="Kvaerno5",
                repeats=repeats, input_shift=field.input_shift.numpy(), input_scale=field.input_scale.numpy(),
                output_scale=field.output_scale.numpy())
            rows.append({"network": label, "implementation": f"diffrax Kvaerno5 (compile {result['compile_s']:.1f} s)",
                         "loss": result["loss"], "time ms": result["run_s"] * 1e3})
    base = {row["network"]: row["time ms"] for row in rows if row["implementation"].startswith("diffrax")}
    for row in rows:
        if row["network"] in base:
            row["time / diffrax"] = row["time ms"] / base[row["network"]]
    return ("### Loss and gradient of the paper's Robertson network (scaled MAE, 50 points, rtol 1e-3, atol 1e-6)\n\n"
            + table(rows, ["network", "implementation", "loss", "time ms", "time / diffrax", "max |grad - FD| / max|grad|"]))


def _locate(params, index):
    for param in params:
        if index < param.numel():
            return param, index
        index -= param.numel()
    raise IndexError(index)


def profile() -> str:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    mechanism = kinetix.load_mechanism("robertson")
    with torch.no_grad():
        kinetix.integrate_mechanism(mechanism, rtol=1e-6, atol=1e-10)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            solution = kinetix.integrate_mechanism(mechanism, rtol=1e-6, atol=1e-10)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups = {"linear algebra (inverse, LU, solves)": ("linalg", "lu", "inv", "bmm"),
              "matrix products (stage combinations, stoichiometry)": ("mm", "matmul", "addmm"),
              "elementwise arithmetic": ("mul", "add", "sub", "div", "abs", "pow", "sqrt", "square", "clamp", "maximum",
                                         "minimum", "prod", "cumprod", "mean", "sum"),
              "indexing, views, copies, masks": ("index", "view", "stride", "reshape", "unsqueeze", "squeeze", "expand",
                                                 "copy", "cat", "stack", "pad", "where", "slice", "select", "empty",
                                                 "fill", "to", "narrow", "transpose", "permute", "and", "or", "isfinite",
                                                 "resolve", "alias", "clone", "zeros", "full", "ones")}
    shares = {name: 0.0 for name in groups}
    for event in events:
        key = event.key.replace("aten::", "")
        for name, words in groups.items():
            if any(word in key for word in words):
                shares[name] += event.self_cpu_time_total
                break
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    iterations = int(solution.stats.steps + solution.stats.rejected)
    rows = [{"where": name, "share of operator time": f"{100 * value / total:.0f} %"} for name, value in shares.items()]
    return (f"### Where one Robertson solve spends its time (rodas5p, rtol 1e-6; {iterations} steps, "
            f"{calls / iterations:.0f} torch operator calls per step)\n\n"
            + table(rows, ["where", "share of operator time"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; batch peer timed on 64 members")
    parser.add_argument("--trained", help="a surrogate folder trained with the paper's Robertson network")
    parser.add_argument("--only", choices=["precision", "single", "batch", "gradient", "profile"])
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    print(f"machine: {machine()}; diffrax {'installed' if DIFFRAX else 'not installed'}\n")
    sections = {"precision": lambda: work_precision(repeats), "single": lambda: single_trajectory(repeats),
                "batch": lambda: batch(args.quick), "gradient": lambda: gradient(repeats, args.trained),
                "profile": profile}
    for name, section in sections.items():
        if args.only in (None, name):
            print(section(), "\n", flush=True)


if __name__ == "__main__":
    main()
