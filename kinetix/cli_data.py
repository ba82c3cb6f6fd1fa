"""``kinetix data``: dataset pipeline steps (merge, split, subset, info, export); see kinetix.data.pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import ConfigError

_FILE = click.Path(dir_okay=False, path_type=Path)


def echo(text: str) -> None:
    """:func:`kinetix.cli.echo` (imported late: kinetix.cli imports this module)."""
    from .cli import echo as visible_echo

    visible_echo(text)


@click.group()
def data():
    """Combine, split, select, describe and export trajectory datasets."""


@data.command()
@click.argument("sources", nargs=-1, required=True, type=_FILE)
@click.option("--out", "-o", required=True, type=_FILE, help="Merged HDF5 file to write.")
@click.option("--allow-different-mechanisms", is_flag=True, help="Merge even if the mechanisms' hashes differ.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def merge(sources, out, allow_different_mechanisms, force):
    """Concatenate the trajectories of SOURCES (same species, times and conditions) into OUT."""
    from .data.pipeline import merge_datasets

    path = merge_datasets(sources, out, allow_different_mechanisms=allow_different_mechanisms, force=force)
    echo(f"wrote {path}")


def _fractions(text: str) -> dict[str, float]:
    parts = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            parts[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--fractions {text!r}: expected NAME=FRACTION,..., e.g. train=0.8,validation=0.2")
    return parts


@data.command()
@click.argument("source", type=_FILE)
@click.option("--fractions", default="train=0.8,validation=0.1,test=0.1", show_default=True,
              help="Parts and their fractions of the rows (adding up to 1).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random assignment of rows.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the parts <stem>-<name>.h5 [default: beside SOURCE].")
@click.option("--force", is_flag=True, help="Replace existing parts.")
def split(source, fractions, seed, out_dir, force):
    """Split SOURCE's trajectories at random (reproducibly, by seed) into parts."""
    from .data.pipeline import split_dataset

    for name, path in split_dataset(source, _fractions(fractions), seed=seed, out_dir=out_dir, force=force).items():
        echo(f"{name}: wrote {path}")


@data.command()
@click.argument("source", type=_FILE)
@click.option("--out", "-o", required=True, type=_FILE, help="HDF5 file to write.")
@click.option("--where", "where", multiple=True, required=True, metavar="NAME=LOW:HIGH",
              help="Keep rows whose condition NAME is in [LOW, HIGH] (a bound may be empty); repeatable.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def subset(source, out, where, force):
    """Write the trajectories of SOURCE whose conditions lie in the given ranges to OUT."""
    from .data.pipeline import parse_ranges, subset_dataset

    echo(f"wrote {subset_dataset(source, out, parse_ranges(where), force=force)}")


@data.command()
@click.argument("source", type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(source, as_json):
    """Describe SOURCE without loading its states into memory."""
    from .data.pipeline import dataset_info

    summary = dataset_info(source)
    if as_json:
        echo(json.dumps(summary, indent=1))
        return
    provenance = summary["provenance"]
    lines = [f"file:         {summary['file']} (complete)",
             f"mechanism:    {summary['mechanism']} (sha256 {str(summary['mechanism_sha256'])[:12]})",
             f"trajectories: {summary['trajectories']}, {summary['times']} times in [{summary['t'][0]:.4g}, "
             f"{summary['t'][1]:.4g}] {summary['units']['time']} from t0 = {summary['t0']:.4g}"]
    lines += [f"  {name}: [{low:.4e}, {high:.4e}]" for name, (low, high) in summary["species"].items()]
    lines += [f"condition {key}: [{low:.4g}, {high:.4g}]" for key, (low, high) in summary["conditions"].items()]
    lines.append(f"made by:      {provenance.get('operation', 'kinetix generate')}, {summary['created']}")
    echo("\n".join(lines))


@data.command()
@click.argument("source", type=_FILE)
@click.option("--out", "-o", required=True, type=_FILE, help="OUT.csv or OUT.parquet (Parquet needs pyarrow).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def export(source, out, force):
    """Write SOURCE as a long table (trajectory, time, species, conditions) for pandas and friends."""
    from .data.pipeline import export_dataset

    echo(f"wrote {export_dataset(source, out, force=force)}")
