"""Simulating a mechanism: ``kinetix.simulate``."""

from __future__ import annotations

import torch

from .mechanism import Mechanism
from .solvers.api import solve
from .solvers.base import Solution


def _in_dtype(y0, dtype: torch.dtype):
    """Numbers and real floating tensors in the mechanism's dtype; anything else is left for
    :func:`kinetix.solve` to refuse with its own message."""
    if isinstance(y0, (list, float, int)) or (isinstance(y0, torch.Tensor) and y0.is_floating_point()):
        return torch.as_tensor(y0, dtype=dtype)
    return y0


def integrate_mechanism(mechanism: Mechanism, y0=None, t=None, **solver_options) -> Solution:
    """Like :func:`simulate` but returns the full :class:`kinetix.solvers.Solution` (with stats).

    Integration starts at ``mechanism.time_span[0]`` when the first output time lies after it.
    """
    dtype = mechanism.initial_state().dtype
    y0 = mechanism.initial_state() if y0 is None else _in_dtype(y0, dtype)
    t = mechanism.default_times() if t is None else torch.as_tensor(t, dtype=dtype)
    t0 = mechanism.time_span[0]
    options = dict(solver_options.pop("options", None) or {})
    options.setdefault("autonomous", mechanism.autonomous)
    solver_options.setdefault("jac", mechanism.jacobian)
    start = t0 if t.dim() == 1 and len(t) > 0 and float(t[0]) > t0 else None
    return solve(mechanism, y0, t, t0=start, options=options, **solver_options)  # the module: its parameters


def simulate(mechanism: Mechanism | str, y0=None, t=None, **solver_options) -> torch.Tensor:
    """States ``(len(t), *y0.shape)`` of ``mechanism`` (an instance or a name for
    :func:`kinetix.load_mechanism`).

    ``y0`` defaults to the mechanism's initial state (a batch ``(B, n)`` works), ``t`` to its default
    output times; ``solver_options`` go to :func:`kinetix.solve` (``method``, ``rtol``, ``atol``, ...).
    """
    from .loading import load_mechanism

    return integrate_mechanism(load_mechanism(mechanism), y0, t, **solver_options).ys
