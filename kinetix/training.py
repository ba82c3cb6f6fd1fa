"""The Trainer interface: from a trajectory dataset to a saved :class:`kinetix.Surrogate`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from . import toml
from .errors import ConfigError


class Trainer(ABC):
    """Trains a surrogate. Registered through the ``register_trainers`` hook as ``factory(config)``,
    where ``config`` is the parsed TOML configuration (a dict; the trainer validates it).
    """

    name: str = "trainer"

    @abstractmethod
    def train(self, dataset, out: Path, *, resume: bool = False, force: bool = False, progress: bool = True):
        """Train on ``dataset`` (a :class:`kinetix.TrajectoryDataset`), writing checkpoints, metrics
        and plots under ``out`` and the surrogate to ``out / "surrogate"``; return the
        :class:`kinetix.Surrogate`. ``resume`` continues from ``out``'s last checkpoint exactly."""


def read_config(path: str | Path) -> dict[str, Any]:
    """A TOML configuration file as a dict. Raises :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        return toml.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration ({error})") from None
    except (toml.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
