"""The ``latent`` trainer: a reduced surrogate (:class:`LatentODE`) trained jointly on trajectory windows.

Each epoch draws ``batch_size`` windows: a trajectory, a start (the initial state or a data time) and
a stride, then ``window`` consecutive strided data times. The window's first state is encoded, the
latent field is integrated from data time to data time by the per-member adaptive integrator of the
reaction step (``train_method``), and every decoded state is compared with the data (scaled MAE), as
are the reconstructions ``decode(encode(y))`` of the window's states. After training, the latent
field is integrated over the validation trajectories with every method of ``methods`` at
``eval_rtol``; the fastest whose error is within 2 % of the best is the surrogate's solver (the
choice is ``solver`` in ``surrogate.json``, the table of candidates ``solver_choice``).

Data with conditions ``P`` and no ``density`` (constant-pressure reactors) get the pressure as a
last, constant state component ``P`` [Pa]; ``cantera:`` mechanisms give the element matrix.
Checkpoints and ``--resume`` are not supported by this trainer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

import kinetix
from kinetix.errors import ConfigError
from kinetix.reaction_step import EXPLICIT, ReactionStep
from kinetix.surrogate import Surrogate

from .fields import element_invariants
from .latent_network import LatentODE
from .plots import plot_history, plot_trajectories
from .config import flat_settings
from .run_folder import FreshTrainer
from .trainer import dataset_provenance, history_csv

HISTORY_FIELDS = ("epoch", "loss", "rollout", "reconstruction", "grad_norm", "lr", "seconds")


@dataclass(frozen=True)
class LatentConfig:
    trainer: str = "latent"
    seed: int = 0
    epochs: int = 1500
    max_seconds: float = 0.0            # > 0: stop after this much training wall time [s]
    init_from: str = ""                 # a latent surrogate folder to start from (same network settings)
    latent: int = 4                     # learned latent variables (the invariants come on top)
    width: int = 32
    depth: int = 2
    activation: str = "gelu"
    elements: str = "auto"              # auto (from a cantera: mechanism) | none
    lr: float = 3e-3
    min_lr: float = 3e-5
    batch_size: int = 64                # windows per epoch
    window: int = 8                     # data times per window after its start
    strides: tuple = (1, 2, 4, 8, 16, 32)
    initial_fraction: float = 0.25      # share of windows that start from the initial state
    train_method: str = "dopri5"
    train_rtol: float = 1e-4
    eval_rtol: float = 1e-6
    atol: float = 1e-8                  # absolute tolerance on the (normalised) latent variables
    max_steps: int = 32                 # step attempts per data interval while training
    validation_fraction: float = 0.125
    methods: tuple = ("bosh3", "dopri5", "rodas3p", "rodas5p")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_latent_config(config: dict | None) -> LatentConfig:
    """A :class:`LatentConfig` from a flat TOML dict; unknown keys and bad values are errors."""
    config = flat_settings(config, LatentConfig, "latent")
    for key in ("strides", "methods"):
        if key in config:
            config[key] = tuple(config[key])
    parsed = LatentConfig(**config)
    if parsed.elements not in ("auto", "none"):
        raise ConfigError(f"latent trainer: elements must be 'auto' or 'none', got {parsed.elements!r}")
    if parsed.train_method not in EXPLICIT:
        raise ConfigError(f"latent trainer: train_method must be one of {sorted(EXPLICIT)}, got {parsed.train_method!r}")
    if min(parsed.latent, parsed.window, parsed.batch_size, parsed.max_steps, min(parsed.strides)) < 1:
        raise ConfigError("latent trainer: latent, window, batch_size, max_steps and strides must be >= 1")
    if not parsed.methods:
        raise ConfigError("latent trainer: methods must name at least one solver")
    return parsed


def element_matrix(mechanism: str | None, species) -> list[list[float]]:
    """``(n_elements, K)`` moles of each element per kg of each species of a ``cantera:`` mechanism
    (elements absent from every species dropped, rows independent); ``[]`` for other mechanisms."""
    if not mechanism or not str(mechanism).startswith("cantera:"):
        return []
    name = str(mechanism).removeprefix("cantera:")
    source = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    return [list(row) for row in element_invariants(mechanism).of(source, species).amounts]


def pressure_states(dataset) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """``(y0 (N, n'), y (N, T, n'), names)``: the dataset's states, with the pressure appended as a
    constant component ``P`` [Pa] for constant-pressure data (conditions ``P`` without ``density``)."""
    if "P" not in dataset.conditions or "density" in dataset.conditions:
        return dataset.y0, dataset.y, tuple(dataset.species)
    pressure = dataset.conditions["P"].to(dataset.y.dtype)
    y = torch.cat([dataset.y, pressure[:, None, None].expand(-1, dataset.y.shape[1], 1)], dim=-1)
    return torch.cat([dataset.y0, pressure[:, None]], dim=-1), y, (*dataset.species, "P")


class _LatentRun:
    def __init__(self, trainer: LatentTrainer, dataset, out: Path, progress: bool):
        self.trainer, self.config, self.dataset, self.out, self.progress = trainer, trainer.config, dataset, out, progress
        config = self.config
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        y0, y, self.names = pressure_states(dataset)
        self.times = torch.cat([dataset.t.new_tensor([dataset.t0]), dataset.t])   # (T + 1,)
        self.states = torch.cat([y0[:, None], y], dim=1)                            # (N, T + 1, n)
        n_traj = len(dataset)
        order = torch.randperm(n_traj, generator=torch.Generator().manual_seed(config.seed + 2))
        n_val = max(1, int(config.validation_fraction * n_traj)) if n_traj > 1 and config.validation_fraction > 0 else 0
        self.val_index, self.train_index = order[:n_val].sort().values, order[n_val:].sort().values
        train = self.states[self.train_index]
        pressure = self.names[-1] == "P"
        n_species = len(dataset.species) - 1
        elements = (element_matrix(dataset.metadata.get("mechanism"), dataset.species[1:])
                    if config.elements == "auto" else [])
        delays = dataset.conditions.get("ignition_delay")
        time_scale = (0.1 * float(delays.median()) if delays is not None
                      else float(self.times[-1] - self.times[0]) / 100)
        self.network = {"name": "latent", "config": {
            "n_state": len(self.names), "latent": config.latent, "elements": elements, "pressure": pressure,
            "width": config.width, "depth": config.depth, "activation": config.activation, "time_scale": time_scale}}
        self.model = LatentODE(**self.network["config"])
        with torch.no_grad():  # a slow field to start with: latent rates ~ 1 / (10 time_scale)
            self.model.field.layers[-1].weight.mul_(0.1)
            self.model.field.layers[-1].bias.mul_(0.1)
        flat = train.reshape(-1, train.shape[-1])
        inputs = torch.cat([flat[:, :-1], flat[:, -1:].log()], dim=-1) if pressure else flat
        ranges = (flat.amax(0) - flat.amin(0))[:1 + n_species]
        # species that hardly vary (inerts) are measured against a thousandth of the largest range
        self.y_scale = torch.cat([ranges[:1].clamp(min=1.0), ranges[1:].clamp(min=1e-3 * float(ranges[1:].max()))])
        with torch.no_grad():
            shift = torch.zeros(len(self.names), dtype=flat.dtype)
            scale = torch.ones(len(self.names), dtype=flat.dtype)
            shift[0], scale[0] = inputs[:, 0].mean(), inputs[:, 0].std().clamp(min=1.0)
            scale[1:1 + n_species] = self.y_scale[1:]
            if pressure:
                shift[-1], scale[-1] = inputs[:, -1].mean(), inputs[:, -1].std().clamp(min=1e-3)
            self.model.state_shift.copy_(shift)
            self.model.state_scale.copy_(scale)
            invariants = self.model.invariants(flat)
            self.model.invariant_shift.copy_(invariants.mean(0))
            self.model.invariant_scale.copy_(invariants.std(0).clamp(min=1e-6 * invariants.abs().amax(0).clamp(min=1.0)))
        if config.init_from:
            self._initialise_from(Path(config.init_from))
        self.stepper = ReactionStep(torch.nn.Identity(), self.model, torch.nn.Identity(), config.train_method,
                                    config.train_rtol, torch.full((self.model.latent_size,), config.atol), config.max_steps)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=1e-6)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(config.epochs, 1),
                                                                   eta_min=min(config.min_lr, config.lr))
        self.history: list[dict] = []

    def _initialise_from(self, folder: Path) -> None:
        """Weights and scales of an earlier latent surrogate with the same network settings."""
        earlier = Surrogate.load(folder / "surrogate" if (folder / "surrogate").is_dir() else folder)
        if earlier.network["name"] != "latent" or earlier.network["config"] != self.network["config"]:
            raise ConfigError(f"init_from {folder}: its network {earlier.network} differs from this run's "
                              f"{self.network}; use the same data and network settings")
        self.model.load_state_dict(earlier.field.state_dict())
        self.model.requires_grad_(True)

    def _error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scaled absolute errors of ``[T, Y]`` ``(..., 1 + K)`` (the pressure is exact by construction)."""
        k = len(self.y_scale)
        return (pred[..., :k] - target[..., :k]).abs() / self.y_scale

    def _windows(self):
        config, count = self.config, self.config.batch_size
        n_times = self.times.shape[0]
        pick = torch.randint(len(self.train_index), (count,), generator=self.generator)
        trajectories = self.train_index[pick]
        strides = torch.tensor(config.strides)[torch.randint(len(config.strides), (count,), generator=self.generator)]
        strides = torch.minimum(strides, torch.tensor(max(1, (n_times - 1) // config.window)))
        last_start = (n_times - 1 - strides * config.window).clamp(min=0)
        starts = (torch.rand(count, generator=self.generator) * (last_start + 1)).long()
        initial = torch.rand(count, generator=self.generator) < config.initial_fraction
        starts = torch.where(initial, torch.zeros_like(starts), starts)
        index = (starts[:, None] + strides[:, None] * torch.arange(config.window + 1)).clamp(max=n_times - 1)
        return self.states[trajectories[:, None], index], self.times[index]       # (B, W+1, n), (B, W+1)

    def epoch_loss(self):
        window_states, window_times = self._windows()
        z = self.model.encode(window_states[:, 0])
        start = self.model.decode(z)
        alive = torch.ones(len(z), dtype=torch.bool)
        rollout = []
        for k in range(1, window_times.shape[1]):
            z = self.stepper.integrate(z, window_times[:, k] - window_times[:, k - 1])
            alive = alive & torch.isfinite(z).all(dim=-1)  # a member the integrator gave up on leaves the loss
            z = torch.where(alive.unsqueeze(-1), z, torch.zeros_like(z))  # (and its NaN the gradient)
            rollout.append(window_states[:, 0] + (self.model.decode(z) - start))  # as the reaction step
        errors = self._error(torch.stack(rollout, dim=1), window_states[:, 1:])
        rollout_loss = errors[alive].mean() if alive.any() else errors.new_tensor(math.inf)
        reconstruction = self._error(self.model.decode(self.model.encode(window_states)), window_states).mean()
        return rollout_loss + reconstruction, rollout_loss, reconstruction

    def run(self) -> Surrogate:
        config = self.config
        (self.out / "config.json").write_text(json.dumps(config.as_dict(), indent=2))
        began = time.perf_counter()
        bar = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not self.progress)
        for epoch in bar:
            self.optimizer.zero_grad(set_to_none=True)
            loss, rollout, reconstruction = self.epoch_loss()
            grad_norm = math.nan
            if torch.isfinite(loss):
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0))
                if math.isfinite(grad_norm):
                    self.optimizer.step()
            self.schedule.step()
            self.history.append({"epoch": epoch, "loss": float(loss.detach()), "rollout": float(rollout.detach()),
                                 "reconstruction": float(reconstruction.detach()), "grad_norm": grad_norm, "lr": self.optimizer.param_groups[0]["lr"],
                                 "seconds": round(time.perf_counter() - began, 3)})
            bar.set_postfix(loss=f"{float(loss.detach()):.3e}")
            if config.max_seconds > 0 and time.perf_counter() - began > config.max_seconds:
                break
        seconds = time.perf_counter() - began
        self.model.requires_grad_(False).eval()
        choice = self.choose_method()
        return self.finish(seconds, choice)

    def _trajectory_error(self, index: torch.Tensor, method: str) -> tuple[float, float, float, torch.Tensor]:
        """(scaled MAE and largest scaled error over ``index``'s full trajectories, seconds, the
        predictions ``(N, T + 1, n)``) with ``method``."""
        atol = torch.full((self.model.latent_size,), self.config.atol, dtype=torch.float64)
        options = {"max_steps": 20_000}
        start = time.perf_counter()
        with torch.no_grad():
            latent = kinetix.solve(self.model, self.model.encode(self.states[index, 0]), self.times, method=method,
                                   rtol=self.config.eval_rtol, atol=atol, raise_on_failure=False, **options).ys
            pred = (self.states[index, 0] + (self.model.decode(latent) - self.model.decode(latent[:1]))).transpose(0, 1)
        seconds = time.perf_counter() - start
        error = self._error(pred[:, 1:], self.states[index, 1:])
        if not torch.isfinite(error).all():
            return math.inf, math.inf, seconds, pred
        return float(error.mean()), float(error.max()), seconds, pred

    def choose_method(self) -> dict:
        """Every candidate on the validation (else training) trajectories; the fastest within 2 % of the best."""
        index = self.val_index if len(self.val_index) else self.train_index
        table = {}
        for method in self.config.methods:
            error, _, seconds, _ = self._trajectory_error(index, method)
            table[method] = {"scaled_mae": error, "seconds": round(seconds, 4)}
        best = min(entry["scaled_mae"] for entry in table.values())
        if not math.isfinite(best):
            raise ConfigError("latent trainer: no method integrates the trained latent field; train longer or "
                              "lower lr")
        keeping = [m for m, entry in table.items() if entry["scaled_mae"] <= 1.02 * best]
        return {"method": min(keeping, key=lambda m: table[m]["seconds"]), "candidates": table}

    def finish(self, seconds: float, choice: dict) -> Surrogate:
        dataset, config = self.dataset, self.config
        evaluation = {}
        plots = self.out / "plots"
        plots.mkdir(exist_ok=True)
        for split, index in (("train", self.train_index), ("validation", self.val_index)):
            if len(index):
                error, largest, _, pred = self._trajectory_error(index, choice["method"])
                evaluation[split] = {"scaled_mae": error, "max_scaled_error": largest, "trajectories": len(index)}
                if split == "validation" or not len(self.val_index):  # one figure: plotting is slow
                    k = len(self.y_scale)
                    plot_trajectories(plots / f"trajectories_{split}.png", self.times[1:].numpy(),
                                      self.states[index, 1:, :k].numpy(), pred[:, 1:, :k].numpy(), self.names[:k],
                                      f"{split}: scaled MAE {error:.2e}")
        plot_history(plots / "training.png", self.history)
        metadata = dataset.metadata
        state_units = metadata.get("state_units", "")
        info = {
            "kind": "latent",
            "units": {"time": metadata.get("time_units", "s"),
                      "state": f"{state_units}, P [Pa]" if self.names[-1] == "P" else state_units},
            "t0": dataset.t0, "t": dataset.t.tolist(), "y0": self.states[self.train_index[0], 0].tolist(),
            "solver": {"method": choice["method"], "rtol": config.eval_rtol, "atol": config.atol},
            "solver_choice": choice["candidates"],
            "scales": {"y_scale": self.y_scale.tolist()},
            "dataset": dataset_provenance(dataset),
            "training": {"trainer": self.trainer.name, "config": config.as_dict(), "epochs": len(self.history),
                         "seconds": round(seconds, 1),
                         "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                         "evaluation": evaluation},
        }
        (self.out / "history.csv").write_text(history_csv(self.history, HISTORY_FIELDS))
        surrogate = Surrogate(self.model, self.network, self.names, info, history_csv(self.history, HISTORY_FIELDS))
        surrogate.save(self.out / "surrogate", force=True)
        return surrogate


class LatentTrainer(FreshTrainer):
    """See the module docstring; ``config``: a flat dict (TOML) of :class:`LatentConfig` fields."""

    name = "latent"
    parse = staticmethod(parse_latent_config)
    run_type = _LatentRun
