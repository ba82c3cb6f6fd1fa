"""Checkpoints for exact resumption: model, optimiser, schedule, random state and history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from kinetix.data.atomic import atomic_path
from kinetix.errors import KinetixError

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    """Write ``out/checkpoint.pt`` atomically (a crash leaves the previous one intact)."""
    with atomic_path(out / CHECKPOINT, force=True) as temporary:
        torch.save(state, temporary)


def load_checkpoint(out: Path) -> dict[str, Any]:
    """The checkpoint in ``out``, loaded with ``weights_only=True``."""
    path = out / CHECKPOINT
    if not path.is_file():
        raise KinetixError(f"{out}: no checkpoint to resume from ({CHECKPOINT} missing); train without --resume")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # damaged or foreign pickle
        raise KinetixError(f"{path}: cannot load the checkpoint ({type(error).__name__}: {error}); "
                           "delete it and train again without --resume") from None
