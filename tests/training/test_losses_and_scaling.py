"""Loss formulas and data-derived scales against hand computations."""

import math

import pytest
import torch

from kinetix import scaling
from kinetix.errors import ConfigError
from kinetix.losses import AsinhMAE, ScaledMAE, ScaledMSE

PRED = torch.tensor([[1.0, 2e-5], [0.5, 1e-5]], dtype=torch.float64)
TARGET = torch.tensor([[0.9, 1e-5], [0.5, 3e-5]], dtype=torch.float64)
SCALE = torch.tensor([1.0, 4e-5], dtype=torch.float64)


def test_scaled_mae_and_mse():
    errors = [0.1, 0.25, 0.0, 0.5]
    assert ScaledMAE()(PRED, TARGET, SCALE).item() == pytest.approx(sum(errors) / 4, rel=1e-12)
    assert ScaledMSE()(PRED, TARGET, SCALE).item() == pytest.approx(sum(e * e for e in errors) / 4, rel=1e-12)


def test_asinh_mae_is_relative_above_the_floor_and_absolute_below():
    loss = AsinhMAE(floor=1e-6)
    scale = torch.ones(1, dtype=torch.float64)
    big = loss(torch.tensor([[1.1]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64), scale)
    assert big.item() == pytest.approx(math.log(1.1), rel=1e-6)
    tiny = loss(torch.tensor([[2e-9]], dtype=torch.float64), torch.tensor([[1e-9]], dtype=torch.float64), scale)
    assert tiny.item() == pytest.approx(1e-3, rel=1e-3)
    with pytest.raises(ConfigError):
        AsinhMAE(floor=0)


def test_species_scales():
    y = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]], dtype=torch.float64)
    assert scaling.species_scale(y, "max").tolist() == [3.0, 2.0]
    assert scaling.species_scale(y, "range").tolist() == [2.0, 2.0]
    assert scaling.species_scale(y, "none").tolist() == [1.0, 1.0]
    constant = torch.ones(1, 3, 2, dtype=torch.float64)
    assert (scaling.species_scale(constant, "range") > 0).all()  # never divide by zero
    with pytest.raises(ConfigError, match="unknown species scale"):
        scaling.species_scale(y, "median")


def test_rate_and_paper_output_scales():
    t = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    y = torch.tensor([[[0.0, 1.0], [2.0, 1.0], [3.0, 0.0]]], dtype=torch.float64)
    assert scaling.output_scale(t, y, torch.tensor([3.0, 1.0], dtype=torch.float64), "rate").tolist() == [2.0, 0.5]
    assert scaling.output_scale(t, y, torch.tensor([3.0, 1.0], dtype=torch.float64), "paper").tolist() == [1.0, 1 / 3]


def test_initial_states_are_prepended_only_when_before_the_data():
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    y = torch.zeros(2, 2, 3, dtype=torch.float64)
    y0 = torch.ones(2, 3, dtype=torch.float64)
    times, states = scaling.with_initial_states(t, y, y0, 0.0)
    assert times.tolist() == [0.0, 1.0, 2.0] and states.shape == (2, 3, 3) and states[:, 0].eq(1).all()
    times, states = scaling.with_initial_states(t, y, y0, 1.0)
    assert times.tolist() == [1.0, 2.0] and states.shape == (2, 2, 3)
