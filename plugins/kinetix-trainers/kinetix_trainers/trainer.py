"""The stiff neural-ODE trainer: the recipe of Kim et al. (2021) with kinetix's stiff solver,
per-species scaling, curriculum, validation, checkpoints with exact resumption and L-BFGS polish."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

import kinetix
from kinetix.data.atomic import atomic_path
from kinetix.data.streaming import dataset_scales
from kinetix.errors import ConfigError, KinetixError
from kinetix.plugins import get_catalog
from kinetix.surrogate import Surrogate
from kinetix.training import Trainer

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, parse_config
from .derivatives import match_derivatives
from .distributed import Ranks
from .fields import build_field
from .plots import plot_history, plot_trajectories
from .run_folder import run_folder

HISTORY_FIELDS = ("epoch", "loss", "grad_norm", "lr", "horizon", "steps", "rejected", "val_loss", "seconds")
MAX_FAILED_EPOCHS = 20
EVALUATION_BATCH = 1024  # trajectories integrated together by the final evaluation


class StiffTrainer(Trainer):
    """Trains a scaled network through a stiff solver. ``config``: a dict (parsed TOML) or a
    :class:`TrainConfig`; see ``docs/training.md`` for every setting."""

    name = "stiff"
    defaults = TrainConfig()

    def __init__(self, config: dict | TrainConfig | None = None):
        self.config = config if isinstance(config, TrainConfig) else parse_config(config, base=self.defaults)

    def train(self, dataset, out, *, resume=False, force=False, progress=True) -> Surrogate:
        out = Path(out)
        ranks = Ranks.from_environment()
        if resume:
            return _Run(self, dataset, out, load_checkpoint(out), progress and ranks.main, ranks).run()
        if not ranks.main:  # rank 0 prepares the run folder
            ranks.barrier()
            return _Run(self, dataset, out, None, False, ranks).run()
        with run_folder(out, force):
            ranks.barrier()
            return _Run(self, dataset, out, None, progress, ranks).run()


class _Run:
    """One training run: the setup derived from config and data, and the loop."""

    def __init__(self, trainer: StiffTrainer, dataset, out: Path, state: dict | None, progress: bool,
                 ranks: Ranks | None = None):
        self.trainer, self.config, self.dataset, self.out = trainer, trainer.config, dataset, out
        self.progress, self.ranks = progress, ranks or Ranks()
        config = self.config
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        n_traj = len(dataset)
        order = torch.randperm(n_traj, generator=torch.Generator().manual_seed(config.seed + 2))
        n_val = int(math.floor(config.data.validation_fraction * n_traj))
        if n_val == 0 and config.data.validation_fraction > 0 and n_traj > 1:
            n_val = 1
        self.val_index, self.train_index = order[:n_val].sort().values, order[n_val:].sort().values
        if len(self.train_index) == 0:
            raise ConfigError("no training trajectories left after the validation split")

        net = config.network
        self.y_scale, out_scale, shift, in_scale = dataset_scales(dataset, self.train_index, net.species_scale,
                                                                  net.output_scale, net.input)
        self.field, self.network = build_field(net, dataset, self.y_scale, {
            "input_shift": shift, "input_scale": in_scale, "output_scale": out_scale * net.output_factor})
        if net.init_output != 1.0:
            with torch.no_grad():
                last = list(self.field.parameters())[-2:]
                for tensor in last:
                    tensor.mul_(net.init_output)
        self.loss_scale = self.y_scale if config.loss.scale == "species" else torch.ones_like(self.y_scale)
        loss_factory = get_catalog()["loss"].get(config.loss.name)
        self.loss_fn = loss_factory(floor=config.loss.floor) if config.loss.name == "asinh_mae" else loss_factory()
        self.parameters = [p for p in self.field.parameters() if p.requires_grad]
        opt = config.optimizer
        self.optimizer = torch.optim.AdamW(self.parameters, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)
        self.schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(config.epochs, 1),
                                                                    eta_min=min(opt.min_lr, opt.lr))
                         if opt.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0))
        self.history: list[dict] = []
        self.start_epoch = 0
        self.elapsed = 0.0
        self.best = {"val": math.inf, "state": None, "bad": 0}
        self.previous: list[torch.Tensor] | None = None  # the weights before the last update
        self.dataset_sha256 = dataset.content_sha256()
        self.derivatives: list[dict] = []
        if state is not None:
            self._restore(state)
        elif config.derivatives.source != "none":
            began = time.perf_counter()
            self.derivatives = match_derivatives(self.field, dataset, self.train_index, self.y_scale, config.derivatives)
            self.elapsed += time.perf_counter() - began

    # -- setup helpers ---------------------------------------------------------------------------
    def horizon(self, epoch: int) -> int:
        """Number of data times in the loss at ``epoch`` (all of them without a curriculum)."""
        total = len(self.dataset.t)
        curriculum = self.config.curriculum
        if curriculum.fraction <= 0:
            return total
        ramp = curriculum.fraction * self.config.epochs
        start = min(curriculum.start_points, total)
        return min(total, start + int((total - start) * min(1.0, epoch / max(ramp, 1))))

    def _restore(self, state: dict) -> None:
        if state.get("dataset_sha256") != self.dataset_sha256:
            raise KinetixError(f"{self.out}: the checkpoint was trained on other data than {self.dataset.path} "
                               "(its content differs); resume with the same dataset, or train afresh with --force")
        if state.get("fingerprint") != self.config.fingerprint():
            raise KinetixError(f"{self.out}: the checkpoint was written with another configuration; resume with "
                               "the same settings and --epochs, or train afresh with --force")
        self.field.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.generator.set_state(state["generator"])
        self.history = [dict(row) for row in state["history"]]
        self.start_epoch = int(state["epoch"]) + 1
        self.elapsed = float(state["elapsed"])
        self.best = {"val": float(state["best_val"]), "state": state.get("best_state"), "bad": int(state["bad"])}
        self.previous = state.get("previous")

    def _checkpoint(self, epoch: int) -> None:
        if not self.ranks.main:
            return
        save_checkpoint(self.out, {
            "fingerprint": self.config.fingerprint(), "dataset_sha256": self.dataset_sha256, "epoch": epoch,
            "model": self.field.state_dict(),
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "generator": self.generator.get_state(), "history": self.history, "elapsed": self.elapsed,
            "best_val": self.best["val"], "best_state": self.best["state"], "bad": self.best["bad"],
            "previous": self.previous,
        })
        self._write_history()

    def _write_history(self) -> None:
        if not self.ranks.main:
            return
        with atomic_path(self.out / "history.csv", force=True) as temporary:
            temporary.write_text(history_csv(self.history))

    # -- the loss ----------------------------------------------------------------------------------
    def loss(self, index: torch.Tensor, horizon: int, *, tolerance: str = "train"):
        """Loss of trajectories ``index`` over the first ``horizon`` data times, and the solution."""
        solver = self.config.solver
        rtol, atol = (solver.rtol, solver.atol) if tolerance == "train" else (solver.eval_rtol, solver.eval_atol)
        solution = kinetix.solve(self.field, self.dataset.y0[index], self.dataset.t[:horizon],
                                 t0=min(self.dataset.t0, float(self.dataset.t[0])), method=solver.method, rtol=rtol,
                                 atol=atol * self.y_scale, max_steps=solver.max_steps, adjoint=solver.adjoint,
                                 raise_on_failure=False, options={"compile": "solve"} if solver.compile else None)
        pred = solution.ys.transpose(0, 1)  # (B, horizon, n)
        target = self.dataset.y[index, :horizon]
        return self.loss_fn(pred, target, self.loss_scale), solution

    def _batch(self) -> torch.Tensor:
        size = self.config.data.batch_size
        if size <= 0 or size >= len(self.train_index):
            return self.train_index
        return self.train_index[torch.randperm(len(self.train_index), generator=self.generator)[:size]]

    def _backtrack(self) -> None:
        """Move the weights halfway back to where they were before the last update, so that an
        update that made the learned field unsolvable is shortened instead of retried unchanged."""
        if self.previous is None:
            return
        with torch.no_grad():
            for parameter, before in zip(self.parameters, self.previous):
                parameter.copy_((parameter + before) / 2)

    def _grad_norm(self) -> torch.Tensor:
        """The Euclidean norm of all parameter gradients together."""
        return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in self.parameters if p.grad is not None]))

    def _gradient_step(self) -> float:
        """Apply the optimizer (and schedule) step; returns the gradient norm. A non-finite
        gradient changes nothing and returns its (non-finite) norm."""
        opt = self.config.optimizer
        norm = self._grad_norm()
        if not torch.isfinite(norm):
            return float(norm)
        factor = 1.0
        if opt.grad_norm > 0:
            factor = opt.grad_norm / max(float(norm), 1e-300)
        elif opt.clip > 0 and float(norm) > opt.clip:
            factor = opt.clip / float(norm)
        if factor != 1.0:
            for p in self.parameters:
                if p.grad is not None:
                    p.grad.mul_(factor)
        self.optimizer.step()
        self.schedule.step()
        return float(norm)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> Surrogate:
        config = self.config
        if self.ranks.main:
            (self.out / "config.json").write_text(json.dumps(config.as_dict(), indent=2))
        failures = 0
        stop = False
        bar = tqdm(total=config.epochs, initial=min(self.start_epoch, config.epochs), desc="training",
                   unit="epoch", disable=not self.progress)
        for epoch in range(self.start_epoch, config.epochs):
            began = time.perf_counter()
            horizon = self.horizon(epoch)
            self.optimizer.zero_grad(set_to_none=True)
            loss, solution = self.ranks.loss(self.loss, self._batch(), horizon)
            grad_norm = float("nan")
            if torch.isfinite(loss) and solution.success:
                loss.backward()
                self.ranks.sum_gradients(self.parameters)
                before = [p.detach().clone() for p in self.parameters]
                grad_norm = self._gradient_step()
            if math.isfinite(grad_norm):
                failures, self.previous = 0, before
            else:  # the solver failed or the gradient is not finite: no update; halve the last one
                failures += 1
                self._backtrack()
                self.schedule.step()
                if failures >= MAX_FAILED_EPOCHS:
                    self._write_history()
                    raise KinetixError(f"training diverged: {failures} epochs in a row the solver failed or the "
                                       "gradient was not finite (lower optimizer.lr, raise solver.max_steps, or use "
                                       "a curriculum)")
            row = {"epoch": epoch, "loss": float(loss.detach()), "grad_norm": grad_norm,
                   "lr": self.optimizer.param_groups[0]["lr"], "horizon": horizon,
                   "steps": int(solution.stats.steps.max()), "rejected": int(solution.stats.rejected.max()),
                   "val_loss": ""}
            if len(self.val_index) and (epoch + 1) % config.data.validate_every == 0:
                row["val_loss"] = self._validate()
                stop = self._early_stop(row["val_loss"])
            self.elapsed += time.perf_counter() - began
            row["seconds"] = round(self.elapsed, 3)
            self.history.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3e}", grad=f"{grad_norm:.2e}", horizon=horizon)
            if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs or stop:
                self._checkpoint(epoch)
            if stop:
                break
        bar.close()
        if self.best["state"] is not None:
            self.field.load_state_dict(self.best["state"])
        if config.polish.lbfgs_iterations:
            self._polish()
        self._write_history()
        return self._finish()

    def _validate(self) -> float:
        with torch.no_grad():
            loss, _ = self.loss(self.val_index, len(self.dataset.t))
        return float(loss)

    def _early_stop(self, val_loss: float) -> bool:
        if val_loss < self.best["val"]:
            self.best = {"val": val_loss, "state": {k: v.clone() for k, v in self.field.state_dict().items()}, "bad": 0}
            return False
        self.best["bad"] += 1
        patience = self.config.data.patience
        return patience > 0 and self.best["bad"] >= patience

    def _polish(self) -> None:
        """L-BFGS on the full horizon and all training trajectories."""
        optimizer = torch.optim.LBFGS(self.parameters, lr=1.0, max_iter=self.config.polish.lbfgs_iterations,
                                      history_size=20, line_search_fn="strong_wolfe")
        total = len(self.dataset.t)
        epoch = self.history[-1]["epoch"] if self.history else -1

        def closure():
            nonlocal epoch
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss, solution = self.loss(self.train_index, total)
            if not (torch.isfinite(loss) and solution.success):
                return torch.tensor(math.inf, dtype=loss.dtype)
            loss.backward()
            norm = self._grad_norm()
            if not torch.isfinite(norm):  # a rejected point for the line search, not a poisoned direction
                for p in self.parameters:
                    p.grad.zero_()
                return torch.tensor(math.inf, dtype=loss.dtype)
            epoch += 1
            self.elapsed += time.perf_counter() - began
            self.history.append({"epoch": epoch, "loss": float(loss.detach()), "grad_norm": float(norm), "lr": 1.0,
                                 "horizon": total, "steps": int(solution.stats.steps.max()),
                                 "rejected": int(solution.stats.rejected.max()), "val_loss": "",
                                 "seconds": round(self.elapsed, 3)})
            return loss

        optimizer.step(closure)

    # -- results -----------------------------------------------------------------------------------
    def evaluate(self, index: torch.Tensor) -> dict:
        """Independent check: the trained field integrated from each initial state at the evaluation
        tolerance; scaled MAE per species and overall, and the largest scaled error; and the
        predictions of the first (up to :data:`EVALUATION_BATCH`) trajectories."""
        total, largest, first = 0.0, None, None
        for part in index.split(EVALUATION_BATCH):  # memory bounded by a batch, not the dataset
            with torch.no_grad():
                _, solution = self.loss(part, len(self.dataset.t), tolerance="eval")
            pred = solution.ys.transpose(0, 1)
            error = (pred - self.dataset.y[part]).abs() / self.y_scale
            total = total + error.sum(dim=(0, 1))
            largest = error.max() if largest is None else torch.maximum(largest, error.max())  # NaN propagates
            first = pred if first is None else first
        per_species = total / (len(index) * len(self.dataset.t))
        return {
            "scaled_mae": float(per_species.mean()),
            "scaled_mae_per_species": dict(zip(self.dataset.species, per_species.tolist())),
            "max_scaled_error": float(largest),
            "trajectories": len(index),
        }, first

    def _refuse_unusable(self, evaluation: dict) -> None:
        """Raise unless the weights are finite and the surrogate reproduces every split (finite errors)."""
        advice = ("no surrogate saved; lower optimizer.lr, raise solver.max_steps, or use a curriculum "
                  "(see history.csv)")
        if not all(torch.isfinite(p).all() for p in self.field.state_dict().values()):
            raise KinetixError(f"{self.out}: training produced non-finite weights; {advice}")
        for split, result in evaluation.items():
            if not math.isfinite(result["max_scaled_error"]):
                raise KinetixError(f"{self.out}: the trained field cannot be integrated over the {split} trajectories "
                                   f"(scaled error {result['max_scaled_error']}); {advice}")

    def _finish(self) -> Surrogate:
        dataset, config, solver = self.dataset, self.config, self.config.solver
        evaluation = {}
        plots = self.out / "plots"
        if self.ranks.main:
            plots.mkdir(exist_ok=True)
        for split, index in (("train", self.train_index), ("validation", self.val_index)):
            if len(index):
                evaluation[split], pred = self.evaluate(index)
                if self.ranks.main:
                    plot_trajectories(plots / f"trajectories_{split}.png", dataset.t.numpy(),
                                      dataset.y[index[:len(pred)]].numpy(), pred.numpy(), dataset.species,
                                      f"{split}: scaled MAE {evaluation[split]['scaled_mae']:.2e}")
        self._refuse_unusable(evaluation)
        if self.ranks.main:
            plot_history(plots / "training.png", self.history)
            (self.out / "evaluation.json").write_text(json.dumps(evaluation, indent=2))
        metadata = dataset.metadata
        info = {
            "units": {"time": metadata.get("time_units", ""), "state": metadata.get("state_units", "")},
            "t0": dataset.t0, "t": dataset.t.tolist(), "y0": dataset.y0[self.train_index[0]].tolist(),
            "solver": {"method": solver.method, "rtol": solver.eval_rtol, "atol": (solver.eval_atol * self.y_scale).tolist()},
            "scales": {"y_scale": self.y_scale.tolist()},
            "dataset": dataset_provenance(dataset, sha256=self.dataset_sha256),
            "training": {"trainer": self.trainer.name, "config": config.as_dict(), "epochs": len(self.history),
                         "seconds": round(self.elapsed, 1), "evaluation": evaluation,
                         "derivatives": self.derivatives[-1] if self.derivatives else None},
        }
        surrogate = Surrogate(self.field, self.network, dataset.species, info, history_csv(self.history))
        if self.ranks.main:
            surrogate.save(self.out / "surrogate", force=True)
        return surrogate


def dataset_provenance(dataset, **extra) -> dict:
    """The ``dataset`` block of ``surrogate.json``: the path (and ``extra``), the mechanism and its SHA-256, when
    the data were made and how."""
    metadata = dataset.metadata
    return {"path": str(dataset.path), **extra, "mechanism": metadata.get("mechanism"),
            "mechanism_sha256": metadata.get("mechanism_sha256"), "created": metadata.get("created"),
            "provenance": metadata.get("provenance", {})}


def history_csv(history: list[dict], fields: tuple[str, ...] = HISTORY_FIELDS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()
