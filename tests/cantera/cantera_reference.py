"""Random gas states and Cantera's own numbers for them, for the kinetix-cantera tests."""

from __future__ import annotations

from pathlib import Path

import cantera as ct
import numpy as np

MECHANISMS = Path(__file__).parent / "mechanisms"
RATE_ZOO = str(MECHANISMS / "rate_zoo.yaml")

# relative tolerance against Cantera, and the floors below which a value counts as zero
RTOL = 1e-9
TINY = 1e-290  # rate constants and rates of progress smaller than this are compared as zeros
GROSS_FLOOR = 1e-3  # net production rates are compared relatively where |omega_k| >= this x gross rate
GROSS_RTOL = 1e-12  # ... and everywhere to this fraction of the gross rate (creation + destruction)


def random_states(gas: ct.Solution, count: int, rng: np.random.Generator, *, t_range=(500.0, 3000.0),
                  p_range_atm=(0.05, 50.0), zero_fraction: float = 0.1):
    """``count`` states: T uniform, P log-uniform, mole fractions ``U^3`` (spanning decades) with
    about ``zero_fraction`` of the species set exactly to zero. Returns ``T``, ``P``, ``Y`` arrays."""
    T = rng.uniform(*t_range, count)
    P = ct.one_atm * np.exp(rng.uniform(*np.log(p_range_atm), count))
    X = rng.random((count, gas.n_species)) ** 3
    X[rng.random(X.shape) < zero_fraction] = 0.0
    X[:, 0] += 1e-3  # never all zero
    Y = X * gas.molecular_weights
    Y /= Y.sum(axis=1, keepdims=True)
    return T, P, Y


def reference(gas: ct.Solution, T, P, Y, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Cantera's properties ``names`` (attribute names of ``cantera.Solution``) at every state."""
    rows = {name: [] for name in names}
    for t, p, y in zip(T, P, Y):
        gas.TPY = t, p, y
        for name in names:
            rows[name].append(getattr(gas, name))
    return {name: np.array(values) for name, values in rows.items()}


def relative_error(ours, theirs, tiny: float = TINY) -> float:
    """Largest ``|ours - theirs| / |theirs|`` over entries with ``|theirs| > tiny``; entries below
    it must be below it in ``ours`` too (else the error is reported as infinite)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    big = np.abs(theirs) > tiny
    if np.any(np.abs(ours[~big]) > tiny):
        return np.inf
    return float(np.max(np.abs(ours[big] - theirs[big]) / np.abs(theirs[big]), initial=0.0))


def ignition_delay(source: str, temperature: float, pressure: float, *, reactor: str = "const-pressure",
                   t_end: float = 0.1, rtol: float = 1e-12, atol: float = 1e-20, **mixture) -> float:
    """The time [s] of the largest dT/dt of one ignition in Cantera's ``ReactorNet``, independently
    of kinetix: CVODES stepped at tight tolerances, dT/dt from Cantera's own rates after every step,
    and the vertex of the parabola through the largest value and its two neighbours. ``mixture``:
    ``composition=`` (mole fractions) or ``equivalence_ratio=``, ``fuel=`` (air as the oxidizer)."""
    gas = ct.Solution(source)
    if "composition" in mixture:
        gas.X = mixture["composition"]
    else:
        gas.set_equivalence_ratio(mixture["equivalence_ratio"], mixture["fuel"], "O2:1, N2:3.76")
    gas.TP = temperature, pressure
    constant_pressure = reactor == "const-pressure"
    cantera_reactor = (ct.IdealGasConstPressureReactor if constant_pressure else ct.IdealGasReactor)(gas, clone=False)
    network = ct.ReactorNet([cantera_reactor])
    network.rtol, network.atol, network.max_steps = rtol, atol, 1_000_000
    times, rates = [0.0], [0.0]
    while network.time < t_end:
        network.step()
        energies = gas.partial_molar_enthalpies if constant_pressure else gas.partial_molar_int_energies
        heat = gas.cp_mass if constant_pressure else gas.cv_mass
        times.append(network.time)
        rates.append(-np.dot(energies, gas.net_production_rates) / (gas.density * heat))
    i = int(np.argmax(rates))
    if not 0 < i < len(rates) - 1:
        raise RuntimeError(f"no ignition of {source} at {temperature} K before {t_end} s")
    x = np.array(times[i - 1: i + 2]) - times[i]
    a, b, _ = np.polyfit(x, rates[i - 1: i + 2], 2)
    return times[i] - b / (2 * a)
