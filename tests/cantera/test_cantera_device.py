"""Device placement: coefficients move with ``.to()``, and the hot paths never read tensor data on the host."""

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from cantera_reference import RATE_ZOO, random_states  # noqa: E402

SOURCES = [("gri30.yaml", dict(equivalence_ratio=1.0, fuel="CH4")), (RATE_ZOO, dict(composition="H2:2, O2:1, AR:4"))]


def test_all_coefficients_are_buffers():
    mech = kinetix_cantera.ReactorMechanism("gri30.yaml", equivalence_ratio=1.0, fuel="CH4")
    assert not list(mech.parameters())
    floating = [b for b in mech.buffers() if b.is_floating_point()]
    assert floating and all(b.dtype == torch.float64 for b in floating)


@pytest.mark.parametrize("reactor", ["const-pressure", "const-volume"])
@pytest.mark.parametrize("source, options", SOURCES)
def test_runs_on_meta_device(source, options, reactor):
    """The meta device holds no data: any host read (``.item()``, ``nonzero``, numpy, Python control
    flow on values) would fail here. Rates, right-hand side and Jacobian must all run."""
    mech = kinetix_cantera.ReactorMechanism(source, reactor, **options).to("meta")
    y = torch.empty(4, mech.n_state, dtype=torch.float64, device="meta")
    t = torch.zeros((), dtype=torch.float64, device="meta")
    assert mech.rhs(t, y).shape == (4, mech.n_state)
    assert mech.jacobian(t, y).shape == (4, mech.n_state, mech.n_state)
    kinetics = mech.kinetics
    T, Y = y[:, 0], y[:, 1:]
    rates = kinetics.rates(T, T, Y)
    assert rates.forward.shape == (4, kinetics.n_reactions) and rates.forward.device.type == "meta"
    assert kinetics.equilibrium_constants(T).device.type == "meta"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("source, options", SOURCES)
def test_cuda_matches_cpu_without_synchronising(source, options):
    mech = kinetix_cantera.ReactorMechanism(source, **options)
    gas = ct.Solution(source)
    T, _, Y = random_states(gas, 64, np.random.default_rng(0), t_range=(900.0, 2500.0))
    y = torch.tensor(np.column_stack([T, Y]))
    t = torch.tensor(0.0, dtype=torch.float64)
    expected = (mech.rhs(t, y), mech.jacobian(t, y))
    mech_cuda, y_cuda, t_cuda = mech.to("cuda"), y.to("cuda"), t.to("cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        results = (mech_cuda.rhs(t_cuda, y_cuda), mech_cuda.jacobian(t_cuda, y_cuda))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for result, reference in zip(results, expected):
        torch.testing.assert_close(result.cpu(), reference, rtol=1e-10, atol=1e-12 * reference.abs().max().item())
