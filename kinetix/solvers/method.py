"""What the adaptive loop asks of an integration method: one attempted step of every batch member."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch


@dataclass(frozen=True)
class System:
    """The problem as a method sees it, time measured from the loop's origin; ``t`` is ``(B, 1)``.

    ``rhs(t, y)`` and ``jacobian(t, y)`` map ``y`` ``(B, n)`` to ``(B, n)`` and ``(B, n, n)``;
    ``time_derivative(t, y)`` is ``df/dt`` ``(B, n)``, ``None`` for an autonomous problem.
    ``rtol`` and ``atol`` ``(n,)`` are the tolerances of the error estimate.
    """

    rhs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    jacobian: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    time_derivative: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    rtol: torch.Tensor
    atol: torch.Tensor

    def scale(self, y: torch.Tensor) -> torch.Tensor:
        """The error scale ``atol + rtol |y|`` ``(B, n)``."""
        return torch.addcmul(self.atol, self.rtol, y.abs())


class Step(NamedTuple):
    """One attempted step: ``y_new`` ``(B, n)``; ``error`` ``(B, n)``, the local error estimate;
    ``dense`` ``(B, r, n)``, the coefficients ``q`` of :func:`kinetix.solvers.dense.interpolate`;
    ``ok`` ``(B,)``, false where the method could not complete the step (a nonlinear solve that
    did not converge), or ``None`` when it always can; ``rhs_evals``, evaluations of ``f`` made
    for the whole batch (``f(t, y)`` at the start excluded: the loop supplies it)."""

    y_new: torch.Tensor
    error: torch.Tensor
    dense: torch.Tensor
    ok: torch.Tensor | None
    rhs_evals: int


class Method(ABC):
    """A one-step method with an embedded error estimate and dense output.

    Attributes:
        name: the registered name.
        order: the order of ``y_new``.
        error_order: the order of the embedded solution (the step-size controller uses ``error_order + 1``).
        jacobians_per_step, factorizations_per_step: work of one attempted step.
        compilable: :meth:`step` traces into one graph for ``torch.compile`` (no host synchronisation).
    """

    name: str
    order: int
    error_order: int
    jacobians_per_step: int = 1
    factorizations_per_step: int = 1
    compilable: bool = True

    @abstractmethod
    def step(self, system: System, t: torch.Tensor, y: torch.Tensor, h: torch.Tensor, f0: torch.Tensor) -> Step:
        """Attempt a step ``h`` ``(B, 1)`` from ``(t, y)`` (``t`` ``(B, 1)``) with ``f0 = f(t, y)`` for every member."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
