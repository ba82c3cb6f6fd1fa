"""An unfinished dataset: chunk files in a folder beside the target, assembled when all are there.

``kinetix generate --out OUT`` integrates rows in chunks. Each finished chunk is written, atomically,
as its own file in ``OUT.partial/`` (a kill loses at most the chunks in progress, never a finished
one, and never leaves a half-written file behind); ``OUT.partial/plan.json`` records what the run
computes, so that rerunning the same command continues it and a different command is refused.
When every chunk is there they are copied, one at a time, into ``OUT`` (atomically), and the
folder is removed: ``OUT`` exists only when complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError, DatasetError, KinetixError
from .atomic import atomic_path, check_target

PARTIAL_SUFFIX = ".partial"
PLAN = "plan.json"


def partial_folder(out: str | Path) -> Path:
    """Where the chunks of an unfinished ``out`` live."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def unfinished_message(out: Path) -> str | None:
    """A one-line explanation if ``out`` is an unfinished dataset (its chunk folder exists), else ``None``."""
    folder = partial_folder(out)
    try:
        plan = json.loads((folder / PLAN).read_text(encoding="utf-8"))
        total = math.ceil(plan["rows"] / plan["chunk_size"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    done = len(list(folder.glob("states-*.h5")))
    return (f"{out}: unfinished dataset ({done} of {total} chunks written to {folder}); rerun the same "
            "kinetix generate command to finish it")


def refuse_chunk(path: Path, provenance: dict) -> None:
    """Raise if ``provenance`` says the file is one chunk of an unfinished dataset."""
    chunk = provenance.get("chunk")
    if chunk is not None:
        raise DatasetError(f"{path}: chunk {chunk} of an unfinished dataset, not a dataset; rerun the kinetix "
                           "generate command that wrote it to finish the dataset")


@dataclass(frozen=True)
class ChunkStore:
    """The chunk folder of one run: ``rows`` rows in chunks of ``chunk_size``, computing ``job``."""

    out: Path
    rows: int
    chunk_size: int
    job: dict[str, Any]

    @property
    def folder(self) -> Path:
        return partial_folder(self.out)

    @property
    def count(self) -> int:
        """Number of chunks."""
        return math.ceil(self.rows / self.chunk_size)

    def bounds(self, index: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of chunk ``index``."""
        start = index * self.chunk_size
        return start, min(start + self.chunk_size, self.rows)

    def path(self, stage: str, index: int, suffix: str = ".h5") -> Path:
        """The file of chunk ``index`` at ``stage`` (``states``, or a preparatory stage)."""
        return self.folder / f"{stage}-{index:06d}{suffix}"

    def done(self, stage: str, suffix: str = ".h5") -> set[int]:
        """Indices of the chunks whose ``stage`` file exists."""
        pattern = re.compile(rf"{re.escape(stage)}-(\d{{6}}){re.escape(suffix)}")
        found = (pattern.fullmatch(path.name) for path in self.folder.iterdir())
        return {int(match.group(1)) for match in found if match and int(match.group(1)) < self.count}

    def paths(self, stage: str = "states", suffix: str = ".h5") -> list[Path]:
        """Every chunk's ``stage`` file, in row order."""
        return [self.path(stage, index, suffix) for index in range(self.count)]

    def remove(self) -> None:
        """Delete the chunk folder (once its content is in ``out``)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextlib.contextmanager
    def removed_if_empty_on_error(self) -> Iterator[None]:
        """Remove the folder if the block fails before any chunk was written (bad settings), so
        that the corrected command starts afresh instead of finding another run's plan."""
        try:
            yield
        except BaseException:
            if all(path.name == PLAN or path.name.startswith(".") for path in self.folder.iterdir()):
                self.remove()
            raise


def open_store(out: str | Path, *, rows: int, chunk_size: int, job: dict[str, Any], force: bool = False) -> ChunkStore:
    """The chunk folder for a run writing ``out``, created or continued.

    A folder left by the same run (same ``rows``, ``chunk_size`` and ``job``) is continued; one left
    by another run is refused, unless ``force`` starts afresh. ``out`` itself is refused unless
    ``force``.
    """
    out = Path(out)
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    check_target(out, force)
    store = ChunkStore(out, rows, chunk_size, json.loads(json.dumps(job)))
    plan = {"rows": rows, "chunk_size": chunk_size, "job": store.job}
    folder = store.folder
    if folder.exists():
        try:
            previous = json.loads((folder / PLAN).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise KinetixError(f"{folder}: exists but holds no readable {PLAN}, so kinetix did not make it; "
                               "move it away") from None
        if force:
            store.remove()
        elif previous != plan:
            changed = sorted(key for key in {**previous.get("job", {}), **store.job}
                             if previous.get("job", {}).get(key) != store.job.get(key))
            changed += [key for key in ("rows", "chunk_size") if previous.get(key) != plan[key]]
            raise ConfigError(f"{folder}: holds chunks of another run (different {', '.join(changed)}); rerun the "
                              "command that started it to finish it, or pass --force to start afresh")
        else:
            return store
    folder.mkdir()
    with atomic_path(folder / PLAN) as temporary:
        temporary.write_text(json.dumps(plan, indent=1, sort_keys=True), encoding="utf-8")
    return store
