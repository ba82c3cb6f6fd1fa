"""The Solver interface and what a solve returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable

import torch


class Status(IntEnum):
    """Outcome of one batch member's integration."""

    SUCCESS = 0
    MAX_STEPS = 1
    STEP_UNDERFLOW = 2
    NONFINITE = 3
    FAILED = 4  # any other failure reported by a reference solver

    def describe(self) -> str:
        return {
            Status.SUCCESS: "success",
            Status.MAX_STEPS: "max_steps reached",
            Status.STEP_UNDERFLOW: "step size underflow",
            Status.NONFINITE: "non-finite values",
            Status.FAILED: "integration failed",
        }[self]


@dataclass
class SolverStats:
    """Work per batch member, each a ``(B,)`` integer tensor."""

    steps: torch.Tensor
    rejected: torch.Tensor
    rhs_evals: torch.Tensor
    jacobian_evals: torch.Tensor
    lu_decompositions: torch.Tensor

    @classmethod
    def zeros(cls, batch: int, device=None) -> SolverStats:
        def zero():
            return torch.zeros(batch, dtype=torch.long, device=device)

        return cls(zero(), zero(), zero(), zero(), zero())

    def as_dict(self) -> dict[str, list[int]]:
        return {name: getattr(self, name).tolist() for name in self.__dataclass_fields__}


@dataclass
class Problem:
    """A validated initial-value problem, batch flattened: ``y0`` ``(B, n)``, ``t`` ``(T,)`` increasing.

    ``rtol`` and ``atol`` are ``(n,)`` tensors. ``jac(t, y)`` (optional) returns ``(B, n, n)``.
    ``autonomous`` lets solvers skip ``df/dt``; ``time_derivative(t, y)`` (optional) supplies it,
    otherwise it comes from autodiff.
    """

    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    y0: torch.Tensor
    t: torch.Tensor
    rtol: torch.Tensor
    atol: torch.Tensor
    jac: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    max_steps: int = 100_000
    first_step: float | None = None
    autonomous: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    time_derivative: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    @property
    def batch(self) -> int:
        return self.y0.shape[0]


@dataclass
class Solution:
    """``ys`` ``(T, B, n)`` at the requested times, with per-member ``stats`` and ``status`` ``(B,)``.

    Members that failed hold NaN from the first output time they did not reach.
    """

    ys: torch.Tensor
    stats: SolverStats
    status: torch.Tensor
    t_reached: torch.Tensor

    @property
    def success(self) -> bool:
        return bool((self.status == Status.SUCCESS).all())


class Solver(ABC):
    """An ODE integration method. Registered by name through the ``register_solvers`` hook.

    Attributes:
        stiff: suitable for stiff problems.
        differentiable: gradients flow through :meth:`solve` by backpropagation.
    """

    name: str = "solver"
    stiff: bool = True
    differentiable: bool = True

    @abstractmethod
    def solve(self, problem: Problem) -> Solution:
        """Integrate ``problem``; never raises for a failing member (report it in ``status``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
