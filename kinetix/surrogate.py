"""A trained surrogate: a neural vector field plus everything needed to use it, in one folder.

Layout of a surrogate folder::

    surrogate.json   format, network name and config, species, units, default solver, default
                     initial state and output times, dataset provenance, training summary, and the
                     SHA-256 of every file below
    weights.pt       the network's state dict (tensors only; loaded with weights_only=True)
    history.csv      the training metrics, one row per epoch

Loading needs only kinetix itself (the network is found in the registry), not the trainer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from .allocation import AllocationBudget
from .data.atomic import atomic_path
from .errors import KinetixError, SurrogateError

FORMAT_NAME = "kinetix-surrogate"
FORMAT_VERSION = 1
MANIFEST = "surrogate.json"
WEIGHTS = "weights.pt"
HISTORY = "history.csv"
MAX_MANIFEST_BYTES = 64 << 20
MAX_NETWORK_BYTES = 1 << 30


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_network(network: dict, **arguments) -> torch.nn.Module:
    """The registered network ``network["name"]`` built from ``network["config"]`` and ``arguments``.

    Raises :class:`kinetix.KinetixError` before allocating more than ``MAX_NETWORK_BYTES`` of
    tensors (a mistyped or hostile width).
    """
    from .plugins import get_catalog

    factory = get_catalog()["network"].get(network["name"])
    with AllocationBudget(MAX_NETWORK_BYTES, f"network {network['name']!r} {network['config']}"):
        return factory(**network["config"], **arguments)


class Surrogate:
    """A neural ODE surrogate ``dy/dt = field(y)`` of a mechanism.

    Attributes:
        field: the network (``nn.Module`` with ``forward(t, y)`` and ``jacobian(t, y)``).
        network: ``{"name": ..., "config": {...}}``, enough to rebuild ``field``.
        species: names of the ``n`` state components.
        info: everything else from ``surrogate.json`` (units, solver defaults, provenance, ...).
        history: training metrics as a CSV string (may be empty).
    """

    def __init__(self, field: torch.nn.Module, network: dict, species, info: dict[str, Any] | None = None,
                 history: str = ""):
        self.field = field
        self.network = network
        self.species = tuple(species)
        self.info = dict(info or {})
        self.history = history

    @property
    def solver_options(self) -> dict[str, Any]:
        """The default solver settings: ``surrogate.json``'s ``solver`` over rodas5p at rtol 1e-6, atol 1e-10
        (a surrogate that integrates itself, e.g. method ``"flowmap"``, may name no tolerances)."""
        return {"method": "rodas5p", "rtol": 1e-6, "atol": 1e-10, **self.info.get("solver", {})}

    def simulate(self, y0=None, t=None, **solver_options) -> torch.Tensor:
        """States ``(len(t), *y0.shape)``; ``y0`` ``(n,)`` or ``(..., n)`` at time ``t0``.

        A reduced surrogate (a field with ``encode``/``decode``, ``info["kind"]``) encodes ``y0``,
        integrates its latent variables and adds their decoded change to ``y0``. Defaults: the training data's first
        initial state and output times; the solver settings in
        ``surrogate.json`` (override with ``method=``, ``rtol=``, ...). Integration starts at ``t0``
        (``info["t0"]``) when the first output time lies after it.
        """
        from .solvers.api import solve

        dtype = next(iter(self.field.state_dict().values())).dtype
        y0 = torch.as_tensor(self.info["y0"] if y0 is None else y0, dtype=dtype)
        t = torch.as_tensor(self.info["t"] if t is None else t, dtype=dtype)
        t0 = float(self.info.get("t0", float(t[0])))
        options = {**self.solver_options, **solver_options}
        start = t0 if t.dim() == 1 and len(t) > 0 and float(t[0]) > t0 else None
        if hasattr(self.field, "encode"):  # a reduced surrogate: y0 plus the decoded change of its latent state
            z0 = self.field.encode(y0)
            latent = integrate(self.field, z0, t, t0=start, **options)
            return y0 + (self.field.decode(latent) - self.field.decode(z0))
        return solve(self.field, y0, t, t0=start, **options).ys

    def save(self, path: str | Path, *, force: bool = False, extra_files: dict[str, Path] | None = None) -> Path:
        """Write the surrogate folder atomically; ``extra_files`` (name → file) are copied in too."""
        path = Path(path)
        with atomic_path(path, force=force) as temporary:
            temporary.mkdir()
            torch.save(self.field.state_dict(), temporary / WEIGHTS)
            (temporary / HISTORY).write_text(self.history)
            for name, source in (extra_files or {}).items():
                target = temporary / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(Path(source).read_bytes())
            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "network": self.network,
                "species": list(self.species),
                **self.info,
                "files": {name: sha256(temporary / name) for name in (WEIGHTS, HISTORY)},
            }
            (temporary / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_jsonable))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """Read a surrogate folder, checking its format and the integrity of every file.

        Raises :class:`kinetix.SurrogateError` naming the folder, the problem and the fix.
        """
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise SurrogateError(f"{path}: not a surrogate folder ({MANIFEST} missing); train one with kinetix train")
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise SurrogateError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a kinetix manifest")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SurrogateError(f"{manifest_path}: not valid JSON ({error}); the file is damaged") from None
        except RecursionError:
            raise SurrogateError(f"{manifest_path}: nested too deeply; not a kinetix manifest") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise SurrogateError(f"{manifest_path}: not a kinetix surrogate (field 'format' must be {FORMAT_NAME!r})")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise SurrogateError(f"{manifest_path}: format_version {manifest.get('format_version')!r} is not "
                                 f"supported (expected {FORMAT_VERSION}); upgrade kinetix")
        files = manifest.get("files")
        if not isinstance(files, dict) or set(files) != {WEIGHTS, HISTORY}:
            raise SurrogateError(f"{manifest_path}: field 'files' must list {WEIGHTS} and {HISTORY} with their SHA-256")
        for name, digest in files.items():
            file = path / name
            if not file.is_file():
                raise SurrogateError(f"{path}: {name} is missing")
            if sha256(file) != digest:
                raise SurrogateError(f"{path}: {name} does not match its SHA-256 in {MANIFEST}: the file was "
                                     "modified or truncated; retrain or restore it")
        network = manifest.get("network")
        species = manifest.get("species")
        if not (isinstance(network, dict) and isinstance(network.get("name"), str)
                and isinstance(network.get("config"), dict)):
            raise SurrogateError(f"{manifest_path}: field 'network' must be {{'name': ..., 'config': {{...}}}}")
        if not (isinstance(species, list) and species and all(isinstance(s, str) for s in species)):
            raise SurrogateError(f"{manifest_path}: field 'species' must be a non-empty list of names")
        try:
            field = build_network(network)
        except (KinetixError, TypeError, ValueError) as error:
            raise SurrogateError(f"{manifest_path}: cannot build network {network['name']!r} ({error})") from None
        try:
            state = torch.load(path / WEIGHTS, weights_only=True, map_location="cpu")
            field.load_state_dict(state)
        except Exception as error:  # torch raises many types for damaged pickles and mismatched keys
            raise SurrogateError(f"{path / WEIGHTS}: cannot load the weights ({type(error).__name__}: {error})") from None
        field.eval()
        field.requires_grad_(False)  # a deployed model; call requires_grad_(True) to differentiate it
        info = {key: value for key, value in manifest.items()
                if key not in ("format", "format_version", "network", "species", "files")}
        for key in ("y0", "t"):
            if key not in info:
                raise SurrogateError(f"{manifest_path}: missing field {key!r}")
        return cls(field, network, species, info, (path / HISTORY).read_text(encoding="utf-8"))


def integrate(field: torch.nn.Module, z0: torch.Tensor, t: torch.Tensor, *, t0: float | None = None,
              method: str | None = None, **options) -> torch.Tensor:
    """States ``(len(t), *z0.shape)`` of ``dy/dt = field(t, y)`` from ``z0`` at ``t0`` (default ``t[0]``).

    A method the field names in its ``integrators`` (e.g. a progress-variable surrogate's ``"quadrature"``,
    a flow map's ``"flowmap"``) asks the field to integrate itself without a solver, by its
    ``trajectory(z0 (N, m), times (T,)) -> (T, N, m)``; any other method is a solver of
    :func:`kinetix.solve`, with ``options`` its settings.
    """
    from .solvers.api import solve

    if not integrates_itself(field, method):
        return solve(field, z0, t, t0=t0, method=method, **options).ys
    start = float(t[0]) if t0 is None else float(t0)
    flat = z0.reshape(-1, z0.shape[-1])
    return field.trajectory(flat, t - start).reshape(len(t), *z0.shape)


def integrates_itself(field: torch.nn.Module, method: str | None) -> bool:
    """Whether ``method`` is one of ``field``'s own integrators (its ``integrators`` attribute)."""
    return method is not None and method in getattr(field, "integrators", ())


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in {MANIFEST}")
