"""Adiabatic constant-pressure (HP) chemical equilibrium of ideal-gas mixtures with NASA-7 thermo.

The method of Gordon & McBride (NASA RP-1311, 1994, "CEA"), batched and free of value-dependent control
flow, so that ``torch.jit.trace`` of a caller holds for any batch. The amounts ``n_k`` [kmol/kg] move in logs,

    ``Δln n_k = Σ_j a_jk π_j + Δln n + (H°_k / RT) Δln T - μ_k / RT``,
    ``μ_k / RT = G°_k / RT + ln(n_k / n) + ln(P / P°)``,

``a_jk`` the atoms of element ``j`` in species ``k``, ``n`` the total amount [kmol/kg] and ``P° = 1 atm``
(Cantera's NASA-7 reference pressure). ``π_j``, ``Δln n`` and ``Δln T`` solve the element balances, the
total-amount equation and the enthalpy balance (RP-1311 eqs. 2.24, 2.26, 2.27), a symmetric
``(n_elements + 2)`` system per member: with ``u_k = [a_1k .. a_Jk, 1, H°_k / RT]`` and ``x = [π, Δln n, Δln T]``,

    ``(Σ_k n_k u_k u_kᵀ + diag(0, .., 0, -n, Σ_k n_k Cp°_k / R)) x = Σ_k n_k (μ_k / RT - 1) u_k + [e, n, h / RT]``,

and ``Δln n_k = u_k · x - μ_k / RT``. Steps are damped as in CEA (eqs. 3.1-3.3): ``λ = min(1, λ1, λ2)``,
``λ1 = 2 / max(5 |Δln T|, 5 |Δln n|, Δln n_k of growing species with n_k / n > 1e-8)``, and ``λ2`` keeps a
growing trace species (``n_k / n <= 1e-8``) below ``n_k / n = 1e-4``. An element absent from a mixture
(``e_j = 0``) gets ``π_j = 0`` and the species that hold it exactly ``n_k = 0``.
"""

from __future__ import annotations

import torch
from torch import nn

GAS_CONSTANT = 8314.46261815324  # J/kmol/K
ONE_ATM = 101325.0               # Pa, the reference pressure of Cantera's NASA-7 polynomials
ITERATIONS = 30                  # damped Newton steps from the uniform start (tests/test_equilibrium.py: 20 suffice)
START = 0.1                      # kmol/kg, the starting total amount, spread evenly over the allowed species
MAJOR = -18.420681               # ln 1e-8: species above this mole fraction limit the step by λ1
TRACE_TARGET = -9.2103404        # ln 1e-4: a trace species grows no further than this in one step (λ2)
LOG_FLOOR = -1e3                 # ln(n_k / n) floor: exp of it is 0, and no log is ever infinite


class Equilibrium(nn.Module):
    """HP equilibrium (see the module docstring).

    Args:
        molecular_weights: ``(K,)`` [kg/kmol]; nasa_low, nasa_high: ``(K, 7)`` NASA-7 coefficients ``a1 .. a7``;
            nasa_mid: ``(K,)`` [K], the low range applies up to and including it (as Cantera).
        elements: ``(n_elements, K)`` element amounts per unit mass of each species [kmol/kg] (``n_atoms / W_k``).
        iterations: damped Newton steps of :meth:`forward` (H2/air on h2o2.yaml converges in 12, CH4/air on
            gri30.yaml in 20, from the uniform start and any temperature guess in 300-4000 K).
    """

    def __init__(self, molecular_weights, nasa_low, nasa_high, nasa_mid, elements, iterations: int = ITERATIONS):
        super().__init__()
        f64 = dict(dtype=torch.float64)
        weights = torch.as_tensor(molecular_weights, **f64)
        n_species = weights.shape[0]
        atoms = torch.as_tensor(elements, **f64).reshape(-1, n_species) * weights                     # a_jk
        self.n_elements, self.n_species, self.iterations = atoms.shape[0], n_species, int(iterations)
        self.register_buffer("molecular_weights", weights)
        self.register_buffer("atoms", atoms)
        self.register_buffer("holds", (atoms > 0).to(torch.float64))
        # [a_i a_j (J², row-major), a_j (J), 1] per species: n_k times these summed are the matrix's element parts
        self.register_buffer("moments", torch.cat([(atoms[:, None] * atoms[None]).reshape(-1, n_species), atoms,
                                                   torch.ones(1, n_species, **f64)]).T.contiguous())
        self.register_buffer("nasa_mid", torch.as_tensor(nasa_mid, **f64).reshape(n_species))
        for name, table in (("low", nasa_low), ("high", nasa_high)):
            # [H°/RT, G°/RT, Cp°/R] (B, 3K) = [1, T, T², T³, T⁴, 1/T, ln T] (B, 7) @ this (7, 3K)
            a = torch.as_tensor(table, **f64).reshape(n_species, 7).T
            zero = torch.zeros_like(a[0])
            enthalpy = torch.stack([*(a[:5] / torch.arange(1, 6, **f64)[:, None]), a[5], zero])
            entropy = torch.stack([a[6], a[1], a[2] / 2, a[3] / 3, a[4] / 4, zero, a[0]])
            capacity = torch.cat([a[:5], torch.zeros_like(a[:2])])
            self.register_buffer(f"thermo_{name}", torch.cat([enthalpy, enthalpy - entropy, capacity], dim=1))

    def _thermo(self, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(H°/RT, G°/RT, Cp°/R)`` ``(B, K)`` of every species at ``T`` ``(B,)`` [K]."""
        t = T[:, None]
        basis = torch.cat([torch.ones_like(t), t, t * t, t.pow(3), t.pow(4), 1 / t, t.log()], dim=1)
        low = (self.nasa_mid >= t).repeat(1, 3)
        both = torch.where(low, basis @ self.thermo_low, basis @ self.thermo_high)
        return both[:, :self.n_species], both[:, self.n_species:2 * self.n_species], both[:, 2 * self.n_species:]

    def forward(self, e: torch.Tensor, h: torch.Tensor, P: torch.Tensor,
                T_guess: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The equilibrium state of element amounts ``e`` ``(..., n_elements)`` [kmol/kg], mass enthalpy ``h``
        ``(...)`` [J/kg] and pressure ``P`` ``(...)`` [Pa], from temperature ``T_guess`` ``(...)`` [K] and equal
        amounts of all species: ``(T (...) [K], Y (..., K))``, all float64."""
        shape = h.shape
        J = self.n_elements
        e = e.reshape(-1, J)
        h, log_p, log_T = h.reshape(-1), (P.reshape(-1) / ONE_ATM).log(), T_guess.reshape(-1).log()
        absent = (e <= 0).to(e.dtype)                                                         # (B, J)
        allowed = (absent @ self.holds) == 0                                                  # (B, K)
        log_n = torch.full_like(h, START).log()
        log_nk = torch.where(allowed, log_n[:, None] - allowed.sum(1, keepdim=True).to(e.dtype).log(),
                             log_n[:, None] + LOG_FLOOR)
        zero = torch.zeros_like(log_nk)
        for _ in range(self.iterations):
            enthalpy, gibbs, capacity = self._thermo(log_T.exp())
            log_x = log_nk - log_n[:, None]                                                   # ln(n_k / n)
            mu = gibbs + log_x + log_p[:, None]                                               # μ_k / RT
            n_k = torch.where(allowed, log_nk.exp(), zero)
            n_h, residual = n_k * enthalpy, n_k * (mu - 1)
            sums = n_k @ self.moments                                                         # [Σ n a a, b, Σ n]
            sums_h = n_h @ self.moments[:, J * J:]                                            # [Σ n H a, Σ n H]
            sums_r = residual @ self.moments[:, J * J:]
            corner = (n_h * enthalpy + n_k * capacity).sum(1, keepdim=True)
            total = sums[:, -1:] - log_n.exp()[:, None]
            # rows: element balances, total amount, enthalpy (unknowns π, Δln n, Δln T); π_j = 0 if e_j = 0
            matrix = torch.cat([
                torch.cat([sums[:, :J * J].reshape(-1, J, J) + torch.diag_embed(absent),
                           sums[:, J * J:J * J + J, None], sums_h[:, :J, None]], dim=2),
                torch.cat([sums[:, J * J:J * J + J], total, sums_h[:, J:]], dim=1)[:, None],
                torch.cat([sums_h, corner], dim=1)[:, None]], dim=1)
            rhs = torch.cat([sums_r + torch.cat([e, log_n.exp()[:, None]], dim=1),
                             (residual * enthalpy).sum(1, keepdim=True) + (h / (GAS_CONSTANT * log_T.exp()))[:, None]], 1)
            x = torch.linalg.solve(matrix, rhs)
            d_log_n, d_log_T = x[:, J], x[:, J + 1]
            d_log_nk = x[:, :J] @ self.atoms + d_log_n[:, None] + enthalpy * d_log_T[:, None] - mu
            growing = allowed & (d_log_nk > 0)
            major = log_x > MAJOR
            largest = torch.where(growing & major, d_log_nk, zero).amax(1)
            lambda1 = 2 / torch.stack([5 * d_log_T.abs(), 5 * d_log_n.abs(), largest]).amax(0)
            trace = ((TRACE_TARGET - log_x) / (d_log_nk - d_log_n[:, None])).abs()
            lambda2 = torch.where(growing & ~major, trace, torch.full_like(trace, float("inf"))).amin(1)
            step = torch.stack([torch.ones_like(lambda1), lambda1, lambda2]).amin(0)
            log_n = log_n + step * d_log_n
            log_T = log_T + step * d_log_T
            log_nk = torch.maximum(log_nk + step[:, None] * d_log_nk, log_n[:, None] + LOG_FLOOR)
        Y = torch.where(allowed, log_nk.exp(), zero) * self.molecular_weights
        return log_T.exp().reshape(shape), Y.reshape(*shape, self.n_species)
