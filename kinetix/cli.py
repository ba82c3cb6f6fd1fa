"""The ``kinetix`` command line."""

from __future__ import annotations

import json
import sys
import traceback
import unicodedata
from pathlib import Path

import click

from . import interrupts
from .cli_data import data
from .errors import ConfigError, KinetixError


def visible(text: str) -> str:
    """``text`` with control characters (terminal escape sequences, bidi overrides) shown as
    ``\\x1b``-style escapes; line breaks are kept."""
    return "".join(repr(ch)[1:-1] if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in text)


def echo(text: str, **options) -> None:
    """``click.echo`` of :func:`visible` text: names from files and plugins cannot drive the terminal."""
    click.echo(visible(text), **options)


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

    rows = [info.as_row() for info in get_catalog().plugins.values()]
    echo(json.dumps(rows, indent=2))


def _listing(kind: str):
    from .plugins import get_catalog

    entries = get_catalog()[kind].entries()
    if not entries:
        echo(f"no {kind}s registered (install a kinetix plugin)")
        return
    width = max(len(entry.name) for entry in entries)
    plugin_width = max(len(entry.plugin) for entry in entries)
    for entry in entries:
        echo(f"{entry.name:<{width}}  {entry.plugin:<{plugin_width}}  {entry.description}".rstrip())


@cli.command()
def mechanisms():
    """List registered mechanisms (name, plugin, description)."""
    _listing("mechanism")


@cli.command()
def solvers():
    """List registered ODE solvers (name, plugin, description)."""
    _listing("solver")


def _option_value(text: str):
    """An ``--option`` value: an integer or a number when it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _mechanism_options(items: tuple[str, ...]) -> dict:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE, e.g. --option pressure=101325")
        options[key.strip()] = _option_value(value.strip())
    return options


@cli.command()
@click.argument("mechanism")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HDF5 file to write.")
@click.option("--conditions", "conditions_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML table of initial conditions (a grid or random draws) and output times; one trajectory "
                   "per row (see docs/cantera.md).")
@click.option("--option", "option_items", multiple=True, metavar="KEY=VALUE",
              help="Mechanism option (e.g. for cantera:..., --option fuel=H2); repeatable; numbers are parsed.")
@click.option("--trajectories", "-n", default=1, show_default=True, type=click.IntRange(min=1),
              help="Number of trajectories; more than one samples perturbed initial states.")
@click.option("--seed", type=int, help="Seed of the initial-state sampler [default: 0].")
@click.option("--perturb", multiple=True, metavar="SPEC",
              help="NAME=LOW:HIGH (uniform range of one component) or F (relative spread of the others); repeatable.")
@click.option("--balance", metavar="NAME", help="Component that keeps the total amount of the default state.")
@click.option("--method", help="Solver name (see kinetix solvers).")
@click.option("--rtol", default=None, type=float, help="Relative tolerance [default: 1e-8].")
@click.option("--atol", default=None, type=float, help="Absolute tolerance [default: 1e-12].")
@click.option("--chunk-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Trajectories integrated and written together; a rerun after an interruption continues.")
@click.option("--workers", type=click.IntRange(min=1), help="Integrate chunks on a local Dask cluster of N processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Integrate chunks on this Dask cluster (e.g. tcp://host:8786).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def generate(mechanism, out, conditions_path, option_items, trajectories, seed, perturb, balance, method, rtol, atol,
             chunk_size, workers, scheduler, force, no_progress):
    """Integrate MECHANISM (name or YAML file) and write a trajectory dataset to OUT.

    Chunks are written to OUT.partial/ as they finish; OUT appears when all are done. Rerun the
    same command after an interruption to continue."""
    from .data.conditions import read_conditions
    from .data.generate import DEFAULT_ATOL, DEFAULT_RTOL, generate_dataset, generate_from_conditions
    from .data.runners import make_runner
    from .data.sampling import parse_perturbation
    from .loading import load_mechanism

    options = _mechanism_options(option_items)
    settings = {"rtol": DEFAULT_RTOL if rtol is None else rtol, "atol": DEFAULT_ATOL if atol is None else atol,
                "method": method, "chunk": chunk_size, "force": force, "progress": not no_progress}
    if conditions_path is not None:
        clashing = [flag for flag, given in (("--trajectories", trajectories != 1), ("--seed", seed is not None),
                                             ("--perturb", bool(perturb)), ("--balance", balance is not None)) if given]
        if clashing:
            raise ConfigError(f"--conditions sets the trajectories; drop {', '.join(clashing)} (a random table's "
                              "seed is the file's 'seed')")
        conditions = read_conditions(conditions_path)
        mech = load_mechanism(mechanism, **{**conditions.options, **options})
        with make_runner(workers, scheduler) as runner:
            path = generate_from_conditions(mech, conditions, out, runner=runner, **settings)
    else:
        perturbation = parse_perturbation(perturb, balance) if (perturb or balance) else None
        mech = load_mechanism(mechanism, **options)
        with make_runner(workers, scheduler) as runner:
            path = generate_dataset(mech, out, trajectories=trajectories, seed=0 if seed is None else seed,
                                    perturbation=perturbation, runner=runner, **settings)
    echo(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
def inspect(file):
    """Print a summary of a trajectory dataset."""
    from .data.dataset import load_dataset

    echo(load_dataset(file).summary())


def _surrogate_path(path: Path) -> Path:
    """A training run folder holds its surrogate in ``surrogate/``; accept either."""
    return path / "surrogate" if (path / "surrogate" / "surrogate.json").is_file() else path


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: checkpoints, metrics, plots, and the surrogate in OUT/surrogate.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML configuration (see docs/training.md).")
@click.option("--trainer", help="Trainer name (default: the config's 'trainer', else 'stiff').")
@click.option("--epochs", type=click.IntRange(min=0), help="Override the number of epochs.")
@click.option("--seed", type=int, help="Override the seed.")
@click.option("--resume", is_flag=True, help="Continue exactly from OUT's last checkpoint.")
@click.option("--force", is_flag=True, help="Start afresh even if OUT exists.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--streaming", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Read trajectories from DATA as batches need them (auto: when they would not fit in memory).")
def train(data, out, config_path, trainer, epochs, seed, resume, force, no_progress, streaming):
    """Train a surrogate on the trajectory dataset DATA."""
    from .data.streaming import open_training_data
    from .plugins import get_catalog
    from .training import read_config

    dataset = open_training_data(data, streaming)
    config = read_config(config_path) if config_path else {}
    if epochs is not None:
        config["epochs"] = epochs
    if seed is not None:
        config["seed"] = seed
    name = trainer or config.get("trainer", "stiff")
    config["trainer"] = name
    surrogate = get_catalog()["trainer"].get(name)(config).train(
        dataset, out, resume=resume, force=force, progress=not no_progress)
    for split, result in surrogate.info["training"]["evaluation"].items():
        if "scaled_mae" in result:
            echo(f"{split}: scaled MAE {result['scaled_mae']:.3e} (max {result['max_scaled_error']:.3e}) "
                 f"over {result['trajectories']} trajectories")
        else:   # a trainer's own figures
            echo(f"{split}: " + ", ".join(f"{key} {value}" if isinstance(value, int) else f"{key} {value:.3g}"
                                          for key, value in result.items()))
    echo(f"surrogate: {out / 'surrogate'}" + (f"\nplots:     {out / 'plots'}" if (out / "plots").is_dir() else ""))


@cli.command()
@click.argument("surrogate", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file for the results [default: evaluation-<DATA name>.json beside SURROGATE].")
@click.option("--method", help="Solver (default: the surrogate's).")
@click.option("--rtol", type=float, help="Relative tolerance (default: the surrogate's).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def evaluate(surrogate, data, out, method, rtol, force):
    """Compare SURROGATE with the trajectories in DATA: per-species scaled MAE and max error."""
    from .data.dataset import load_dataset
    from .evaluation import evaluate_surrogate, write_json
    from .surrogate import Surrogate

    path = _surrogate_path(surrogate)
    model = Surrogate.load(path)
    dataset = load_dataset(data)
    options = {key: value for key, value in (("method", method), ("rtol", rtol)) if value is not None}
    result = evaluate_surrogate(model, dataset, **options)
    width = max(7, *(len(name) for name in result["scaled_mae_per_species"]))
    echo(f"{'species':<{width}}  scaled MAE  max scaled error")
    for name, mae in result["scaled_mae_per_species"].items():
        echo(f"{name:<{width}}  {mae:10.3e}  {result['max_scaled_error_per_species'][name]:10.3e}")
    echo(f"{'all':<{width}}  {result['scaled_mae']:10.3e}  {result['max_scaled_error']:10.3e}")
    target = out or path.parent / f"evaluation-{Path(data).stem}.json"
    write_json(target, result, force=force)
    echo(f"wrote {target}")


@cli.command()
@click.argument("surrogate", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output: .csv (one trajectory) or .h5 (a trajectory dataset).")
@click.option("--y0", "y0_items", multiple=True, metavar="NAME=VALUE",
              help="Initial amount of one component (others from the training data's first state).")
@click.option("--from", "source", type=click.Path(path_type=Path),
              help="Take initial states and times from this trajectory dataset instead.")
@click.option("--times", metavar="T1,T2,...", help="Output times [default: the training data's].")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def simulate(surrogate, out, y0_items, source, times, force):
    """Integrate SURROGATE from initial states and write the trajectories."""
    from .evaluation import simulate_to_file
    from .surrogate import Surrogate

    model = Surrogate.load(_surrogate_path(surrogate))
    path = simulate_to_file(model, out, y0_items=y0_items, source=source, times=times, force=force)
    echo(f"wrote {path}")


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="TorchScript file to write (loads with torch.jit.load / torch::jit::load).")
@click.option("--method", help="Integrator: dopri5, bosh3, a Rosenbrock method, quadrature (a progress surrogate) or "
                               "flowmap (a flow map); default: the surrogate's.")
@click.option("--rtol", type=float, help="Relative tolerance (default: the surrogate's).")
@click.option("--max-steps", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Step attempts per call before a state is given up (returned as NaN).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def export(run, out, method, rtol, max_steps, force):
    """Write RUN's surrogate as a reaction step (state, dt) -> state for flow solvers (docs/export.md)."""
    from .export import export_surrogate
    from .surrogate import Surrogate

    description = export_surrogate(Surrogate.load(_surrogate_path(run)), out, force=force, method=method, rtol=rtol,
                                   max_steps=max_steps)
    integrator = description["integrator"]
    tolerance = f" at rtol {integrator['rtol']:g}" if "rtol" in integrator else ""
    click.echo(f"wrote {out}: state {', '.join(description['state'])}; {integrator['method']}{tolerance}")


cli.add_command(data)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line on stderr and a non-zero exit."""
    args = sys.argv[1:] if argv is None else argv
    with interrupts.trapped():
        code = _run(args)
        if interrupts.received():  # even if a library swallowed the KeyboardInterrupt
            if code == 0:
                echo("kinetix: interrupted", err=True)
            return 128 + interrupts.received()
    return code


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="kinetix", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        echo("kinetix: aborted", err=True)
        return 130
    except KinetixError as error:
        if debug:
            traceback.print_exc()
        echo(f"kinetix: error: {error}", err=True)
        return 1
    except Exception as error:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        echo(f"kinetix: internal error: {type(error).__name__}: {error} (rerun with --debug for details)", err=True)
        return 2
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
