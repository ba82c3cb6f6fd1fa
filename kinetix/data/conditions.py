"""Datasets over tables of initial conditions, with output times that resolve a peak event.

A conditions file (TOML, see ``docs/cantera.md``) lists the mechanism options that vary from
trajectory to trajectory (a grid of every combination, or random draws) and how output times
are chosen. Mechanisms that support it implement :class:`ConditionsMechanism`: they turn rows of
conditions into one batch with per-member parameters, and name a *peak event*, the time of the
largest rate of one state component (for reactors: the ignition delay, the time of the largest
``dT/dt``).

Peak times are refined on the solver's own output, whatever the solver: the trajectory is first
sampled on a log grid; the peak then lies between the neighbours of the largest sampled rate (the
rate has one maximum), and that window is integrated again from the state at its start, in a
time scaled per member (:class:`TimeScaled`), on a fine uniform grid. Each level narrows the
bracket by ``points / 2``; a parabola through the last three rates gives the peak time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from .. import toml
from ..errors import ConfigError, SolverError
from ..mechanism import Mechanism
from ..solvers.api import solve

SAMPLING = ("grid", "random")
SCALES = ("linear", "log")
SEARCH_POINTS_PER_DECADE = 50  # the first, coarse pass that brackets each peak
WINDOW_POINTS = 65  # output times per refinement window
WINDOW_LEVELS = 2  # refinement windows; each narrows the bracket 32-fold
_RATE_STATES = 1 << 14  # states per right-hand-side call when computing rates along trajectories


@dataclass
class ConditionedBatch:
    """``N`` members built from rows of conditions: ``mechanism`` integrates them together (its
    ``rhs`` takes states ``(..., N, n)``, member ``i`` with its own parameters), ``y0`` ``(N, n)``
    their initial states, ``conditions`` per-member values ``(N,)`` to store with the dataset."""

    mechanism: Mechanism
    y0: torch.Tensor
    conditions: dict[str, torch.Tensor]


@runtime_checkable
class ConditionsMechanism(Protocol):
    """A mechanism that builds batches from conditions (optional; for ``kinetix generate --conditions``).

    ``peak_event``: ``(name, component)``; the dataset stores, under ``conditions/<name>``, the
    time of the largest ``d y[component] / dt`` of every trajectory, and output times are refined
    around it. ``with_conditions(rows)``: one :class:`ConditionedBatch` for the rows (each a
    mapping of option names to values).
    """

    peak_event: tuple[str, str]

    def with_conditions(self, rows: Sequence[Mapping[str, Any]]) -> ConditionedBatch: ...


class TimeScaled:
    """``dy/ds = scale f(y)``: an autonomous ``mechanism`` in a time stretched per member by
    ``scale`` ``(N,)``, so that member ``i`` covers ``scale[i] * (s1 - s0)`` of real time while ``s``
    runs over a shared grid. Solvers that integrate in real time (the Cantera plugin's) read
    ``mechanism`` and ``scale``."""

    autonomous = True

    def __init__(self, mechanism: Mechanism, scale: torch.Tensor):
        self.mechanism = mechanism
        self.scale = scale

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scale[:, None] * self.mechanism.rhs(t, y)

    def jacobian(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scale[:, None, None] * self.mechanism.jacobian(t, y)


# ------------------------------------------------------------------------------ the conditions file


@dataclass(frozen=True)
class TimeGrid:
    """``[times]`` of a conditions file: output times ``first`` [s] to ``horizon`` x the latest peak
    time, log-spaced at ``points_per_decade``, and over the span where any member's rate exceeds
    half its peak, at least ``front_points`` within every member's half-width; peaks are searched
    up to ``search_end`` [s]; at most ``max_points`` times."""

    first: float = 1e-7
    horizon: float = 3.0
    points_per_decade: int = 20
    front_points: int = 4
    search_end: float = 1.0
    max_points: int = 4000


@dataclass
class Conditions:
    """A parsed conditions file: ``rows`` (one mapping of option values per trajectory), fixed
    mechanism ``options``, the output-time settings ``times``, and the file's ``path`` and ``text``."""

    rows: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    times: TimeGrid = field(default_factory=TimeGrid)
    path: Path | None = None
    text: str = ""


def read_conditions(path: str | Path) -> Conditions:
    """Read a conditions file; raises :class:`kinetix.ConfigError` naming the file, the field and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = toml.loads(text)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the conditions file ({error.strerror or error})") from None
    except (UnicodeDecodeError, toml.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    known = {"sampling", "count", "seed", "options", "conditions", "times"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    sampling = document.get("sampling", "grid")
    if sampling not in SAMPLING:
        raise ConfigError(f"{path}: sampling: got {sampling!r}; choose {' or '.join(map(repr, SAMPLING))}")
    variables = document.get("conditions")
    if not isinstance(variables, dict) or not variables:
        raise ConfigError(f"{path}: [conditions] must be a table of option names, e.g. temperature = [1000, 1200]")
    options = document.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: [options] must be a table of fixed mechanism options, "
                          "e.g. reactor = \"const-volume\"")
    overlap = sorted(set(options) & set(variables))
    if overlap:
        raise ConfigError(f"{path}: {', '.join(overlap)} given both in [options] and [conditions]; keep one")
    axes = {name: _variable(path, name, value, sampling) for name, value in variables.items()}
    if sampling == "grid":
        for key in ("count", "seed"):
            if key in document:
                raise ConfigError(f"{path}: {key} applies to sampling = \"random\"; a grid has every combination")
        rows = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    else:
        count, seed = document.get("count"), document.get("seed", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"{path}: count: sampling = \"random\" needs the number of trajectories, a positive "
                              f"integer, got {count!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"{path}: seed: expected a non-negative integer, got {seed!r}")
        generator = np.random.default_rng(seed)
        columns = {name: draw(generator, count) for name, draw in axes.items()}
        rows = [{name: column[i] for name, column in columns.items()} for i in range(count)]
    return Conditions(rows, options, _times(path, document.get("times", {})), path, text)


def _variable(path: Path, name: str, value, sampling: str):
    """One ``[conditions]`` entry: for a grid, its list of values; for random draws, a function
    ``(generator, count) -> values``."""
    where = f"{path}: conditions.{name}"
    if isinstance(value, dict):
        return _range(where, value, sampling)
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{where}: expected a number, a text, a non-empty list of them, or a range "
                          "{low = ..., high = ...}")
    if sampling == "grid":
        return values
    return lambda generator, count: [values[i] for i in generator.integers(len(values), size=count)]


def _range(where: str, table: dict, sampling: str):
    allowed = {"low", "high", "scale"} | ({"points"} if sampling == "grid" else set())
    unknown = sorted(set(table) - allowed)
    if unknown:
        hint = " (points applies to sampling = \"grid\")" if "points" in unknown else ""
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}{hint}; known: {', '.join(sorted(allowed))}")
    low, high, scale = table.get("low"), table.get("high"), table.get("scale", "linear")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)) \
            or not low <= high:
        raise ConfigError(f"{where}: a range needs finite numbers low <= high, got low = {low!r}, high = {high!r}")
    if scale not in SCALES:
        raise ConfigError(f"{where}: scale: got {scale!r}; choose {' or '.join(map(repr, SCALES))}")
    if scale == "log" and not low > 0:
        raise ConfigError(f"{where}: scale = \"log\" needs low > 0, got {low}")
    low, high = float(low), float(high)
    if sampling == "grid":
        points = table.get("points")
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise ConfigError(f"{where}: a grid range needs points, an integer >= 2, got {points!r}")
        spaced = np.geomspace if scale == "log" else np.linspace
        return spaced(low, high, points).tolist()
    if scale == "log":
        return lambda generator, count: np.exp(generator.uniform(math.log(low), math.log(high), count)).tolist()
    return lambda generator, count: generator.uniform(low, high, count).tolist()


def _times(path: Path, table) -> TimeGrid:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [times] must be a table")
    defaults = TimeGrid()
    values = {}
    for key, value in table.items():
        if key not in TimeGrid.__dataclass_fields__:
            known = ", ".join(TimeGrid.__dataclass_fields__)
            raise ConfigError(f"{path}: times.{key}: unknown setting; known: {known}")
        default = getattr(defaults, key)
        integer = isinstance(default, int)
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise ConfigError(f"{path}: times.{key}: expected a positive {'integer' if integer else 'number'}, "
                              f"got {value!r}")
        values[key] = value if integer else float(value)
    grid = TimeGrid(**values)
    if not grid.first < grid.search_end:
        raise ConfigError(f"{path}: times: need first < search_end, got {grid.first:g} and {grid.search_end:g} s")
    if grid.horizon <= 1:
        raise ConfigError(f"{path}: times.horizon: the last output time is horizon x the latest peak time, so it "
                          f"must exceed 1, got {grid.horizon:g}")
    return grid


# ------------------------------------------------------------------------------ peaks and output times


class Peaks(NamedTuple):
    """Per member ``(N,)`` [time units]: ``time`` of the largest rate, and ``low``, ``high``, where
    the rate crosses half its largest value before and after it (the half-width)."""

    time: np.ndarray
    low: np.ndarray
    high: np.ndarray


def log_times(first: float, last: float, per_decade: float) -> torch.Tensor:
    """Log-spaced times from ``first`` to ``last`` with at least ``per_decade`` points a decade ``(T,)``."""
    count = max(2, math.ceil(per_decade * math.log10(last / first)) + 1)
    return torch.logspace(math.log10(first), math.log10(last), count, dtype=torch.float64)


def rates_along(mechanism: Mechanism, ys: torch.Tensor, component: int) -> torch.Tensor:
    """``d y[component] / dt`` at states ``ys`` ``(T, N, n)``: ``(T, N)``, a few states per call."""
    t = torch.zeros((), dtype=ys.dtype, device=ys.device)
    step = max(1, _RATE_STATES // max(ys.shape[1], 1))
    with torch.no_grad():
        return torch.cat([mechanism.rhs(t, part)[..., component] for part in ys.split(step)])


def find_peaks(mechanism: Mechanism, y0: torch.Tensor, component: str, search: torch.Tensor,
               **solver_options) -> Peaks:
    """The peak of ``d y[component] / dt`` of every member of ``mechanism`` (a batch whose states
    are ``(N, n)``) started from ``y0`` ``(N, n)`` at ``mechanism.time_span[0]``; ``search`` ``(T,)``:
    the coarse grid it must lie inside. ``solver_options`` go to :func:`kinetix.solve`.

    Raises :class:`kinetix.SolverError` naming a member whose largest rate is at an end of ``search``.
    """
    from ..simulate import integrate_mechanism

    if not mechanism.autonomous:
        raise ConfigError(f"{mechanism.name}: peak times are refined by restarting the integration inside windows, "
                          "which needs an autonomous mechanism (rhs independent of t)")
    index = mechanism.state_names.index(component)
    with torch.no_grad():
        ys = integrate_mechanism(mechanism, y0, search, **solver_options).ys
    rates = rates_along(mechanism, ys, index)
    top = rates.argmax(dim=0)
    at_end = (top == 0) | (top == len(search) - 1)
    if at_end.any():
        member = int(at_end.nonzero()[0, 0])
        where = "first" if int(top[member]) == 0 else "last"
        raise SolverError(
            f"the largest d{component}/dt of member {member} is at the {where} output time "
            f"({float(search[top[member]]):g}): no peak inside [times.first, times.search_end]; widen that span",
            member=member)
    members = torch.arange(rates.shape[1], device=rates.device)
    # the window: from the last coarse sample below half the sampled peak before it to the first after it
    below = rates < rates[top, members] / 2
    order = torch.arange(len(search), device=rates.device)[:, None]
    start = torch.where(below & (order < top), order, -1).amax(dim=0).clamp(min=0)
    start = torch.minimum(start, top - 1)
    end = torch.where(below & (order > top), order, len(search)).amin(dim=0).clamp(max=len(search) - 1)
    end = torch.maximum(end, top + 1)
    origin, width, state = search[start], search[end] - search[start], ys[start, members]
    s = torch.linspace(0.0, 1.0, WINDOW_POINTS, dtype=ys.dtype, device=ys.device)
    for level in range(WINDOW_LEVELS):  # each level's window: its predecessor's samples around the peak
        with torch.no_grad():
            window = solve(TimeScaled(mechanism, width), state, s, **solver_options).ys
        rates = rates_along(mechanism, window, index)
        top = rates.argmax(dim=0).clamp(1, WINDOW_POINTS - 2)
        times = origin[:, None] + width[:, None] * s  # (N, points)
        if level == 0:
            low, high = _half_crossings(times, rates.T, top, search[start], search[end])
        step = width * float(s[1])
        origin, width, state = origin + step * (top - 1), 2 * step, window[top - 1, members]
    previous, peak, following = (rates[top + shift, members] for shift in (-1, 0, 1))
    curvature = previous - 2 * peak + following
    offset = torch.where(curvature < 0, 0.5 * (previous - following) / curvature, 0.0).clamp(-1.0, 1.0)
    time = origin + step * (1.0 + offset)  # origin is the sample before the peak
    return Peaks(*(x.cpu().numpy() for x in (time, low, high)))


def _half_crossings(times, rates, top, before, after):
    """Where ``rates`` ``(N, M)`` at ``times`` ``(N, M)`` cross half their maximum (at ``top``) before
    and after it, linearly interpolated; ``before``/``after`` ``(N,)`` where no sample crosses."""
    half = rates.gather(1, top[:, None]) / 2
    order = torch.arange(rates.shape[1], device=rates.device)
    below = rates < half
    rows = torch.arange(rates.shape[0], device=rates.device)

    def crossing(i, j, fallback, exists):  # between samples i (below half) and j (above)
        r_i, r_j = rates[rows, i], rates[rows, j]
        t_i, t_j = times[rows, i], times[rows, j]
        fraction = ((half[:, 0] - r_i) / (r_j - r_i)).clamp(0, 1)
        return torch.where(exists, t_i + (t_j - t_i) * fraction, fallback)

    last_below = torch.where(below & (order < top[:, None]), order, -1).amax(dim=1)
    first_below = torch.where(below & (order > top[:, None]), order, rates.shape[1]).amin(dim=1)
    low = crossing(last_below.clamp(min=0), (last_below + 1).clamp(max=rates.shape[1] - 1), before, last_below >= 0)
    high = crossing(first_below.clamp(max=rates.shape[1] - 1), (first_below - 1).clamp(min=0), after,
                    first_below < rates.shape[1])
    return low, high


def peak_resolving_times(peaks: Peaks, grid: TimeGrid, where: str = "times") -> torch.Tensor:
    """Output times ``(T,)`` for ``grid`` (see :class:`TimeGrid`) around ``peaks`` of all members."""
    end = grid.horizon * float(peaks.time.max())
    if not end > grid.first:
        raise ConfigError(f"{where}: the latest peak ({float(peaks.time.max()):g}) is before times.first "
                          f"({grid.first:g}); lower times.first")
    base = log_times(grid.first, end, grid.points_per_decade)
    low, high = max(float(peaks.low.min()), grid.first), min(float(peaks.high.max()), end)
    narrowest = float(np.min(np.log10(peaks.high / peaks.low)))
    density = max(grid.points_per_decade, grid.front_points / max(narrowest, 1e-12))
    band = log_times(low, high, density) if high > low else base[:0]
    times = torch.cat([base[(base < low) | (base > high)], band]).sort().values
    if len(times) > grid.max_points:
        raise ConfigError(
            f"{where}: resolving the narrowest peak (half-width {narrowest:.2g} decades) with times.front_points = "
            f"{grid.front_points} needs {len(times)} output times, more than times.max_points = {grid.max_points}; "
            "raise max_points or lower front_points"
        )
    return times
