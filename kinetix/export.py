"""Export a surrogate as a self-contained TorchScript reaction step for flow solvers.

The artifact is one TorchScript archive whose ``forward(y, dt)`` is :class:`kinetix.reaction_step.ReactionStep`
with the surrogate's networks traced into it; it loads with ``torch.jit.load`` (Python) or
``torch::jit::load`` (C++, libtorch) without kinetix. Its description (species order, units,
integrator, tolerances) travels inside as the extra file ``kinetix.json``. See docs/export.md.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from .data.atomic import atomic_path
from .errors import ConfigError
from .reaction_step import AdvanceStep, ReactionStep, make_step
from .surrogate import Surrogate

METADATA = "kinetix.json"
FORMAT_NAME = "kinetix-reaction-step"
FORMAT_VERSION = 1


class _Method(nn.Module):
    """``forward(x) = getattr(module, name)(x)``: one method of a module as a traceable module."""

    def __init__(self, module: nn.Module, name: str):
        super().__init__()
        self.module, self.name = module, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.module, self.name)(x)


class _Combine(nn.Module):
    """``forward(y, before, after) = module.combine(y, before, after)`` as a traceable module."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, y: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        return self.module.combine(y, before, after)


def reaction_step(surrogate: Surrogate, *, method: str | None = None, rtol: float | None = None,
                  atol=None, max_steps: int = 1000) -> ReactionStep:
    """The surrogate's reaction step as an eager module (the reference the artifact reproduces).

    Defaults: the surrogate's own solver settings (``surrogate.json``; a latent surrogate
    integrates in its latent space with the method chosen at training).
    """
    options = surrogate.solver_options
    method = method or options["method"]
    rtol = float(options["rtol"] if rtol is None else rtol)
    field = surrogate.field
    latent = hasattr(field, "encode")
    width = field.latent_size if latent else len(surrogate.species)
    atol = torch.as_tensor(options["atol"] if atol is None else atol, dtype=torch.float64).expand(width).clone()
    encoder = _Method(field, "encode") if latent else nn.Identity()
    decoder = _Method(field, "decode") if latent else nn.Identity()
    combine = _Combine(field) if hasattr(field, "combine") else None
    return make_step(encoder, field, decoder, method, rtol, atol, max_steps, combine)


def script_reaction_step(step: ReactionStep | AdvanceStep, example: torch.Tensor) -> torch.jit.ScriptModule:
    """TorchScript of ``step``: its networks traced on ``example`` states ``(N, n)``, the loop scripted."""
    advancing = isinstance(step, AdvanceStep)
    if not advancing and not hasattr(step.field, "jacobian"):
        raise ConfigError(f"the surrogate's network {type(step.field).__name__} has no jacobian(t, y); "
                          "export needs one")
    with torch.no_grad():
        z = step.encoder(example)
        t = torch.zeros(example.shape[0], dtype=example.dtype)
        traced = {}
        with warnings.catch_warnings():  # TorchScript is deprecated, but torch.export cannot take the
            # adaptive loop's data-dependent exit (docs/export.md); the tracer warns of shapes it records
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            for name, module, argument in (("encoder", step.encoder, example), ("decoder", step.decoder, z)):
                traced[name] = (module if isinstance(module, nn.Identity)
                                else torch.jit.trace(module, argument, check_trace=False))
            methods = {"advance": (z, t)} if advancing else {"forward": (t, z), "jacobian": (t, z)}
            traced["field"] = torch.jit.trace_module(step.field, methods, check_trace=False)
            combine = None
            if isinstance(step.combine, _Combine):
                decoded = step.decoder(z)
                combine = torch.jit.trace(step.combine, (example, decoded, decoded), check_trace=False)
            scripted = (AdvanceStep(traced["encoder"], traced["field"], traced["decoder"], combine, step.method) if advancing
                        else ReactionStep(traced["encoder"], traced["field"], traced["decoder"], step.method,
                                          step.rtol, step.atol, step.max_steps, combine))
            return torch.jit.script(scripted.eval())


def export_surrogate(surrogate: Surrogate, out: str | Path, *, force: bool = False, **options) -> dict:
    """Write the TorchScript reaction step of ``surrogate`` to ``out`` (atomically); returns its
    description (also stored in the archive as ``kinetix.json``). ``options``: see :func:`reaction_step`."""
    step = reaction_step(surrogate, **options)
    example = torch.as_tensor(surrogate.info["y0"], dtype=torch.float64).expand(2, -1).clone()
    scripted = script_reaction_step(step, example)
    units = surrogate.info.get("units", {})
    description = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "inputs": {"y": "(N, n) float64 states, components in 'state' order", "dt": "(N,) or () float64 [s]"},
        "output": "(N, n) float64 states after dt; NaN for a member the integrator gave up on, or a dt outside a "
                  "flow map's trained range",
        "state": list(surrogate.species),
        "units": {"time": units.get("time", "s") or "s", "state": units.get("state", "")},
        "kind": surrogate.info.get("kind", "full"),
        "integrator": ({"method": step.method, **getattr(step.field, "step_range", {})} if isinstance(step, AdvanceStep) else
                       {"method": step.method, "rtol": step.rtol, "atol": step.atol.tolist(), "max_steps": step.max_steps}),
        "torch": torch.__version__,
        "mechanism": surrogate.info.get("dataset", {}).get("mechanism"),
    }
    out = Path(out)
    with atomic_path(out, force=force) as temporary, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, str(temporary), _extra_files={METADATA: json.dumps(description, indent=2)})
    return description
