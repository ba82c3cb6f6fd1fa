"""The analytic Jacobian of the ideal-gas reactor right-hand sides.

Exact partial derivatives, assembled per state:

- rate constants: the analytic partial derivatives of every parameterization along ``T``, each
  reaction's own ``[M]`` and ``ln P`` (:meth:`RateGroup.slopes`); equilibrium constants from the
  species enthalpies (``d ln K_c / dT = (dH0/RT - dn) / T``);
- mass-action products: leave-one-out products, exact also at zero concentration;
- third bodies: the collision efficiencies;
- thermodynamics: ``cp``, ``h``, ``u`` and ``d cp / dT`` of the NASA polynomials.

The mass-action part of ``d omega / d C`` is accumulated sparsely, one term per (species,
reaction, factor) with a nonzero stoichiometric coefficient, already scaled by ``W_k / W_l`` so
that the species block of the Jacobian needs one rank-one correction. No forward-mode autodiff is used
(torch's forward mode runs through Python decompositions and costs tens of times a plain
evaluation).
"""

from __future__ import annotations

import torch

from kinetix.products import matmul

from .kinetics import BIG, GAS_CONSTANT, Kinetics


class ReactorJacobian(torch.nn.Module):
    """The sparsity pattern of ``W_k/W_l d omega_k / d C_l`` for one :class:`Kinetics`, and the Jacobian.

    Mass action, one entry per nonzero term: ``source`` indexes the concatenated forward and
    reverse product partials ``(..., R * n_factors)``, ``entry`` is the flat index ``k * K + l``
    and ``coefficient`` is ``nu_kj W_k / W_l`` (negated for reverse products). Third bodies,
    dense: ``third_body_stoichiometry`` ``(K, n_third_body)`` is ``W_k nu_kj`` and
    ``third_body_efficiencies`` ``(n_third_body, K)`` is ``eff_jl / W_l``.
    """

    def __init__(self, kinetics: Kinetics):
        super().__init__()
        nu = kinetics._stoichiometry
        W = kinetics.molecular_weights
        n_species, n_reactions = nu.shape
        forward_species = kinetics.forward_product.factor_species
        species = torch.cat([forward_species, kinetics.reverse_product.factor_species], dim=1)  # (R, n_factors)
        n_factors = species.shape[1]
        reaction, factor = torch.meshgrid(torch.arange(n_reactions), torch.arange(n_factors), indexing="ij")
        used = species < n_species  # the constant-1 column has no derivative
        reaction, factor, column = reaction[used], factor[used], species[used]
        sign = torch.where(factor < forward_species.shape[1], 1.0, -1.0).to(nu.dtype)
        # one term per species k with nu_kj != 0
        rows = [(nu[:, j] != 0).nonzero().flatten() for j in reaction.tolist()]
        counts = torch.tensor([len(r) for r in rows], dtype=torch.long)
        row = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long)
        reaction, factor, column, sign = (x.repeat_interleave(counts) for x in (reaction, factor, column, sign))
        self.register_buffer("source", reaction * n_factors + factor)
        self.register_buffer("entry", row * n_species + column)
        self.register_buffer("coefficient", nu[row, reaction] * sign * W[row] / W[column])
        # third bodies, densely: diag(W) nu[:, j] s_j eff_j diag(1/W)
        reactions = kinetics._third_body_reactions
        self.register_buffer("third_body_stoichiometry", W[:, None] * nu[:, reactions])
        self.register_buffer("third_body_efficiencies", kinetics.third_bodies.efficiencies / W)

    def forward(self, reactor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d rhs / d y`` ``(..., K+1, K+1)`` of ``reactor`` (a :class:`~kinetix_cantera.ReactorMechanism`)."""
        kinetics = reactor.kinetics
        W = kinetics.molecular_weights
        s = reactor.state(y)
        T, P, density, total, moles, concentrations = s.T, s.P, s.density, s.total, s.moles, s.concentrations
        h_RT, energies, heat_capacities = s.h_RT, s.energies, s.heat_capacities
        RT = GAS_CONSTANT * T
        constant_pressure = reactor.reactor == "const-pressure"

        # rates of progress and their partial derivatives
        colliders = kinetics._colliders(concentrations)
        collision = kinetics._collision(colliders)
        ratio = kinetics._reciprocal_kc(T, h_RT - s.s_R)
        k, dk_dT, dk_dM, dk_dlogP = kinetics._forward_constant_slopes(T, P, kinetics._third_body(colliders))
        forward_product = kinetics.forward_product(concentrations)
        reverse_product = kinetics.reverse_product(concentrations)
        net_product = torch.addcmul(forward_product, ratio, reverse_product, value=-1.0)  # q = collision * k * net_product
        omega = kinetics.production(collision * k * net_product)
        # d ln(1/K_c) / dT = -(dH0/RT - dn) / T
        delta_enthalpy = kinetics.reciprocal_kc(torch.cat([h_RT, torch.ones_like(T)[..., None]], dim=-1))
        d_log_ratio = -delta_enthalpy / T[..., None]
        d_ratio = torch.where(ratio < BIG, ratio * d_log_ratio, 0.0)
        omega_T = kinetics.production(collision * (dk_dT * net_product - k * d_ratio * reverse_product))  # fixed C, P

        # B = diag(W) (d omega / d C) diag(1/W), accumulated term by term
        weight = (collision * k)[..., None]
        partials = torch.cat([weight * kinetics.forward_product.partials(concentrations),
                              (weight * ratio[..., None]) * kinetics.reverse_product.partials(concentrations)], dim=-1)
        sensitivity = torch.where(kinetics._third_body_mass_action, k * net_product, 0.0) \
            + collision * dk_dM * net_product  # d q_j / d [M]_j
        terms = torch.index_select(partials.flatten(-2), -1, self.source) * self.coefficient
        n = len(W)
        B = concentrations.new_zeros(*terms.shape[:-1], n * n).index_add(-1, self.entry, terms).unflatten(-1, (n, n))
        sensitivity = torch.index_select(sensitivity, -1, kinetics._third_body_reactions)
        B = B + matmul(self.third_body_stoichiometry * sensitivity[..., None, :], self.third_body_efficiencies)

        # chain rule to y = [T, Y]: omega_Y = d omega / d Y, omega_dT = d omega / d T
        scaled_energies = energies / W
        energies_B = (scaled_energies[..., None, :] @ B)[..., 0, :]  # (e . d omega/dC)_j / W_j
        heat = (heat_capacities * moles).sum(dim=-1)
        numerator = (energies * omega).sum(dim=-1)
        denominator = density * heat
        heat_slope = (kinetics.thermo.cp_slope(T) * GAS_CONSTANT * moles).sum(dim=-1)
        if constant_pressure:
            A_CW = (B @ (W * concentrations)[..., None])[..., 0]  # W_i (d omega/dC . C)_i
            A_XW = A_CW / (density * total)[..., None]  # W_i (d omega/dC . X)_i
            block_Y = B - (A_XW - omega * W / (density * total)[..., None])[..., :, None] / W
            d_numerator_Y = density[..., None] * (energies_B - (scaled_energies * A_XW).sum(-1, keepdim=True) / W)
            d_density_Y = -density[..., None] / (total[..., None] * W)
            omega_dT = omega_T - A_CW / (W * T[..., None])
            column_Y = (omega_dT + omega / T[..., None]) * W / density[..., None]
            d_denominator_T = density * (heat_slope - heat / T)
        else:
            omega_P = kinetics.production(collision * dk_dlogP * net_product) / P[..., None]
            block_Y = B + (W * omega_P * RT[..., None])[..., :, None] / W
            d_numerator_Y = density[..., None] * (energies_B + (RT * (energies * omega_P).sum(-1))[..., None] / W)
            d_density_Y = torch.zeros_like(moles)
            omega_dT = omega_T + omega_P * (P / T)[..., None]
            column_Y = omega_dT * W / density[..., None]
            d_denominator_T = density * heat_slope
        d_numerator_T = (heat_capacities * omega).sum(-1) + (energies * omega_dT).sum(-1)
        d_denominator_Y = d_density_Y * heat[..., None] + density[..., None] * heat_capacities / W
        row_T = -d_numerator_Y / denominator[..., None] + (numerator / denominator**2)[..., None] * d_denominator_Y
        corner = -d_numerator_T / denominator + numerator / denominator**2 * d_denominator_T
        top = torch.cat([corner[..., None], row_T], dim=-1)
        return torch.cat([top[..., None, :], torch.cat([column_Y[..., :, None], block_Y], dim=-1)], dim=-2)
