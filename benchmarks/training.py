"""Training benchmarks: reproduce the paper's Robertson and POLLU results, and generalisation.

    .venv/bin/python benchmarks/training.py robertson --seeds 0 1 2
    .venv/bin/python benchmarks/training.py pollu
    .venv/bin/python benchmarks/training.py robertson-generalisation
    .venv/bin/python benchmarks/training.py pollu-generalisation
    .venv/bin/python benchmarks/training.py robertson-mass-action --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/training.py robertson-mass-action-generalisation
    .venv/bin/python benchmarks/training.py pollu-mass-action
    .venv/bin/python benchmarks/training.py pollu-mass-action-generalisation [--source data]

Each case generates its data, trains with the case's configuration (docs/examples/), and judges
the saved surrogate independently: integrated from the initial states at tight tolerance and
compared with the reference data; generalisation cases also on held-out states (another seed) and
on states outside the training range. Prints a Markdown table; docs/results.md records a run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import REPO, machine, table

import kinetix
from kinetix.data.generate import generate_dataset
from kinetix.data.sampling import Perturbation
from kinetix.evaluation import evaluate_surrogate
from kinetix.plugins import get_catalog
from kinetix.training import read_config

CASES = {
    # name: (mechanism, training trajectories, held-out trajectories, config, target)
    "robertson": ("robertson", 1, 0, "robertson.toml", 5e-3),
    "pollu": ("pollu", 1, 0, "pollu.toml", 3e-3),
    "robertson-generalisation": ("robertson", 32, 32, "robertson-generalisation.toml", 1e-2),
    "pollu-generalisation": ("pollu", 32, 32, "pollu-generalisation.toml", 1e-2),
    "robertson-mass-action": ("robertson", 1, 0, "robertson-mass-action.toml", 5e-3),
    "robertson-mass-action-generalisation": ("robertson", 32, 32, "robertson-mass-action.toml", 1e-2),
    "pollu-mass-action": ("pollu", 1, 0, "pollu-mass-action.toml", 3e-3),
    "pollu-mass-action-generalisation": ("pollu", 32, 32, "pollu-mass-action.toml", 1e-2),
}
# held-out initial states outside the training range (the default perturbation): Robertson A(0) in
# [0.5, 1] for training, [0.2, 0.5] here; POLLU's non-zero species x [0.5, 1.5] for training, x [1.5, 2] here
OUTSIDE = {
    "robertson": Perturbation(ranges={"A": (0.2, 0.5)}, balance="C"),
    "pollu": Perturbation(ranges={name: (1.5 * value, 2.0 * value) for name, value in
                                  {"NO": 0.2, "O3": 0.04, "CH2O": 0.1, "CO": 0.3, "ALD": 0.01, "SO2": 0.007}.items()}),
}


def datasets(case: str, out: Path) -> tuple[Path, Path | None, Path | None]:
    mechanism, n_train, n_test, _, _ = CASES[case]
    mech = kinetix.load_mechanism(mechanism)
    train = out / f"{case}-train.h5"
    if not train.exists():
        generate_dataset(mech, train, trajectories=n_train, seed=0, progress=False)
    test = None
    if n_test:
        test = out / f"{case}-test.h5"
        if not test.exists():
            generate_dataset(mech, test, trajectories=n_test, seed=1, progress=False)
    outside = None
    if n_test:
        outside = out / f"{case}-outside.h5"
        if not outside.exists():
            generate_dataset(mech, outside, trajectories=n_test, seed=2, perturbation=OUTSIDE[mechanism], progress=False)
    return train, test, outside


def first_epoch_below(history: list[dict], threshold: float):
    """(epoch count, seconds) when the training loss over the full horizon first reached ``threshold``."""
    if not history:
        return None, None
    full = max(int(row["horizon"]) for row in history)
    for row in history:
        if int(row["horizon"]) == full and float(row["loss"]) <= threshold:
            return int(row["epoch"]) + 1, float(row["seconds"])
    return None, None


def run(case: str, seed: int, out: Path, config_path: Path | None, epochs: int | None, source: str | None = None) -> dict:
    _, _, _, config_name, target = CASES[case]
    train_path, test_path, outside_path = datasets(case, out)
    config = read_config(config_path or REPO / "docs" / "examples" / config_name)
    config["seed"] = seed
    if epochs is not None:
        config["epochs"] = epochs
    if source is not None:  # the data give no Jacobian
        config.setdefault("derivatives", {}).update({"source": source, **({"jacobian": False} if source == "data" else {})})
    trainer = get_catalog()["trainer"].get(config.get("trainer", "stiff"))(config)
    began = time.perf_counter()
    run_dir = out / f"{case}-seed{seed}"
    try:
        trainer.train(kinetix.load_dataset(train_path), run_dir, force=True, progress=False)
    except kinetix.KinetixError as error:  # the trainer refuses a field that cannot be integrated
        return {"case": case, "seed": seed, "wall s": time.perf_counter() - began, "target": target,
                "train MAE (independent)": f"failed: {str(error)[len(str(run_dir)) + 2:][:70]}"}
    wall = time.perf_counter() - began
    surrogate = kinetix.Surrogate.load(run_dir / "surrogate")
    history = _history(run_dir / "history.csv")
    epochs_to, seconds_to = first_epoch_below(history, target)
    row = {"case": case, "seed": seed, "epochs": len(history), "wall s": wall,
           "epochs to loss <= target": epochs_to if epochs_to else ("no solver epochs" if not history else "not reached"),
           "seconds to target": seconds_to if seconds_to else "",
           "target": target,
           "train MAE (independent)": evaluate_surrogate(surrogate, kinetix.load_dataset(train_path))["scaled_mae"]}
    if test_path is not None:
        row["held-out MAE (independent)"] = evaluate_surrogate(surrogate, kinetix.load_dataset(test_path))["scaled_mae"]
        row["outside-range MAE"] = _outside(surrogate, outside_path)
    return row


def _outside(surrogate, path: Path):
    """Scaled MAE on the outside-range states, or why there is none (the surrogate failed there)."""
    try:
        return evaluate_surrogate(surrogate, kinetix.load_dataset(path))["scaled_mae"]
    except kinetix.KinetixError as error:
        return f"failed: {str(error)[:60]}"


def _history(path: Path) -> list[dict]:
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--config", type=Path, help="override the case's configuration file")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--source", choices=("mechanism", "data"), help="override derivatives.source")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "benchmarks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\n")
    rows = [run(args.case, seed, args.out, args.config, args.epochs, args.source) for seed in args.seeds]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    print(table(rows, columns))


if __name__ == "__main__":
    main()
