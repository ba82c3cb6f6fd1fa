"""Hand-written reference implementations of the benchmark problems, straight from their papers.

Independent of kinetix's mass-action compiler: tests compare the compiled mechanisms against these,
and benchmarks hand them (with analytic Jacobians) to scipy as the fastest fair peer.
"""

import numpy as np

ROBERTSON_K = (0.04, 3e7, 1e4)


def robertson_rhs(t, y):
    k1, k2, k3 = ROBERTSON_K
    y1, y2, y3 = y
    return np.array([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k3 * y2 * y3 - k2 * y2**2, k2 * y2**2])


def robertson_jac(t, y):
    k1, k2, k3 = ROBERTSON_K
    _, y2, y3 = y
    return np.array([
        [-k1, k3 * y3, k3 * y2],
        [k1, -k3 * y3 - 2 * k2 * y2, -k3 * y2],
        [0.0, 2 * k2 * y2, 0.0],
    ])


POLLU_K = np.array([.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9e3, .022, 1.2e4, 1.88,
                    1.63e4, 4.8e6, 3.5e-4, .0175, 1e8, 4.44e11, 1240, 2.1, 5.78, .0474, 1780, 3.12])
POLLU_Y0 = np.zeros(20)
POLLU_Y0[[1, 3, 6, 7, 8, 16]] = [0.2, 0.04, 0.1, 0.3, 0.01, 0.007]
POLLU_SPECIES = ("NO2", "NO", "O3P", "O3", "HO2", "OH", "CH2O", "CO", "ALD", "MEO2", "C2O3", "CO2", "PAN",
                 "CH3O", "HNO3", "O1D", "SO2", "SO4", "NO3", "N2O5")


def pollu_rates(y):
    k = POLLU_K
    y1, y2, y3, y4, y5, y6, y7, y8, y9, y10, y11, y12, y13, y14, y15, y16, y17, y18, y19, y20 = y
    return np.array([
        k[0] * y1, k[1] * y2 * y4, k[2] * y5 * y2, k[3] * y7, k[4] * y7, k[5] * y7 * y6, k[6] * y9,
        k[7] * y9 * y6, k[8] * y11 * y2, k[9] * y11 * y1, k[10] * y13, k[11] * y10 * y2, k[12] * y14,
        k[13] * y1 * y6, k[14] * y3, k[15] * y4, k[16] * y4, k[17] * y16, k[18] * y16, k[19] * y17 * y6,
        k[20] * y19, k[21] * y19, k[22] * y1 * y4, k[23] * y19 * y1, k[24] * y20,
    ])


def pollu_net(rates):
    """The paper's dy/dt equations for given rates of progress ``(25,)`` (a linear map)."""
    r = np.concatenate([[0.0], rates])  # r[1] is r1, as in the paper
    return np.array([
        -r[1] - r[10] - r[14] - r[23] - r[24] + r[2] + r[3] + r[9] + r[11] + r[12] + r[22] + r[25],
        -r[2] - r[3] - r[9] - r[12] + r[1] + r[21],
        -r[15] + r[1] + r[17] + r[19] + r[22],
        -r[2] - r[16] - r[17] - r[23] + r[15],
        -r[3] + 2 * r[4] + r[6] + r[7] + r[13] + r[20],
        -r[6] - r[8] - r[14] - r[20] + r[3] + 2 * r[18],
        -r[4] - r[5] - r[6] + r[13],
        r[4] + r[5] + r[6] + r[7],
        -r[7] - r[8],
        -r[12] + r[7] + r[9],
        -r[9] - r[10] + r[8] + r[11],
        r[9],
        -r[11] + r[10],
        -r[13] + r[12],
        r[14],
        -r[18] - r[19] + r[16],
        -r[20],
        r[20],
        -r[21] - r[22] - r[24] + r[23] + r[25],
        -r[25] + r[24],
    ])


def pollu_rhs(t, y):
    return pollu_net(pollu_rates(y))


_POLLU_REACTANTS = [(0,), (1, 3), (4, 1), (6,), (6,), (6, 5), (8,), (8, 5), (10, 1), (10, 0), (12,), (9, 1), (13,),
                    (0, 5), (2,), (3,), (3,), (15,), (15,), (16, 5), (18,), (18,), (0, 3), (18, 0), (19,)]
_POLLU_STOICHIOMETRY = np.stack([pollu_net(unit) for unit in np.eye(25)], axis=1)  # (20, 25)


def pollu_jac(t, y):
    """Analytic Jacobian ``(20, 20)``: every rate is k times one species or a product of two."""
    rate_jac = np.zeros((25, 20))
    for j, species in enumerate(_POLLU_REACTANTS):
        if len(species) == 1:
            rate_jac[j, species[0]] = POLLU_K[j]
        else:
            a, b = species
            rate_jac[j, a] += POLLU_K[j] * y[b]
            rate_jac[j, b] += POLLU_K[j] * y[a]
    return _POLLU_STOICHIOMETRY @ rate_jac
