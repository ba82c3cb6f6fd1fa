"""Analytic partial derivatives of the rate constants (``RateGroup.slopes``) vs reverse-mode autodiff."""

import math

import numpy as np
import pytest
import torch

ct = pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from cantera_reference import RATE_ZOO  # noqa: E402


def autodiff_slopes(kinetics, T, P, third_body):
    """``dk/dT``, ``dk/d[M]`` and ``dk/d ln P`` by forward-mode autodiff: one pass per variable
    (every reaction's rate constant depends on its own ``[M]`` only, so one pass covers them all)."""
    def k(T, log_p, third_body):
        return kinetics._forward_constants(T, torch.exp(log_p), third_body)

    primals = (T, torch.log(P), third_body)
    passes = []
    for i in range(3):
        tangents = tuple(torch.ones_like(x) if j == i else torch.zeros_like(x) for j, x in enumerate(primals))
        value, slope = torch.func.jvp(k, primals, tangents)
        passes.append(slope)
    return value, passes[0], passes[2], passes[1]  # the order of RateSlopes: T, [M], ln P


@pytest.mark.parametrize("source", [RATE_ZOO, "gri30.yaml", "example_data/ammonia-CO-H2-Alzueta-2023.yaml"])
def test_slopes_match_autodiff(source):
    """T 300-3000 K; P from below to above the PLOG and Chebyshev tables (1e-3 to 1e3 atm); [M] from 0."""
    kinetics = kinetix_cantera.Kinetics(source)
    rng = np.random.default_rng(0)
    count = 64
    T = torch.tensor(rng.uniform(300.0, 3000.0, count))
    P = torch.tensor(ct.one_atm * np.exp(rng.uniform(math.log(1e-3), math.log(1e3), count)))
    third_body = torch.tensor(rng.uniform(0.0, 1.0, (count, kinetics.n_reactions)) ** 3)
    third_body[0] = 0.0
    ours = kinetics._forward_constant_slopes(T, P, third_body)
    theirs = autodiff_slopes(kinetics, T, P, third_body)
    for name, value, expected in zip(ours._fields, ours, theirs):
        scale = expected.abs() + 1e-12 * expected.abs().amax(dim=-1, keepdim=True) + 1e-300
        assert ((value - expected).abs() / scale).max() <= 1e-9, name
