"""Shared helpers for the benchmarks: timing, the machine, and the hand-written reference problems."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # references.py: the papers' equations, written by hand
sys.path.insert(0, str(REPO))

import references  # noqa: E402,F401


def median_time(function, repeats: int = 5, clock=None) -> tuple[float, object]:
    """Median time in seconds of ``function()`` over ``repeats`` calls after one warm-up, and its result;
    ``clock``: wall time, or ``time.process_time`` for the CPU time of the process (all its threads),
    which other jobs on a shared machine do not inflate. Default: wall time, or the process's CPU
    time with ``KINETIX_BENCH_CLOCK=process``."""
    if clock is None:
        clock = time.process_time if os.environ.get("KINETIX_BENCH_CLOCK") == "process" else time.perf_counter
    result = function()
    times = []
    for _ in range(repeats):
        began = clock()
        result = function()
        times.append(clock() - began)
    return statistics.median(times), result


def paired_ratio(theirs, ours, repeats: int = 5, clock=time.process_time) -> float:
    """Median over ``repeats`` pairs of ``time(theirs()) / time(ours())``, each pair timed back to back after one
    warm-up of both: on a machine whose speed drifts (shared cores, frequency), the ratio of neighbouring
    calls spreads less than the ratio of two medians taken minutes apart."""
    theirs(), ours()
    ratios = []
    for _ in range(repeats):
        began = clock()
        theirs()
        middle = clock()
        ours()
        ratios.append((middle - began) / (clock() - middle))
    return statistics.median(ratios)


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}")


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (dicts) with the given ``columns``."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)
