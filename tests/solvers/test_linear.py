"""The solvers' linear algebra: the elimination a compiled program uses against LAPACK's inverse."""

import torch
from hypothesis import given, settings, strategies as st

from kinetix.solvers.linear import gauss_jordan_inverse


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_gauss_jordan_inverse_matches_lapack(n, seed):
    generator = torch.Generator().manual_seed(seed)
    W = torch.eye(n, dtype=torch.float64) + 0.5 * torch.randn(4, n, n, generator=generator, dtype=torch.float64)
    inverse = gauss_jordan_inverse(W)
    torch.testing.assert_close(inverse, torch.linalg.inv(W), rtol=1e-9, atol=1e-9 * inverse.abs().max().item())


def test_gauss_jordan_inverse_pivots_around_a_zero_diagonal():
    W = torch.tensor([[[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]], dtype=torch.float64)
    expected = torch.tensor([[[0.0, 1.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 1 / 3]]], dtype=torch.float64)
    torch.testing.assert_close(gauss_jordan_inverse(W), expected, rtol=0, atol=1e-16)
