"""Initial-state sampling: ranges, relative spread, balance species, non-negativity."""

import numpy as np
import pytest

from kinetix.data.sampling import Perturbation, parse_perturbation, sample_initial_states
from kinetix.errors import ConfigError


def test_robertson_default_sampling_matches_its_file(robertson):
    states = robertson.sample_initial_states(500, np.random.default_rng(0)).numpy()
    assert ((states[:, 0] >= 0.5) & (states[:, 0] <= 1.0)).all()
    assert (states[:, 1] == 0).all()
    np.testing.assert_allclose(states.sum(1), 1.0, rtol=1e-15)
    assert states[:, 0].std() > 0.1  # really spread over the range


def test_relative_spread_keeps_zero_species_at_zero(pollu):
    default = pollu.initial_state().numpy()
    states = pollu.sample_initial_states(200, np.random.default_rng(1)).numpy()
    present = default > 0
    assert (states[:, ~present] == 0).all()
    ratio = states[:, present] / default[present]
    assert ratio.min() >= 0.5 and ratio.max() <= 1.5


def test_same_seed_same_states(pollu):
    a = pollu.sample_initial_states(5, np.random.default_rng(3))
    b = pollu.sample_initial_states(5, np.random.default_rng(3))
    assert (a == b).all()


def test_balance_never_goes_negative(robertson):
    states = sample_initial_states(robertson, 300, np.random.default_rng(2),
                                   Perturbation(ranges={"A": (0.0, 0.9), "B": (0.0, 0.3)}, balance="C")).numpy()
    assert (states >= 0).all()
    np.testing.assert_allclose(states.sum(1), 1.0, rtol=1e-14)


def test_impossible_balance_is_an_error(robertson):
    with pytest.raises(ConfigError, match="keeps making 'C' negative"):
        sample_initial_states(robertson, 2, np.random.default_rng(0),
                              Perturbation(ranges={"A": (0.8, 0.9), "B": (0.5, 0.6)}, balance="C"))


@pytest.mark.parametrize("options, message", [
    (["A=1"], "NAME=LOW:HIGH"), (["A=x:2"], "NAME=LOW:HIGH"), (["1.5"], r"\[0, 1\)"), (["-0.1"], r"\[0, 1\)"),
])
def test_bad_perturbation_options(options, message):
    with pytest.raises(ConfigError, match=message):
        parse_perturbation(options)


def test_perturbation_options_parse():
    p = parse_perturbation(["A=0.1:0.2", "0.3"], balance="C")
    assert p.ranges == {"A": (0.1, 0.2)} and p.relative == 0.3 and p.balance == "C"
