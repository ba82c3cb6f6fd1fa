"""A trained mass-action network written as a kinetix mechanism file (docs/mechanism-format.md).

    python -m kinetix.networks.export RUN/surrogate OUT.yaml [--tolerance 1e-6] [--force]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
import yaml

from ..errors import ConfigError, KinetixError
from .conserved import ConservedField
from .mass_action import MassActionNetwork


def effective_stoichiometry(field) -> tuple[MassActionNetwork, torch.Tensor]:
    """The mass-action network in ``field`` and its stoichiometry ``(n, R)`` as the field applies it
    (projected if ``field`` is a :class:`ConservedField`)."""
    if isinstance(field, ConservedField) and isinstance(field.inner, MassActionNetwork):
        return field.inner, field.projection @ field.inner.stoichiometry.detach()
    if isinstance(field, MassActionNetwork):
        return field, field.stoichiometry.detach()
    raise ConfigError(f"only mass-action networks export a mechanism, not {type(field).__name__}")


def _number(value: float) -> float:
    return float(f"{value:.8g}")


@torch.no_grad()
def mechanism_text(field, species, *, name: str, units: dict | None = None, t0: float = 0.0, times=None,
                   initial_state=None, tolerance: float = 1e-6) -> str:
    """The YAML of a mechanism with one reaction per active candidate of ``field``: coefficients
    and orders with magnitude below ``tolerance`` (relative to the reaction's largest) are dropped,
    rate constants in the state's units (``r_j = k_j prod_i y_i ** W_ji``). ``times`` ``(T,)`` and
    ``initial_state`` ``(n,)`` give the file's default grid and state."""
    network, stoichiometry = effective_stoichiometry(field)
    rate_constants = network.physical_rate_constants()
    reactions = []
    for j in torch.nonzero(network.active > 0).flatten().tolist():
        column, orders = stoichiometry[:, j], network.orders[j]
        largest = float(column.abs().max())
        if not largest > 0 or not math.isfinite(float(rate_constants[j])):
            continue
        keep = column.abs() > tolerance * largest
        reactants = {species[i]: _number(-float(column[i])) for i in range(len(species)) if keep[i] and column[i] < 0}
        products = {species[i]: _number(float(column[i])) for i in range(len(species)) if keep[i] and column[i] > 0}
        order = {species[i]: _number(float(orders[i])) for i in range(len(species))
                 if species[i] in reactants or orders[i] > tolerance}
        reactions.append({"id": f"R{j + 1}", "reactants": reactants, "products": products,
                          "rate_constant": _number(float(rate_constants[j])), "orders": order})
    if not reactions:
        raise ConfigError("the network has no active reaction to export")
    times = [float(t0), 1.0] if times is None else [float(x) for x in times]
    document = {
        "kinetix-mechanism": 1, "name": name,
        "description": "learned by a mass-action network (kinetix); reactions are candidates, not identified chemistry",
        "units": dict(units or {}), "species": list(species), "reactions": reactions,
        "initial_state": {s: float(v) for s, v in zip(species, initial_state if initial_state is not None else [])
                          if float(v) > 0},
        "time": {"span": [float(t0), max(times)],
                 "grid": {"spacing": "log" if min(times) > 0 and len(times) > 2 and
                          math.isclose(times[1] / times[0], times[2] / times[1], rel_tol=1e-6) else "linear",
                          "start": min(times), "stop": max(times), "points": len(times)}},
    }
    return yaml.safe_dump(document, sort_keys=False, width=110)


def export_surrogate(surrogate_path, out, *, tolerance: float = 1e-6, force: bool = False) -> Path:
    """Write the mechanism of the surrogate at ``surrogate_path`` to ``out`` (atomically)."""
    from ..data.atomic import atomic_path
    from ..surrogate import Surrogate

    surrogate = Surrogate.load(surrogate_path)
    info = surrogate.info
    text = mechanism_text(surrogate.field, surrogate.species, name=f"learned-{Path(surrogate_path).parent.name}",
                          units=info.get("units"), t0=info.get("t0", 0.0), times=info.get("t"),
                          initial_state=info.get("y0"), tolerance=tolerance)
    out = Path(out)
    with atomic_path(out, force=force) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinetix.networks.export", description=__doc__.splitlines()[0])
    parser.add_argument("surrogate", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-6, help="drop coefficients below this fraction")
    parser.add_argument("--force", action="store_true", help="overwrite OUT")
    args = parser.parse_args(argv)
    try:
        out = export_surrogate(args.surrogate, args.out, tolerance=args.tolerance, force=args.force)
    except KinetixError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from ..loading import load_mechanism

    mechanism = load_mechanism(out)
    print(f"wrote {out}: {len(mechanism.spec.reactions)} reactions")
    for reaction in mechanism.spec.reactions:
        print(f"  k = {reaction.rate_constant:<12.6g} {reaction.equation}   orders {reaction.orders}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
