"""The adaptive loop: batch members are independent to the last bit, for every method."""

import pytest
import torch

import kinetix


def robertson(t, y):
    """Member by member (no matrix products whose rounding could depend on the batch size)."""
    a, b, c = y.unbind(-1)
    return torch.stack([-0.04 * a + 1e4 * b * c, 0.04 * a - 1e4 * b * c - 3e7 * b * b, 3e7 * b * b], -1)


def robertson_jacobian(t, y):
    a, b, c = y.unbind(-1)
    zero = torch.zeros_like(a)
    return torch.stack([torch.stack([zero - 0.04, 1e4 * c, 1e4 * b], -1),
                        torch.stack([zero + 0.04, -1e4 * c - 6e7 * b, -1e4 * b], -1),
                        torch.stack([zero, 6e7 * b, zero], -1)], -2)


@pytest.mark.parametrize("method", ["rodas5p", "rodas4", "rodas3p", "kvaerno5"])
def test_a_member_alone_and_in_a_batch_agree_to_the_last_bit(method):
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1]], dtype=torch.float64)
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-5, 2, 8, dtype=torch.float64)])
    options = dict(method=method, rtol=1e-7, atol=1e-12, jac=robertson_jacobian, options={"autonomous": True})
    together = kinetix.solve(robertson, y0, t, **options)
    for i in range(3):
        alone = kinetix.solve(robertson, y0[i], t, **options)
        torch.testing.assert_close(together.ys[:, i], alone.ys, rtol=0, atol=0)
        assert together.stats.steps[i] == alone.stats.steps[0]
        assert together.stats.rejected[i] == alone.stats.rejected[0]


@pytest.mark.parametrize("method", ["rodas5p", "kvaerno5"])
def test_systems_larger_than_the_explicit_inverse_are_solved_by_lu(method):
    """40 species (above the size where the stage solves switch to an LU factorisation): a stiff
    linear system against its matrix exponential."""
    generator = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(40, 40, generator=generator, dtype=torch.float64))[0]
    matrix = basis @ torch.diag(-torch.logspace(-1, 4, 40, dtype=torch.float64)) @ basis.T
    y0 = torch.randn(2, 40, generator=generator, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    solution = kinetix.solve(lambda t, y: y @ matrix.T, y0, t, method=method, rtol=1e-10, atol=1e-12,
                             jac=lambda t, y: matrix.expand(*y.shape[:-1], 40, 40), options={"autonomous": True})
    expected = torch.stack([y0 @ torch.linalg.matrix_exp(matrix * time).T for time in t])
    torch.testing.assert_close(solution.ys, expected, rtol=1e-7, atol=1e-9)
