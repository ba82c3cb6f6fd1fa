"""Atomic writes: build a temporary file or folder beside the target, then move it into place.

The temporary is named ``.NAME.tmp-PID-HEX`` (``PID``: the writing process). Readers never see a
partial target. Without ``force`` the final move itself refuses an existing target (Linux
``renameat2(RENAME_NOREPLACE)``; elsewhere a hard link for a file, an exclusive ``mkdir`` for a
folder), so of two writers racing for one name exactly one wins and the other gets an error.
Temporaries left by writers that were killed (their process is gone) are removed by the next
write of the same name. An interrupt (see :mod:`kinetix.interrupts`) that arrived during the write
stops the move, even if a library swallowed its ``KeyboardInterrupt``.

Typical use::

    check_target(path, force)          # before long work: fail fast on a bad output path
    ...
    with atomic_path(path, force=force) as temporary:
        write_the_file(temporary)      # a file or a folder at ``temporary``
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from .. import interrupts
from ..errors import KinetixError


def refuse_existing(path: Path, force: bool) -> None:
    """Raise unless ``path`` is free or ``force`` allows replacing it."""
    if os.path.lexists(path) and not force:
        raise KinetixError(f"{path}: already exists; pass --force (force=True) to replace it")


def check_target(path: str | Path, force: bool) -> None:
    """Raise unless ``path`` can be written: free (or ``force``), in an existing writable folder.

    Call it before long work whose result goes to ``path``; :func:`atomic_path` checks again.
    """
    path = Path(path)
    refuse_existing(path, force)
    folder = path.parent
    if not folder.is_dir():
        raise KinetixError(f"{path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise KinetixError(f"{path}: folder {folder} is not writable")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(path: Path) -> None:
    """Remove ``.NAME.tmp-PID-HEX`` / ``.NAME.old-PID-HEX`` beside ``path`` whose process is gone."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:tmp|old)-(\d+)-[0-9a-f]+")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and int(match[1]) != os.getpid() and not _alive(int(match[1])):
            _remove(Path(entry.path))


def _load_renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM}


def move_no_replace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, raising ``FileExistsError`` if ``target`` exists (atomically)."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:  # EEXIST becomes FileExistsError
            raise OSError(code, os.strerror(code), str(target))
    if source.is_dir() and not source.is_symlink():
        os.mkdir(target)           # claims the name, or FileExistsError
        os.replace(source, target)  # a folder may replace an empty folder
    else:
        os.link(source, target, follow_symlinks=False)  # FileExistsError if taken
        os.unlink(source)


def _replace(temporary: Path, path: Path, tag: str) -> None:
    if temporary.is_dir() and path.is_dir() and not path.is_symlink():
        retired = path.with_name(f".{path.name}.old-{tag}")
        os.replace(path, retired)
        os.replace(temporary, path)
        _remove(retired)
    else:
        os.replace(temporary, path)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it to ``path``.

    The caller creates a file or a folder at the yielded path. Nothing is left behind on failure
    or interrupt. An existing ``path`` is replaced only when ``force`` is true (a file atomically;
    a folder by swapping it out first). An ``OSError`` (disk full, file too large, permission)
    becomes a :class:`KinetixError` naming ``path``; the previous ``path`` stays intact.
    """
    path = Path(path)
    check_target(path, force)
    remove_stale(path)
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    temporary = path.with_name(f".{path.name}.tmp-{tag}")
    try:
        yield temporary
        if not os.path.lexists(temporary):
            raise KinetixError(f"{path}: nothing was written")
        if os.path.isfile(temporary):
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
        interrupts.raise_if_interrupted()
        if force:
            _replace(temporary, path, tag)
        else:
            try:
                move_no_replace(temporary, path)
            except FileExistsError:
                raise KinetixError(f"{path}: already exists (written meanwhile by another process); "
                                   "pass --force (force=True) to replace it") from None
    except OSError as error:
        raise KinetixError(f"{path}: cannot write ({error.strerror or error}); nothing was changed") from None
    finally:
        _remove(temporary)
