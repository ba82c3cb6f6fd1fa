"""Gradients of net production rates with respect to temperature and mass fractions."""

import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from cantera_reference import RATE_ZOO  # noqa: E402
from kinetix_cantera.arrhenius import ArrheniusRates  # noqa: E402


@pytest.mark.parametrize("source", ["h2o2.yaml", RATE_ZOO])
def test_gradcheck(source):
    """Temperature enters as a relative perturbation ``T0 (1 + s)`` so that finite differences
    resolve it; mass fractions are positive (fractional orders are not differentiable at zero)."""
    kinetics = kinetix_cantera.Kinetics(source)
    generator = torch.Generator().manual_seed(0)
    T0 = torch.tensor([900.0, 1800.0, 2600.0], dtype=torch.float64)
    P = torch.tensor([0.2, 1.0, 20.0], dtype=torch.float64) * ct.one_atm
    Y = torch.rand(3, kinetics.n_species, dtype=torch.float64, generator=generator) + 0.05
    Y = (Y / Y.sum(-1, keepdim=True)).requires_grad_(True)
    s = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, Y: kinetics.net_production_rates(T0 * (1 + s), P, Y), (s, Y),
                                    eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradients_at_zero_and_negative_mass_fractions():
    """Integer orders: exact and finite where species are absent or slightly negative."""
    kinetics = kinetix_cantera.Kinetics("gri30.yaml")
    gas = ct.Solution("gri30.yaml")
    gas.TPX = 1500.0, ct.one_atm, "CH4:1, O2:2, N2:7.52"
    Y = torch.tensor(gas.Y)
    Y[kinetics.species_names.index("OH")] = -1e-14
    Y.requires_grad_(True)
    T = torch.tensor(1500.0, dtype=torch.float64, requires_grad=True)
    omega = kinetics.net_production_rates(T, ct.one_atm, Y)
    gradient_T, gradient_Y = torch.autograd.grad(omega[kinetics.species_names.index("OH")], (T, Y))
    assert torch.isfinite(gradient_T) and torch.isfinite(gradient_Y).all()
    # d omega_OH / d Y_H is nonzero although H is absent (H + O2 <=> O + OH)
    assert gradient_Y[kinetics.species_names.index("H")] > 0


def test_gradients_with_respect_to_coefficients():
    """Coefficients are buffers: they can be made differentiable, e.g. for sensitivity analysis."""
    kinetics = kinetix_cantera.Kinetics("h2o2.yaml")
    A = next(group for group in kinetics.groups if isinstance(group, ArrheniusRates)).rate.A
    A.requires_grad_(True)
    Y = torch.full((kinetics.n_species,), 0.1, dtype=torch.float64)
    kinetics.net_production_rates(1500.0, ct.one_atm, Y).sum().backward()
    assert A.grad is not None and torch.isfinite(A.grad).all() and A.grad.abs().sum() > 0
