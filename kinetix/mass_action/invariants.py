"""Linear invariants of a stoichiometry, in exact arithmetic.

A row vector ``c`` with ``c S = 0`` is conserved by every mass-action field ``dy/dt = S r``. In
floating point the sums ``S r`` round with the size of the *gross* rates, so a conserved quantity
drifts by ~1e-16 of them each step, which ruins a species that ends orders of magnitude below
them (E5 of the IVP test set: y2 ≈ 9e-23 at t = 1e13). :class:`Invariants` picks one *dependent*
species per invariant and writes its rate as the exact combination of the others, so the
invariants are kept to the rounding of the rates of the species themselves, whatever the order in
which a matrix product sums them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch


def _reduced_null_space(rows: list[list[Fraction]], n: int, order: list[int]) -> tuple[list[list[Fraction]], list[int]]:
    """A basis of ``{c : c S = 0}`` in reduced row-echelon form over the columns in ``order``,
    from ``rows`` = ``S^T`` ``(R, n)``; returns the basis rows and their pivot columns."""
    matrix = [[row[j] for j in order] for row in rows]
    pivots: list[int] = []
    r = 0
    for col in range(n):
        found = next((i for i in range(r, len(matrix)) if matrix[i][col] != 0), None)
        if found is None:
            continue
        matrix[r], matrix[found] = matrix[found], matrix[r]
        lead = matrix[r][col]
        matrix[r] = [value / lead for value in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][col] != 0:
                factor = matrix[i][col]
                matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[r])]
        pivots.append(col)
        r += 1
        if r == len(matrix):
            break
    free = [col for col in range(n) if col not in pivots]
    # null space of S^T (permuted): one vector per free column, free columns last in ``order``
    basis = []
    for f in free:
        vector = [Fraction(0)] * n
        vector[f] = Fraction(1)
        for i, p in enumerate(pivots):
            vector[p] = -matrix[i][f]
        basis.append([Fraction(0)] * n)
        for k, j in enumerate(order):
            basis[-1][j] = vector[k]
    return basis, [order[f] for f in free]


@dataclass(frozen=True)
class Invariants:
    """Conserved linear combinations ``C`` ``(m, n)`` of the species, with dependent species.

    Row ``k`` of ``C`` has coefficient 1 at species ``dependent[k]`` and 0 at the other dependent
    species, so ``dy[dependent] = -dy[independent] @ C[:, independent].T`` keeps ``C dy = 0``.
    """

    matrix: tuple[tuple[Fraction, ...], ...]
    dependent: tuple[int, ...]

    @classmethod
    def of(cls, stoichiometry: torch.Tensor) -> "Invariants":
        """The invariants of ``S`` ``(n, R)``. Species taking part in more reactions are chosen as
        dependent first: their gross rates are the largest, so their rounding covers the others'."""
        n = stoichiometry.shape[0]
        rows = [[Fraction(float(v)) for v in column] for column in stoichiometry.T.tolist()] or [[Fraction(0)] * n]
        participation = (stoichiometry != 0).sum(dim=1).tolist()
        # the last columns of the elimination become the free ones, i.e. the dependent species
        order = sorted(range(n), key=lambda i: (participation[i], -i))
        basis, dependent = _reduced_null_space(rows, n, order)
        return cls(tuple(tuple(row) for row in basis), tuple(dependent))

    def __len__(self) -> int:
        return len(self.dependent)

    def tensor(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``C`` ``(m, n)``."""
        return torch.tensor([[float(v) for v in row] for row in self.matrix], dtype=dtype)

    def completion(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``M`` ``(n, n)``: ``M @ x`` replaces the dependent entries of ``x`` ``(n, ...)`` by minus
        the invariant combination of the independent ones (and keeps the independent entries)."""
        n = len(self.matrix[0]) if self.matrix else 0
        completion = torch.eye(n, dtype=dtype)
        for row, k in zip(self.matrix, self.dependent):
            completion[k] = -torch.tensor([0.0 if i == k else float(v) for i, v in enumerate(row)], dtype=dtype)
            completion[k, list(self.dependent)] = 0.0
        return completion
