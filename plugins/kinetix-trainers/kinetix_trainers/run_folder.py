"""Run folders: created with a marker file, replaced (``--force``) only when they carry it.

A run folder holds what one training run writes (checkpoint, history, config, evaluation, plots,
surrogate) and ``.kinetix-run``, which marks it as made by kinetix: ``--force`` clears only such a
folder, and only the files a run writes.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

from kinetix.errors import KinetixError

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
