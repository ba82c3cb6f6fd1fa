"""Mass-action products ``prod_k C_k^(order_jk)`` of every reaction, finite for any concentrations."""

from __future__ import annotations

import math

import torch

from .rate_group import take

# A factor slot that fewer than this share of the reactions fill (the fourth product of a few
# reactions) is applied to those reactions alone, not gathered for all: n-hexane's reverse
# products have two slots filled by 2 and 1 of its 5,336 reactions.
SPARSE_SLOT = 1 / 8


class ConcentrationProduct(torch.nn.Module):
    """``prod_k C_k ** order_jk`` ``(..., R)`` for concentrations ``C`` ``(..., K)``, and 0 for a reaction whose
    orders are ``None`` (the reverse of an irreversible reaction), so that no mask is needed downstream.

    Whole positive orders are exact products of gathered concentrations (as Cantera multiplies
    them), so states slightly below zero, as stiff solvers produce, give finite rates with
    Cantera's sign. The fractional remainder of an order (and any negative order) is raised as a
    power of the concentration where it is positive; a non-positive concentration contributes 0 to
    a positive fractional order, and the smallest positive normal number stands in for it under
    a negative order, so the result stays finite and gradients are never NaN.

    Buffers: ``slots`` ``(width, R)`` the species of each whole-order factor (``K`` = the constant
    1, ``K + 1`` = the constant 0); ``fraction_species``, ``fraction_orders`` ``(R, fraction_width)`` the
    species and exponents of the remaining factors (exponent 0 where unused). The first ``dense_width``
    slots are gathered for every reaction; the others (see :data:`SPARSE_SLOT`) are held again as ``sparse_reactions``
    ``(m,)``, the reactions that fill any of them, and ``sparse_slots`` ``(width - dense_width, m)``.
    """

    def __init__(self, orders: list[dict[int, float] | None], n_species: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        slots, fractions = [], []
        for reaction_orders in orders:
            row, fraction_row = ([], []) if reaction_orders is not None else ([n_species + 1], [])
            for k, order in sorted((reaction_orders or {}).items()):
                whole = math.floor(order) if order > 0 else 0
                row += [k] * whole
                if order != whole:
                    fraction_row.append((k, order - whole))
            slots.append(row)
            fractions.append(fraction_row)
        width = max([1, *map(len, slots)])
        fraction_width = max([0, *map(len, fractions)])
        slot_index = torch.full((width, len(orders)), n_species, dtype=torch.long)
        fraction_species = torch.zeros(len(orders), fraction_width, dtype=torch.long)
        fraction_orders = torch.zeros(len(orders), fraction_width, dtype=dtype)
        for j, (row, fraction_row) in enumerate(zip(slots, fractions)):
            slot_index[: len(row), j] = torch.tensor(row, dtype=torch.long)
            for i, (k, order) in enumerate(fraction_row):
                fraction_species[j, i] = k
                fraction_orders[j, i] = order
        self.register_buffer("slots", slot_index)
        filled = (slot_index < n_species).sum(dim=1).tolist()  # non-increasing: factors fill slots in order
        self.dense_width = 1 + sum(1 for count in filled[1:] if count >= SPARSE_SLOT * len(orders))
        sparse = slot_index[self.dense_width :]
        reactions = (sparse < n_species).any(dim=0).nonzero().view(-1)
        self.register_buffer("sparse_reactions", reactions, persistent=False)
        self.register_buffer("sparse_slots", sparse[:, reactions], persistent=False)
        self.register_buffer("fraction_species", fraction_species)
        self.register_buffer("fraction_orders", fraction_orders)
        # the species of every factor, as columns of (C, 1): for scattering partial derivatives
        self.register_buffer("factor_species", torch.cat([slot_index.T, fraction_species], dim=1), persistent=False)

    def _factors(self, padded: torch.Tensor, slots: torch.Tensor) -> tuple[list, list]:
        """Each factor ``(..., R)`` of the whole-order ``slots`` and of the fractional orders, from the
        concentrations ``padded`` with the constants 1 and 0 (:func:`_padded`), and its derivative with
        respect to its concentration (``None`` = 1)."""
        values = [take(padded, slot) for slot in slots]
        slopes: list[torch.Tensor | None] = [None] * len(values)
        if self.fraction_orders.shape[-1]:
            c = take(padded, self.fraction_species.flatten()).unflatten(-1, self.fraction_species.shape)
            positive = c > 0
            base = torch.where(positive, c, torch.finfo(c.dtype).tiny)
            power = torch.where(positive | (self.fraction_orders <= 0), base ** self.fraction_orders, 0.0)
            slope = torch.where(positive, self.fraction_orders * base ** (self.fraction_orders - 1), 0.0)
            values += list(power.unbind(-1))
            slopes += list(slope.unbind(-1))
        return values, slopes

    def forward(self, concentrations: torch.Tensor) -> torch.Tensor:
        padded = _padded(concentrations)
        values, _ = self._factors(padded, self.slots[: self.dense_width])
        product = values[0]
        for value in values[1:]:  # explicit products: cheaper than prod(), and so are their derivatives
            product = product * value
        if len(self.sparse_reactions):
            extra = product.index_select(-1, self.sparse_reactions)
            for slot in self.sparse_slots:
                extra = extra * take(padded, slot)
            product = product.index_copy_(-1, self.sparse_reactions, extra)
        return product

    def partials(self, concentrations: torch.Tensor) -> torch.Tensor:
        """``d product_j / d C`` at each factor: ``(..., R, n_factors)``, the species being
        ``factor_species`` ``(R, n_factors)`` (``K`` and ``K + 1`` for the constants). Exact also where
        concentrations are zero (leave-one-out products, no division)."""
        values, slopes = self._factors(_padded(concentrations), self.slots)
        before = [torch.ones_like(values[0])]
        for value in values[:-1]:
            before.append(before[-1] * value)
        partials, after = [], torch.ones_like(values[0])
        for i in reversed(range(len(values))):
            partial = before[i] * after
            partials.append(partial if slopes[i] is None else partial * slopes[i])
            after = after * values[i]
        return torch.stack(partials[::-1], dim=-1)


def _padded(concentrations: torch.Tensor) -> torch.Tensor:
    """``concentrations`` ``(..., K)`` with the constants 1 and 0 appended: ``(..., K + 2)``."""
    batch = concentrations.shape[:-1]
    return torch.cat([concentrations, concentrations.new_ones(*batch, 1), concentrations.new_zeros(*batch, 1)], dim=-1)
