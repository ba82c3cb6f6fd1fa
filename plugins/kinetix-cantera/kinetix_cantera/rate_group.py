"""What the rate parameterizations share: the per-state inputs and the reactions they cover."""

from __future__ import annotations

from typing import NamedTuple

import torch


class RateState(NamedTuple):
    """Functions of the state, computed once per call and shared by all rate groups.

    ``T``, ``logT`` (ln T), ``recipT`` (1/T) and ``logP`` (ln P, P in Pa) are ``(...,)``;
    ``arrhenius_basis`` ``(..., 2)`` is ``(ln T, -1/T)``; ``third_body`` ``(..., m)`` holds the
    third-body concentration [kmol/m^3] of the first ``m`` reactions in the mechanism's internal order:
    the reactions of the groups that read it (``RateGroup.reads_third_body``), which come first.
    """

    T: torch.Tensor
    logT: torch.Tensor
    recipT: torch.Tensor
    logP: torch.Tensor
    arrhenius_basis: torch.Tensor
    third_body: torch.Tensor


class RateSlopes(NamedTuple):
    """Rate constants and their partial derivatives, each ``(..., n)``: ``value`` ``k`` (SI units),
    ``temperature`` ``dk/dT`` [per K], ``third_body`` ``dk/d[M]`` [per kmol/m^3] (each reaction's
    own ``[M]``) and ``log_pressure`` ``dk/d ln P``; the other variables held fixed."""

    value: torch.Tensor
    temperature: torch.Tensor
    third_body: torch.Tensor
    log_pressure: torch.Tensor


def take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]`` for a 1-D ``index``, via ``gather`` on an expanded (not copied) index,
    which on CPU is several times faster than advanced indexing or ``index_select`` on the last dim."""
    return torch.gather(values, -1, index.expand(*values.shape[:-1], -1))


class RateGroup(torch.nn.Module):
    """Forward rate constants of the reactions that share one parameterization.

    Buffer ``reactions`` ``(n,)``: their indices in the mechanism, in Cantera's order. The
    :class:`~kinetix_cantera.Kinetics` stores reactions group after group (its internal order);
    ``first`` is where this group starts in it. Subclasses implement
    ``forward(state: RateState) -> (..., n)`` in Cantera's SI units (kmol, m^3, s) and
    ``slopes(state: RateState) -> RateSlopes`` with its exact partial derivatives (for the
    analytic reactor Jacobian). A group whose rate constants depend on the third-body concentration
    sets ``reads_third_body`` (such groups come first in the internal order). ``mass_action``, set with
    ``first``: whether the third-body concentration multiplies the rates of progress of all the group's
    reactions (three-body reactions) or of none.
    """

    reads_third_body = False

    def __init__(self, reactions: list[int]):
        super().__init__()
        self.register_buffer("reactions", torch.tensor(reactions, dtype=torch.long))
        self.first = 0
        self.mass_action = False

    def __len__(self) -> int:
        return len(self.reactions)

    def own(self, values: torch.Tensor) -> torch.Tensor:
        """This group's slice ``(..., n)`` of per-reaction ``values`` ``(..., R)`` in internal order."""
        return values[..., self.first : self.first + len(self)]
