"""Time along a progress curve: a whole ignition by quadrature, a reaction step by inverting it.

The progress ODE of :class:`~kinetix_trainers.progress_network.ProgressODE` is scalar and autonomous, so
time is an integral over progress. With ``d = s_end - s``, ``rho = |d|`` and the progress coordinate

    ``w = -(rho + ln rho)``  (``= s - s_end`` far from equilibrium, ``-ln rho`` near it),

which increases along every solution on either side of ``s_end``,

    ``dt/dw = exp(-g(s)) / (phi(d) (1 + rho))``,

a smooth, positive, bounded integrand: the approach to ``s_end`` (stiff in ``s``, rate constants up
to 1e6 /s) is a straight line in ``w``, and the first microsecond of an ignition (``ds/dt`` up to
1e7 /s) contributes a tiny integrand instead of a tiny time step. Nothing here takes an adaptive
step: the cost is a fixed number of rate evaluations per member, all in one batch.

- :func:`trajectory`: ``t(w)`` on ``nodes`` points evenly in ``w`` up to ``W_END`` (fourth-order
  cumulative quadrature), inverted at the output times by cubic Hermite interpolation
  (slopes ``dw/dt``); past ``W_END`` (``rho < 1.5e-8``) ``w`` grows linearly in time;
- :func:`advance`: the ``w`` after a time ``dt`` per member: Newton on ``ln(w - w0)`` for
  ``ln integral = ln dt``, kept inside a bracket of the root (bisection or a tenfold step where Newton
  leaves it), from at most one unit of ``w``; the integral by composite Gauss-Legendre.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kinetix.errors import SolverError

W_END = 18.0           # the quadrature's last w (rho = 1.5e-8); later, w is linear in time
NODES = 129            # quadrature nodes per member of a trajectory (H2/air held-out: p99 0.12 K, max 6.5 K at fronts from 2049)
LAMBERT_NEWTON = 8     # Newton steps of rho + ln rho = q
GAUSS_NODES = 4        # Gauss-Legendre nodes per panel of advance()
ADVANCE_NEWTON = 8     # bracketed Newton steps of advance()
PANELS = 4             # advance(): composite panels (0.08 K at 1e-6 s, 7 K at 1e-5 s from a tight solve; 2 panels: 2 K, 38 K)
EXPAND = math.log(10)  # advance(): the step of log span outside a bracket


def gauss_legendre(count: int, panels: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights ``(count * panels,)`` of composite Gauss-Legendre quadrature on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(count)
    starts = np.arange(panels)[:, None] / panels
    nodes, weights = (starts + (x + 1) / (2 * panels)).ravel(), np.tile(w / (2 * panels), panels)
    return (torch.as_tensor(nodes, dtype=like.dtype, device=like.device),
            torch.as_tensor(weights, dtype=like.dtype, device=like.device))


def coordinate(u: torch.Tensor) -> torch.Tensor:
    """``w = -(rho + ln rho)`` ``(...)`` of ``u = ln rho`` (any ``u``, also below the smallest double's log)."""
    return -(torch.exp(u) + u)


def log_distance(w: torch.Tensor) -> torch.Tensor:
    """``u = ln rho`` with ``coordinate(u) = w`` (Newton; the inverse of :func:`coordinate`)."""
    q = -w
    u = torch.where(q > 1, torch.log(q.clamp(min=1.0)), q)
    for _ in range(LAMBERT_NEWTON):
        rho = torch.exp(u)
        u = u - (rho + u - q) / (rho + 1)
    return u


def time_density(model, w: torch.Tensor, sign: torch.Tensor, s_end: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``dt/dw`` [s] ``(N, P)`` at coordinates ``w`` ``(N, P)`` of members with ``sign``, ``s_end`` ``(N, 1)``
    and scaled invariants ``v`` ``(N, 1, n_invariants)``."""
    from .progress_network import relaxation

    rho = torch.exp(log_distance(w))
    d = sign * rho
    g = model.log_rate(s_end - d, v.expand(*w.shape, -1))
    return torch.exp(-g) / (relaxation(d) * (1 + rho))


def _parts(model, zc: torch.Tensor):
    """``(w0 (N,), sign (N, 1), s_end (N, 1), v (N, 1, n_invariants))`` of latent states ``(N, m)``."""
    from .progress_network import HEAD

    return coordinate(zc[:, 0]), zc[:, 1:2], zc[:, 2:3], zc[:, None, HEAD:HEAD + model.n_invariants]


def _latent(zc: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``zc`` ``(N, m)`` with its ``u`` replaced by that of coordinates ``w`` ``(N, T)`` → ``(T, N, m)``."""
    out = zc.unsqueeze(0).repeat(w.shape[1], 1, 1)
    out[..., 0] = log_distance(w).transpose(0, 1)
    return out


def trajectory(model, zc: torch.Tensor, times: torch.Tensor, nodes: int = NODES) -> torch.Tensor:
    """Latent states ``(T, N, m)`` at ``times`` ``(T,)`` [s] (from 0, non-negative) after ``zc`` ``(N, m)``."""
    if nodes < 4:
        raise SolverError(f"the progress quadrature needs at least 4 nodes, got {nodes}")
    if len(times) and float(times.min()) < 0:
        raise SolverError("the progress quadrature integrates forwards only: output times must not come before t0")
    w0, sign, s_end, v = _parts(model, zc)
    w1 = torch.maximum(w0, torch.full_like(w0, W_END))
    fraction = torch.linspace(0, 1, nodes, dtype=zc.dtype, device=zc.device)
    w = w0[:, None] + (w1 - w0)[:, None] * fraction                               # (N, nodes)
    f = time_density(model, w, sign, s_end, v)
    h = ((w1 - w0) / (nodes - 1))[:, None] / 24
    panels = torch.cat([h * (9 * f[:, :1] + 19 * f[:, 1:2] - 5 * f[:, 2:3] + f[:, 3:4]),
                        h * (-f[:, :-3] + 13 * f[:, 1:-2] + 13 * f[:, 2:-1] - f[:, 3:]),
                        h * (f[:, -4:-3] - 5 * f[:, -3:-2] + 19 * f[:, -2:-1] + 9 * f[:, -1:])], dim=1)
    t = torch.cat([torch.zeros_like(w0)[:, None], panels.cumsum(1)], dim=1)       # (N, nodes)
    tau = times.to(zc.dtype).expand(len(w0), -1).contiguous()                     # (N, T)
    j = (torch.searchsorted(t, tau, right=True) - 1).clamp(0, nodes - 2)
    t_a, t_b = t.gather(1, j), t.gather(1, j + 1)
    w_a, w_b = w.gather(1, j), w.gather(1, j + 1)
    m_a, m_b = 1 / f.gather(1, j), 1 / f.gather(1, j + 1)                       # dw/dt
    span = (t_b - t_a).clamp(min=torch.finfo(zc.dtype).tiny)
    x = ((tau - t_a) / span).clamp(0, 1)
    inside = (w_a * (1 + 2 * x) * (1 - x) ** 2 + span * m_a * x * (1 - x) ** 2
              + w_b * x * x * (3 - 2 * x) - span * m_b * x * x * (1 - x))
    beyond = w1[:, None] + (tau - t[:, -1:]) * (1 / f[:, -1:])
    return _latent(zc, torch.where(tau > t[:, -1:], beyond, inside))


def elapsed(model, zc: torch.Tensor, w: torch.Tensor, points: int) -> torch.Tensor:
    """The time [s] ``(N,)`` from latent states ``zc`` ``(N, m)`` to coordinates ``w`` ``(N,)`` (not before theirs):
    composite Gauss-Legendre on ``points`` nodes (a multiple of ``GAUSS_NODES``); differentiable in the rate."""
    w0, sign, s_end, v = _parts(model, zc)
    nodes, weights = gauss_legendre(GAUSS_NODES, max(1, points // GAUSS_NODES), zc)
    span = w - w0
    return span * (time_density(model, w0[:, None] + span[:, None] * nodes, sign, s_end, v) @ weights)


def advance(model, zc: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """Latent states ``(N, m)`` after ``dt`` ``(N,)`` or ``()`` [s] (non-negative) from ``zc`` ``(N, m)``."""
    w0, sign, s_end, v = _parts(model, zc)
    dt = dt.to(zc.dtype) * torch.ones_like(w0)                                        # traceable for any N
    nodes, weights = gauss_legendre(GAUSS_NODES, PANELS, zc)
    moving = dt > 0
    target = torch.log(torch.where(moving, dt, torch.ones_like(dt)))
    span = dt * (1 / time_density(model, w0[:, None], sign, s_end, v)[:, 0])       # Euler in w
    log_span = torch.log(torch.where(moving, span, torch.ones_like(span))).clamp(max=0.0)   # at most 1 to start
    low = torch.full_like(log_span, -math.inf)                                        # the root lies in (low, high)
    high = torch.full_like(log_span, math.inf)
    for _ in range(ADVANCE_NEWTON):
        span = torch.exp(log_span)
        points = torch.cat([w0[:, None] + span[:, None] * nodes, (w0 + span)[:, None]], dim=1)
        f = time_density(model, points, sign, s_end, v)
        integral = span * (f[:, :-1] @ weights)
        residual = torch.log(integral) - target                                       # increasing in log_span
        low = torch.where(residual < 0, torch.maximum(low, log_span), low)
        high = torch.where(residual > 0, torch.minimum(high, log_span), high)
        newton = log_span - residual * integral / (span * f[:, -1])
        bisection = torch.where(torch.isinf(high), log_span + EXPAND,
                                torch.where(torch.isinf(low), log_span - EXPAND, (low + high) / 2))
        log_span = torch.where((newton > low) & (newton < high), newton, bisection)
    w = torch.where(moving, w0 + torch.exp(log_span), w0)
    return _latent(zc, w[:, None])[0]
