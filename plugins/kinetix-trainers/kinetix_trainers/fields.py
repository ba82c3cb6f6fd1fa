"""The trained vector field built from the configuration and the data: the registered network
(MLP keys for networks that take them, ``network.options`` for any), optionally wrapped so that
the mechanism's conserved quantities stay constant."""

from __future__ import annotations

import inspect

import torch

from kinetix.errors import ConfigError, MechanismError
from kinetix.plugins import get_catalog
from kinetix.surrogate import build_network

from .derivatives import dataset_mechanism

MLP_KEYS = ("width", "depth", "activation", "output")


def invariants(dataset) -> torch.Tensor:
    """Conserved linear combinations ``(m, n)`` of the dataset's states: the invariants of its
    mass-action mechanism, or the element amounts per unit mass of a ``cantera:`` reactor."""
    if str(dataset.metadata.get("mechanism", "")).startswith("cantera:"):
        return _element_amounts(dataset)
    mechanism = dataset_mechanism(dataset)
    if mechanism is None:
        raise ConfigError(f"{dataset.path}: network.conserve = 'mechanism' needs a dataset that holds its mass-action "
                          "or cantera: mechanism's definition (kinetix generate writes it); use conserve = 'none'")
    matrix = mechanism.invariants.tensor(mechanism.stoichiometry.dtype)
    if len(matrix) == 0:
        raise ConfigError(f"{dataset.path}: the mechanism conserves no linear combination of its species; "
                          "use network.conserve = 'none'")
    return matrix


def element_invariants(where: str):
    """:class:`kinetix_cantera.ElementInvariants`, or a clear error for ``where`` (a file) without the plugin."""
    try:
        from kinetix_cantera import ElementInvariants
    except ImportError:
        raise ConfigError(f"{where}: the element amounts of a cantera: mechanism need the kinetix-cantera plugin; "
                          "install it (pip install -e plugins/kinetix-cantera)") from None
    return ElementInvariants


def _element_amounts(dataset) -> torch.Tensor:
    """``(m, 1 + K)`` element amounts per unit mass of the ``cantera:`` reactor stored in ``dataset``."""
    try:
        definition = dataset.metadata.get("mechanism_definition", "")
        matrix = element_invariants(str(dataset.path)).of_definition(definition).tensor()
    except MechanismError as error:
        raise ConfigError(f"{dataset.path}: mechanism_definition: {error}; use network.conserve = 'none'") from None
    if matrix.shape[1] != len(dataset.species):
        raise ConfigError(f"{dataset.path}: the element amounts cover [T, {matrix.shape[1] - 1} species] but the states "
                          f"have {len(dataset.species)} components; use network.conserve = 'none'")
    return matrix


def build_field(net, dataset, y_scale: torch.Tensor, scales: dict) -> tuple[torch.nn.Module, dict]:
    """``(field, {"name", "config"})`` for the network settings ``net``; ``scales``: the keywords
    ``input_shift``, ``input_scale``, ``output_scale`` the trainer computed from the data."""
    accepted = inspect.signature(get_catalog()["network"].get(net.name)).parameters
    config = {"n_species": len(dataset.species),
              **{key: getattr(net, key) for key in MLP_KEYS if key in accepted}, **net.options}
    network = {"name": net.name, "config": config}
    if net.conserve == "mechanism":
        network = {"name": "conserved", "config": {"inner": network, "invariants": invariants(dataset).tolist(),
                                                   "weights": y_scale.tolist()}}
    try:
        return build_network(network, **scales), network
    except TypeError as error:
        raise ConfigError(f"network.options: {error}") from None
