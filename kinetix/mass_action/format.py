"""Reading and validating mass-action mechanism files (YAML, see ``docs/mechanism-format.md``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import MechanismError
from ..quoting import listing, plain, quote
from . import bounded_yaml
from .equation import format_equation, parse_equation

FORMAT_KEY = "kinetix-mechanism"
FORMAT_VERSION = 1
MAX_GRID_POINTS = 100_000  # output times of a mechanism's default grid
_TOP_LEVEL = {FORMAT_KEY, "name", "description", "reference", "units", "species", "reactions",
              "initial_state", "time", "sampling"}
_REACTION_KEYS = {"id", "equation", "reactants", "products", "rate_constant", "orders"}
MAX_FILE_BYTES = 4 * 2**20  # 4 MiB: some 40,000 reactions


@dataclass(frozen=True)
class ReactionSpec:
    """One irreversible reaction with rate ``k * prod(y[s] ** orders[s])``."""

    reactants: dict[str, float]
    products: dict[str, float]
    rate_constant: float
    orders: dict[str, float]
    id: str = ""

    @property
    def equation(self) -> str:
        return format_equation(self.reactants, self.products)


@dataclass(frozen=True)
class TimeGrid:
    """Output times: ``points`` values from ``start`` to ``stop`` spaced ``"linear"`` or ``"log"``."""

    spacing: str
    start: float
    stop: float
    points: int

    def times(self) -> np.ndarray:
        if self.spacing == "log":
            return np.logspace(math.log10(self.start), math.log10(self.stop), self.points)
        return np.linspace(self.start, self.stop, self.points)


@dataclass(frozen=True)
class SamplingSpec:
    """How ``kinetix generate`` perturbs the initial state (see ``kinetix.data.sampling``)."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    relative: float | None = None
    balance: str | None = None


@dataclass(frozen=True)
class MechanismSpec:
    """A validated mass-action mechanism file."""

    name: str
    species: tuple[str, ...]
    reactions: tuple[ReactionSpec, ...]
    initial_state: dict[str, float]
    time_span: tuple[float, float]
    grid: TimeGrid
    units: dict[str, str]
    description: str = ""
    reference: str = ""
    sampling: SamplingSpec = SamplingSpec()
    source: str = "<string>"
    text: str = ""


class _Reader:
    """Validation helpers that prefix every message with the file and the field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str, fix: str = "") -> MechanismError:
        message = f"{self.source}: {where}: {problem}"
        if fix:
            message += f"; {fix}"
        return MechanismError(message)

    def number(self, value: Any, where: str, *, minimum: float | None = None, strict: bool = False) -> float:
        if isinstance(value, bool):
            raise self.fail(where, f"expected a number, got {quote(value)}")
        if isinstance(value, str):  # YAML 1.1 reads 1e5 as a string
            try:
                value = float(value)
            except ValueError:
                raise self.fail(where, f"expected a number, got {quote(value)}") from None
        if not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {type(value).__name__} {quote(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(where, f"must be finite, got {quote(value)}")
        value = number
        if minimum is not None and (value < minimum or (strict and value == minimum)):
            relation = ">" if strict else ">="
            raise self.fail(where, f"must be {relation} {minimum:g}, got {value:g}")
        return value

    def mapping(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping (key: value), got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected text, got {type(value).__name__} {quote(value)}")
        return value

    def unknown_keys(self, data: dict, allowed: set[str], where: str) -> None:
        extra = sorted(str(key) for key in data if key not in allowed)
        if extra:
            raise self.fail(where, f"unknown field(s) {listing(extra)}", f"allowed fields: {listing(sorted(allowed))}")


def _species_list(reader: _Reader, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise reader.fail("species", "expected a non-empty list of species names", "write e.g. species: [A, B, C]")
    names: dict[str, None] = {}
    for index, name in enumerate(raw):
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name) or "=>" in name:
            raise reader.fail(f"species[{index}]", f"invalid species name {quote(name)}", "names are text without spaces")
        if name in names:
            raise reader.fail(f"species[{index}]", f"duplicate species {quote(name)}", "list each species once")
        names[name] = None
    return tuple(names)


def _stoichiometry(reader: _Reader, raw: Any, where: str, species: dict[str, None]) -> dict[str, float]:
    side = reader.mapping(raw, where)
    result = {}
    for name, coef in side.items():
        if name not in species:
            raise reader.fail(where, f"unknown species {quote(name)}", f"declare it under 'species' (known: {listing(species)})")
        result[name] = reader.number(coef, f"{where}.{name}", minimum=0.0, strict=True)
    return result


def _reaction(reader: _Reader, raw: Any, index: int, species: dict[str, None]) -> ReactionSpec:
    label = f"reactions[{index}]"
    data = reader.mapping(raw, label)
    if isinstance(data.get("id"), str):
        label = f"reactions[{index}] ({plain(data['id'])})"
    reader.unknown_keys(data, _REACTION_KEYS, label)
    if "equation" in data:
        if "reactants" in data or "products" in data:
            raise reader.fail(label, "give either 'equation' or 'reactants'/'products', not both")
        equation = reader.text(data["equation"], f"{label}.equation")
        try:
            reactants, products = parse_equation(equation)
        except ValueError as error:
            raise reader.fail(f"{label}.equation", str(error)) from None
        for name in (*reactants, *products):
            if name not in species:
                raise reader.fail(f"{label}.equation", f"unknown species {quote(name)} in {quote(equation)}",
                                  f"declare it under 'species' (known: {listing(species)})")
    elif "reactants" in data or "products" in data:
        reactants = _stoichiometry(reader, data.get("reactants", {}), f"{label}.reactants", species)
        products = _stoichiometry(reader, data.get("products", {}), f"{label}.products", species)
        if not reactants and not products:
            raise reader.fail(label, "has neither reactants nor products")
    else:
        raise reader.fail(label, "missing 'equation' (or 'reactants' and 'products')", "write e.g. equation: A + B => C")
    if "rate_constant" not in data:
        raise reader.fail(label, "missing field 'rate_constant'", "give the rate constant k >= 0 of rate = k * prod(y^order)")
    rate_constant = reader.number(data["rate_constant"], f"{label}.rate_constant", minimum=0.0)
    orders = dict(reactants)
    if "orders" in data:
        for name, order in reader.mapping(data["orders"], f"{label}.orders").items():
            if name not in species:
                raise reader.fail(f"{label}.orders", f"unknown species {quote(name)}", f"known: {listing(species)}")
            orders[name] = reader.number(order, f"{label}.orders.{name}", minimum=0.0)
    orders = {name: order for name, order in orders.items() if order != 0}
    reaction_id = reader.text(data["id"], f"{label}.id") if "id" in data else ""
    return ReactionSpec(reactants, products, rate_constant, orders, reaction_id)


def _time(reader: _Reader, raw: Any) -> tuple[tuple[float, float], TimeGrid]:
    data = reader.mapping(raw, "time")
    reader.unknown_keys(data, {"span", "grid"}, "time")
    span = data.get("span")
    if not isinstance(span, list) or len(span) != 2:
        raise reader.fail("time.span", "expected [t0, t1]", "write e.g. span: [0.0, 60.0]")
    t0 = reader.number(span[0], "time.span[0]")
    t1 = reader.number(span[1], "time.span[1]")
    if not t1 > t0:
        raise reader.fail("time.span", f"t1 = {t1:g} must exceed t0 = {t0:g}")
    grid = reader.mapping(data.get("grid"), "time.grid")
    reader.unknown_keys(grid, {"spacing", "start", "stop", "points"}, "time.grid")
    spacing = grid.get("spacing", "linear")
    if spacing not in ("linear", "log"):
        raise reader.fail("time.grid.spacing", f"got {quote(spacing)}", "use 'linear' or 'log'")
    start = reader.number(grid.get("start", t0), "time.grid.start")
    stop = reader.number(grid.get("stop", t1), "time.grid.stop")
    points = grid.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_GRID_POINTS:
        raise reader.fail("time.grid.points", f"expected a positive integer up to {MAX_GRID_POINTS}, got {quote(points)}")
    if not (t0 <= start <= stop <= t1) or (points > 1 and not stop > start):
        raise reader.fail("time.grid", f"start {start:g} and stop {stop:g} must satisfy t0 <= start < stop <= t1")
    if spacing == "log" and start <= 0:
        raise reader.fail("time.grid.start", "log spacing needs start > 0")
    return (t0, t1), TimeGrid(spacing, start, stop, points)


def _sampling(reader: _Reader, raw: Any, species: dict[str, None]) -> SamplingSpec:
    data = reader.mapping(raw, "sampling")
    reader.unknown_keys(data, {"ranges", "relative", "balance"}, "sampling")
    ranges = {}
    for name, bounds in reader.mapping(data.get("ranges", {}), "sampling.ranges").items():
        if name not in species:
            raise reader.fail("sampling.ranges", f"unknown species {quote(name)}", f"known: {listing(species)}")
        where = f"sampling.ranges.{name}"
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise reader.fail(where, "expected [low, high]")
        low = reader.number(bounds[0], f"{where}[0]", minimum=0.0)
        high = reader.number(bounds[1], f"{where}[1]", minimum=low)
        ranges[name] = (low, high)
    relative = None
    if data.get("relative") is not None:
        relative = reader.number(data["relative"], "sampling.relative", minimum=0.0)
        if relative >= 1:
            raise reader.fail("sampling.relative", f"must be < 1 to keep states positive, got {relative:g}")
    balance = data.get("balance")
    if balance is not None and balance not in species:
        raise reader.fail("sampling.balance", f"unknown species {quote(balance)}")
    return SamplingSpec(ranges, relative, balance)


def parse_spec(text: str, source: str = "<string>") -> MechanismSpec:
    """Parse and validate a mechanism file's text. Raises :class:`MechanismError`."""
    reader = _Reader(source)
    if len(text) > MAX_FILE_BYTES:
        raise _too_large(source, len(text), "characters")
    try:
        data = bounded_yaml.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        if isinstance(error, bounded_yaml.YAMLRefused):
            raise reader.fail(where, error.problem, error.fix) from None
        raise reader.fail(where, f"not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, dict):
        raise reader.fail("top level", "expected a mapping with fields name, species, reactions, ...")
    version = data.get(FORMAT_KEY)
    if version != FORMAT_VERSION:
        raise reader.fail(FORMAT_KEY, f"got {quote(version)}", f"a kinetix mechanism file starts with '{FORMAT_KEY}: {FORMAT_VERSION}'")
    reader.unknown_keys(data, _TOP_LEVEL, "top level")
    for key in ("name", "species", "reactions", "time"):
        if key not in data:
            raise reader.fail(key, f"missing field '{key}'", "see docs/mechanism-format.md")
    name = reader.text(data["name"], "name")
    species = _species_list(reader, data["species"])
    known = dict.fromkeys(species)  # constant-time lookups, listed in order in messages
    raw_reactions = data["reactions"]
    if not isinstance(raw_reactions, list) or not raw_reactions:
        raise reader.fail("reactions", "expected a non-empty list of reactions")
    reactions = tuple(_reaction(reader, raw, index, known) for index, raw in enumerate(raw_reactions))
    initial_state = {}
    for key, value in reader.mapping(data.get("initial_state", {}), "initial_state").items():
        if key not in known:
            raise reader.fail("initial_state", f"unknown species {quote(key)}", f"known: {listing(species)}")
        initial_state[key] = reader.number(value, f"initial_state.{key}", minimum=0.0)
    time_span, grid = _time(reader, data["time"])
    units = {str(key): reader.text(str(value) if isinstance(value, (int, float)) else value, f"units.{plain(key)}")
             for key, value in reader.mapping(data.get("units", {}), "units").items()}
    units.setdefault("time", "s")
    units.setdefault("state", "1")
    sampling = _sampling(reader, data["sampling"], known) if "sampling" in data else SamplingSpec()
    if sampling.balance is not None:
        for index, reaction in enumerate(reactions):
            if not math.isclose(sum(reaction.reactants.values()), sum(reaction.products.values())):
                raise reader.fail("sampling.balance", f"reaction {index} ({reaction.equation}) changes the total "
                                  "amount, so no species can balance it", "remove 'balance'")
    description = reader.text(data.get("description", ""), "description")
    reference = reader.text(data.get("reference", ""), "reference")
    return MechanismSpec(name, species, reactions, initial_state, time_span, grid, units,
                         description, reference, sampling, source, text)


def load_spec(path: str | Path) -> MechanismSpec:
    """Read and validate a mechanism file. Raises :class:`MechanismError`."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # never more: the path may be a device or a pipe
        if len(raw) > MAX_FILE_BYTES:
            raise _too_large(str(path), path.stat().st_size if path.is_file() else len(raw), "bytes")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MechanismError(f"{path}: cannot read mechanism file ({error})") from None
    return parse_spec(text, str(path))


def _too_large(source: str, size: int, unit: str) -> MechanismError:
    return MechanismError(f"{source}: {size:,} {unit}, more than the {MAX_FILE_BYTES:,} a mechanism file may have; "
                          "is this the right file?")
