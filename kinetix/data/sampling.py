"""Random initial states around a mechanism's default one.

A :class:`Perturbation` says how each state component varies:

- ``ranges``: absolute bounds ``{name: (low, high)}``, sampled uniformly;
- ``relative``: every other component that is non-zero in the default state is multiplied by a
  factor uniform in ``[1 - relative, 1 + relative]`` (components that start at zero stay zero);
- ``balance``: one species set to ``total - sum(others)`` so that the total amount of the default
  state is kept (only for mechanisms whose reactions all conserve that total, like Robertson).

States stay non-negative: a draw whose balance species would be negative is drawn again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError

_MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Perturbation:
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    relative: float | None = None
    balance: str | None = None

    def describe(self) -> str:
        parts = [f"{name} in [{low:g}, {high:g}]" for name, (low, high) in self.ranges.items()]
        if self.relative:
            parts.append(f"others x U[{1 - self.relative:g}, {1 + self.relative:g}]")
        if self.balance:
            parts.append(f"{self.balance} balances the total")
        return "; ".join(parts) or "none"

    def merged_with(self, override: Perturbation) -> Perturbation:
        """This perturbation with ``override``'s ranges added and its other fields replacing ours."""
        return Perturbation(
            {**self.ranges, **override.ranges},
            override.relative if override.relative is not None else self.relative,
            override.balance if override.balance is not None else self.balance,
        )


def parse_perturbation(options: tuple[str, ...] | list[str], balance: str | None = None) -> Perturbation:
    """Read CLI ``--perturb`` options: ``NAME=LOW:HIGH`` (absolute range) or ``F`` (relative spread)."""
    ranges: dict[str, tuple[float, float]] = {}
    relative = None
    for option in options:
        if "=" in option:
            name, _, bounds = option.partition("=")
            low_text, sep, high_text = bounds.partition(":")
            try:
                low, high = float(low_text), float(high_text)
            except ValueError:
                low = high = float("nan")
            if not sep or not (0 <= low <= high < float("inf")):
                raise ConfigError(f"--perturb {option!r}: expected NAME=LOW:HIGH with 0 <= LOW <= HIGH, e.g. A=0.5:1.0")
            ranges[name.strip()] = (low, high)
        else:
            try:
                relative = float(option)
            except ValueError:
                relative = float("nan")
            if not 0 <= relative < 1:
                raise ConfigError(f"--perturb {option!r}: a relative spread must be a number in [0, 1), e.g. 0.2")
    return Perturbation(ranges, relative, balance)


def sample_initial_states(mechanism, count: int, generator: np.random.Generator,
                          perturbation: Perturbation | None = None) -> torch.Tensor:
    """``count`` initial states ``(count, n)`` for ``mechanism``; see the module docstring."""
    names = list(mechanism.state_names)
    default = mechanism.initial_state().detach().cpu().numpy().astype(np.float64)
    if perturbation is None:
        perturbation = default_perturbation(mechanism)
    for name in [*perturbation.ranges, *([perturbation.balance] if perturbation.balance else [])]:
        if name not in names:
            raise ConfigError(f"perturbation names unknown state component {name!r} (known: {', '.join(names)})")
    if perturbation.balance in perturbation.ranges:
        raise ConfigError(f"{perturbation.balance!r} cannot both have a range and balance the total")
    if count < 1:
        raise ConfigError(f"the number of trajectories must be at least 1, got {count}")
    states = np.empty((count, len(names)))
    for row in range(count):
        for _ in range(_MAX_REDRAWS):
            state = _draw(default, names, perturbation, generator)
            if state is not None:
                states[row] = state
                break
        else:
            raise ConfigError(
                f"perturbation ({perturbation.describe()}) keeps making {perturbation.balance!r} negative; "
                "narrow the ranges"
            )
    return torch.as_tensor(states, dtype=mechanism.initial_state().dtype)


def default_perturbation(mechanism) -> Perturbation:
    spec = getattr(getattr(mechanism, "spec", None), "sampling", None)
    if spec is not None and (spec.ranges or spec.relative is not None or spec.balance):
        return Perturbation(dict(spec.ranges), spec.relative, spec.balance)
    return Perturbation(relative=0.2)


def _draw(default: np.ndarray, names: list[str], perturbation: Perturbation, generator) -> np.ndarray | None:
    state = default.copy()
    ranged = {names.index(name): bounds for name, bounds in perturbation.ranges.items()}
    balance = names.index(perturbation.balance) if perturbation.balance else None
    for i in range(len(names)):
        if i in ranged:
            state[i] = generator.uniform(*ranged[i])
        elif i != balance and perturbation.relative and default[i] != 0:
            state[i] = default[i] * generator.uniform(1 - perturbation.relative, 1 + perturbation.relative)
    if balance is not None:
        total = default.sum()
        state[balance] = total - (state.sum() - state[balance])
        if state[balance] < -1e-12 * abs(total):
            return None
        state[balance] = max(state[balance], 0.0)
    return state
