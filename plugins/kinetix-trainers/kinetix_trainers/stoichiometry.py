"""The least-squares stoichiometry of a mass-action library: ``f(y) = S r(y)`` is linear in ``S`` at
fixed orders and rate constants, and so is its Jacobian ``S dr/dy``.

Each species' row of ``S`` is one weighted least-squares problem: rate rows (the field's rate at
each data point) and, when the mechanism's Jacobian is known, Jacobian rows (each entry
``df_i/dy_k`` at each data point). Data near a slow manifold leave the rates blind to the fast
directions across it, which only the Jacobian rows pin down. Optional: sign bounds (a reaction
consumes only species in its rate law) and sequential thresholding (sparse selection).
"""

from __future__ import annotations

import numpy as np
import torch

from kinetix.networks import MassActionNetwork

RCOND = 1e-12  # relative SVD cut-off of the unbounded solve
BOUNDED_TOLERANCE = 1e-14  # scipy's bvls tolerance
MAX_THRESHOLD_ROUNDS = 50


@torch.no_grad()
def solve_stoichiometry(network: MassActionNetwork, y: torch.Tensor, rates: torch.Tensor, weight: torch.Tensor,
                        jacobian: torch.Tensor | None = None, *, signs: bool = False, threshold: float = 0.0) -> float:
    """Set ``S`` of ``network`` to the weighted least-squares fit of ``rates`` ``(M, n)`` at states
    ``y`` ``(M, n)``, given its orders and rate constants, and return the weighted mean absolute
    rate residual.

    A rate row of species ``i`` is weighted by ``weight[:, i]``; with ``jacobian`` ``(M, n, n)`` (the
    target ``df_i/dy_k``) a Jacobian row by ``weight[:, i] * s_k`` (``s``: the network's
    ``input_scale``), so that ``df_i/dy_k`` acting on a change of ``y_k`` by ``s_k`` is weighed as a
    rate error. ``signs``: reaction ``j`` may consume species ``i`` (``S_ij < 0``) only if ``i`` is in
    its rate law (``W_ji > 0``); otherwise a species at zero could be driven negative. ``threshold``
    > 0: entries whose contribution is below ``threshold`` times the target's norm are set to zero
    and the rest refitted, until the selection stops changing (see :func:`fit_columns`). Each used
    reaction is then rescaled so that its largest coefficient is 1, the magnitude going to its rate
    constant.
    """
    active = network.active > 0
    features = network.rates(y)[:, active]  # (M, R')
    slopes = network.rate_jacobian(y)[:, active] if jacobian is not None else None  # (M, R', n)
    consumes = network.orders.detach()[active] > 0  # (R', n)
    solution = torch.zeros_like(network.stoichiometry)
    for i in range(y.shape[-1]):
        matrix, target = features * weight[:, i : i + 1], rates[:, i] * weight[:, i]
        if jacobian is not None:
            row_weight = weight[:, i : i + 1] * network.input_scale  # (M, n): J_ik weighted by weight_i * s_k
            matrix = torch.cat([matrix, (slopes * row_weight.unsqueeze(-2)).transpose(-1, -2).reshape(-1, matrix.shape[1])])
            target = torch.cat([target, (jacobian[:, i, :] * row_weight).reshape(-1)])
        lower = torch.where(consumes[:, i], -torch.inf, 0.0).to(matrix) if signs else None
        solution[i, active] = fit_columns(matrix, target, lower, threshold)
    largest = solution.abs().amax(dim=0)
    used = largest > 0
    network.log_rate[used] += torch.log(largest[used])
    network.stoichiometry.copy_(torch.where(used, solution / largest.clamp(min=torch.finfo(largest.dtype).tiny), 0.0))
    return float(((network(None, y) - rates).abs() * weight).mean())


def fit_columns(matrix: torch.Tensor, target: torch.Tensor, lower: torch.Tensor | None = None,
                threshold: float = 0.0) -> torch.Tensor:
    """``x`` ``(K,)`` minimising ``|matrix x - target|`` (``matrix`` ``(rows, K)``), on normalised
    columns (a stiff species' net rate is a small difference of large terms, which the normal
    equations would lose): by SVD with relative cut-off ``RCOND``, or, with ``lower`` ``(K,)``, the
    bounded solve ``x >= lower`` (scipy's bvls). ``threshold`` > 0: sequentially thresholded least
    squares, dropping columns with ``|x_j| |column_j| < threshold |target|`` and refitting."""
    tiny = torch.finfo(matrix.dtype).tiny
    norms = matrix.norm(dim=0)
    keep = norms > 0
    matrix = matrix / norms.clamp(min=tiny)
    limit = threshold * float(target.norm())
    if matrix.shape[0] > matrix.shape[1]:  # the same problem in K rows: cheap repeated solves
        q, r = torch.linalg.qr(matrix)
        matrix, target = r, q.T @ target
    solution = torch.zeros_like(norms)
    for _ in range(MAX_THRESHOLD_ROUNDS):
        solution = torch.zeros_like(norms)
        if keep.any():
            solution[keep] = _least_squares(matrix[:, keep], target, None if lower is None else lower[keep])
        selected = keep & (solution.abs() >= limit)
        if threshold <= 0 or torch.equal(selected, keep):
            break
        keep = selected
    return solution / norms.clamp(min=tiny)


def _least_squares(matrix: torch.Tensor, target: torch.Tensor, lower: torch.Tensor | None) -> torch.Tensor:
    if lower is None:
        return torch.linalg.lstsq(matrix, target.unsqueeze(-1), rcond=RCOND, driver="gelsd").solution[:, 0]
    from scipy.optimize import lsq_linear  # on first use: scipy costs 0.35 s at start-up

    result = lsq_linear(matrix.cpu().numpy(), target.cpu().numpy(), bounds=(lower.cpu().numpy(), np.inf),
                        method="bvls", tol=BOUNDED_TOLERANCE)
    return torch.as_tensor(result.x, dtype=matrix.dtype, device=matrix.device)
