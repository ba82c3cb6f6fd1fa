"""The ``flowmap`` trainer: a learned reaction step (:class:`~.flow_map_network.FlowMap`) fitted to the
mechanism's own steps from states of the data.

Data: constant-pressure ignitions of a ``cantera:`` mechanism (NASA-7 thermo) with ``conditions/P``. The
trajectories are split into training and validation ones (``validation_fraction``); ``states`` states are
drawn from the training trajectories (a trajectory, then one of its output times, both uniform: the mix a
flow solver's cells pass through, ignition fronts included) and a tenth as many from the validation ones.
Each is advanced by every step of ``dt`` (or, with ``dt_sampling = "log-uniform"``, by as many steps drawn
log-uniformly between the shortest and the longest) with the mechanism itself (solver ``reference_method`` at
``reference_rtol``/``reference_atol``, each state in its own reactor). The MLP is regressed (Adam, one-cycle
schedule) on the mean rates ``dY / dt / output_scale`` plus ``temperature_weight`` times the squared
heating-rate error they imply to first order (``-sum_k h_k dY_k / cp / dt``, in units of its spread), the
temperature error a flow solver feels. The validation pairs give the held-out temperature errors reported in
``surrogate.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import kinetix
from kinetix.data.conditions import TimeScaled
from kinetix.errors import ConfigError
from kinetix.surrogate import Surrogate

from .flow_map_network import FLOW_MAP, FlowMap
from .latent import pressure_states
from .progress import dataset_mechanism, save_ignition_surrogate
from .progress_network import network_dtype
from .config import flat_settings
from .run_folder import FreshTrainer, require_constant_pressure_cantera
from .thermo import nasa7_description

HISTORY_FIELDS = ("step", "loss", "seconds")
REFERENCE_CHUNK = 8192   # states per reference solve
DT_SAMPLINGS = ("listed", "log-uniform")


@dataclass(frozen=True)
class FlowMapConfig:
    trainer: str = "flowmap"
    seed: int = 0
    dt: tuple = (1e-6, 1e-5)           # the steps [s] the map is trained on (a flow solver's); dt_min..dt_max
    dt_sampling: str = "listed"        # each state with every step of dt, or "log-uniform": as many steps in between
    states: int = 100_000              # training states, each paired with every dt
    reference_method: str = "cantera"  # the solver of the mechanism's own steps
    reference_rtol: float = 1e-9
    reference_atol: float = 1e-15
    floor: float = 1e-12               # of the features ln(Y + floor)
    width: int = 128
    depth: int = 4
    activation: str = "silu"
    precision: str = "float32"         # of the saved MLP (it trains in float32)
    epochs: int = 12_000               # Adam steps
    batch_size: int = 4096
    lr: float = 2e-3
    temperature_weight: float = 1.0
    validation_fraction: float = 0.125

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_flow_map_config(config: dict | None) -> FlowMapConfig:
    """A :class:`FlowMapConfig` from a flat TOML dict; unknown keys and bad values are errors."""
    config = flat_settings(config, FlowMapConfig, FLOW_MAP)
    if "dt" in config:
        steps = config["dt"] if isinstance(config["dt"], (list, tuple)) else [config["dt"]]
        if not all(isinstance(dt, (int, float)) and not isinstance(dt, bool) for dt in steps):
            raise ConfigError(f"flowmap trainer: dt must be a step [s] or a list of them, got {config['dt']!r}")
        config["dt"] = tuple(float(dt) for dt in steps)
    parsed = FlowMapConfig(**config)
    if not parsed.dt or min(parsed.dt) <= 0:
        raise ConfigError(f"flowmap trainer: dt must list positive steps [s], got {list(parsed.dt)}")
    if min(parsed.states, parsed.width, parsed.depth, parsed.epochs, parsed.batch_size) < 1:
        raise ConfigError("flowmap trainer: states, width, depth, epochs and batch_size must be >= 1")
    if min(parsed.floor, parsed.lr, parsed.reference_rtol, parsed.reference_atol) <= 0 or parsed.temperature_weight < 0:
        raise ConfigError("flowmap trainer: floor, lr, reference_rtol and reference_atol must be > 0, "
                          "temperature_weight >= 0")
    if parsed.dt_sampling not in DT_SAMPLINGS:
        raise ConfigError(f"flowmap trainer: dt_sampling must be one of {', '.join(DT_SAMPLINGS)}, got {parsed.dt_sampling!r}")
    if not 0 <= parsed.validation_fraction < 1:
        raise ConfigError("flowmap trainer: validation_fraction must be in [0, 1)")
    network_dtype(parsed.precision)    # an unknown precision fails here, not after training
    return parsed


def reference_steps(mechanism, states: torch.Tensor, dt: torch.Tensor, config: FlowMapConfig) -> torch.Tensor:
    """States ``[T, Y, P]`` ``(N, 2 + K)`` advanced by their steps ``dt`` [s] ``(N,)`` by ``mechanism`` (the data's),
    each in its own constant-pressure reactor at its pressure, ``REFERENCE_CHUNK`` states per solve."""
    out = []
    with torch.no_grad():
        for part, scale in zip(states.split(REFERENCE_CHUNK), dt.split(REFERENCE_CHUNK)):
            mechanism.pressure = part[:, -1]
            after = kinetix.solve(TimeScaled(mechanism, scale), part[:, :-1], torch.tensor([0.0, 1.0], dtype=torch.float64),
                                  method=config.reference_method, rtol=config.reference_rtol,
                                  atol=config.reference_atol).ys[-1]
            out.append(torch.cat([after, part[:, -1:]], dim=-1))
    return torch.cat(out)


def sample_steps(steps: tuple, listed: float, count: int, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """``count`` steps [s] ``(count,)``: ``listed`` each (``sampling="listed"``), or drawn log-uniformly between the
    shortest and the longest of ``steps`` (``"log-uniform"``)."""
    if sampling == "listed":
        return torch.full((count,), listed, dtype=torch.float64)
    low, high = math.log(min(steps)), math.log(max(steps))
    return torch.exp(low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64))


class _FlowMapRun:
    def __init__(self, trainer: FlowMapTrainer, dataset, out: Path, progress: bool):
        self.trainer, self.config, self.dataset, self.out, self.verbose = trainer, trainer.config, dataset, out, progress
        config = self.config
        mechanism = require_constant_pressure_cantera(dataset, FLOW_MAP)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        y0, y, self.names = pressure_states(dataset)
        self.states = torch.cat([y0[:, None], y], dim=1).to(torch.float64)            # (N, T + 1, 2 + K)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed + 2))
        n_val = int(config.validation_fraction * len(dataset)) if len(dataset) > 1 else 0
        self.val_index, self.train_index = order[:n_val].sort().values, order[n_val:].sort().values
        thermo = nasa7_description(mechanism.removeprefix("cantera:"), list(dataset.species[1:]), str(dataset.path))
        self.mechanism = dataset_mechanism(dataset)   # advances the states: the reference steps
        self.model = FlowMap(len(self.names), **thermo, dt_min=min(config.dt), dt_max=max(config.dt), floor=config.floor,
                             width=config.width, depth=config.depth, activation=config.activation, precision="float32")
        self.history: list[dict] = []
        self.began = time.perf_counter()

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def sample(self, index: torch.Tensor, count: int) -> torch.Tensor:
        """``count`` states ``(count, 2 + K)`` of the trajectories ``index``: a trajectory, then a time, uniform."""
        trajectory = index[torch.randint(len(index), (count,), generator=self.generator)]
        when = torch.randint(self.states.shape[1], (count,), generator=self.generator)
        return self.states[trajectory, when]

    def pairs(self, states: torch.Tensor, sampling: str = "listed") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(states, dt, after)``: every state with every step of ``dt`` (``sampling="listed"``) or with as many
        steps drawn log-uniformly between the shortest and the longest (``"log-uniform"``), and the mechanism's
        state after each."""
        befores, steps, afters = [], [], []
        for dt in self.config.dt:
            began = time.perf_counter()
            step = sample_steps(self.config.dt, dt, len(states), sampling, self.generator)
            afters.append(reference_steps(self.mechanism, states, step, self.config))
            befores.append(states)
            steps.append(step)
            self.say(f"reference steps ({sampling}): {len(states)} states in {time.perf_counter() - began:.1f} s")
        return torch.cat(befores), torch.cat(steps), torch.cat(afters)

    def temperature_weights(self, states: torch.Tensor) -> torch.Tensor:
        """``h_k(T) / cp`` ``(N, K)`` [K]: the first-order temperature change per unit change of each ``Y_k``."""
        thermo, K = self.model.thermo, self.model.n_species
        T = states[:, 0]
        species = thermo.evaluate(T[:, None].expand(-1, K), thermo.tables(torch.eye(K, dtype=torch.float64)))[0]
        cp = thermo.evaluate(T, thermo.tables(states[:, 1:1 + K]))[1]
        return species / cp[:, None]

    def run(self) -> Surrogate:
        config, model = self.config, self.model
        (self.out / "config.json").write_text(json.dumps(config.as_dict(), indent=2))
        K = model.n_species
        before, dt, after = self.pairs(self.sample(self.train_index, config.states), config.dt_sampling)
        rate = (after[:, 1:1 + K] - before[:, 1:1 + K]) / dt[:, None]
        with torch.no_grad():
            features = model.features(before, dt)
            model.feature_shift.copy_(features.mean(0))
            spread = features.std(0)
            model.feature_scale.copy_(torch.where(spread > 1e-12 * features.abs().amax(0), spread, torch.ones_like(spread)))
            scale = rate.std(0)
            if not float(scale.max()) > 0:
                raise ConfigError(f"{self.dataset.path}: no mass fraction changes over any training step: the data "
                                  "hold no reacting states (sample later times, or another dt)")
            model.output_scale.copy_(scale.clamp(min=1e-3 * float(scale.max())))
        x = ((features - model.feature_shift) / model.feature_scale).float()
        target = (rate / model.output_scale).float()
        heating = -self.temperature_weights(before)                   # dT per unit change of each Y_k [K]
        weights = (heating * model.output_scale / (heating * rate).sum(-1).std()).float()
        optimizer = torch.optim.Adam(model.network.parameters(), lr=config.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs, pct_start=0.05)
        for step in range(config.epochs):
            pick = torch.randint(len(x), (min(config.batch_size, len(x)),), generator=self.generator)
            error = model.network(x[pick]) - target[pick]
            loss = error.pow(2).mean() + config.temperature_weight * (error * weights[pick]).sum(-1).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            self.history.append({"step": step, "loss": float(loss.detach()),
                                 "seconds": round(time.perf_counter() - self.began, 3)})
            if step % 1000 == 0:
                self.say(f"step {step}: loss {float(loss.detach()):.3e}")
        seconds = time.perf_counter() - self.began
        model.requires_grad_(False).eval()
        model.set_precision(config.precision)
        return self.finish(seconds)

    def evaluation(self) -> dict:
        """Per step, the held-out temperature errors [K]: max, 99th percentile, mean, and those of no change at all."""
        if not len(self.val_index):
            return {}
        states = self.sample(self.val_index, max(1, self.config.states // 10))
        before, dt, after = self.pairs(states)
        with torch.no_grad():
            predicted = self.model.advance(before, dt)
        result = {}
        for step in self.config.dt:
            chosen = dt == step
            error = (predicted[chosen, 0] - after[chosen, 0]).abs()
            still = (before[chosen, 0] - after[chosen, 0]).abs()
            Y = predicted[chosen, 1:-1]
            result[f"validation, dt {step:g} s"] = {"max_T_error_K": float(error.max()), "p99_T_error_K": float(error.quantile(0.99)),
                                   "mean_T_error_K": float(error.mean()), "no_change_p99_K": float(still.quantile(0.99)),
                                   "no_change_mean_K": float(still.mean()),
                                   "max_Y_error": float((Y - after[chosen, 1:-1]).abs().max()), "min_Y": float(Y.min()),
                                   "states": int(chosen.sum())}
        return result

    def finish(self, seconds: float) -> Surrogate:
        return save_ignition_surrogate(self, FLOW_MAP, seconds, self.evaluation(), {"method": FLOW_MAP},
                                       fields=HISTORY_FIELDS)


class FlowMapTrainer(FreshTrainer):
    """See the module docstring; ``config``: a flat dict (TOML) of :class:`FlowMapConfig` fields."""

    name = FLOW_MAP
    parse = staticmethod(parse_flow_map_config)
    run_type = _FlowMapRun
