"""Ignition delays (time of the largest dT/dt): kinetix's stiff solver on the torch reactor, and
the ``cantera`` solver through the same pipeline, against Cantera's ReactorNet stepped on its own."""

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from kinetix.data.conditions import find_peaks, log_times  # noqa: E402
from cantera_reference import ignition_delay  # noqa: E402

TOLERANCE = 1e-3  # the target: 0.1 %
SEARCH = log_times(1e-7, 0.1, 50)


def kinetix_delays(source, fuel, temperatures, **solver):
    """Ignition delays [s] of one batch (one solve per pass) at phi = 1 in air, 1 atm."""
    mech = kinetix.load_mechanism(f"cantera:{source}")
    batch = mech.with_conditions([{"temperature": T, "equivalence_ratio": 1.0, "fuel": fuel} for T in temperatures])
    return find_peaks(batch.mechanism, batch.y0, "T", SEARCH, **solver).time


def cantera_delays(source, fuel, temperatures):
    return np.array([ignition_delay(source, T, ct.one_atm, equivalence_ratio=1.0, fuel=fuel) for T in temperatures])


@pytest.fixture(scope="module")
def h2_air():
    temperatures = [1000.0, 1150.0, 1300.0]
    return temperatures, cantera_delays("h2o2.yaml", "H2", temperatures)


def test_h2_air_kinetix_matches_cantera(h2_air):
    """rodas5p at the generator's default tolerances (rtol 1e-8, atol 1e-12)."""
    temperatures, reference = h2_air
    ours = kinetix_delays("h2o2.yaml", "H2", temperatures, method="rodas5p", rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(ours / reference - 1) <= TOLERANCE), ours / reference - 1
    assert reference[0] > 5 * reference[-1]  # the range spans the induction chemistry's sensitivity


def test_h2_air_cantera_solver_matches_cantera(h2_air):
    """The pipeline with Cantera's integrator (``method="cantera"``) reproduces the independent
    reference; with a tight atol (radicals start at zero) to a few 1e-7."""
    temperatures, reference = h2_air
    ours = kinetix_delays("h2o2.yaml", "H2", temperatures, method="cantera", rtol=1e-10, atol=1e-16)
    assert np.all(np.abs(ours / reference - 1) <= 1e-5), ours / reference - 1


@pytest.mark.slow
def test_ch4_air_kinetix_matches_cantera():
    temperatures = [1400.0, 1600.0, 1800.0]
    reference = cantera_delays("gri30.yaml", "CH4", temperatures)
    ours = kinetix_delays("gri30.yaml", "CH4", temperatures, method="rodas5p", rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(ours / reference - 1) <= TOLERANCE), ours / reference - 1


def test_peak_of_a_known_curve():
    """The refinement finds the maximum of a smooth pulse to round-off: dT/dt = exp(-((t - 1)/w)^2)
    as a two-component system y = [T, t] (dt/dt = 1), whose T-rate peaks at t = 1 exactly."""

    class Pulse(kinetix.Mechanism):
        name = "pulse"
        state_names = ("T", "t")
        time_span = (0.0, 10.0)

        def rhs(self, t, y):
            return torch.stack([torch.exp(-(((y[..., 1] - 1.0) / 0.01) ** 2)), torch.ones_like(y[..., 1])], dim=-1)

        def initial_state(self):
            return torch.zeros(2, dtype=torch.float64)

        def default_times(self):
            return torch.linspace(0.0, 10.0, 11, dtype=torch.float64)

        def content(self):
            return b"pulse"

    peaks = find_peaks(Pulse(), torch.zeros(3, 2, dtype=torch.float64), "T", log_times(1e-3, 10.0, 20), rtol=1e-10,
                       atol=1e-14)
    np.testing.assert_allclose(peaks.time, 1.0, rtol=1e-9)
    half = 0.01 * np.sqrt(np.log(2.0))  # where the pulse is half its peak
    np.testing.assert_allclose(peaks.low, 1.0 - half, rtol=1e-4)
    np.testing.assert_allclose(peaks.high, 1.0 + half, rtol=1e-4)
