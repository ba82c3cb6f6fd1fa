"""The HP equilibrium solver against Cantera: ``equilibrate("HP")`` of unburnt and partly burnt H2/air (with
and without argon, without nitrogen) and CH4/air mixtures, the equilibrium conditions in Cantera's own
thermo, the iterations it needs, batch shapes and tracing."""

import functools
import warnings

import cantera as ct
import numpy as np
import pytest
import torch

from kinetix_trainers.equilibrium import ITERATIONS, Equilibrium
from kinetix_trainers.progress import network_config

MIXTURES = {  # mechanism, fuel, oxidiser, T0 range [K], phi range, progress species (for network_config)
    "h2-air": ("h2o2", "H2", "O2:1, N2:3.76", (900, 1400), (0.5, 3), ["H2O", "HO2", "H2O2"]),
    "h2-air-argon": ("h2o2", "H2", "O2:1, N2:3.72, AR:0.045", (900, 1400), (0.5, 3), ["H2O", "HO2", "H2O2"]),
    "h2-o2-argon": ("h2o2", "H2", "O2:1, AR:3.76", (900, 1400), (0.5, 3), ["H2O", "HO2", "H2O2"]),
    "h2-o2": ("h2o2", "H2", "O2:1", (900, 1400), (0.5, 3), ["H2O", "HO2", "H2O2"]),
    "ch4-air": ("gri30", "CH4", "O2:1, N2:3.76", (1200, 1800), (0.5, 2), ["CO2", "H2O"]),
}
NEEDED = {"h2o2": 12, "gri30": 20}   # iterations that already converge every case here, from 300 K or 4000 K too
T_CANTERA, Y_CANTERA = 1e-7, 1e-11     # K, mass fraction: against equilibrate("HP", rtol=1e-12)


@functools.cache
def solver(mechanism: str, iterations: int = ITERATIONS) -> Equilibrium:
    """An :class:`Equilibrium` of ``mechanism`` built as the progress trainer builds its network."""
    gas = ct.Solution(f"{mechanism}.yaml")
    _, fuel, oxidiser, *_, progress = next(m for m in MIXTURES.values() if m[0] == mechanism)
    gas.set_equivalence_ratio(1.0, fuel, oxidiser)
    config = network_config(mechanism, gas.species_names, torch.tensor(gas.Y)[None],
                            torch.ones(gas.n_species, dtype=torch.float64), progress)
    return Equilibrium(config["molecular_weights"], config["nasa_low"], config["nasa_high"], config["nasa_mid"],
                       config["elements"], iterations=iterations)


@functools.cache
def cases(mixture: str, count: int = 6, seed: int = 0):
    """``(e, h, P, T, T_eq, Y_eq)`` tensors of ``count`` random unburnt mixtures and as many partly burnt ones
    (a constant-pressure reactor stopped 10-90 % of the way to the equilibrium temperature) with Cantera's
    equilibrium ``T_eq``, ``Y_eq``."""
    mechanism, fuel, oxidiser, T0, phi, _ = MIXTURES[mixture]
    gas = ct.Solution(f"{mechanism}.yaml")
    elements = np.array([[gas.n_atoms(s, e) for s in gas.species_names] for e in gas.element_names])
    rng = np.random.default_rng(seed)
    rows = []

    def add():
        e, h, P, T, Y = elements / gas.molecular_weights @ gas.Y, gas.enthalpy_mass, gas.P, gas.T, gas.Y
        gas.equilibrate("HP", rtol=1e-12)
        rows.append((e, h, P, T, gas.T, gas.Y))
        end = gas.T
        gas.TPY = T, P, Y
        return end

    for _ in range(count):
        gas.set_equivalence_ratio(rng.uniform(*phi), fuel, oxidiser)
        gas.TP = rng.uniform(*T0), np.exp(rng.uniform(0, np.log(20))) * ct.one_atm
        start, end = gas.T, add()
        net = ct.ReactorNet([ct.IdealGasConstPressureReactor(gas, clone=False)])
        target = start + rng.uniform(0.1, 0.9) * (end - start)
        while gas.T < target:
            net.step()
        add()
    return tuple(torch.tensor(np.array(column), dtype=torch.float64) for column in zip(*rows))


def residuals(mechanism, e, h, P, T, Y):
    """Largest relative enthalpy error, element error [kmol/kg] and departure of ``μ_k / RT`` from the span of
    the element rows (species with ``X_k > 1e-250``), of states ``(T, P, Y)``, in Cantera's thermo."""
    gas = ct.Solution(f"{mechanism}.yaml")
    atoms = np.array([[gas.n_atoms(s, el) for s in gas.species_names] for el in gas.element_names])
    worst = np.zeros(3)
    for e_i, h_i, P_i, T_i, Y_i in zip(e.numpy(), h.numpy(), P.numpy(), T.numpy(), Y.numpy()):
        gas.TPY = T_i, P_i, Y_i
        kept = gas.X > 1e-250
        mu = gas.chemical_potentials[kept] / (ct.gas_constant * T_i)
        potentials = np.linalg.lstsq(atoms[:, kept].T, mu, rcond=None)[0]
        worst = np.maximum(worst, [abs(gas.enthalpy_mass - h_i) / (gas.cp_mass * T_i),
                                   np.abs(atoms / gas.molecular_weights @ Y_i - e_i).max(),
                                   np.abs(mu - atoms[:, kept].T @ potentials).max()])
    return worst


@pytest.mark.parametrize("mixture", MIXTURES)
def test_matches_cantera(mixture):
    mechanism = MIXTURES[mixture][0]
    e, h, P, T, T_eq, Y_eq = cases(mixture)
    with torch.no_grad():
        T_out, Y_out = solver(mechanism)(e, h, P, T)
    assert (T_out - T_eq).abs().max() < T_CANTERA
    assert (Y_out - Y_eq).abs().max() < Y_CANTERA
    enthalpy, element, potential = residuals(mechanism, e, h, P, T_out, Y_out)
    assert enthalpy < 1e-13 and element < 1e-14 and potential < 1e-12
    gas = ct.Solution(f"{mechanism}.yaml")
    missing = [element for j, element in enumerate(gas.element_names) if e[0, j] == 0]
    holding = [k for k, species in enumerate(gas.species()) if set(missing) & set(species.composition)]
    assert (Y_out[:, holding] == 0).all()


def test_trace_species_and_absent_elements():
    """Species far below 1e-30 come out finite and as Cantera's; a species of an absent element exactly zero."""
    e, h, P, T, _, Y_eq = cases("ch4-air")
    gas = ct.Solution("gri30.yaml")
    with torch.no_grad():
        _, Y = solver("gri30")(e, h, P, T)
    assert torch.isfinite(Y).all() and (Y >= 0).all()
    assert ((Y_eq > 0) & (Y_eq < 1e-30)).any() and ((Y > 0) & (Y < 1e-30)).any()
    assert (Y[:, gas.species_index("AR")] == 0).all() and (e[:, gas.element_index("Ar")] == 0).all()


@pytest.mark.parametrize("mechanism, mixture", [("h2o2", "h2-o2-argon"), ("gri30", "ch4-air")])
def test_converges_with_margin(mechanism, mixture):
    """``NEEDED[mechanism]`` iterations reach the default's answer from the state's own T, 300 K and 4000 K;
    fewer do not."""
    e, h, P, T, _, _ = cases(mixture)
    with torch.no_grad():
        T_ref, Y_ref = solver(mechanism)(e, h, P, T)
        for guess in (T, torch.full_like(T, 300.0), torch.full_like(T, 4000.0)):
            T_out, Y_out = solver(mechanism, NEEDED[mechanism])(e, h, P, guess)
            assert (T_out - T_ref).abs().max() < 1e-8 and (Y_out - Y_ref).abs().max() < 1e-12
        T_early, _ = solver(mechanism, NEEDED[mechanism] - 4)(e, h, P, T)
    assert (T_early - T_ref).abs().max() > 1e-3
    assert ITERATIONS >= max(NEEDED.values()) + 10


def test_batch_shapes_and_trace():
    e, h, P, T, _, _ = cases("h2-air-argon")
    model = solver("h2o2", 3)   # the traced graph repeats one iteration; few keep the trace quick
    with torch.no_grad():
        T_flat, Y_flat = model(e, h, P, T)
        T_grid, Y_grid = model(e.reshape(3, 4, -1), h.reshape(3, 4), P.reshape(3, 4), T.reshape(3, 4))
    assert T_grid.shape == (3, 4) and Y_grid.shape == (3, 4, model.n_species)
    torch.testing.assert_close(T_grid.reshape(-1), T_flat, rtol=1e-14, atol=0)
    torch.testing.assert_close(Y_grid.reshape(12, -1), Y_flat, rtol=0, atol=1e-16)

    class Caller(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.equilibrium = model

        def forward(self, e, h, P, T):
            T_eq, Y_eq = self.equilibrium(e, h, P, T)
            return T_eq, Y_eq.sum(-1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(Caller(), (e[:5], h[:5], P[:5], T[:5]), check_trace=False)
    with torch.no_grad():
        T_traced, total = traced(e[5:], h[5:], P[5:], T[5:])
    torch.testing.assert_close(T_traced, T_flat[5:], rtol=1e-14, atol=0)
    torch.testing.assert_close(total, Y_flat[5:].sum(-1), rtol=1e-14, atol=0)
