"""The ``progress`` trainer: a progress-variable surrogate (:class:`ProgressODE`) fitted without a solver.

Data: constant-pressure ignitions of a ``cantera:`` mechanism (NASA-7 thermo) with ``conditions/P``.
Every state of the data is encoded exactly (:mod:`.progress_network`); the training points are
``points_per_trajectory`` states per trajectory spread evenly in ``s = ln(c + floor)``, plus as many at
log-uniform times. Then:

1. rate: ``ln(ds/dt)``, with ``ds/dt = (dc/dt) / (c + floor)`` from the mechanism's exact right-hand
   side at those states, regressed by the rate MLP (mean squared error, Adam, one-cycle schedule) on
   the states before the progress reaches ``equilibrium_fraction`` of its final value;
2. optionally ``delay_epochs`` more on the ignition delays: the squared log error of every training
   condition's delay, the time from its initial state to the data's progress at ignition by the integrator's
   own quadrature (``quadrature_points`` Gauss-Legendre nodes in ``w``, :mod:`.progress_time`), weighted by
   ``delay_weight``, plus the rate loss on the states past their ignition only. The pointwise rates of a
   one-variable dynamics ignite early or late; the delays move them during induction, at the cost of the
   pointwise accuracy of a short step there (docs/cantera.md §3.3 measures the trade).
3. decoder: the weighted departure of ``Y`` from the line between the unburnt and the equilibrium state
   regressed on the training points (scaled mean squared error); the equilibrium itself is exact;
4. integrator: every candidate of ``methods`` integrates the validation trajectories at ``rtol``; the
   fastest whose scaled temperature error is within 2 % of the best is the surrogate's solver.
"""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import kinetix
from kinetix.errors import ConfigError
from kinetix.surrogate import Surrogate, integrate

from .latent import pressure_states
from . import progress_time
from .progress_network import ProgressODE, network_dtype
from .config import flat_settings
from .run_folder import FreshTrainer, require_constant_pressure_cantera
from .thermo import nasa7_description
from .trainer import dataset_provenance, history_csv

HISTORY_FIELDS = ("step", "stage", "loss", "seconds")
EVALUATION_TIMES = 200  # output times (evenly among the data's) on which integrators are compared
RATE_STATES = 8192      # states per right-hand-side call of progress_rates


@dataclass(frozen=True)
class ProgressConfig:
    trainer: str = "progress"
    seed: int = 0
    progress: tuple = ("H2O", "HO2", "H2O2")   # species whose mass fractions sum to the progress variable
    floor: float = 1e-12
    gate: float = 1e-8                 # the decoded departure from the unburnt state is weighted by c / (c + gate)
    width: int = 64
    depth: int = 3
    activation: str = "gelu"
    precision: str = "float64"         # of the trained networks' arithmetic; "float32" is several times faster
    points_per_trajectory: int = 250
    equilibrium_fraction: float = 0.99
    rate_epochs: int = 5000            # Adam steps of the rate regression
    delay_epochs: int = 0              # then Adam steps with the ignition-delay loss as well
    delay_weight: float = 10000.0      # of the delay loss against the rate loss past ignition
    delay_lr: float = 1e-3             # the delay stage's peak learning rate (it starts from a fitted rate)
    quadrature_points: int = 400
    decoder_epochs: int = 3000
    batch_size: int = 4096
    lr: float = 3e-3
    validation_fraction: float = 0.125
    methods: tuple = ("quadrature", "rodas5p")
    rtol: float = 1e-6
    atol: float = 1e-9

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_progress_config(config: dict | None) -> ProgressConfig:
    """A :class:`ProgressConfig` from a flat TOML dict; unknown keys and bad values are errors."""
    config = flat_settings(config, ProgressConfig, "progress")
    for key in ("progress", "methods"):
        if key in config:
            config[key] = tuple(config[key])
    parsed = ProgressConfig(**config)
    if min(parsed.width, parsed.depth, parsed.points_per_trajectory, parsed.batch_size, parsed.quadrature_points) < 1:
        raise ConfigError("progress trainer: width, depth, points_per_trajectory, batch_size and quadrature_points "
                          "must be >= 1")
    if (not 0 < parsed.equilibrium_fraction <= 1 or min(parsed.floor, parsed.gate, parsed.lr, parsed.delay_lr) <= 0):
        raise ConfigError("progress trainer: need 0 < equilibrium_fraction <= 1 and floor, gate, lr, delay_lr > 0")
    if not parsed.progress or not parsed.methods:
        raise ConfigError("progress trainer: progress and methods must each name at least one entry")
    network_dtype(parsed.precision)    # an unknown precision fails here, not after training
    return parsed


def mechanism_description(dataset, progress_species) -> dict:
    """The fixed (not learned) parts of :class:`ProgressODE` for ``dataset``'s ``cantera:`` mechanism."""
    mechanism = require_constant_pressure_cantera(dataset, "progress")
    ranges = (dataset.y[..., 1:].amax((0, 1)) - dataset.y[..., 1:].amin((0, 1))).to(torch.float64)
    return network_config(mechanism.removeprefix("cantera:"), list(dataset.species[1:]),
                          dataset.y0[:, 1:].to(torch.float64), ranges, progress_species, where=str(dataset.path))


def network_config(name: str, species: list[str], y0: torch.Tensor, ranges: torch.Tensor, progress_species,
                   where: str = "") -> dict:
    """:class:`ProgressODE` arguments for Cantera mechanism ``name`` (``h2o2`` or a YAML file) whose data
    has species ``species``, unburnt initial mass fractions ``y0`` ``(N, K)`` and mass-fraction ranges ``(K,)``."""
    thermo = nasa7_description(name, species, where)
    elements = torch.tensor(thermo["elements"], dtype=torch.float64)
    missing = sorted(set(progress_species) - set(species))
    if missing:
        raise ConfigError(f"progress trainer: progress species {missing} are not in {name}; choose from {species}")
    unburnt = (y0 > 0).any(0)
    present = (y0 @ elements.T > 0).any(0)                      # elements the data holds
    unburnt_map = torch.zeros(len(elements), len(species), dtype=torch.float64)
    unburnt_map[:, unburnt] = torch.linalg.pinv(elements[:, unburnt]).T
    if not torch.allclose((y0 @ elements.T) @ unburnt_map, y0, atol=1e-12):
        raise ConfigError(f"{where}: the initial states are not mixtures that their element amounts fix "
                          f"(unburnt species {[s for s, u in zip(species, unburnt) if u]}); the progress "
                          "surrogate needs unburnt initial mixtures")
    indices = [i for i, p in enumerate(present.tolist()) if p]
    # the projection moves the unburnt species (and those absent from the data) freely, the others barely
    y_weight = torch.where(unburnt | (ranges == 0), torch.ones_like(ranges), 1e-3 * ranges.clamp(min=1e-12))
    return {**thermo, "unburnt_map": unburnt_map.tolist(),
            "progress": [1.0 if s in progress_species else 0.0 for s in species],
            "ratio_elements": indices[1:], "ratio_reference": indices[0], "y_weight": y_weight.tolist()}


def save_ignition_surrogate(run, kind: str, seconds: float, evaluation: dict, solver: dict,
                            fields: tuple = HISTORY_FIELDS, **extra) -> Surrogate:
    """Save ``run``'s model as the surrogate of constant-pressure ignitions (state ``[T, Y, P]``) into
    ``run.out / "surrogate"`` with its history (columns ``fields``); ``kind`` is also the network's name,
    ``extra`` more ``surrogate.json`` fields. ``run``: a training run with ``dataset``, ``states``, ``train_index``, ``trainer``,
    ``config``, ``history``, ``model``, ``names`` and ``out``."""
    dataset, metadata = run.dataset, run.dataset.metadata
    info = {
        "kind": kind,
        "units": {"time": metadata.get("time_units", "s"), "state": f"{metadata.get('state_units', '')}, P [Pa]"},
        "t0": dataset.t0, "t": dataset.t.tolist(), "y0": run.states[run.train_index[0], 0].tolist(),
        "solver": solver, **extra,
        "dataset": dataset_provenance(dataset),
        "training": {"trainer": run.trainer.name, "config": run.config.as_dict(), "steps": len(run.history),
                     "seconds": round(seconds, 1),
                     "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                     "evaluation": evaluation},
    }
    history = history_csv(run.history, fields)
    (run.out / "history.csv").write_text(history)
    surrogate = Surrogate(run.model, {"name": kind, "config": run.model.config}, run.names, info, history)
    surrogate.save(run.out / "surrogate", force=True)
    return surrogate


def dataset_mechanism(dataset):
    """The kinetix mechanism of ``dataset``'s ``cantera:`` mechanism name (``cantera:h2o2`` or ``cantera:<file>.yaml``)."""
    return kinetix.load_mechanism(str(dataset.metadata["mechanism"]).removesuffix(".yaml") + ".yaml")


def progress_rates(dataset, states: torch.Tensor, pressures: torch.Tensor, progress: torch.Tensor) -> torch.Tensor:
    """``dc/dt`` [1/s] ``(N,)`` of states ``[T, Y, P]`` ``(N, 2 + K)`` from the mechanism's right-hand side,
    ``RATE_STATES`` states per call (its intermediates are ``(states, reactions)``)."""
    mechanism = dataset_mechanism(dataset)
    rates = []
    with torch.no_grad():
        for part, pressure in zip(states.split(RATE_STATES), pressures.split(RATE_STATES)):
            mechanism.pressure = pressure
            rates.append(mechanism.rhs(torch.zeros(()), part[:, :-1])[:, 1:] @ progress)
    return torch.cat(rates)


class _ProgressRun:
    def __init__(self, trainer: ProgressTrainer, dataset, out: Path, progress: bool):
        self.trainer, self.config, self.dataset, self.out, self.verbose = trainer, trainer.config, dataset, out, progress
        config = self.config
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        description = mechanism_description(dataset, config.progress)
        y0, y, self.names = pressure_states(dataset)
        self.times = torch.cat([dataset.t.new_tensor([dataset.t0]), dataset.t]).to(torch.float64)
        self.states = torch.cat([y0[:, None], y], dim=1).to(torch.float64)            # (N, T + 1, 2 + K)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed + 2))
        n_val = max(1, int(config.validation_fraction * len(dataset))) if len(dataset) > 1 else 0
        self.val_index, self.train_index = order[:n_val].sort().values, order[n_val:].sort().values
        self.model = ProgressODE(len(self.names), **description, floor=config.floor, gate=config.gate, width=config.width,
                                 depth=config.depth, activation=config.activation)
        self.history: list[dict] = []
        self.began = time.perf_counter()

    def log(self, stage: str, step: int, loss: float) -> None:
        self.history.append({"step": step, "stage": stage, "loss": loss,
                             "seconds": round(time.perf_counter() - self.began, 3)})
        if self.verbose and (step % 500 == 0):
            print(f"{stage} {step}: loss {loss:.3e}", flush=True)

    def points(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training states ``(M, 2 + K)``, their fraction of the final progress ``(M,)``, ``dc/dt`` ``(M,)``,
        their trajectory's final ``s`` ``(M,)`` and its position in ``train_index`` ``(M,)``."""
        config, model = self.config, self.model
        rng = np.random.default_rng(config.seed)
        times = self.times.numpy()
        chosen, fractions, ends, owners = [], [], [], []
        for position, n in enumerate(self.train_index.tolist()):
            s = model.log_progress(self.states[n]).numpy()
            even = np.searchsorted(np.maximum.accumulate(s), np.linspace(s[1], s[-1], config.points_per_trajectory))
            spread = np.searchsorted(times, np.exp(rng.uniform(np.log(times[1]), np.log(times[-1]),
                                                                config.points_per_trajectory // 4)))
            index = torch.as_tensor(np.unique(np.concatenate([[0], np.clip(np.concatenate([even, spread]), 1,
                                                                                           len(s) - 1)])))
            chosen.append(self.states[n, index])
            c = self.states[n, index, 1:-1] @ model.progress
            fractions.append(c / (self.states[n, -1, 1:-1] @ model.progress))
            ends.append(torch.full_like(c, float(s[-1])))
            owners.append(torch.full(c.shape, position))
        states = torch.cat(chosen)
        rates = progress_rates(self.dataset, states, states[:, -1], model.progress)
        return states, torch.cat(fractions), rates, torch.cat(ends), torch.cat(owners)

    def fit(self, stage: str, parameters, steps: int, loss_of, lr: float | None = None) -> None:
        lr = lr or self.config.lr
        optimizer = torch.optim.Adam(parameters, lr=lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=max(steps, 1))
        for step in range(steps):
            loss = loss_of()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            self.log(stage, step, float(loss.detach()))

    def batch(self, count: int) -> torch.Tensor:
        return torch.randint(count, (min(self.config.batch_size, count),), generator=self.generator)

    def delays(self, index: torch.Tensor, s_ignition: torch.Tensor) -> torch.Tensor:
        """Ignition delays [s] ``(len(index),)``: the time from the initial state to ``s_ignition``, the integral of
        ``dt/dw`` in the quadrature's coordinate (:func:`~.progress_time.elapsed`), differentiable in the rate."""
        model = self.model
        z0 = model.encode(self.states[index, 0])
        u = torch.log((z0[:, 2] - s_ignition).abs().clamp(min=1e-300))
        return progress_time.elapsed(model, z0, progress_time.coordinate(u), self.config.quadrature_points)

    def settle_equilibrium(self) -> None:
        """The fewest equilibrium iterations (steps of 4) whose end states of every initial and final state of the
        data are those of a long solve to 1e-9 K, plus 4 (H2/air: 12 + 4, CH4/air on GRI-Mech 3.0: 20 + 4)."""
        model = self.model
        ends = torch.cat([self.states[:, 0], self.states[:, -1]])
        with torch.no_grad():
            reference = model.encode(ends)[..., -1 - model.n_species]
            for iterations in range(4, model.equilibrium.iterations + 1, 4):
                model.equilibrium.iterations = iterations
                if (model.encode(ends)[..., -1 - model.n_species] - reference).abs().max() <= 1e-9:
                    break
        model.equilibrium.iterations = min(iterations + 4, model.config["equilibrium_iterations"])
        model.config["equilibrium_iterations"] = model.equilibrium.iterations

    def run(self) -> Surrogate:
        config, model = self.config, self.model
        (self.out / "config.json").write_text(json.dumps(config.as_dict(), indent=2))
        self.settle_equilibrium()
        states, fractions, rates, ends, owners = self.points()
        with torch.no_grad():
            s = model.log_progress(states)
            model.s_shift.copy_(s.mean())
            model.s_scale.copy_(s.std())
            invariants = model.invariants(states)
            model.invariant_shift.copy_(invariants.mean(0))
            model.invariant_scale.copy_(invariants.std(0).clamp(min=1e-6 * invariants.abs().amax(0).clamp(min=1e-30)))
            v = model.normalised(model.invariants(states))
            x = model.inputs(s, v)
        usable = (rates > 0) & (fractions < config.equilibrium_fraction)
        # g = ln(ds/dt) - ln(1 - exp(s - s_end)), with the trajectory's own s_end
        target = (torch.log(rates[usable].clamp(min=1e-300)) - s[usable]
                  - torch.log1p(-torch.exp(s[usable] - ends[usable])))
        model.rate_shift.copy_(target.mean())
        model.rate_scale.copy_(target.std())
        features = x[usable]
        scaled_target = (target - model.rate_shift) / model.rate_scale

        def rate_loss():
            pick = self.batch(len(features))
            return (model.rate(features[pick]) - scaled_target[pick]).pow(2).mean()

        self.fit("rate", model.rate.parameters(), config.rate_epochs, rate_loss)
        if config.delay_epochs:
            train = self.train_index
            delays = self.dataset.conditions["ignition_delay"].to(torch.float64)[train]
            s_ignition = torch.tensor([np.interp(float(d), self.times.numpy(), model.log_progress(self.states[n]).numpy())
                                       for n, d in zip(train.tolist(), delays)], dtype=torch.float64)

            burnt = s[usable] > s_ignition[owners[usable]]          # past the data's ignition the rate loss holds
            burnt_features, burnt_target = features[burnt], scaled_target[burnt]

            def delay_loss():
                pick = torch.randint(len(train), (min(64, len(train)),), generator=self.generator)
                keep = self.batch(len(burnt_features))
                error = torch.log(self.delays(train[pick], s_ignition[pick]) / delays[pick]).pow(2).mean()
                return config.delay_weight * error + (model.rate(burnt_features[keep]) - burnt_target[keep]).pow(2).mean()

            self.fit("delay", model.rate.parameters(), config.delay_epochs, delay_loss, config.delay_lr)
        with torch.no_grad():
            line, weight = model.basis(model.encode(states))
        departing = weight > 0
        departure = states[departing, 1:-1] - line[departing, 1:]      # from the line unburnt -> equilibrium
        with torch.no_grad():
            model.output_shift.zero_()
            model.output_scale.copy_((departure.amax(0) - departure.amin(0)).clamp(min=1e-12))
        decoder_inputs, decoder_weight = x[departing], weight[departing, None]
        decoder_target = departure / model.output_scale

        def decoder_loss():
            pick = self.batch(len(decoder_inputs))
            return (decoder_weight[pick] * model.decoder(decoder_inputs[pick]) - decoder_target[pick]).pow(2).mean()

        self.fit("decoder", model.decoder.parameters(), config.decoder_epochs, decoder_loss)
        seconds = time.perf_counter() - self.began
        model.requires_grad_(False).eval()
        model.set_precision(config.precision)
        return self.finish(seconds, self.choose_method())

    def trajectory_error(self, index: torch.Tensor, method: str) -> tuple[float, float, float, float]:
        """(mean |T error| [K], scaled MAE and largest scaled error of ``[T, Y]`` (per component range) over
        ``index``'s trajectories at ``EVALUATION_TIMES`` data times, seconds) with ``method``."""
        model = self.model
        atol = torch.full((model.latent_size,), self.config.atol, dtype=torch.float64)
        start = time.perf_counter()
        every = torch.linspace(0, len(self.times) - 1, min(len(self.times), EVALUATION_TIMES)).long().unique()
        with torch.no_grad():
            y0 = self.states[index, 0]
            z0 = model.encode(y0)
            latent = integrate(model, z0, self.times[every], method=method, rtol=self.config.rtol, atol=atol,
                               raise_on_failure=False, max_steps=100_000)
            pred = (y0 + (model.decode(latent) - model.decode(z0))).transpose(0, 1)
        seconds = time.perf_counter() - start
        data = self.states[index][:, every, :-1]
        scale = (self.states[..., :-1].amax((0, 1)) - self.states[..., :-1].amin((0, 1))).clamp(min=1e-12)
        error = (pred[..., :-1] - data).abs() / scale
        if not torch.isfinite(error).all():
            return math.inf, math.inf, math.inf, seconds
        return float(error[..., 0].mean() * scale[0]), float(error.mean()), float(error.max()), seconds

    def choose_method(self) -> dict:
        index = self.val_index if len(self.val_index) else self.train_index
        table = {}
        for method in self.config.methods:
            error, _, _, seconds = self.trajectory_error(index, method)
            table[method] = {"mean_T_error_K": error, "seconds": round(seconds, 4)}
        best = min(entry["mean_T_error_K"] for entry in table.values())
        if not math.isfinite(best):
            raise ConfigError("progress trainer: no method integrates the fitted rate; raise rate_epochs")
        keeping = [m for m, entry in table.items() if entry["mean_T_error_K"] <= 1.02 * best]
        return {"method": min(keeping, key=lambda m: table[m]["seconds"]), "candidates": table}

    def finish(self, seconds: float, choice: dict) -> Surrogate:
        config = self.config
        evaluation = {}
        for split, index in (("train", self.train_index[:64]), ("validation", self.val_index)):
            if len(index):
                error, mae, largest, _ = self.trajectory_error(index, choice["method"])
                evaluation[split] = {"mean_T_error_K": error, "scaled_mae": mae, "max_scaled_error": largest,
                                     "trajectories": len(index)}
        return save_ignition_surrogate(self, "progress", seconds, evaluation,
                                       {"method": choice["method"], "rtol": config.rtol, "atol": config.atol},
                                       solver_choice=choice["candidates"])


class ProgressTrainer(FreshTrainer):
    """See the module docstring; ``config``: a flat dict (TOML) of :class:`ProgressConfig` fields."""

    name = "progress"
    parse = staticmethod(parse_progress_config)
    run_type = _ProgressRun
