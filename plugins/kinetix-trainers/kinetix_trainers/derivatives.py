"""Derivative matching: fit the vector field to rates at the data points, without a solver.

A stiff neural ODE trained through the solver from a random start spends its first epochs on
gradients that the solver damps (fast modes decay like 1 / |lambda h|). Fitting ``f(y_i)`` to rates
``dy/dt`` at the data points first is cheap (one network call per point) and puts the field near the
data before the solver sees it. The rates come from the mechanism that made the data when the
dataset holds its definition (``source = "mechanism"``), or from a smoothing spline through each
trajectory (``source = "data"``). With the mechanism, its Jacobian can be matched as well
(``jacobian = true``, mass-action networks): rates at points near a slow manifold do not determine
the field across it.

The loss weighs a rate error by how far it moves the state before the next data time can correct it:
``|f(y_i) - dy/dt_i| * (t_i - t0) / y_scale`` per species, averaged, i.e. the scaled error the
wrong rate would build up since the start. Rates that span decades are so weighed by the time scale
on which they act.
"""

from __future__ import annotations

import numpy as np
import torch

from kinetix.errors import ConfigError
from kinetix.networks import MassActionNetwork

from .stoichiometry import solve_stoichiometry

SOURCES = ("auto", "mechanism", "data")  # auto: the mechanism if the dataset holds one, else the data


def dataset_mechanism(dataset):
    """The mass-action mechanism stored in ``dataset``'s metadata, or None if there is none."""
    from kinetix.errors import MechanismError
    from kinetix.mass_action import MassActionMechanism
    from kinetix.mass_action.format import parse_spec

    text = dataset.metadata.get("mechanism_definition")
    if not text:
        return None
    try:
        return MassActionMechanism(parse_spec(text, source=f"{dataset.path}: mechanism_definition"))
    except MechanismError:
        return None


def spline_rates(t: torch.Tensor, y: torch.Tensor, t0: float) -> torch.Tensor:
    """``dy/dt`` ``(N, T, n)`` of states ``y`` ``(N, T, n)`` at times ``t`` ``(T,)``, from a smoothing
    spline in ``u = asinh((t - t0) / tau)`` (``tau``: the first time step), which follows both
    log-spaced and linearly spaced grids; the smoothing is chosen by generalised cross-validation."""
    from scipy.interpolate import make_smoothing_spline  # on first use: 0.35 s at start-up

    times = t.cpu().numpy()
    tau = float(times[1] - times[0]) if times[0] <= t0 else float(times[0] - t0)
    u = np.arcsinh((times - t0) / tau)
    du_dt = 1.0 / np.sqrt(tau**2 + (times - t0) ** 2)
    values = y.detach().cpu().numpy()
    rates = np.empty_like(values)
    for i in range(values.shape[0]):
        for j in range(values.shape[2]):
            spline = make_smoothing_spline(u, values[i, :, j])
            rates[i, :, j] = spline.derivative()(u) * du_dt
    return torch.as_tensor(rates, dtype=y.dtype)


def target_rates(dataset, index: torch.Tensor, source: str = "auto") -> tuple[torch.Tensor, str]:
    """Rates ``(N, T, n)`` at the data points of trajectories ``index`` and the source used."""
    if source not in SOURCES:
        raise ConfigError(f"derivatives.source: got {source!r}; choose from {', '.join(SOURCES)}")
    y = dataset.y[index]
    mechanism = dataset_mechanism(dataset) if source != "data" else None
    if mechanism is not None:
        with torch.no_grad():
            return mechanism.rhs(dataset.t[0], y.to(mechanism.stoichiometry.dtype)).to(y.dtype), "mechanism"
    if source == "mechanism":
        raise ConfigError(f"{dataset.path}: derivatives.source = 'mechanism' but the dataset holds no mass-action "
                          "mechanism definition; use source = 'data'")
    return spline_rates(dataset.t, y, dataset.t0), "data"


def derivative_loss(field, y: torch.Tensor, rates: torch.Tensor, weight: torch.Tensor, floor: float = 1e-3):
    """Mean over points and species of ``floor * |asinh(a' / floor) - asinh(a / floor)|`` with
    ``a = rates * weight`` and ``a'`` the field's: the weighted absolute error where ``|a| < floor``,
    a relative one above (so the first steps, far from the data, are not dominated by the largest
    rates); ``weight`` broadcasts."""
    return (torch.asinh(field(None, y) * weight / floor) - torch.asinh(rates * weight / floor)).abs().mean() * floor


def time_weight(dataset, y_scale: torch.Tensor) -> torch.Tensor:
    """``(t - t0) / y_scale`` ``(1, T, n)``: a rate error times this is the scaled state error it
    builds up since the start."""
    return ((dataset.t - dataset.t0).view(1, -1, 1) / y_scale).to(dataset.y.dtype)


PRUNE_FLOOR = 1e-6  # weighted residual below which any fit counts as exact
MAX_PRUNED_LIBRARY = 60


@torch.no_grad()
def prune_reactions(network: MassActionNetwork, y: torch.Tensor, rates: torch.Tensor, weight: torch.Tensor,
                    allowance: float, **fit) -> list[dict]:
    """Backward elimination: switch off, one at a time, the reaction whose removal raises the
    least-squares residual least, while it stays within ``(1 + allowance)`` times the full
    library's (or below ``PRUNE_FLOOR``); the remaining reactions are refitted. Many exact fits
    exist on data that lie on a manifold (Robertson's ``A + B + C = 1`` makes ``A^2 + AB + AC``
    equal ``A`` there); this picks a small one. ``O(R^2)`` fits (``fit``: the further arguments of
    :func:`solve_stoichiometry`): libraries of at most ``MAX_PRUNED_LIBRARY`` reactions. Returns one
    history row per removal."""
    if int(network.active.sum()) > MAX_PRUNED_LIBRARY:
        raise ConfigError(f"derivatives.prune: {int(network.active.sum())} candidate reactions, at most "
                          f"{MAX_PRUNED_LIBRARY} can be pruned; set prune = 0 or use fewer reactions")
    original = {k: v.clone() for k, v in network.state_dict().items()}
    limit = max((1 + allowance) * solve_stoichiometry(network, y, rates, weight, **fit), PRUNE_FLOOR)
    history = []
    while int(network.active.sum()) > 1:
        best = None
        for j in torch.nonzero(network.active > 0).flatten().tolist():
            network.load_state_dict(original)
            network.active[j] = 0
            residual = solve_stoichiometry(network, y, rates, weight, **fit)
            if residual <= limit and (best is None or residual < best[1]):
                best = (j, residual)
        network.load_state_dict(original)
        if best is None:
            break
        network.active[best[0]] = 0
        original = {k: v.clone() for k, v in network.state_dict().items()}
        history.append({"step": len(history) + 1, "loss": best[1], "removed": best[0]})
    network.load_state_dict(original)
    solve_stoichiometry(network, y, rates, weight, **fit)
    return history


def mass_action_core(field) -> MassActionNetwork | None:
    """The mass-action network in ``field`` (itself or the one a conservation wrapper holds)."""
    inner = getattr(field, "inner", field)
    return inner if isinstance(inner, MassActionNetwork) else None


def target_jacobian(dataset, index: torch.Tensor) -> torch.Tensor:
    """``df/dy`` ``(N, T, n, n)`` of the mechanism stored in ``dataset`` at the states of trajectories ``index``."""
    mechanism = dataset_mechanism(dataset)
    y = dataset.y[index]
    with torch.no_grad():
        return mechanism.jacobian(dataset.t[0], y.to(mechanism.stoichiometry.dtype)).to(y.dtype)


def match_derivatives(field, dataset, index: torch.Tensor, y_scale: torch.Tensor, settings) -> list[dict]:
    """The derivative-matching stage on trajectories ``index``: for a mass-action network the
    least-squares stoichiometry (:func:`solve_stoichiometry`; with ``settings.jacobian`` matching the
    mechanism's Jacobian too, ``settings.signs`` and ``settings.threshold`` passed on), then optional
    pruning and a refit; otherwise ``settings.epochs`` Adam steps on :func:`derivative_loss` (cosine
    learning rate from ``settings.lr``), keeping the best state. Returns one ``{"step", "loss",
    "source"}`` per step."""
    rates, used = target_rates(dataset, index, settings.source)
    y = dataset.y[index]
    weight = time_weight(dataset, y_scale).expand_as(y)
    network = mass_action_core(field)
    fit = {"signs": settings.signs, "threshold": settings.threshold}
    if network is None and (settings.jacobian or settings.signs or settings.threshold > 0):
        raise ConfigError("derivatives.jacobian, signs and threshold apply to network.name = 'mass_action' only; "
                          "remove them for this network")
    if settings.jacobian and used != "mechanism":
        raise ConfigError(f"{dataset.path}: derivatives.jacobian = true needs the Jacobian of the mechanism stored "
                          "in the dataset, but the rates come from the data; set source = 'mechanism' or jacobian = false")
    if network is not None:
        n = y.shape[-1]
        flat = (y.reshape(-1, n), rates.reshape(-1, n), weight.reshape(-1, n))
        jacobian = target_jacobian(dataset, index).reshape(-1, n, n) if settings.jacobian else None
        history = [{"step": 0, "loss": solve_stoichiometry(network, *flat, jacobian, **fit), "source": used}]
        if settings.prune > 0:
            history += prune_reactions(network, *flat, allowance=settings.prune, jacobian=jacobian, **fit)
        return history
    parameters = [p for p in field.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.epochs, 1),
                                                          eta_min=settings.lr * 1e-2)
    history, best, best_state = [], float("inf"), None
    for step in range(settings.epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = derivative_loss(field, y, rates, weight)
        if not torch.isfinite(loss):
            raise ConfigError(f"derivative matching: the loss became {float(loss)} at step {step}; lower derivatives.lr")
        loss.backward()
        optimizer.step()
        schedule.step()
        value = float(loss.detach())
        history.append({"step": step, "loss": value, "source": used})
        if value < best:
            best, best_state = value, {k: v.detach().clone() for k, v in field.state_dict().items()}
    if best_state is not None:
        field.load_state_dict(best_state)
    return history
