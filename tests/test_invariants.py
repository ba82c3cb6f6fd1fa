"""Linear invariants of mass-action stoichiometries, in exact arithmetic."""

import torch
from hypothesis import given, settings, strategies as st

import kinetix
from kinetix.mass_action.invariants import Invariants


def test_robertson_conserves_total_mass_with_b_dependent():
    mech = kinetix.load_mechanism("robertson")
    assert mech.invariants.tensor().tolist() == [[1.0, 1.0, 1.0]]
    assert [mech.species[k] for k in mech.invariants.dependent] == ["B"]


def test_pollu_has_three_conserved_quantities():
    mech = kinetix.load_mechanism("pollu")
    matrix = mech.invariants.tensor()
    assert matrix.shape == (3, 20)
    assert torch.equal(matrix @ mech.stoichiometry, torch.zeros(3, 25, dtype=torch.float64))
    assert torch.linalg.matrix_rank(torch.cat([mech.stoichiometry, matrix.T], dim=1)) == 20


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-2, 2), min_size=5, max_size=5), min_size=0, max_size=6))
def test_invariants_span_the_left_null_space(columns):
    """Exact (in rationals): C S = 0, rank(C) + rank(S) = n, C = I on the dependent species; and
    the completion keeps C x = 0 for any x, to rounding."""
    stoichiometry = torch.tensor(columns, dtype=torch.float64).reshape(-1, 5).T
    invariants = Invariants.of(stoichiometry)
    rank = int(torch.linalg.matrix_rank(stoichiometry)) if stoichiometry.shape[1] else 0
    assert len(invariants) == 5 - rank
    for row, k in zip(invariants.matrix, invariants.dependent):
        assert all(sum(c * int(s) for c, s in zip(row, column)) == 0 for column in columns)
        assert [row[j] for j in invariants.dependent] == [int(j == k) for j in invariants.dependent]
    if len(invariants):
        x = torch.tensor([3.0, -1.0, 2.0, 5.0, 7.0], dtype=torch.float64)
        kept = invariants.tensor() @ (invariants.completion() @ x)
        assert kept.abs().max() <= 1e-14 * float(x.abs().sum())
