"""Ablation of the stiff-neural-ODE recipe: remove one ingredient at a time.

    .venv/bin/python benchmarks/ablation.py [--epochs 1000] [--out out/ablation]
    .venv/bin/python benchmarks/ablation.py --study inputs --mechanism pollu --config docs/examples/pollu.toml

``--study recipe`` (default), all with the same epoch budget and seed: (a) the full recipe
(docs/examples/robertson.toml), (b) no output scaling, (c) no loss scaling, (d) a shallow tanh
network, (e) an explicit solver (dopri5) with a step budget. ``--study inputs``: the network's
input normalisation, none (the paper's) / y_scale / standardised. Prints the final losses (judged
independently, at tight tolerance) and writes a figure of the loss curves.
"""

from __future__ import annotations

import argparse
import copy
import csv
import time
from pathlib import Path

from common import REPO, machine, table

import kinetix
from kinetix.data.generate import generate_dataset
from kinetix.evaluation import evaluate_surrogate
from kinetix.plugins import get_catalog
from kinetix.training import read_config

STUDIES = {"recipe": {
    "(a) full recipe": {},
    "(b) no output scaling": {"network": {"output_scale": "none"}},
    "(c) no loss scaling": {"loss": {"scale": "none"}},
    "(d) shallow tanh network": {"network": {"width": 30, "depth": 1, "activation": "tanh"}},
    "(e) explicit solver (dopri5)": {"solver": {"method": "dopri5", "max_steps": 2000}},
}, "inputs": {
    "inputs as they are (the paper)": {"network": {"input": "none"}},
    "inputs / y_scale": {"network": {"input": "scale"}},
    "inputs standardised": {"network": {"input": "standard"}},
}}


def merged(base: dict, override: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict):
            result[key] = {**result.get(key, {}), **value}
        else:
            result[key] = value
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--config", type=Path, default=REPO / "docs" / "examples" / "robertson.toml")
    parser.add_argument("--mechanism", default="robertson", help="one trajectory of this mechanism is the data")
    parser.add_argument("--study", choices=sorted(STUDIES), default="recipe")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="run only the variants whose names start so, e.g. '(e)'")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "ablation")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\n")
    data_path = args.out / f"{args.mechanism}.h5"
    if not data_path.exists():
        generate_dataset(kinetix.load_mechanism(args.mechanism), data_path, progress=False)
    data = kinetix.load_dataset(data_path)
    base = read_config(args.config)
    base["epochs"] = args.epochs
    rows, curves = [], {}
    for index, (name, override) in enumerate(STUDIES[args.study].items()):
        if args.only and not name.startswith(tuple(args.only)):
            continue
        config = merged(base, override)
        folder = args.out / f"{args.mechanism}-{args.study}-{index}"
        began = time.perf_counter()
        try:
            trainer = get_catalog()["trainer"].get(config.get("trainer", "stiff"))(config)
            trainer.train(data, folder, force=True, progress=False)
            result = evaluate_surrogate(kinetix.Surrogate.load(folder / "surrogate"), data)["scaled_mae"]
            outcome = "finished"
        except kinetix.KinetixError as error:
            result, outcome = float("nan"), f"stopped: {error}"
        history = []
        if (folder / "history.csv").exists():
            with open(folder / "history.csv") as f:
                history = list(csv.DictReader(f))
        curves[name] = [(int(row["epoch"]), float(row["loss"])) for row in history]
        rows.append({"variant": name, "epochs run": len(history), "wall s": time.perf_counter() - began,
                     "final training loss": float(history[-1]["loss"]) if history else float("nan"),
                     "scaled MAE (independent)": result, "outcome": outcome})
    print(table(rows, ["variant", "epochs run", "wall s", "final training loss", "scaled MAE (independent)", "outcome"]))
    figure = args.out / f"{args.mechanism}-{args.study}.png"
    plot(curves, figure, f"{args.mechanism}: {args.study}")
    print(f"\nfigure: {figure}")


def plot(curves: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name, points in curves.items():
        if points:
            axis.semilogy(*zip(*points), label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss (scaled MAE)")
    axis.set_title(title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
