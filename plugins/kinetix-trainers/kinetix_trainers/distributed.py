"""Data-parallel training over processes started by ``torchrun`` (``torchrun --nproc-per-node N -m
kinetix train ...``): every rank draws the same global batch, integrates its share of it, and the
ranks sum their weighted losses and gradients, so that each step equals the one-process step on
the global batch (to rounding). Rank 0 alone writes files.

This is what :class:`torch.nn.parallel.DistributedDataParallel` does for a model called once per
step; the learned field is called at every stage of every solver step, so the gradients are
all-reduced once, explicitly, after the backward pass.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import torch
import torch.distributed as dist

from kinetix.errors import ConfigError


class Ranks:
    """The processes of one training run: ``world`` of them, this one ``rank``."""

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank, self.world = rank, world

    @classmethod
    def from_environment(cls) -> Ranks:
        """The ranks torchrun describes in ``WORLD_SIZE``/``RANK`` (one process without them); joins
        the process group (gloo on CPU, nccl with CUDA) if needed."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def main(self) -> bool:
        """Whether this process writes files (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def loss(self, loss_function, index: torch.Tensor, horizon: int):
        """``loss_function(index, horizon)`` over the global batch ``index``, each rank integrating its
        share: the returned loss has the global value and this rank's share of the gradient; the
        solution holds ``success`` and per-member ``stats`` maxima over all ranks."""
        if self.world == 1:
            return loss_function(index, horizon)
        if len(index) < self.world:
            raise ConfigError(f"a batch of {len(index)} trajectories cannot be shared by {self.world} processes; "
                              "raise data.batch_size or start fewer processes")
        share = index.tensor_split(self.world)[self.rank]
        loss, solution = loss_function(share, horizon)
        weighted = loss * (len(share) / len(index))  # losses are means over the batch
        numbers = torch.stack([weighted.detach(), torch.tensor(float(not solution.success), dtype=loss.dtype)])
        dist.all_reduce(numbers)
        steps = torch.stack([solution.stats.steps.max(), solution.stats.rejected.max()])
        dist.all_reduce(steps, op=dist.ReduceOp.MAX)
        summary = SimpleNamespace(success=bool(numbers[1] == 0),
                                  stats=SimpleNamespace(steps=steps[0], rejected=steps[1]))
        return weighted + (numbers[0] - weighted).detach(), summary

    def sum_gradients(self, parameters) -> None:
        """Add up every rank's gradient share (after :meth:`loss` ``.backward()``)."""
        if self.world == 1:
            return
        for parameter in parameters:
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
