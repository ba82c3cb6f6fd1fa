"""The reaction step of a flow solver: every state of a batch advanced by its own time step.

:class:`ReactionStep` maps ``(y (N, n), dt (N,) or ())`` to the states after ``dt``: it integrates
the surrogate's autonomous field with per-member adaptive steps. A reduced surrogate encodes ``y``
to ``z``, integrates ``z`` to ``z'`` and returns ``y + decode(z') - decode(z)`` (or the surrogate's own
``combine`` of the three): the change its
latent dynamics predict, so that the reconstruction error ``decode(encode(y)) - y`` cancels, and a
change that keeps the invariants (element amounts, pressure) keeps those of ``y`` exactly. It is written in plain tensor operations with a bounded loop, so the same
module runs eagerly in Python and, compiled with TorchScript, from C++ (:mod:`kinetix.export`).

Integrators: an explicit embedded Runge-Kutta pair (``dopri5``, ``bosh3``; for non-stiff fields) or a
Rosenbrock method of :mod:`kinetix.solvers.tableaus` (stiff fields; needs ``field.jacobian``). Each
member starts with the whole ``dt`` as its step, accepts when the RMS of ``error / (atol + rtol |z|)``
is at most 1 and rescales its step by ``0.9 err^(-1/(q+1))`` (clipped to [0.2, 5], ``q`` the embedded
order). A member not done after ``max_steps`` attempts comes back as NaN.

:class:`AdvanceStep` is the same map for a field that advances itself without time steps
(``field.advance(z, dt)``, e.g. a progress-variable surrogate's quadrature, method ``"quadrature"``, or a
learned flow map, method ``"flowmap"``).
"""

from typing import List

import torch
from torch import nn

# Butcher tableaus of explicit embedded pairs: a (strictly lower triangular rows), b, e = b - b_hat,
# the embedded order, and whether the last stage is f(y_new) (first same as last).
EXPLICIT = {
    "dopri5": {  # Dormand & Prince (1980), 5(4)
        "a": [[], [1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9],
              [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
              [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
              [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]],
        "b": [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0],
        "b_hat": [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
        "embedded_order": 4,
    },
    "bosh3": {  # Bogacki & Shampine (1989), 3(2)
        "a": [[], [1 / 2], [0.0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]],
        "b": [2 / 9, 1 / 3, 4 / 9, 0.0],
        "b_hat": [7 / 24, 1 / 4, 1 / 3, 1 / 8],
        "embedded_order": 2,
    },
}


def method_coefficients(method: str) -> dict:
    """``{"kind", "a", "c", "b", "e", "gamma", "embedded_order"}`` of an explicit pair or a Rosenbrock
    tableau, as plain lists (TorchScript attributes)."""
    from .errors import SolverError
    from .solvers.tableaus import TABLEAUS

    if method in EXPLICIT:
        pair = EXPLICIT[method]
        return {"kind": "explicit", "a": [list(row) for row in pair["a"]], "c": [[] for _ in pair["b"]],
                "b": list(pair["b"]), "e": [b - bh for b, bh in zip(pair["b"], pair["b_hat"])], "gamma": 0.0,
                "embedded_order": pair["embedded_order"]}
    if method in TABLEAUS:
        tableau = TABLEAUS[method]
        return {"kind": "rosenbrock", "a": [list(tableau.a[i][:i]) for i in range(tableau.stages)],
                "c": [list(tableau.c[i][:i]) for i in range(tableau.stages)], "b": list(tableau.b),
                "e": list(tableau.e), "gamma": tableau.gamma, "embedded_order": tableau.embedded_order}
    raise SolverError(f"no reaction-step integrator {method!r}; choose from {', '.join([*EXPLICIT, *TABLEAUS])}")


class Increment(nn.Module):
    """``forward(y, before, after) = y + (after - before)``: a state moved by a decoded change."""

    def forward(self, y: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        return y + (after - before)


class ReactionStep(nn.Module):
    """``forward(y, dt)``: states ``(N, n)`` after ``dt`` [s] (``(N,)`` or a scalar tensor).

    Args:
        encoder, decoder: modules ``(N, n) -> (N, m)`` and back (``nn.Identity()`` for a full-state field;
            any other encoder makes the step return ``y`` plus the decoded change).
        field: the autonomous vector field, ``field(t, z)`` ``(N, m)``; with a Rosenbrock method also
            ``field.jacobian(t, z)`` ``(N, m, m)``.
        method: a name of :data:`EXPLICIT` or of ``kinetix.solvers.tableaus.TABLEAUS``.
        rtol: relative tolerance; atol: absolute tolerance per latent component ``(m,)``.
        max_steps: attempts per call before a member is given up (NaN).
        combine: ``combine(y, before, after)``, the state ``y`` moved by the decoded change (default
            :class:`Increment`; a surrogate may keep more of ``y`` exactly, e.g. its enthalpy).
    """

    a: List[List[float]]
    c: List[List[float]]

    def __init__(self, encoder: nn.Module, field: nn.Module, decoder: nn.Module, method: str, rtol: float,
                 atol, max_steps: int = 1000, combine: nn.Module | None = None):
        super().__init__()
        coefficients = method_coefficients(method)
        self.encoder, self.field, self.decoder = encoder, field, decoder
        self.combine = Increment() if combine is None else combine
        self.increment: bool = not isinstance(encoder, nn.Identity)
        self.method = method
        self.rosenbrock = coefficients["kind"] == "rosenbrock"
        self.a = coefficients["a"]
        self.c = coefficients["c"]
        self.b: List[float] = coefficients["b"]
        self.e: List[float] = coefficients["e"]
        self.gamma: float = float(coefficients["gamma"])
        self.exponent: float = -1.0 / (coefficients["embedded_order"] + 1)
        self.rtol: float = float(rtol)
        self.max_steps: int = int(max_steps)
        self.register_buffer("atol", torch.as_tensor(atol, dtype=torch.float64).clone())

    def _explicit(self, z: torch.Tensor, h: torch.Tensor, t: torch.Tensor):
        hc = h.unsqueeze(-1)
        k: List[torch.Tensor] = []
        for i in range(len(self.b)):
            zi = z
            for j, aij in enumerate(self.a[i]):
                if aij != 0.0:
                    zi = zi + (hc * aij) * k[j]
            k.append(self.field(t, zi))
        z_new = z
        err = torch.zeros_like(z)
        for i in range(len(self.b)):
            if self.b[i] != 0.0:
                z_new = z_new + (hc * self.b[i]) * k[i]
            if self.e[i] != 0.0:
                err = err + (hc * self.e[i]) * k[i]
        return z_new, err

    def _rosenbrock(self, z: torch.Tensor, h: torch.Tensor, t: torch.Tensor):
        hc = h.unsqueeze(-1)
        eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
        w = eye / (hc.unsqueeze(-1) * self.gamma) - self.field.jacobian(t, z)
        lu, pivots = torch.linalg.lu_factor(w)
        k: List[torch.Tensor] = []
        f = self.field(t, z)
        for i in range(len(self.b)):
            if i > 0:
                zi = z
                for j, aij in enumerate(self.a[i]):
                    if aij != 0.0:
                        zi = zi + aij * k[j]
                f = self.field(t, zi)
            rhs = f
            for j, cij in enumerate(self.c[i]):
                if cij != 0.0:
                    rhs = rhs + (cij / hc) * k[j]
            k.append(torch.linalg.lu_solve(lu, pivots, rhs.unsqueeze(-1)).squeeze(-1))
        z_new = z
        err = torch.zeros_like(z)
        for i in range(len(self.b)):
            if self.b[i] != 0.0:
                z_new = z_new + self.b[i] * k[i]
            if self.e[i] != 0.0:
                err = err + self.e[i] * k[i]
        return z_new, err

    def forward(self, y: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        z = self.encoder(y)
        if self.increment:
            return self.combine(y, self.decoder(z), self.decoder(self.integrate(z, dt)))
        return self.integrate(z, dt)

    def integrate(self, z: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """Encoded states ``(N, m)`` after ``dt``; differentiable (step sizes count as constants)."""
        n = z.shape[0]
        dt = dt.to(z.dtype).expand(n)
        t = torch.zeros_like(dt)
        h = dt.clone()
        done = dt <= 0
        atol = self.atol.to(z.dtype)
        for _ in range(self.max_steps):
            if bool(done.all()):
                break
            remaining = dt - t
            last = h >= remaining
            step = torch.where(last, remaining, h)
            step = torch.where(done, torch.ones_like(step), step)  # finished members: any harmless step
            if self.rosenbrock:
                z_new, err = self._rosenbrock(z, step, t)
            else:
                z_new, err = self._explicit(z, step, t)
            err, candidate = err.detach(), z_new.detach()  # step control is not differentiated
            scale = atol + self.rtol * torch.maximum(z.detach().abs(), candidate.abs())
            norm = (err / scale).pow(2).mean(dim=-1).sqrt()
            finite = torch.isfinite(norm) & torch.isfinite(candidate).all(dim=-1)
            norm = torch.where(finite, norm, torch.full_like(norm, 1e10)).clamp(min=1e-10)
            accept = (norm <= 1.0) & ~done
            z = torch.where(accept.unsqueeze(-1), z_new, z)
            t = torch.where(accept, torch.where(last, dt, t + step), t)
            done = done | (accept & last)
            factor = (0.9 * norm.pow(self.exponent)).clamp(0.2, 5.0)
            factor = torch.where(accept, factor, factor.clamp(max=1.0))
            h = torch.where(done, h, step * factor)
        return torch.where(done.unsqueeze(-1), z, torch.full_like(z, float("nan")))


class AdvanceStep(nn.Module):
    """``forward(y, dt)``: states ``(N, n)`` after ``dt`` [s] (``(N,)`` or a scalar tensor) by the field's own
    ``advance(z (N, m), dt (N,)) -> (N, m)``; ``encoder``, ``decoder`` and ``combine`` as in :class:`ReactionStep`."""

    def __init__(self, encoder: nn.Module, field: nn.Module, decoder: nn.Module, combine: nn.Module | None = None,
                 method: str = "quadrature"):
        super().__init__()
        self.encoder, self.field, self.decoder = encoder, field, decoder
        self.combine = Increment() if combine is None else combine
        self.method = method

    def forward(self, y: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        z = self.encoder(y)
        after = self.field.advance(z, dt.to(z.dtype).expand(z.shape[0]))
        return self.combine(y, self.decoder(z), self.decoder(after))


def make_step(encoder: nn.Module, field: nn.Module, decoder: nn.Module, method: str, rtol: float, atol,
              max_steps: int = 1000, combine: nn.Module | None = None) -> nn.Module:
    """:class:`AdvanceStep` for one of the field's own integrators (``field.integrators``, e.g. ``"quadrature"``;
    the field must have ``advance``), else :class:`ReactionStep`."""
    from .errors import ConfigError
    from .surrogate import integrates_itself

    if not integrates_itself(field, method):
        return ReactionStep(encoder, field, decoder, method, rtol, atol, max_steps, combine)
    if not hasattr(field, "advance"):
        raise ConfigError(f"method {method!r} needs a field that advances itself; {type(field).__name__} "
                          "has no advance(z, dt): choose an integrator with --method")
    return AdvanceStep(encoder, field, decoder, combine, method)
