"""The exact linear invariants of a Cantera reactor: element amounts per unit mass.

Every reaction balances its elements, so in a closed reactor with state ``y = [T, Y_1 .. Y_K]``
the amount of each element ``e`` per unit mass, ``sum_k a_ek Y_k / W_k`` [kmol/kg] (``a_ek`` atoms
of ``e`` in species ``k``, ``W_k`` [kg/kmol]), stays constant at constant pressure and at constant
volume alike. These are the reactor's ``invariants``, in the form mass-action mechanisms give theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cantera as ct
import numpy as np
import torch
from kinetix import MechanismError

from .source import _first_lines, describe, open_solution

DEFINITION_SEPARATOR = "\n---\n"  # between a reactor's mechanism YAML and its settings (ReactorMechanism.content)


@dataclass(frozen=True)
class ElementInvariants:
    """Conserved element amounts ``C`` ``(m, K+1)`` of states ``[T, Y]``: row ``i`` is
    ``[0, a_e1/W_1, .., a_eK/W_K]`` [kmol/kg] for element ``elements[i]``.

    Elements that no species carries are left out, and so is every element whose composition row
    is a combination of those before it (in the mechanism's order), so the rows are independent.
    """

    elements: tuple[str, ...]
    amounts: tuple[tuple[float, ...], ...]  # (m, K): kmol of the element per kg of each species

    @classmethod
    def of(cls, source, species=None) -> "ElementInvariants":
        """The invariants of a mechanism ``source`` (a YAML name, a path or a ``cantera.Solution``),
        over all its species or over the names in ``species`` (columns in that order)."""
        solution = open_solution(source)
        names = list(solution.species_names if species is None else species)
        unknown = [name for name in names if name not in solution.species_names]
        if unknown:
            raise MechanismError(f"{describe(source)}: no species {', '.join(map(repr, unknown))} in the mechanism; "
                                 f"its species are {', '.join(solution.species_names)}")
        atoms = np.array([[solution.n_atoms(name, element) for name in names]
                          for element in solution.element_names], dtype=float)          # (E, K)
        kept: list[int] = []
        for e in range(len(atoms)):
            if np.linalg.matrix_rank(atoms[kept + [e]]) == len(kept) + 1:
                kept.append(e)
        if not kept:
            raise MechanismError(f"{describe(source)}: no species carries an element, so no element amounts are "
                                 "conserved; give the species their composition")
        weights = np.array([solution.molecular_weights[solution.species_index(name)] for name in names])
        amounts = atoms[kept] / weights
        return cls(tuple(solution.element_names[e] for e in kept), tuple(tuple(map(float, row)) for row in amounts))

    @classmethod
    def of_definition(cls, definition: str) -> "ElementInvariants":
        """The invariants of a mechanism's canonical YAML, or of the reactor whose
        :meth:`ReactorMechanism.content` is ``definition`` (a dataset's ``mechanism_definition``)."""
        mechanism_yaml = definition.rsplit(DEFINITION_SEPARATOR, 1)[0]
        try:
            solution = ct.Solution(yaml=mechanism_yaml)
        except ct.CanteraError as error:
            raise MechanismError(f"the stored Cantera mechanism definition does not load: {_first_lines(str(error))}"
                                 ) from None
        return cls.of(solution)

    def __len__(self) -> int:
        return len(self.elements)

    def tensor(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``C`` ``(m, K+1)``, zero in the temperature column."""
        amounts = torch.tensor(self.amounts, dtype=dtype)
        return torch.cat([torch.zeros(len(self), 1, dtype=dtype), amounts], dim=1)
