"""The trained vector field built from the configuration and the data: the registered network
(MLP keys for networks that take them, ``network.options`` for any), optionally wrapped so that
the mechanism's conserved quantities stay constant."""

from __future__ import annotations

import inspect

import torch

from kinetix.errors import ConfigError
from kinetix.plugins import get_catalog
from kinetix.surrogate import build_network

from .derivatives import dataset_mechanism

MLP_KEYS = ("width", "depth", "activation", "output")


def invariants(dataset) -> torch.Tensor:
    """Conserved linear combinations ``(m, n)`` of the mass-action mechanism stored in ``dataset``."""
    mechanism = dataset_mechanism(dataset)
    if mechanism is None:
        raise ConfigError(f"{dataset.path}: network.conserve = 'mechanism' needs a dataset that holds its mass-action "
                          "mechanism's definition (kinetix generate writes it); use conserve = 'none'")
    matrix = mechanism.invariants.tensor(mechanism.stoichiometry.dtype)
    if len(matrix) == 0:
        raise ConfigError(f"{dataset.path}: the mechanism conserves no linear combination of its species; "
                          "use network.conserve = 'none'")
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
