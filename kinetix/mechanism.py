"""The Mechanism interface: a stiff kinetic system ``dy/dt = rhs(t, y)``."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any

import torch


class Mechanism(torch.nn.Module, ABC):
    """A kinetic system on states ``y`` shaped ``(..., n)``.

    Subclasses define the state (``state_names``), the right-hand side and, ideally, an analytic
    Jacobian. Parameters such as rate constants are tensors (buffers), so that gradients with
    respect to them work: ``mech.rate_constants.requires_grad_(True)``.

    Attributes:
        name: short identifier, e.g. ``"robertson"``.
        state_names: names of the state components, in order (``n`` of them). For mass-action
            mechanisms these are the species; reactor mechanisms put the temperature first.
        units: physical units, at least ``{"time": ..., "state": ...}``.
        metadata: free-form description, reference, source file.
        autonomous: true if ``rhs`` does not depend on ``t`` (lets solvers skip ``df/dt``).
    """

    name: str = "mechanism"
    autonomous: bool = True

    def __init__(self):
        super().__init__()
        self.units: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}

    @property
    @abstractmethod
    def state_names(self) -> tuple[str, ...]:
        """Names of the ``n`` state components."""

    @property
    def species(self) -> tuple[str, ...]:
        """The chemical species (for mass-action mechanisms, the whole state)."""
        return self.state_names

    @property
    def n_state(self) -> int:
        return len(self.state_names)

    @abstractmethod
    def rhs(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``dy/dt`` at time ``t`` (scalar or broadcastable to ``y[..., 0]``), ``y`` ``(..., n)``."""

    def jacobian(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d rhs / d y`` shaped ``(..., n, n)``; by default from forward-mode autodiff."""
        from .solvers.jacobian import autodiff_jacobian

        return autodiff_jacobian(self.rhs, t, y)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.rhs(t, y)

    @abstractmethod
    def initial_state(self) -> torch.Tensor:
        """The default initial state, shaped ``(n,)``."""

    @abstractmethod
    def default_times(self) -> torch.Tensor:
        """The default output times ``(T,)``, increasing; integration starts at ``time_span[0]``."""

    @property
    @abstractmethod
    def time_span(self) -> tuple[float, float]:
        """``(t0, t1)``: where integration starts and the end of the default horizon."""

    @abstractmethod
    def content(self) -> bytes:
        """Bytes that define the mechanism completely (hashed for provenance)."""

    def content_hash(self) -> str:
        """SHA-256 of :meth:`content`, as hex."""
        return hashlib.sha256(self.content()).hexdigest()

    def sample_initial_states(self, count: int, generator, perturbation=None) -> torch.Tensor:
        """``count`` initial states ``(count, n)`` drawn around the default one.

        ``generator`` is a ``numpy.random.Generator``; ``perturbation`` a
        :class:`kinetix.data.sampling.Perturbation` (``None``: the mechanism's own default).
        """
        from .data.sampling import sample_initial_states

        return sample_initial_states(self, count, generator, perturbation)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, n_state={self.n_state}"
