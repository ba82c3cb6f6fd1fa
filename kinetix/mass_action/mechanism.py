"""Mass-action mechanisms compiled to batched torch right-hand sides and analytic Jacobians."""

from __future__ import annotations

from pathlib import Path

import torch

from ..mechanism import Mechanism
from ..products import exclusive_products, matmul
from .format import MechanismSpec, load_spec
from .invariants import Invariants


class MassActionMechanism(Mechanism):
    """``dy/dt = S @ r(y)`` with ``r_j = k_j * prod_i y_i ** order_ij``.

    ``S`` (``(n, R)``) is the net stoichiometric matrix. Integer orders are evaluated as exact
    products (so states slightly below zero, as stiff solvers produce, stay finite); non-integer
    orders use ``max(y, 0) ** order`` and an autodiff Jacobian.

    Conserved linear combinations of the species (:class:`Invariants`) are kept to the rounding of
    the species' own rates: each invariant's dependent species gets its rate from the others', not
    from its own sum of gross rates (the analytic Jacobian is exactly that of this right-hand side).

    Buffers: ``rate_constants`` ``(R,)`` (set ``requires_grad_`` for gradients with respect to
    them), ``stoichiometry`` ``(n, R)``.
    """

    def __init__(self, spec: MechanismSpec, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.spec = spec
        self.name = spec.name
        self.units = dict(spec.units)
        self.metadata = {"description": spec.description, "reference": spec.reference, "source": spec.source}
        index = {name: i for i, name in enumerate(spec.species)}
        n, n_reactions = len(spec.species), len(spec.reactions)

        stoichiometry = torch.zeros(n, n_reactions, dtype=dtype)
        slots: list[list[int]] = []
        fractional = torch.zeros(n_reactions, n, dtype=dtype)
        for j, reaction in enumerate(spec.reactions):
            for name, coef in reaction.reactants.items():
                stoichiometry[index[name], j] -= coef
            for name, coef in reaction.products.items():
                stoichiometry[index[name], j] += coef
            row: list[int] = []
            for name, order in reaction.orders.items():
                whole = int(order)
                row += [index[name]] * whole
                fractional[j, index[name]] = order - whole
            slots.append(row)
        width = max(1, max(len(row) for row in slots))
        slot_index = torch.full((n_reactions, width), n, dtype=torch.long)  # n = the constant 1
        for j, row in enumerate(slots):
            slot_index[j, : len(row)] = torch.tensor(row, dtype=torch.long)
        slot_species = torch.zeros(n_reactions, width, n + 1, dtype=dtype)
        slot_species.scatter_(2, slot_index.unsqueeze(-1), 1.0)

        self.register_buffer("rate_constants", torch.tensor([r.rate_constant for r in spec.reactions], dtype=dtype))
        self.register_buffer("stoichiometry", stoichiometry)
        self.register_buffer("_stoichiometry_t", stoichiometry.T.contiguous(), persistent=False)
        self.invariants = Invariants.of(stoichiometry)
        completion = self.invariants.completion(dtype).T.contiguous() if len(self.invariants) else None
        self.register_buffer("_completion_t", completion, persistent=False)
        self.register_buffer("_slot_index", slot_index, persistent=False)
        self.register_buffer("_slot_species", slot_species[..., :n].contiguous(), persistent=False)
        self.has_fractional_orders = bool((fractional != 0).any())
        self.register_buffer("_fractional_orders", fractional, persistent=False)
        initial = [spec.initial_state.get(name, 0.0) for name in spec.species]
        self.register_buffer("_initial", torch.tensor(initial, dtype=dtype), persistent=False)

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.spec.species

    @property
    def time_span(self) -> tuple[float, float]:
        return self.spec.time_span

    def _factors(self, y: torch.Tensor) -> torch.Tensor:
        """Reactant factors ``(..., R, width)``: ``y`` at each order slot, 1 in unused slots."""
        return torch.nn.functional.pad(y, (0, 1), value=1.0)[..., self._slot_index]

    def rates_of_progress(self, y: torch.Tensor) -> torch.Tensor:
        """Reaction rates ``r`` shaped ``(..., R)``."""
        rates = self.rate_constants * self._factors(y).prod(dim=-1)
        if self.has_fractional_orders:
            rates = rates * (y.clamp(min=0).unsqueeze(-2) ** self._fractional_orders).prod(dim=-1)
        return rates

    def rhs(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        net = matmul(self.rates_of_progress(y), self._stoichiometry_t)
        return net if self._completion_t is None else matmul(net, self._completion_t)

    def jacobian(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.has_fractional_orders:
            return super().jacobian(t, y)
        others = exclusive_products(self._factors(y)) * self.rate_constants.unsqueeze(-1)  # d r_j / d (slot m)
        rate_jacobian = (others.unsqueeze(-1) * self._slot_species).sum(-2)               # (..., R, n)
        return matmul(self.stoichiometry, rate_jacobian)

    def initial_state(self) -> torch.Tensor:
        return self._initial.clone()

    def default_times(self) -> torch.Tensor:
        return torch.as_tensor(self.spec.grid.times(), dtype=self._initial.dtype)

    def content(self) -> bytes:
        return self.spec.text.encode("utf-8")


def load_mass_action(path: str | Path, dtype: torch.dtype = torch.float64) -> MassActionMechanism:
    """Load a mass-action mechanism file. Raises :class:`kinetix.MechanismError`."""
    return MassActionMechanism(load_spec(path), dtype=dtype)
