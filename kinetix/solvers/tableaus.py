"""Coefficients of Rosenbrock (ROW) methods in the transformed W-form.

A step from ``(t, y)`` with step ``h`` and ``s`` stages, ``J = df/dy``, ``f_t = df/dt``::

    (I/(h*gamma) - J) k_i = f(t + alpha_i*h, y + sum_{j<i} a[i][j]*k_j)
                            + sum_{j<i} (c[i][j]/h)*k_j + h*d[i]*f_t
    y_new = y + sum_i b[i]*k_i          error estimate = sum_i e[i]*k_i   (e = b - b_hat)

Dense output on ``theta`` in [0, 1], with ``q_r = sum_i H[r][i]*k_i``::

    y(t + theta*h) = (1-theta)*y + theta*(y_new + (1-theta)*(q_1 + theta*(q_2 + theta*(q_3 + ...))))

This is the form of Hairer & Wanner's RODAS code and of OrdinaryDiffEq.jl's ``RodasTableau``:
their ``(A, C, gamma, c, d, H)`` are ``(a, c, gamma, alpha, d, H)`` here. From the classical
form of Hairer & Wanner, Vol. II, IV.7 (``alpha_ij``, ``gamma_ij``, ``b_i``) with the full lower
triangular ``Gamma = (gamma_ij)`` (diagonal ``gamma``): ``a = alpha_ij Gamma^-1``,
``c = diag(1/gamma) - Gamma^-1``, ``b = b_i Gamma^-1``, ``alpha_i = sum_j alpha_ij`` and
``d_i = sum_j gamma_ij``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RosenbrockTableau:
    """One Rosenbrock method; ``a`` and ``c`` are ``s x s`` and strictly lower triangular."""

    name: str
    order: int
    embedded_order: int
    dense_order: int | None
    gamma: float
    a: tuple[tuple[float, ...], ...]
    c: tuple[tuple[float, ...], ...]
    alpha: tuple[float, ...]
    d: tuple[float, ...]
    b: tuple[float, ...]
    e: tuple[float, ...]
    H: tuple[tuple[float, ...], ...] | None
    stiffly_accurate: bool
    l_stable: bool
    reference: str

    def __post_init__(self):
        s = self.stages
        for field in ("alpha", "d", "b", "e"):
            if len(getattr(self, field)) != s:
                raise ValueError(f"{self.name}: {field} needs {s} entries")
        for field in ("a", "c"):
            matrix = getattr(self, field)
            if len(matrix) != s or any(len(row) != s or any(row[i:]) for i, row in enumerate(matrix)):
                raise ValueError(f"{self.name}: {field} must be {s} x {s} and strictly lower triangular")
        if self.H is not None and any(len(row) != s for row in self.H):
            raise ValueError(f"{self.name}: every row of H needs {s} entries")

    @property
    def stages(self) -> int:
        return len(self.b)


def _lower(*rows: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """The strictly lower triangular matrix whose row ``i + 1`` starts with ``rows[i]`` (row 0 is zero)."""
    s = len(rows) + 1
    return tuple(tuple(float(x) for x in row) + (0.0,) * (s - len(row)) for row in ((), *rows))


_RODAS5P_A6 = (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
               0.030198172008377946)

RODAS5P = RosenbrockTableau(
    name="rodas5p",
    order=5,
    embedded_order=4,
    dense_order=4,
    gamma=0.21193756319429014,
    a=_lower(
        (3.0,),
        (2.849394379747939, 0.45842242204463923),
        (-6.954028509809101, 2.489845061869568, -10.358996098473584),
        (2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641),
        _RODAS5P_A6,
        (*_RODAS5P_A6, 1.0),
        (*_RODAS5P_A6, 1.0, 1.0),
    ),
    c=_lower(
        (-14.155112264123755,),
        (-17.97296035885952, -2.859693295451294),
        (147.12150275711716, -1.41221402718213, 71.68940251302358),
        (165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306),
        (24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125,
         -0.6610691825249471),
        (30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783,
         -19.097331116725623, -28.087943162872662),
        (37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047,
         -40.06618937091002, -54.66780262877968, -9.48861652309627),
    ),
    alpha=(0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664,
           1.0, 1.0, 1.0),
    d=(0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
       2.325825639765069, 0.0, 0.0, 0.0),
    b=(*_RODAS5P_A6, 1.0, 1.0, 1.0),
    e=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    H=(
        (25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
         0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493),
        (-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
         20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372),
        (11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
         -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722),
    ),
    stiffly_accurate=True,
    l_stable=True,
    reference=(
        "G. Steinebach, Construction of Rosenbrock-Wanner method Rodas5P and numerical benchmarks "
        "within the Julia Differential Equations package, BIT Numer. Math. 63(2), 2023. Numbers from "
        "OrdinaryDiffEq.jl, lib/OrdinaryDiffEqRosenbrock/src/rosenbrock_tableaus.jl (Rodas5PTableau)."
    ),
)
"""Rodas5P: order 5, embedded order 4, dense output order 4, 8 stages; L-stable, stiffly accurate
(so is the embedded method). Per the paper also order 5(4) for index-1 DAEs, and built to limit
order reduction (Prothero-Robinson, parabolic problems)."""

_RODAS4_A5 = (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950)

RODAS4 = RosenbrockTableau(
    name="rodas4",
    order=4,
    embedded_order=3,
    dense_order=3,
    gamma=0.25,
    a=_lower(
        (1.544,),
        (0.9466785280815826, 0.2557011698983284),
        (3.314825187068521, 2.896124015972201, 0.9986419139977817),
        _RODAS4_A5,
        (*_RODAS4_A5, 1.0),
    ),
    c=_lower(
        (-5.6688,),
        (-2.430093356833875, -0.2063599157091915),
        (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
        (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
        (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
         -6.058818238834054),
    ),
    alpha=(0.0, 0.386, 0.21, 0.63, 1.0, 1.0),
    d=(0.25, -0.1043, 0.1035, -0.03620000000000023, 0.0, 0.0),
    b=(*_RODAS4_A5, 1.0, 1.0),
    e=(0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    H=(
        (10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
         1.025137723295662, 0.0),
        (-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
         -6.594389125716872, 0.0),
    ),
    stiffly_accurate=True,
    l_stable=True,
    reference=(
        "E. Hairer, G. Wanner, Solving Ordinary Differential Equations II, 2nd ed., Springer 1996, "
        "Sect. VI.4 (RODAS). Numbers from Hairer's rodas.f (subroutine ROCOE, METH=1), identical "
        "to OrdinaryDiffEq.jl's Rodas4Tableau."
    ),
)
"""Rodas4: order 4, embedded order 3, dense output order 3, 6 stages; L-stable, stiffly accurate
(so is the embedded method). Per the book also order 4(3) for index-1 DAEs."""

_RODAS3P_A4 = (2.90625, 3.375, 0.40625)

RODAS3P = RosenbrockTableau(
    name="rodas3p",
    order=3,
    embedded_order=2,
    dense_order=3,
    gamma=1 / 3,
    a=_lower(
        (4 / 3,),
        (0.0, 0.0),
        _RODAS3P_A4,
        (*_RODAS3P_A4, 0.0),
    ),
    c=_lower(
        (-4.0,),
        (8.25, 6.75),
        (1.21875, -5.0625, -1.96875),
        (4.03125, -15.1875, -4.03125, 6.0),
    ),
    alpha=(0.0, 4 / 9, 0.0, 1.0, 1.0),
    d=(1 / 3, -1 / 9, 1.0, 0.0, 0.0),
    b=(*_RODAS3P_A4, 0.0, 1.0),
    e=(0.0, 0.0, 0.0, -1.0, 1.0),
    H=(
        (1.78125, 6.75, 0.15625, -6.0, -1.0),
        (4.21875, -15.1875, -3.09375, 9.0, 0.0),
    ),
    stiffly_accurate=True,
    l_stable=True,
    reference=(
        "G. Steinebach, Rosenbrock methods within OrdinaryDiffEq.jl - overview, recent developments "
        "and applications, preprint 2024 (github.com/hbrs-cse/RosenbrockMethods, paper/paper.tex, "
        "Table 'Coefficients of Rodas3P and Rodas23W', exact rationals). Transformed numbers from "
        "OrdinaryDiffEq.jl's Rodas3PTableau; they equal the conversion of the paper's table exactly."
    ),
)
"""Rodas3P: order 3, embedded order 2 (the embedded method is Rodas23W), dense output order 3,
5 stages but 3 evaluations of f (stage 3 reuses f(t, y), stage 5 reuses stage 4's); L-stable,
stiffly accurate (so is the embedded method). Per the paper also order 3(2) for index-1 DAEs."""

TABLEAUS = {tableau.name: tableau for tableau in (RODAS5P, RODAS4, RODAS3P)}


@dataclass(frozen=True)
class ESDIRKTableau:
    """A singly diagonally implicit Runge-Kutta method with an explicit first stage (ESDIRK).

    ``a`` is ``s x s`` lower triangular with diagonal ``(0, gamma, ..., gamma)``; stage ``i`` solves
    ``Y_i = y + h sum_{j<i} a[i][j] f(Y_j) + h gamma f(Y_i)`` at ``t + c_i h``, ``c_i = sum_j a[i][j]``.
    ``y_new = y + h sum_i b[i] f(Y_i)``, error estimate ``h sum_i e[i] f(Y_i)`` (``e = b - b_hat``).
    ``predictor`` (strictly lower triangular) gives the Newton iteration's starting point
    ``y + h sum_{j<i} predictor[i][j] f(Y_j)``.
    """

    name: str
    order: int
    embedded_order: int
    gamma: float
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    e: tuple[float, ...]
    predictor: tuple[tuple[float, ...], ...]
    stiffly_accurate: bool
    reference: str

    def __post_init__(self):
        s = self.stages
        if len(self.e) != s or len(self.a) != s or len(self.predictor) != s:
            raise ValueError(f"{self.name}: a, e and predictor need {s} rows")
        if any(len(row) != s or any(row[i + 1:]) for i, row in enumerate(self.a)):
            raise ValueError(f"{self.name}: a must be {s} x {s} and lower triangular")
        if tuple(row[i] for i, row in enumerate(self.a)) != (0.0,) + (self.gamma,) * (s - 1):
            raise ValueError(f"{self.name}: the diagonal of a must be (0, gamma, ..., gamma)")
        if any(len(row) != s or any(row[i:]) for i, row in enumerate(self.predictor)):
            raise ValueError(f"{self.name}: predictor must be {s} x {s} and strictly lower triangular")

    @property
    def stages(self) -> int:
        return len(self.b)

    @property
    def c(self) -> tuple[float, ...]:
        return tuple(sum(row) for row in self.a)


def _with_diagonal(gamma: float, *rows: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """The lower triangular matrix whose row ``i + 1`` is ``rows[i]`` followed by ``gamma`` (row 0 is zero)."""
    s = len(rows) + 1
    return tuple(tuple(float(x) for x in row) + ((gamma,) if i else ()) + (0.0,) * (s - len(row) - (1 if i else 0))
                 for i, row in enumerate(((), *rows)))


_KVAERNO5_GAMMA = 0.26
_KVAERNO5_A6 = (0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676)
_KVAERNO5_A7 = (0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403,
                0.06962479448202728)

KVAERNO5 = ESDIRKTableau(
    name="kvaerno5",
    order=5,
    embedded_order=4,
    gamma=_KVAERNO5_GAMMA,
    a=_with_diagonal(
        _KVAERNO5_GAMMA,
        (_KVAERNO5_GAMMA,),
        (0.13, 0.84033320996790809),
        (0.22371961478320505, 0.47675532319799699, -0.06470895363112615),
        (0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998),
        _KVAERNO5_A6,
        _KVAERNO5_A7,
    ),
    b=(*_KVAERNO5_A7, _KVAERNO5_GAMMA),
    e=tuple(b - b_hat for b, b_hat in zip((*_KVAERNO5_A7, _KVAERNO5_GAMMA), (*_KVAERNO5_A6, _KVAERNO5_GAMMA, 0.0))),
    predictor=_lower(
        (1.0,),
        (-1.366025403784441, 2.3660254037844357),
        (-0.19650552613122207, 0.8113579546496623, 0.38514757148155954),
        (0.10375304369958693, 0.937994698066431, -0.04174774176601781, 0.0),
        (-0.17281112873898072, 0.6235784481025847, 0.5492326806363959, 0.0, 0.0),
        (*_KVAERNO5_A6, _KVAERNO5_GAMMA),
    ),
    stiffly_accurate=True,
    reference=(
        "A. Kvaerno, Singly diagonally implicit Runge-Kutta methods with an explicit first stage, "
        "BIT Numer. Math. 44(3), 2004 (the 5(4) pair, 7 stages). Numbers from diffrax "
        "(diffrax/_solver/kvaerno5.py); predictors from OrdinaryDiffEq.jl's Kvaerno5 via diffrax."
    ),
)
"""Kvaerno5: order 5, embedded order 4, 7 stages (one explicit); L-stable and stiffly accurate. The
embedded method is the sixth stage, A-stable with ``R(-inf) = -0.748`` (not L-stable). diffrax's stiff default."""

ESDIRK_TABLEAUS = {KVAERNO5.name: KVAERNO5}
