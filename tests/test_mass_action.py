"""Compiled mass-action mechanisms against hand-written implementations of their papers."""

import numpy as np
import pytest
import torch

import references as ref


def random_states(n, count, seed, scale):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(count, n)) * scale


@pytest.mark.parametrize("name, rhs", [("robertson", ref.robertson_rhs), ("pollu", ref.pollu_rhs)])
def test_rhs_equals_hand_written(name, rhs, request):
    mech = request.getfixturevalue(name)
    scale = np.array([1.0, 4e-5, 1.0]) if name == "robertson" else 0.3
    states = random_states(mech.n_state, 200, 1, scale)
    ours = mech.rhs(torch.tensor(0.0), torch.from_numpy(states)).numpy()
    for state, value in zip(states, ours):
        expected = rhs(0.0, state)
        # relative to the size of the terms that are summed, so cancellation does not hide errors;
        # a dependent species (kept by an invariant) is summed from the other species' rates
        magnitude = np.abs(mech.stoichiometry.numpy()) @ np.abs(mech.rates_of_progress(torch.from_numpy(state)).numpy())
        for row, k in zip(np.abs(mech.invariants.tensor().numpy()), mech.invariants.dependent):
            magnitude[k] = row @ magnitude
        assert np.all(np.abs(value - expected) <= 1e-14 * magnitude + 1e-300)


def test_pollu_species_and_defaults(pollu):
    assert pollu.species == ref.POLLU_SPECIES
    np.testing.assert_array_equal(pollu.initial_state().numpy(), ref.POLLU_Y0)
    np.testing.assert_allclose(pollu.rate_constants.numpy(), ref.POLLU_K, rtol=0)
    t = pollu.default_times().numpy()
    assert t.shape == (20,) and t[0] == 0 and t[-1] == 60 and np.allclose(np.diff(t), 60 / 19)
    assert pollu.units == {"time": "min", "state": "ppm"}


def test_robertson_defaults(robertson):
    assert robertson.species == ("A", "B", "C")
    np.testing.assert_array_equal(robertson.initial_state().numpy(), [1.0, 0.0, 0.0])
    t = robertson.default_times().numpy()
    assert t.shape == (50,) and np.isclose(t[0], 1e-5) and np.isclose(t[-1], 1e5)
    assert np.allclose(np.diff(np.log10(t)), 10 / 49)
    assert robertson.time_span == (0.0, 1e5)


@pytest.mark.parametrize("name, jac", [("robertson", ref.robertson_jac), ("pollu", ref.pollu_jac)])
def test_jacobian_matches_hand_written_and_finite_differences(name, jac, request):
    mech = request.getfixturevalue(name)
    states = torch.from_numpy(random_states(mech.n_state, 20, 2, 0.5))
    ours = mech.jacobian(torch.tensor(0.0), states)
    assert ours.shape == (20, mech.n_state, mech.n_state)
    for state, matrix in zip(states, ours):
        np.testing.assert_allclose(matrix.numpy(), jac(0.0, state.numpy()), rtol=1e-13, atol=1e-13 * float(matrix.abs().max()))
        eps = 1e-6 * max(1.0, float(state.abs().max()))
        columns = [(mech.rhs(0, state + eps * e) - mech.rhs(0, state - eps * e)) / (2 * eps)
                   for e in torch.eye(mech.n_state, dtype=torch.float64)]
        fd = torch.stack(columns, dim=-1)
        np.testing.assert_allclose(matrix.numpy(), fd.numpy(), rtol=1e-6, atol=1e-7 * float(matrix.abs().max()))


def test_batched_shapes_and_negative_states(robertson):
    y = torch.randn(4, 5, 3, dtype=torch.float64)  # slightly negative states happen inside solvers
    assert robertson.rhs(0.0, y).shape == (4, 5, 3)
    assert robertson.jacobian(0.0, y).shape == (4, 5, 3, 3)
    assert torch.isfinite(robertson.rhs(0.0, y)).all()
    flat = robertson.rhs(0.0, y.reshape(-1, 3)).reshape(4, 5, 3)
    torch.testing.assert_close(flat, robertson.rhs(0.0, y), rtol=0, atol=0)


def test_gradient_with_respect_to_rate_constants(robertson):
    robertson.rate_constants.requires_grad_(True)
    y = torch.tensor([0.7, 2e-5, 0.3], dtype=torch.float64)
    dydt = robertson.rhs(0.0, y)
    (grad,) = torch.autograd.grad(dydt[1], robertson.rate_constants)
    # dy2/dt = k1 y1 - k2 y2^2 - k3 y2 y3
    np.testing.assert_allclose(grad.numpy(), [0.7, -(2e-5) ** 2, -2e-5 * 0.3], rtol=1e-15)


def test_fractional_orders_use_autodiff_jacobian():
    from kinetix.mass_action import MassActionMechanism, parse_spec

    spec = parse_spec("""
kinetix-mechanism: 1
name: frac
species: [A, B]
reactions:
  - {equation: A => B, rate_constant: 2.0, orders: {A: 0.5}}
time: {span: [0, 1], grid: {points: 3}}
""")
    mech = MassActionMechanism(spec)
    y = torch.tensor([0.25, 0.1], dtype=torch.float64)
    np.testing.assert_allclose(mech.rhs(0, y).numpy(), [-1.0, 1.0])
    # d/dA (2 sqrt(A)) = 1/sqrt(A) = 2
    np.testing.assert_allclose(mech.jacobian(0, y).numpy(), [[-2.0, 0.0], [2.0, 0.0]])


def test_content_hash_tracks_the_file(robertson, tmp_path):
    import kinetix

    text = robertson.content().decode()
    changed = tmp_path / "r.yaml"
    changed.write_text(text.replace("rate_constant: 0.04", "rate_constant: 0.05"))
    other = kinetix.load_mechanism(changed)
    assert other.content_hash() != robertson.content_hash()
    assert len(robertson.content_hash()) == 64

