"""Dataset pipelines at scale: parallel generation on Dask, and memory that does not grow with the data.

    .venv/bin/python benchmarks/pipelines.py dask [--ignitions 10000] [--chunk 256]
    .venv/bin/python benchmarks/pipelines.py memory [--large 100000]

- ``dask``: H2/air ignitions of h2o2.yaml over random (T, P, phi) (``kinetix generate
  cantera:h2o2.yaml --conditions ...``) on a local Dask cluster of 1 and of 2 workers: wall time
  of the whole command (cluster start included) and the speed-up, then the model
  ``T(W) = fixed + ceil(chunks / W) T_chunk`` fitted to the two runs and its prediction for more workers.
- ``memory``: peak resident memory (the process's maxrss) of ``kinetix generate robertson -n N``
  and of ``kinetix train --streaming on`` (batches of 64 trajectories, 2 epochs) on 1,000 and on
  ``--large`` trajectories.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, table

KINETIX = [sys.executable, "-m", "kinetix.cli"]
CONDITIONS = """sampling = "random"
count = {count}
seed = 0

[conditions]
temperature = {{low = 1000.0, high = 1300.0}}                      # K
pressure = {{low = 101325.0, high = 202650.0, scale = "log"}}      # Pa
equivalence_ratio = {{low = 0.5, high = 2.0, scale = "log"}}
fuel = "H2"
oxidizer = "O2:1, N2:3.76"

[times]
front_points = 1
max_points = 6000
"""
TRAIN = """epochs = 2
[network]
width = 8
depth = 2
[data]
batch_size = 64
"""


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory [MiB] of ``command`` (a child process of its own)."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"failed ({status}): {' '.join(command)}")
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def dask(args, folder: Path) -> None:
    conditions = folder / "h2.toml"
    conditions.write_text(CONDITIONS.format(count=args.ignitions))
    rows = []
    for workers in (1, 2):
        seconds, _ = run([*KINETIX, "generate", "cantera:h2o2.yaml", "--conditions", str(conditions), "--out",
                          str(folder / f"h2-{workers}.h5"), "--chunk-size", str(args.chunk), "--workers", str(workers),
                          "--rtol", "1e-6", "--no-progress"])
        rows.append({"workers": workers, "ignitions": args.ignitions, "wall s": seconds,
                     "ms per ignition": 1e3 * seconds / args.ignitions})
    speedup = rows[0]["wall s"] / rows[1]["wall s"]
    rows[1]["speed-up"] = speedup
    print(table(rows, ["workers", "ignitions", "wall s", "ms per ignition", "speed-up"]))
    # T(W) = F + ceil(C / W) T_chunk (see docs/benchmarks.md); the two runs give F and T_chunk
    chunks = math.ceil(args.ignitions / args.chunk)
    per_chunk = (rows[0]["wall s"] - rows[1]["wall s"]) / (chunks - math.ceil(chunks / 2))
    fixed = rows[0]["wall s"] - chunks * per_chunk
    print(f"\n{chunks} chunks: T_chunk = {per_chunk:.3g} s, fixed (start, times, assembly) = {fixed:.3g} s")
    model = [{"workers": workers, "predicted s": fixed + math.ceil(chunks / workers) * per_chunk}
             for workers in (1, 2, 8, 32, 128)]
    print(table(model, ["workers", "predicted s"]))


def memory(args, folder: Path) -> None:
    config = folder / "train.toml"
    config.write_text(TRAIN)
    rows = []
    for count in (1000, args.large):
        data = folder / f"robertson-{count}.h5"
        generate_s, generate_mib = run([*KINETIX, "generate", "robertson", "-n", str(count), "--out", str(data),
                                        "--no-progress"])
        train_s, train_mib = run([*KINETIX, "train", str(data), "--out", str(folder / f"run-{count}"), "--config",
                                  str(config), "--streaming", "on", "--no-progress"])
        rows.append({"trajectories": count, "file MiB": data.stat().st_size / 2**20, "generate s": generate_s,
                     "generate peak MiB": generate_mib, "train s": train_s, "train peak MiB": train_mib})
    print(table(rows, ["trajectories", "file MiB", "generate s", "generate peak MiB", "train s", "train peak MiB"]))
    for key in ("generate peak MiB", "train peak MiB"):
        print(f"{key}: {args.large} / 1000 = {rows[1][key] / rows[0][key]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("dask", "memory"))
    parser.add_argument("--ignitions", type=int, default=10000)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--large", type=int, default=100000)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}\n")
    with tempfile.TemporaryDirectory() as folder:
        {"dask": dask, "memory": memory}[args.part](args, Path(folder))


if __name__ == "__main__":
    main()
