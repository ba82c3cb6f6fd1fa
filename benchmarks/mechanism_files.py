"""Reading mass-action mechanism files: kinetix's bounded loader against PyYAML's own, in one process.

    .venv/bin/python benchmarks/mechanism_files.py              # a 1 MiB file (some 10,000 reactions)
    .venv/bin/python benchmarks/mechanism_files.py --mib 4      # the largest file kinetix accepts

kinetix reads YAML events with libyaml (when PyYAML has it) or PyYAML's pure-Python parser, and
composes them itself to bound what aliases can expand to. The peers are PyYAML's CSafeLoader
(libyaml composing, unbounded) and SafeLoader (all Python). Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import yaml
from common import machine, median_time, table

from kinetix.mass_action import bounded_yaml, parse_spec


def mechanism_text(size: int, n_species: int = 2000) -> str:
    """A valid mechanism of about ``size`` bytes: bimolecular reactions among ``n_species`` species."""
    lines = ["kinetix-mechanism: 1", "name: big", "time: {span: [0, 1], grid: {points: 2}}",
             f"species: [{', '.join(f'S{i}' for i in range(n_species))}]", "reactions:"]
    length, j = sum(len(line) + 1 for line in lines), 0
    while True:
        line = (f"  - {{id: R{j}, equation: S{j % n_species} + S{(j + 7) % n_species} => S{(j + 3) % n_species}, "
                f"rate_constant: 1.5e+3}}")
        if length + len(line) + 1 > size:
            return "\n".join(lines) + "\n"
        lines.append(line)
        length += len(line) + 1
        j += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=1.0, help="file size in MiB (at most 4)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    text = mechanism_text(int(args.mib * 2**20))
    reactions = text.count("\n  - ")
    peers = {"PyYAML CSafeLoader (unbounded)": getattr(yaml, "CSafeLoader", None),
             "PyYAML SafeLoader (unbounded)": yaml.SafeLoader}
    rows = [{"reader": label, "seconds": median_time(lambda loader=loader: yaml.load(text, Loader=loader),
                                                     args.repeats)[0]}
            for label, loader in peers.items() if loader is not None]
    fastest_peer = min(row["seconds"] for row in rows)
    for loader in bounded_yaml.LOADERS:
        seconds, _ = median_time(lambda loader=loader: bounded_yaml.load(text, loader), args.repeats)
        rows.append({"reader": f"kinetix {loader.__name__} (YAML only)", "seconds": seconds})
    seconds, _ = median_time(lambda: parse_spec(text, "big.yaml"), args.repeats)
    rows.append({"reader": "kinetix parse_spec (YAML + validation)", "seconds": seconds})
    for row in rows:
        row["× fastest PyYAML"] = row["seconds"] / fastest_peer
    print(f"{len(text):,} bytes, {reactions:,} reactions; {machine()}\n")
    print(table(rows, ["reader", "seconds", "× fastest PyYAML"]))


if __name__ == "__main__":
    main()
