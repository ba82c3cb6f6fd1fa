"""Peak memory and time of one gradient, backpropagation through the steps vs the adjoint.

    .venv/bin/python benchmarks/gradient_memory.py

Each case runs in a fresh process, so peak resident memory is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import REPO, machine, table

CASE = r"""
import json, resource, sys, time, torch, kinetix
mode, horizon, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
mech = kinetix.load_mechanism("robertson")
mech.rate_constants.requires_grad_(True)
t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-5, torch.log10(torch.tensor(horizon)).item(), 50, dtype=torch.float64)])
y1 = torch.linspace(0.5, 1.0, batch, dtype=torch.float64)
y0 = torch.stack([y1, torch.zeros_like(y1), 1 - y1], -1).requires_grad_(True)
weights = torch.tensor([1.0, 1e4, 1.0], dtype=torch.float64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
options = {"adjoint_params": [mech.rate_constants]} if mode == "adjoint" else None
solution = kinetix.solve(mech, y0, t, rtol=1e-7, atol=1e-12, adjoint=mode == "adjoint", options=options)
grads = torch.autograd.grad((solution.ys * weights).sum(), [y0, mech.rate_constants])
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "steps": int(solution.stats.steps.max()),
                  "grad_k": grads[1].tolist()}))
"""


def run(mode, horizon, batch):
    result = subprocess.run([sys.executable, "-c", CASE, mode, str(horizon), str(batch)], capture_output=True,
                            text=True, cwd=REPO, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    print(f"machine: {machine()}\n")
    rows = []
    for horizon in (1e5, 1e11):
        for batch in (1, 64):
            results = {mode: run(mode, horizon, batch) for mode in ("backprop", "adjoint")}
            a, b = results["backprop"]["grad_k"], results["adjoint"]["grad_k"]
            agreement = max(abs(x - y) / max(abs(x), 1e-300) for x, y in zip(a, b))
            for mode, result in results.items():
                rows.append({"horizon": f"{horizon:g}", "batch": batch, "gradient by": mode,
                             "forward steps": result["steps"], "time s": result["seconds"],
                             "peak memory MiB": result["peak_mib"], "rel. difference dL/dk": agreement})
    print("### One gradient of Robertson outputs w.r.t. y0 and k (rodas5p, rtol 1e-7, atol 1e-12)\n")
    print(table(rows, ["horizon", "batch", "gradient by", "forward steps", "time s", "peak memory MiB",
                       "rel. difference dL/dk"]))


if __name__ == "__main__":
    main()
