"""Training throughput with the solve and its gradient compiled (``solver.compile = true``) or not.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/training_throughput.py --epochs 300

Trains docs/examples/robertson.toml (the paper's network, one trajectory) for ``--epochs`` epochs twice
in this process, eager then compiled, and prints the median seconds per epoch at the full horizon, the
first epoch apart (it holds the compilation, or loading the compiled programs from inductor's cache)
and the ratio of the two. ``--compiled-only`` skips the eager run: run it twice with the same
``TORCHINDUCTOR_CACHE_DIR`` to time a second process's first epoch with a warm cache. A run too short to
train a usable field still reports its epochs (the trainer only declines to save the surrogate).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

from common import REPO, machine, table

import kinetix
from kinetix.data.generate import generate_dataset
from kinetix.errors import KinetixError
from kinetix.plugins import get_catalog
from kinetix.training import read_config


def epoch_seconds(run: Path) -> tuple[list[float], list[int]]:
    """Seconds of each epoch (history.csv holds cumulative seconds) and its horizon."""
    rows = list(csv.DictReader(open(run / "history.csv")))
    cumulative = [float(row["seconds"]) for row in rows]
    return [b - a for a, b in zip([0.0] + cumulative, cumulative)], [int(row["horizon"]) for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--compiled-only", action="store_true", help="time the compiled run alone")
    args = parser.parse_args()
    print(machine())
    out = Path(tempfile.mkdtemp(prefix="kinetix-throughput-"))
    data = out / "robertson.h5"
    generate_dataset(kinetix.load_mechanism("robertson"), data, trajectories=1, seed=0, progress=False)
    rows = []
    for compiled in (True,) if args.compiled_only else (False, True):
        config = read_config(REPO / "docs" / "examples" / "robertson.toml")
        config["epochs"] = args.epochs
        config["solver"]["compile"] = compiled
        trainer = get_catalog()["trainer"].get("stiff")(config)
        run = out / f"run-{compiled}"
        try:
            trainer.train(kinetix.load_dataset(data), run, force=True, progress=False)
        except KinetixError as error:  # the epochs ran; only the surrogate was not saved
            print(f"(compile={compiled}: {error})")
        seconds, horizons = epoch_seconds(run)
        full = [s for s, h in zip(seconds[1:], horizons[1:]) if h == max(horizons)] or seconds[-1:]
        rows.append({"solver.compile": compiled, "first epoch s": seconds[0],
                     "epoch s (full horizon, median)": statistics.median(full), "epochs 2.. s": sum(seconds[1:])})
    if len(rows) == 2:
        rows[1]["speed-up"] = rows[0]["epoch s (full horizon, median)"] / rows[1]["epoch s (full horizon, median)"]
    print(table(rows, [*rows[0], "speed-up"] if len(rows) == 2 else list(rows[0])))


if __name__ == "__main__":
    main()
