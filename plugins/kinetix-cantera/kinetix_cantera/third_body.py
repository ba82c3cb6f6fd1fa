"""Third-body (collider) concentrations ``[M]_j = sum_k eff_jk C_k``."""

from __future__ import annotations

import cantera as ct
import torch

from kinetix.products import matmul


class ThirdBodies(torch.nn.Module):
    """Collision efficiencies of the reactions that have a third body.

    Covers ``+ M`` with per-species efficiencies and a default efficiency, and a specific collider
    (``(+AR)``, ``H + O2 + H2O <=> HO2 + H2O``), which Cantera 3 stores as efficiency 1 for that
    species and default 0. Efficiencies of species the mechanism lacks are ignored, as Cantera does.

    Buffer ``efficiencies`` ``(n_third_body, K)``.
    """

    def __init__(self, third_bodies: list[ct.ThirdBody], species: list[str], dtype: torch.dtype = torch.float64):
        super().__init__()
        index = {name: k for k, name in enumerate(species)}
        efficiencies = torch.empty(len(third_bodies), len(species), dtype=dtype)
        for j, third_body in enumerate(third_bodies):
            efficiencies[j] = third_body.default_efficiency
            for name, value in third_body.efficiencies.items():
                if name in index:
                    efficiencies[j, index[name]] = value
        self.register_buffer("efficiencies", efficiencies)

    def forward(self, concentrations: torch.Tensor) -> torch.Tensor:
        """``[M]`` ``(..., n_third_body)`` [kmol/m^3] from concentrations ``(..., K)`` [kmol/m^3]."""
        return matmul(concentrations, self.efficiencies.T)
