"""Fused products inside a compiled program equal the plain products."""

import operator

import torch

from kinetix.products import addmm, exclusive_products, matmul


def test_exclusive_products_are_the_products_of_the_other_entries():
    x = torch.tensor([[2.0, 3.0, 5.0], [0.0, 7.0, 11.0]], dtype=torch.float64)
    expected = torch.tensor([[15.0, 10.0, 6.0], [77.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(exclusive_products(x), expected)
    assert torch.equal(torch.compile(exclusive_products, fullgraph=True)(x), expected)


def test_compiled_products_equal_the_plain_ones():
    generator = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(*shape, generator=generator, dtype=torch.float64) for shape in ((4, 3, 5), (5, 2), (4, 3, 2)))
    compiled_matmul = torch.compile(matmul, fullgraph=True)
    torch.testing.assert_close(compiled_matmul(a, b), a @ b, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(compiled_matmul(a[0, 0], b), a[0, 0] @ b, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(torch.compile(addmm, fullgraph=True)(c, a, b.expand(4, 5, 2)), c + a @ b,
                               rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(addmm(c, a, b.expand(4, 5, 2)), c + a @ b, rtol=1e-14, atol=1e-14)


def _compiled_targets(rows: torch.Tensor, matrix: torch.Tensor) -> set:
    """The functions a compiled :func:`matmul` of ``rows`` and ``matrix`` calls, checking its value."""
    targets = []

    def recording(graph_module, example_inputs):
        targets.extend(node.target for node in graph_module.graph.nodes if node.op == "call_function")
        return graph_module.forward

    product = torch.compile(matmul, backend=recording, fullgraph=True, dynamic=False)(rows, matrix)
    torch.testing.assert_close(product, rows @ matrix, rtol=1e-14, atol=1e-14)
    assert targets
    return set(targets)


def test_a_batch_of_thousands_of_rows_times_a_small_matrix_is_fused():
    generator = torch.Generator().manual_seed(1)
    rows, matrix = (torch.randn(*shape, generator=generator, dtype=torch.float64) for shape in ((2048, 3), (3, 4)))
    assert not {torch.matmul, torch.bmm, operator.matmul} & _compiled_targets(rows, matrix)


def test_a_large_batch_times_a_medium_matrix_is_left_to_blas():
    # 10,000 states times gri30's third-body efficiencies: 21 million multiply-adds, 4x faster in BLAS
    generator = torch.Generator().manual_seed(2)
    rows, matrix = (torch.randn(*shape, generator=generator, dtype=torch.float64) for shape in ((10_000, 53), (53, 40)))
    assert {torch.matmul, operator.matmul} & _compiled_targets(rows, matrix)
