"""Registration with kinetix: the ``cantera`` mechanism family, ``"cantera:<mechanism.yaml>"``, and the
``cantera`` solver (Cantera's own ``ReactorNet``, the reference for those reactors)."""

from __future__ import annotations

import inspect

import kinetix
from kinetix import ConfigError, MechanismError

from .reactor import ReactorMechanism
from .reference import CanteraSolver

_OPTIONS = [name for name in inspect.signature(ReactorMechanism.__init__).parameters if name not in ("self", "kinetics")]


def load_reactor(source: str = "", **options) -> ReactorMechanism:
    """``kinetix.load_mechanism("cantera:<source>", **options)``: a :class:`ReactorMechanism`."""
    if not source:
        raise MechanismError("the cantera family needs a mechanism file: e.g. 'cantera:gri30.yaml' or 'cantera:./mech.yaml'")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"cantera:{source}: unknown option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
    return ReactorMechanism(source, **options)


@kinetix.hookimpl
def register_mechanisms(register):
    register(
        "cantera", load_reactor,
        description="a Cantera YAML mechanism in an ideal-gas reactor, e.g. cantera:gri30.yaml",
    )


@kinetix.hookimpl
def register_solvers(register):
    register(
        "cantera", CanteraSolver,
        description="Cantera's ReactorNet (CVODES), member by member; reference for cantera:<mechanism> reactors only",
    )
