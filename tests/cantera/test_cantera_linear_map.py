"""The constant products of the kinetics (stoichiometry, equilibrium constants): dense or CSR, the same numbers."""

import pytest
import torch

pytest.importorskip("cantera")
kinetix_cantera = pytest.importorskip("kinetix_cantera")

from kinetix_cantera.linear_map import SPARSE_ADVANTAGE, LinearMap  # noqa: E402


def sparse_matrix(n_in=400, n_out=300, per_column=3, seed=0):
    """``(n_in, n_out)`` with ``per_column`` small integers in every column, like a stoichiometry."""
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.zeros(n_in, n_out, dtype=torch.float64)
    for j in range(n_out):
        rows = torch.randperm(n_in, generator=generator)[:per_column]
        matrix[rows, j] = torch.randint(-2, 3, (per_column,), generator=generator).double()
    return matrix


def test_dense_or_sparse_by_fill():
    assert LinearMap(sparse_matrix()).sparse  # 0.75 % filled
    dense = torch.ones(53, 325, dtype=torch.float64)
    dense[:, ::SPARSE_ADVANTAGE // 2] = 0
    assert not LinearMap(dense).sparse
    assert not kinetix_cantera.Kinetics("gri30.yaml").production.sparse  # 7 % filled: dense is faster there


def test_sparse_product_equals_dense_with_gradients():
    matrix = sparse_matrix()
    linear = LinearMap(matrix)
    x = torch.randn(5, 7, matrix.shape[0], dtype=torch.float64, requires_grad=True)
    ours = linear(x)
    expected = x @ matrix
    torch.testing.assert_close(ours, expected, rtol=1e-14, atol=1e-13)
    cotangent = torch.randn_like(expected)
    (ours_grad,) = torch.autograd.grad(ours, x, cotangent)
    (expected_grad,) = torch.autograd.grad(expected, x, cotangent)
    torch.testing.assert_close(ours_grad, expected_grad, rtol=1e-14, atol=1e-13)
    torch.testing.assert_close(linear.gather_scatter(x), expected, rtol=1e-14, atol=1e-13)  # the compiled form


def test_dense_where_csr_cannot_go():
    """The meta device, torch.func transforms and a change of dtype all work (dense or a rebuilt CSR)."""
    matrix = sparse_matrix()
    linear = LinearMap(matrix)
    assert linear.to("meta")(torch.empty(3, matrix.shape[0], dtype=torch.float64, device="meta")).shape == (3, 300)
    x = torch.randn(matrix.shape[0], dtype=torch.float64)
    torch.testing.assert_close(torch.func.jacrev(LinearMap(matrix))(x), matrix.T)
    torch.testing.assert_close(torch.func.vmap(LinearMap(matrix))(x[None]), (x @ matrix)[None], rtol=1e-14, atol=1e-13)
    single = LinearMap(matrix).float()
    torch.testing.assert_close(single(x.float()), (x @ matrix).float(), rtol=1e-5, atol=1e-4)
