"""The stage combinations of a Rosenbrock step: term by term (the compiled form) equal the batched
products with the stages stacked (the eager form), for every tableau's weights, zeros included."""

import pytest
import torch

from kinetix.solvers.rosenbrock import Rosenbrock, _combined
from kinetix.solvers.tableaus import TABLEAUS


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_term_by_term_equals_the_stacked_product(name):
    method = Rosenbrock(TABLEAUS[name])
    tab, batch, n = method.tableau, 3, 4
    coefficients = method.coefficients(batch, torch.float64, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    ks = [torch.randn(batch, n, 1, dtype=torch.float64, generator=generator) for _ in range(tab.stages)]
    start = torch.randn(batch, n, 1, dtype=torch.float64, generator=generator)
    combinations = [(start, ks[:i], tab.a[i], coefficients["a"][i]) for i in range(1, tab.stages)]
    combinations += [(start, ks[:i], tab.c[i], coefficients["c"][i]) for i in range(1, tab.stages) if any(tab.c[i])]
    combinations += [(start, ks, tab.b, coefficients["b"]), (None, ks, tab.e, coefficients["e"])]
    for first, stages, weights, column in combinations:
        stacked = _combined(first, stages, torch.cat(stages, dim=-1), weights, column)
        torch.testing.assert_close(_combined(first, stages, None, weights, None), stacked, rtol=1e-13, atol=1e-13)
    dense = torch.cat([_combined(None, ks, None, row, None) for row in tab.H], dim=-1)
    torch.testing.assert_close(dense, torch.cat(ks, dim=-1) @ coefficients["H"], rtol=1e-13, atol=1e-13)
