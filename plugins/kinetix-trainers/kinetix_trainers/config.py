"""Training configuration: TOML sections mapped onto dataclasses, with defaults and validation.

Every field is documented in ``docs/training.md``; unknown keys are errors (a typo must not be
silently ignored).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from kinetix.errors import ConfigError, KinetixError


@dataclass
class NetworkConfig:
    name: str = "mlp"
    width: int = 5
    depth: int = 6
    activation: str = "gelu"
    output: str = "linear"            # linear | sinh
    input: str = "scale"              # none | scale | standard
    species_scale: str = "max"       # max | range | none: y_scale for inputs and the loss
    output_scale: str = "paper"       # paper | rate | none
    output_factor: float = 1.0        # multiplies the output scale
    init_output: float = 1.0          # multiplies the last layer's initial weights and bias
    conserve: str = "none"            # none | mechanism: keep the mechanism's conserved quantities exactly
    options: dict = field(default_factory=dict)  # further keywords for the network (e.g. library_order)


@dataclass
class LossConfig:
    name: str = "scaled_mae"
    floor: float = 1e-3               # asinh_mae only
    scale: str = "species"            # species (y_scale) | none


@dataclass
class SolverConfig:
    method: str = "rodas5p"
    rtol: float = 1e-3
    atol: float = 1e-6                # relative to each species' y_scale
    eval_rtol: float = 1e-7
    eval_atol: float = 1e-10          # relative to each species' y_scale
    max_steps: int = 5000
    adjoint: bool = False
    compile: bool = False             # compile the whole solve and its gradient


@dataclass
class OptimizerConfig:
    lr: float = 5e-3
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 1e-6
    schedule: str = "cosine"          # constant | cosine
    min_lr: float = 5e-5
    grad_norm: float = 0.0            # > 0: rescale every gradient to this norm
    clip: float = 0.0                 # > 0: clip the gradient norm at this value


@dataclass
class DataConfig:
    batch_size: int = 0               # trajectories per step; 0 = all
    validation_fraction: float = 0.0
    validate_every: int = 10
    patience: int = 0                 # validations without improvement before stopping; 0 = never


@dataclass
class CurriculumConfig:
    fraction: float = 0.0             # fraction of the epochs over which the horizon grows; 0 = off
    start_points: int = 10            # output times in the first horizon


@dataclass
class DerivativesConfig:
    source: str = "none"              # none (off) | auto | mechanism | data: rates to match before the solver
    epochs: int = 500                 # Adam steps (networks without a least-squares stoichiometry)
    lr: float = 1e-2
    prune: float = 0.0                # > 0: drop reactions while the rate residual grows by at most this fraction
    jacobian: bool = False            # mass_action, source mechanism: match the mechanism's Jacobian as well
    signs: bool = False               # mass_action: a reaction consumes only species in its rate law
    threshold: float = 0.0            # mass_action, > 0: sequentially thresholded least squares (sparse selection)


@dataclass
class PolishConfig:
    lbfgs_iterations: int = 0         # L-BFGS iterations after the first-order epochs


@dataclass
class TrainConfig:
    trainer: str = "stiff"
    seed: int = 0
    epochs: int = 2000
    checkpoint_every: int = 100
    network: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    polish: PolishConfig = field(default_factory=PolishConfig)
    derivatives: DerivativesConfig = field(default_factory=DerivativesConfig)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of everything that shapes the training trajectory."""
        settings = {key: value for key, value in self.as_dict().items() if key != "checkpoint_every"}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


_CHOICES = {
    ("network", "output"): ("linear", "sinh"),
    ("network", "input"): ("none", "scale", "standard"),
    ("network", "species_scale"): ("max", "range", "none"),
    ("network", "output_scale"): ("paper", "rate", "none"),
    ("loss", "scale"): ("species", "none"),
    ("network", "conserve"): ("none", "mechanism"),
    ("derivatives", "source"): ("none", "auto", "mechanism", "data"),
    ("optimizer", "schedule"): ("constant", "cosine"),
}
_POSITIVE = {("optimizer", "lr"), ("solver", "rtol"), ("solver", "atol"), ("solver", "eval_rtol"),
             ("solver", "eval_atol"), ("network", "output_factor"), ("network", "init_output"), ("loss", "floor"),
             ("network", "width"), ("solver", "max_steps"), ("data", "validate_every"), ("checkpoint_every",),
             ("derivatives", "lr")}


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if isinstance(default, dict):
        if not isinstance(value, dict) or not all(isinstance(v, (bool, int, float, str)) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of numbers, booleans or text, got {value!r}")
        return dict(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"{where}: expected a list of {len(default)} numbers, got {value!r}")
        return tuple(_coerce(v, d, where) for v, d in zip(value, default))
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value


def _fill(instance, values: dict, prefix: tuple[str, ...], source: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{'.'.join(prefix)}] must be a table")
    known = {f.name: f for f in fields(instance)}
    for key, value in values.items():
        where = f"{source}: {'.'.join((*prefix, key))}"
        if key not in known:
            raise ConfigError(f"{where}: unknown setting; known: {', '.join(sorted(known))}")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            _fill(current, value, (*prefix, key), source)
            continue
        value = _coerce(value, current, where)
        choices = _CHOICES.get((*prefix, key))
        if choices and value not in choices:
            raise ConfigError(f"{where}: got {value!r}; choose from {', '.join(choices)}")
        if (*prefix, key) in _POSITIVE and not value > 0:
            raise ConfigError(f"{where}: must be positive, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        setattr(instance, key, value)


def parse_config(values: dict[str, Any] | None, source: str = "config", base: TrainConfig | None = None) -> TrainConfig:
    """A validated :class:`TrainConfig` from TOML-like ``values`` layered over ``base`` (defaults)."""
    config = copy.deepcopy(base) if base is not None else TrainConfig()
    _fill(config, values or {}, (), source)
    if not 0 <= config.data.validation_fraction < 1:
        raise ConfigError(f"{source}: data.validation_fraction must be in [0, 1), got {config.data.validation_fraction}")
    if not 0 <= config.curriculum.fraction <= 1:
        raise ConfigError(f"{source}: curriculum.fraction must be in [0, 1], got {config.curriculum.fraction}")
    if config.curriculum.start_points < 2:
        raise ConfigError(f"{source}: curriculum.start_points must be at least 2")
    if not all(0 <= beta < 1 for beta in config.optimizer.betas):
        raise ConfigError(f"{source}: optimizer.betas must both be in [0, 1), got {list(config.optimizer.betas)}")
    _check_solver(config.solver.method, source)
    return config


def _check_solver(method: str, source: str) -> None:
    """Training backpropagates through the solver: it must be registered and differentiable."""
    from kinetix.plugins import get_catalog

    try:
        solver = get_catalog()["solver"].get(method)()
    except KinetixError as error:
        raise ConfigError(f"{source}: solver.method: {error}") from None
    if not getattr(solver, "differentiable", True):
        raise ConfigError(f"{source}: solver.method: {method!r} gives no gradients, so it cannot train; "
                          "use a differentiable solver such as 'rodas5p' (see kinetix solvers)")


def flat_settings(config: dict | None, settings: type, trainer: str) -> dict:
    """A copy of ``config``, a flat (TOML) dict of the dataclass ``settings``' fields; unknown keys are a
    :class:`~kinetix.errors.ConfigError` that lists the known ones."""
    config = dict(config or {})
    known = sorted(f.name for f in fields(settings))
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigError(f"{trainer} trainer: unknown setting(s) {unknown}; known: {known}")
    return config
