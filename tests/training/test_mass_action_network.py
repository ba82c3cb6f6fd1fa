"""Mass-action network, conservation wrapper, derivative matching and mechanism export, checked
against the Robertson mechanism itself (tests/references.py) and scipy."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import kinetix
from kinetix.errors import ConfigError
from kinetix.networks import ConservedField, MassActionNetwork
from kinetix.networks.export import mechanism_text
from kinetix.networks.mass_action import library

from references import robertson_rhs

pytest.importorskip("kinetix_trainers")
from kinetix_trainers.config import parse_config  # noqa: E402
from kinetix_trainers.derivatives import solve_stoichiometry, spline_rates, time_weight  # noqa: E402

SPECIES = ("A", "B", "C")


def robertson_network() -> MassActionNetwork:
    """Robertson's three reactions written into a mass-action network by hand (y_scale 1)."""
    net = MassActionNetwork(3, reactions=3)
    with torch.no_grad():
        net.order.copy_(torch.tensor([[1.0, 0, 0], [0, 2, 0], [0, 1, 1]]))
        net.log_rate.copy_(torch.log(torch.tensor([0.04, 3e7, 1e4], dtype=torch.float64)))
        net.stoichiometry.copy_(torch.tensor([[-1.0, 0, 1], [1, -1, -1], [0, 1, 0]]))
    return net


def test_field_is_mass_action_and_jacobian_matches_autograd():
    net = robertson_network()
    y = torch.tensor([[0.7, 2e-5, 0.3], [0.2, 1e-6, 0.8]], dtype=torch.float64)
    expected = np.stack([robertson_rhs(0.0, row) for row in y.numpy()])
    np.testing.assert_allclose(net(None, y).detach().numpy(), expected, rtol=1e-10, atol=1e-15)
    jac = torch.func.vmap(torch.func.jacrev(lambda x: net(None, x)))(y)
    torch.testing.assert_close(net.jacobian(None, y), jac, rtol=1e-9, atol=1e-12)


def test_species_at_or_below_zero_stay_finite():
    net = MassActionNetwork(3, library_order=2)
    with torch.no_grad():
        net.stoichiometry.normal_()
    y = torch.tensor([[1.0, 0.0, -1e-3], [1.0, -1e-300, 0.0]], dtype=torch.float64)
    assert torch.isfinite(net(None, y)).all() and torch.isfinite(net.jacobian(None, y)).all()
    y.requires_grad_(True)
    net(None, y).sum().backward()
    assert torch.isfinite(y.grad).all() and all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_library_enumerates_monomials():
    exponents = library(3, 2)
    assert exponents.shape == (9, 3) and set(exponents.sum(dim=1).tolist()) == {1.0, 2.0}
    assert len({tuple(row) for row in exponents.tolist()}) == 9
    assert len(library(20, 2)) == 20 + 20 * 21 // 2


def test_conserved_field_keeps_invariants_along_a_solve():
    torch.manual_seed(0)
    wrapped = ConservedField({"name": "mlp", "config": {"n_species": 3, "width": 4, "depth": 2}},
                             invariants=[[1.0, 1.0, 1.0]], weights=[1.0, 3.6e-5, 1.0])
    y0 = torch.tensor([[0.9, 0.0, 0.1]], dtype=torch.float64)
    assert abs(float(wrapped(None, y0).detach().sum())) < 1e-15
    ys = kinetix.solve(wrapped, y0, torch.linspace(0, 5, 6, dtype=torch.float64), rtol=1e-6, atol=1e-9).ys
    torch.testing.assert_close(ys.sum(dim=-1), torch.ones(6, 1, dtype=torch.float64), rtol=0, atol=1e-13)
    jac = torch.func.jacrev(lambda x: wrapped(None, x))(y0[0])
    torch.testing.assert_close(wrapped.jacobian(None, y0)[0], jac, rtol=1e-9, atol=1e-12)
    with pytest.raises(ConfigError, match="linearly dependent"):
        ConservedField({"name": "mlp", "config": {"n_species": 3}}, invariants=[[1, 1, 1], [2, 2, 2]])


def test_least_squares_stoichiometry_recovers_robertson_from_its_rates():
    t = np.logspace(-5, 5, 50)
    sol = solve_ivp(robertson_rhs, (0, 1e5), [1.0, 0, 0], t_eval=t, method="Radau", rtol=1e-10, atol=1e-14)
    y = torch.as_tensor(sol.y.T)
    rates = torch.as_tensor(np.stack([robertson_rhs(0, row) for row in sol.y.T]))
    net = MassActionNetwork(3, library_order=2, input_scale=y.abs().amax(dim=0))
    weight = (torch.as_tensor(t).unsqueeze(-1) / y.abs().amax(dim=0)).expand_as(y)
    residual = solve_stoichiometry(net, y, rates, weight)
    assert residual < 1e-9
    ys = kinetix.solve(net, torch.tensor([1.0, 0, 0], dtype=torch.float64),
                       torch.as_tensor(np.concatenate([[0.0], t])), rtol=1e-8, atol=1e-12).ys[1:]
    error = ((ys.detach() - y).abs() / y.abs().amax(dim=0)).mean()
    assert error < 1e-6


def test_spline_rates_follow_an_exponential_on_log_and_linear_grids():
    for t in (torch.logspace(-3, 1, 40, dtype=torch.float64), torch.linspace(0, 4, 40, dtype=torch.float64)):
        y = torch.exp(-t).view(1, -1, 1)
        rates = spline_rates(t, y, 0.0)[0, :, 0]
        inner = slice(3, -3)
        torch.testing.assert_close(rates[inner], -torch.exp(-t)[inner], rtol=2e-2, atol=1e-4)


def test_exported_mechanism_loads_and_reproduces_the_field(tmp_path):
    net = robertson_network()
    text = mechanism_text(net, SPECIES, name="learned", units={"time": "s"}, times=[1e-5, 1e-4, 1e-3],
                          initial_state=[1.0, 0.0, 0.0])
    path = tmp_path / "learned.yaml"
    path.write_text(text)
    mech = kinetix.load_mechanism(path)
    y = torch.tensor([[0.7, 2e-5, 0.3]], dtype=torch.float64)
    torch.testing.assert_close(mech.rhs(None, y), net(None, y).detach(), rtol=1e-7, atol=0)
    assert sorted(r.rate_constant for r in mech.spec.reactions) == pytest.approx([0.04, 1e4, 3e7])


def test_time_weight_and_new_settings_parse():
    config = parse_config({"network": {"name": "mass_action", "conserve": "mechanism", "options": {"library_order": 2}},
                           "derivatives": {"source": "data"}})
    assert config.network.options == {"library_order": 2}
    with pytest.raises(ConfigError, match="network.options: expected a table"):
        parse_config({"network": {"options": {"x": [1, 2]}}})
    with pytest.raises(ConfigError, match="derivatives.source: got 'spline'"):
        parse_config({"derivatives": {"source": "spline"}})

    class Data:
        t = torch.tensor([1.0, 2.0], dtype=torch.float64)
        t0 = 0.0
        y = torch.zeros(1, 2, 2, dtype=torch.float64)

    torch.testing.assert_close(time_weight(Data, torch.tensor([1.0, 2.0], dtype=torch.float64))[0],
                               torch.tensor([[1.0, 0.5], [2.0, 1.0]], dtype=torch.float64))


@pytest.mark.slow
def test_robertson_surrogate_from_smoothed_data_is_accurate(tmp_path):
    """The shipped mass-action config on one Robertson trajectory, judged independently."""
    from pathlib import Path

    from kinetix.data.generate import generate_dataset
    from kinetix.evaluation import evaluate_surrogate
    from kinetix.training import read_config
    from kinetix_trainers import StiffTrainer

    data = generate_dataset(kinetix.load_mechanism("robertson"), tmp_path / "r.h5", trajectories=1, progress=False)
    config = read_config(Path(__file__).resolve().parents[2] / "docs" / "examples" / "robertson-mass-action.toml")
    surrogate = StiffTrainer(config).train(kinetix.load_dataset(data), tmp_path / "run", progress=False)
    assert evaluate_surrogate(surrogate, kinetix.load_dataset(data))["scaled_mae"] < 1e-3


def test_mechanism_settings_without_a_stored_mechanism_are_named():
    from kinetix_trainers.derivatives import target_rates
    from kinetix_trainers.fields import invariants

    class Foreign:
        path = "foreign.h5"
        metadata = {"mechanism_definition": "not a kinetix mechanism"}
        t = torch.tensor([1.0, 2.0], dtype=torch.float64)
        t0 = 0.0
        y = torch.ones(1, 2, 3, dtype=torch.float64)

    with pytest.raises(ConfigError, match="foreign.h5: network.conserve = 'mechanism' needs"):
        invariants(Foreign)
    with pytest.raises(ConfigError, match="foreign.h5: derivatives.source = 'mechanism' but"):
        target_rates(Foreign, torch.tensor([0]), "mechanism")


def test_a_conserved_mass_action_surrogate_saves_and_loads(tmp_path):
    from kinetix.surrogate import Surrogate, build_network

    network = {"name": "conserved", "config": {"inner": {"name": "mass_action", "config": {
        "n_species": 3, "reactions": 9, "library_order": 2, "eps": 1e-12}}, "invariants": [[1.0, 1.0, 1.0]],
        "weights": [1.0, 3.6e-5, 1.0]}}
    field = build_network(network, input_scale=torch.tensor([1.0, 3.6e-5, 1.0], dtype=torch.float64))
    with torch.no_grad():
        field.inner.stoichiometry.normal_()
    Surrogate(field, network, SPECIES, {"y0": [1.0, 0.0, 0.0], "t": [1.0]}).save(tmp_path / "s")
    loaded = Surrogate.load(tmp_path / "s").field
    y = torch.tensor([[0.7, 2e-5, 0.3]], dtype=torch.float64)
    torch.testing.assert_close(loaded(None, y), field(None, y), rtol=0, atol=0)
    assert abs(float(loaded(None, y).detach().sum())) < 1e-15
