"""The ``kinetix`` command line."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from .errors import KinetixError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.version_option(package_name="kinetix")
@click.pass_context
def cli(ctx: click.Context, debug: bool):
    """kinetix: stiff kinetics, reference datasets and neural-ODE surrogates."""
    ctx.obj = {"debug": debug}


@cli.command()
def plugins():
    """List loaded plugins as JSON (with the error of any that failed to load)."""
    from .plugins import get_catalog

    catalog = get_catalog()
    rows = []
    for info in catalog.plugins.values():
        row = {"name": info.name, "builtin": info.builtin, "hooks": info.hooks}
        if info.distribution:
            row["distribution"] = info.distribution
            row["version"] = info.version
        if info.error:
            row["error"] = info.error
        rows.append(row)
    click.echo(json.dumps(rows, indent=2))


def _listing(kind: str):
    from .plugins import get_catalog

    entries = get_catalog()[kind].entries()
    if not entries:
        click.echo(f"no {kind}s registered (install a kinetix plugin)")
        return
    width = max(len(entry.name) for entry in entries)
    plugin_width = max(len(entry.plugin) for entry in entries)
    for entry in entries:
        click.echo(f"{entry.name:<{width}}  {entry.plugin:<{plugin_width}}  {entry.description}".rstrip())


@cli.command()
def mechanisms():
    """List registered mechanisms (name, plugin, description)."""
    _listing("mechanism")


@cli.command()
def solvers():
    """List registered ODE solvers (name, plugin, description)."""
    _listing("solver")


@cli.command()
@click.argument("mechanism")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HDF5 file to write.")
@click.option("--trajectories", "-n", default=1, show_default=True, type=click.IntRange(min=1),
              help="Number of trajectories; more than one samples perturbed initial states.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the initial-state sampler.")
@click.option("--perturb", multiple=True, metavar="SPEC",
              help="NAME=LOW:HIGH (uniform range of one component) or F (relative spread of the others); repeatable.")
@click.option("--balance", metavar="NAME", help="Component that keeps the total amount of the default state.")
@click.option("--method", help="Solver name (see kinetix solvers).")
@click.option("--rtol", default=None, type=float, help="Relative tolerance [default: 1e-8].")
@click.option("--atol", default=None, type=float, help="Absolute tolerance [default: 1e-12].")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def generate(mechanism, out, trajectories, seed, perturb, balance, method, rtol, atol, force, no_progress):
    """Integrate MECHANISM (name or YAML file) and write a trajectory dataset to OUT."""
    from .data.generate import DEFAULT_ATOL, DEFAULT_RTOL, generate_dataset
    from .data.sampling import parse_perturbation
    from .loading import load_mechanism

    perturbation = parse_perturbation(perturb, balance) if (perturb or balance) else None
    mech = load_mechanism(mechanism)
    path = generate_dataset(
        mech, out, trajectories=trajectories, seed=seed, perturbation=perturbation, method=method,
        rtol=DEFAULT_RTOL if rtol is None else rtol, atol=DEFAULT_ATOL if atol is None else atol,
        force=force, progress=not no_progress,
    )
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
def inspect(file):
    """Print a summary of a trajectory dataset."""
    from .data.dataset import load_dataset

    click.echo(load_dataset(file).summary())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line on stderr and a non-zero exit."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="kinetix", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("kinetix: aborted", err=True)
        return 130
    except KinetixError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"kinetix: error: {error}", err=True)
        return 1
    except Exception as error:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"kinetix: internal error: {type(error).__name__}: {error} (rerun with --debug for details)", err=True)
        return 2
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
