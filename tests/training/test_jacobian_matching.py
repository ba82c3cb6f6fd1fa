"""Matching the mechanism's Jacobian as well as its rates: a stiff toy whose fast intermediate sits
in quasi-steady state on the data, checked against the toy's own coefficients and scipy."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import kinetix
from kinetix.errors import ConfigError
from kinetix.networks import MassActionNetwork

pytest.importorskip("kinetix_trainers")
from kinetix_trainers.stoichiometry import fit_columns, solve_stoichiometry  # noqa: E402

# A => B (k1), A + B => C (k2, fast), C => A (k3): B relaxes within 1 / (k2 A) to k1 / k2, so on the
# data B is constant and the monomials B, AB, B^2, BC are multiples of 1, A, B, C there: the rates
# alone leave the fast direction across B = k1 / k2 undetermined.
K1, K2, K3 = 1.0, 1e4, 0.2
T = np.geomspace(1e-2, 5.0, 30)
INITIAL = ([1.0, 0.0, 0.0], [0.5, 0.0, 0.3], [0.2, 0.0, 0.8])


def toy_rhs(t, y):
    a, b, c = y
    return np.array([-K1 * a - K2 * a * b + K3 * c, K1 * a - K2 * a * b, K2 * a * b - K3 * c])


def toy_jacobian(y):
    a, b, _ = y
    return np.array([[-K1 - K2 * b, -K2 * a, K3], [K1 - K2 * b, -K2 * a, 0], [K2 * b, K2 * a, -K3]])


def reference(y0, t):
    """States ``(len(t), 3)`` from scipy's Radau at tight tolerance."""
    return solve_ivp(toy_rhs, (0, t[-1]), y0, t_eval=t, method="Radau", rtol=1e-11, atol=1e-16,
                     jac=lambda t, y: toy_jacobian(y)).y.T


def true_coefficients(network: MassActionNetwork) -> torch.Tensor:
    """``(n, R)``: the toy's net rate per library monomial, ``dy/dt = sum_j c_j * monomial_j(y)``."""
    coefficients = torch.zeros_like(network.stoichiometry)
    for orders, column in (([1, 0, 0], [-K1, K1, 0]), ([1, 1, 0], [-K2, -K2, K2]), ([0, 0, 1], [K3, 0, -K3])):
        j = int(torch.nonzero((network.orders == torch.tensor(orders, dtype=torch.float64)).all(dim=1))[0])
        coefficients[:, j] = torch.tensor(column, dtype=torch.float64)
    return coefficients


def fitted_coefficients(network: MassActionNetwork) -> torch.Tensor:
    return (network.stoichiometry * network.physical_rate_constants()).detach()


def fit(jacobian: bool, **options):
    y = torch.as_tensor(np.concatenate([reference(y0, T) for y0 in INITIAL]))
    scale = y.abs().amax(dim=0)
    network = MassActionNetwork(3, library_order=2, input_scale=scale)
    rates = torch.as_tensor(np.stack([toy_rhs(0, row) for row in y.numpy()]))
    target = torch.as_tensor(np.stack([toy_jacobian(row) for row in y.numpy()])) if jacobian else None
    weight = (torch.as_tensor(np.tile(T, len(INITIAL))).unsqueeze(-1) / scale).expand_as(y)
    residual = solve_stoichiometry(network, y, rates, weight, target, **options)
    return network, residual


def off_data_error(network: MassActionNetwork) -> float:
    """Scaled MAE from an initial state off the data (B far from its quasi-steady value)."""
    y0 = [0.6, 0.05, 0.2]
    expected = torch.as_tensor(reference(y0, T))
    try:
        ys = kinetix.solve(network, torch.tensor(y0, dtype=torch.float64), torch.as_tensor(np.concatenate([[0.0], T])),
                           rtol=1e-9, atol=1e-13).ys[1:].detach()
    except kinetix.KinetixError:
        return float("inf")
    return float(((ys - expected).abs() / expected.abs().amax(dim=0)).mean())


@pytest.mark.parametrize("options", [{}, {"signs": True, "threshold": 1e-8}])
def test_jacobian_rows_recover_the_toy_mechanism_exactly(options):
    network, residual = fit(jacobian=True, **options)
    truth = true_coefficients(network)
    torch.testing.assert_close(fitted_coefficients(network), truth, rtol=1e-8, atol=1e-8 * float(truth.abs().max()))
    assert residual < 1e-9
    assert off_data_error(network) < 1e-7
    if options:  # thresholding leaves exactly the toy's three monomials
        assert int((network.stoichiometry != 0).any(dim=0).sum()) == 3


def test_rates_alone_fit_the_data_but_not_the_fast_direction():
    network, residual = fit(jacobian=False)
    assert residual < 1e-6  # every data point is matched ...
    error = (fitted_coefficients(network) - true_coefficients(network)).abs().max()
    assert error > 1.0  # ... but the fast reaction A + B => C is not identified
    assert off_data_error(network) > 3e-3  # and the field is wrong off the data (1e-2 against 5e-12)


def test_sign_bounds_let_reactions_consume_only_their_reactants():
    torch.manual_seed(0)
    matrix, target = torch.randn(40, 6, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    lower = torch.tensor([-torch.inf, 0, 0, -torch.inf, 0, 0], dtype=torch.float64)
    bounded = fit_columns(matrix, target, lower)
    assert (bounded[lower == 0] >= 0).all() and (fit_columns(matrix, target)[lower == 0] < 0).any()
    # the bounded optimum: no feasible step along any coordinate lowers the residual
    for j in range(6):
        for step in (1e-6, -1e-6):
            moved = bounded.clone()
            moved[j] += step
            if moved[j] >= lower[j]:
                assert (matrix @ moved - target).norm() >= (matrix @ bounded - target).norm() - 1e-12

    network, _ = fit(jacobian=True, signs=True)
    consumed = network.stoichiometry < 0
    assert not (consumed & (network.orders.T == 0)).any()


def test_jacobian_needs_the_mechanism():
    from kinetix_trainers.config import parse_config
    from kinetix_trainers.derivatives import match_derivatives

    class Data:
        path = "plain.h5"
        metadata = {}
        t = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
        t0 = 0.0
        y = torch.ones(1, 6, 2, dtype=torch.float64)

    settings = parse_config({"derivatives": {"source": "data", "jacobian": True}}).derivatives
    network = MassActionNetwork(2, library_order=1)
    with pytest.raises(ConfigError, match="derivatives.jacobian = true needs the Jacobian"):
        match_derivatives(network, Data, torch.tensor([0]), torch.ones(2, dtype=torch.float64), settings)
    with pytest.raises(ConfigError, match="mass_action' only"):
        match_derivatives(torch.nn.Linear(2, 2), Data, torch.tensor([0]), torch.ones(2, dtype=torch.float64), settings)


@pytest.mark.slow
def test_shipped_pollu_config_recovers_pollu_from_one_trajectory(tmp_path):
    """docs/examples/pollu-mass-action.toml on one POLLU trajectory, judged independently; the 21
    rate laws of POLLU's 25 reactions (four pairs share one) are the only ones left."""
    from pathlib import Path

    from kinetix.data.generate import generate_dataset
    from kinetix.evaluation import evaluate_surrogate
    from kinetix.training import read_config
    from kinetix_trainers import StiffTrainer

    data = generate_dataset(kinetix.load_mechanism("pollu"), tmp_path / "p.h5", trajectories=1, progress=False)
    config = read_config(Path(__file__).resolve().parents[2] / "docs" / "examples" / "pollu-mass-action.toml")
    surrogate = StiffTrainer(config).train(kinetix.load_dataset(data), tmp_path / "run", progress=False)
    assert evaluate_surrogate(surrogate, kinetix.load_dataset(data))["scaled_mae"] < 1e-8
    assert int((surrogate.field.stoichiometry != 0).any(dim=0).sum()) == 21
