"""Atomic writes: build a temporary file or folder beside the target, then rename it into place."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from ..errors import KinetixError


def refuse_existing(path: Path, force: bool) -> None:
    """Raise unless ``path`` is free or ``force`` allows replacing it."""
    if path.exists() and not force:
        raise KinetixError(f"{path}: already exists; pass --force (force=True) to replace it")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it to ``path``.

    The caller creates a file or a folder at the yielded path. Nothing is left behind on failure,
    and an existing ``path`` is replaced only when ``force`` is true (a file atomically; a folder
    by swapping it out first).
    """
    path = Path(path)
    refuse_existing(path, force)
    if not path.parent.is_dir():
        raise KinetixError(f"{path}: folder {path.parent} does not exist")
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    temporary = path.with_name(f".{path.name}.tmp-{tag}")
    try:
        yield temporary
        refuse_existing(path, force)  # it may have appeared meanwhile
        if temporary.is_dir() and path.exists():
            retired = path.with_name(f".{path.name}.old-{tag}")
            os.replace(path, retired)
            os.replace(temporary, path)
            _remove(retired)
        else:
            os.replace(temporary, path)
    finally:
        _remove(temporary)
