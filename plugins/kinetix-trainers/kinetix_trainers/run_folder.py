"""Run folders: created with a marker file, replaced (``--force``) only when they carry it.

A run folder holds what one training run writes (checkpoint, history, config, evaluation, plots,
surrogate) and ``.kinetix-run``, which marks it as made by kinetix: ``--force`` clears only such a
folder, and only the files a run writes.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from kinetix.errors import ConfigError, KinetixError
from kinetix.surrogate import Surrogate
from kinetix.training import Trainer

from .checkpoint import CHECKPOINT

MARKER = ".kinetix-run"
RUN_FILES = (CHECKPOINT, "history.csv", "config.json", "evaluation.json")
RUN_FOLDERS = ("plots", "surrogate")


def _prepare(out: Path, force: bool) -> bool:
    """Make ``out`` an empty run folder; returns whether it was created here."""
    if out.exists() or out.is_symlink():
        if not force:
            raise KinetixError(f"{out}: already exists; pass --force to start afresh, or --resume to continue it")
        if not (out.is_dir() and (out / MARKER).is_file()):
            raise KinetixError(f"{out}: exists and is not a kinetix run folder (no {MARKER} in it), so --force will "
                               "not replace it; choose another --out, or move the folder away yourself")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        return False
    out.mkdir(parents=True)
    (out / MARKER).write_text("a kinetix training run folder: kinetix train --force may replace it\n")
    return True


@contextlib.contextmanager
def run_folder(out: Path, force: bool) -> Iterator[Path]:
    """Prepare the run folder ``out`` for a fresh run (see the module docstring).

    If the block fails before a checkpoint exists and the folder was created here, the folder is
    removed, so that the same command can simply be run again.
    """
    created = _prepare(out, force)
    try:
        yield out
    except BaseException:
        if created and not (out / CHECKPOINT).exists():
            shutil.rmtree(out, ignore_errors=True)
        raise


class FreshTrainer(Trainer):
    """A trainer that always trains afresh into a run folder (no checkpoints): ``parse(config)`` makes its
    settings, ``run_type(trainer, dataset, folder, progress).run()`` trains and returns the surrogate."""

    parse: Callable[[dict | None], Any]
    run_type: type

    def __init__(self, config: dict | None = None):
        self.config = type(self).parse(config)

    def train(self, dataset, out, *, resume=False, force=False, progress=True) -> Surrogate:
        if resume:
            raise ConfigError(f"the {self.name} trainer keeps no checkpoints; train afresh (--force) instead of --resume")
        with run_folder(Path(out), force) as folder:
            return self.run_type(self, dataset, folder, progress).run()


def require_constant_pressure_cantera(dataset, trainer: str) -> str:
    """``dataset``'s mechanism name (``cantera:...``); a :class:`~kinetix.errors.ConfigError` unless its data are
    constant-pressure ignitions of a ``cantera:`` mechanism (conditions ``P``)."""
    mechanism = str(dataset.metadata.get("mechanism") or "")
    if not mechanism.startswith("cantera:") or "P" not in dataset.conditions or "density" in dataset.conditions:
        raise ConfigError(f"{dataset.path}: the {trainer} trainer needs constant-pressure ignitions of a cantera: "
                          "mechanism (conditions P); generate them with kinetix generate cantera:<file> --conditions ...")
    return mechanism
