"""Per-species scales computed from trajectory data.

Stiff systems need every species measured in its own units: a species that peaks at 4e-5 and one
that goes from 1 to 0 must look alike to the network and the loss. Choices (``kind`` arguments):

- species scale: ``"max"`` = ``max |y|`` over the data (the paper's choice for Robertson),
  ``"range"`` = ``max y - min y`` (the paper's choice for POLLU), ``"none"`` = 1;
- output scale of the vector field: ``"paper"`` = species scale / time span (one time scale for
  all species), ``"rate"`` = the largest ``|dy/dt|`` seen between consecutive data points, so that
  fast and slow species both get network outputs of order one, ``"none"`` = 1;
- input normalisation: ``"none"`` (the paper's), ``"scale"`` = ``y / species scale``,
  ``"standard"`` = ``(y - mean) / std``.
"""

from __future__ import annotations

import torch

from .errors import ConfigError

SPECIES_SCALES = ("max", "range", "none")
OUTPUT_SCALES = ("paper", "rate", "none")
INPUT_NORMALISATIONS = ("none", "scale", "standard")


def _positive(scale: torch.Tensor) -> torch.Tensor:
    """Zero scales (species that never change) replaced by a tiny fraction of the largest one."""
    largest = scale.max().clamp(min=torch.finfo(scale.dtype).tiny)
    return torch.where(scale > 0, scale, largest * 1e-12)


def with_initial_states(t: torch.Tensor, y: torch.Tensor, y0: torch.Tensor, t0: float):
    """Times ``(T',)`` and states ``(N, T', n)`` with the initial state prepended if ``t0 < t[0]``."""
    if t0 < float(t[0]):
        return torch.cat([t.new_tensor([t0]), t]), torch.cat([y0.unsqueeze(1), y], dim=1)
    return t, y


def species_scale(y: torch.Tensor, kind: str = "max") -> torch.Tensor:
    """``(n,)`` from states ``(N, T, n)``."""
    flat = y.reshape(-1, y.shape[-1])
    if kind == "max":
        return _positive(flat.abs().amax(dim=0))
    if kind == "range":
        return _positive(flat.amax(dim=0) - flat.amin(dim=0))
    if kind == "none":
        return torch.ones(y.shape[-1], dtype=y.dtype, device=y.device)
    raise ConfigError(f"unknown species scale {kind!r}; choose from {', '.join(SPECIES_SCALES)}")


def rate_scale(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Largest ``|dy/dt|`` between consecutive points, ``(n,)``; ``t`` ``(T,)``, ``y`` ``(N, T, n)``."""
    if len(t) < 2:
        raise ConfigError("rate scaling needs at least two times per trajectory")
    slopes = (y[:, 1:] - y[:, :-1]).abs() / (t[1:] - t[:-1]).unsqueeze(-1)
    return _positive(slopes.reshape(-1, y.shape[-1]).amax(dim=0))


def output_scale(t: torch.Tensor, y: torch.Tensor, y_scale: torch.Tensor, kind: str) -> torch.Tensor:
    """Scale of ``dy/dt`` per species, ``(n,)``, for data ``t`` ``(T,)``, ``y`` ``(N, T, n)``."""
    if kind == "paper":
        return y_scale / float(t[-1] - t[0])
    if kind == "rate":
        return rate_scale(t, y)
    if kind == "none":
        return torch.ones_like(y_scale)
    raise ConfigError(f"unknown output scale {kind!r}; choose from {', '.join(OUTPUT_SCALES)}")


def input_normalisation(y: torch.Tensor, y_scale: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(shift, scale)`` ``(n,)`` so that the network sees ``(y - shift) / scale``."""
    zeros = torch.zeros_like(y_scale)
    if kind == "none":
        return zeros, torch.ones_like(y_scale)
    if kind == "scale":
        return zeros, y_scale
    if kind == "standard":
        flat = y.reshape(-1, y.shape[-1])
        return flat.mean(dim=0), _positive(flat.std(dim=0))
    raise ConfigError(f"unknown input normalisation {kind!r}; choose from {', '.join(INPUT_NORMALISATIONS)}")
