"""The mass-action YAML format: every kind of bad input gets an error naming file, place and fix."""

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kinetix
from kinetix.errors import MechanismError
from kinetix.mass_action import parse_spec
from kinetix.mass_action.equation import format_equation, parse_equation

GOOD = """
kinetix-mechanism: 1
name: toy
species: [A, B, C]
reactions:
  - {id: R1, equation: A + B => C, rate_constant: 2.5}
  - {reactants: {C: 1}, products: {A: 1, B: 1}, rate_constant: 1e-3}
initial_state: {A: 1.0, B: 0.5}
time: {span: [0, 10], grid: {spacing: linear, points: 11}}
"""


def test_good_file_parses():
    spec = parse_spec(GOOD, "toy.yaml")
    assert spec.species == ("A", "B", "C")
    assert spec.reactions[0].reactants == {"A": 1, "B": 1}
    assert spec.reactions[1].rate_constant == 1e-3
    assert spec.reactions[1].orders == {"C": 1}
    assert spec.grid.times().tolist() == [float(i) for i in range(11)]


def mutate(old, new):
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize("text, fragments", [
    (mutate("A + B => C", "A + D => C"), ["reactions[0] (R1).equation", "unknown species 'D'", "declare it"]),
    (mutate("rate_constant: 2.5", "rate_constant: -2.5"), ["reactions[0] (R1).rate_constant", "must be >= 0"]),
    (mutate("rate_constant: 2.5", "rate_constant: fast"), ["reactions[0] (R1).rate_constant", "expected a number"]),
    (mutate(", rate_constant: 2.5", ""), ["reactions[0] (R1)", "missing field 'rate_constant'"]),
    (mutate("species: [A, B, C]", "species: [A, B, A]"), ["species[2]", "duplicate species 'A'"]),
    (mutate("species: [A, B, C]", "species: A"), ["species", "non-empty list"]),
    (mutate("name: toy\n", ""), ["name", "missing field 'name'"]),
    (mutate("kinetix-mechanism: 1", "kinetix-mechanism: 7"), ["kinetix-mechanism", "kinetix-mechanism: 1"]),
    (mutate("A + B => C", "A + B <=> C"), ["reactions[0] (R1).equation", "two reactions"]),
    (mutate("products: {A: 1, B: 1}", "products: {A: -1, B: 1}"), ["reactions[1].products.A", "must be > 0"]),
    (mutate("products: {A: 1, B: 1}", "products: [A, B]"), ["reactions[1].products", "expected a mapping"]),
    (mutate("initial_state: {A: 1.0, B: 0.5}", "initial_state: {A: -1.0}"), ["initial_state.A", ">= 0"]),
    (mutate("initial_state: {A: 1.0, B: 0.5}", "initial_state: {Z: 1.0}"), ["initial_state", "unknown species 'Z'"]),
    (mutate("span: [0, 10]", "span: [10, 0]"), ["time.span", "must exceed"]),
    (mutate("spacing: linear", "spacing: log"), ["time.grid.start", "log spacing needs start > 0"]),
    (mutate("points: 11", "points: 2.5"), ["time.grid.points", "positive integer"]),
    (mutate("rate_constant: 2.5}", "rate_constant: 2.5, colour: red}"), ["reactions[0] (R1)", "unknown field(s) colour"]),
    (mutate("name: toy", "name: toy\nsampling: {balance: C}"), ["sampling.balance", "changes the total"]),
    ("species: [A\n  - B", ["toy.yaml", "not valid YAML"]),
    ("- just\n- a list", ["top level", "expected a mapping"]),
])
def test_bad_files_name_the_place(text, fragments):
    with pytest.raises(MechanismError) as info:
        parse_spec(text, "toy.yaml")
    message = str(info.value)
    assert message.startswith("toy.yaml: ")
    for fragment in fragments:
        assert fragment in message


def test_species_named_no_is_text_not_false():
    spec = parse_spec(mutate("species: [A, B, C]", "species: [A, B, C, NO, ON]"), "toy.yaml")
    assert spec.species[-2:] == ("NO", "ON")


def test_missing_file_is_a_mechanism_error(tmp_path):
    with pytest.raises(MechanismError, match="no such mechanism file"):
        kinetix.load_mechanism(str(tmp_path / "absent.yaml"))


def test_unknown_name_suggests_a_close_one():
    with pytest.raises(kinetix.RegistryError, match="did you mean 'robertson'"):
        kinetix.load_mechanism("robertsn")


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=4)
sides = st.dictionaries(names, st.integers(1, 3), max_size=3)


@given(sides, sides)
def test_equation_round_trip(reactants, products):
    if not reactants and not products:
        return
    parsed = parse_equation(format_equation(reactants, products))
    assert parsed == ({k: float(v) for k, v in reactants.items()}, {k: float(v) for k, v in products.items()})


@given(st.text(max_size=200))
def test_any_text_gives_a_spec_or_a_mechanism_error(text):
    try:
        parse_spec(text, "fuzz.yaml")
    except MechanismError as error:
        assert str(error).startswith("fuzz.yaml: ")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.dictionaries(st.sampled_from(["species", "reactions", "time", "initial_state", "units", "sampling", "name"]),
                       yaml_values, max_size=6),
       st.sampled_from(["reactions", "time", "species", "initial_state"]), yaml_values)
def test_structured_garbage_gives_a_mechanism_error(fields, key, value):
    """Well-formed YAML with wrong types anywhere: always a MechanismError, never a crash."""
    document = yaml.safe_load(GOOD)
    document.update(fields)
    document[key] = value
    try:
        parse_spec(yaml.safe_dump(document), "fuzz.yaml")
    except MechanismError:
        pass


@settings(max_examples=100)
@given(st.lists(st.fixed_dictionaries({
    "equation": st.builds(lambda r, p: f"{r} => {p}", st.sampled_from(["A", "2 A", "A + B", "", "C + C"]),
                          st.sampled_from(["B", "", "A + C", "3 C"])),
    "rate_constant": st.floats(0, 1e6),
}), min_size=1, max_size=4))
def test_generated_reactions_compile_and_conserve_structure(reactions):
    """Any valid reaction list compiles; the rhs is the stoichiometry times the rates."""
    import torch

    document = yaml.safe_load(GOOD)
    document["reactions"] = reactions
    try:
        spec = parse_spec(yaml.safe_dump(document), "gen.yaml")
    except MechanismError as error:
        assert "neither reactants nor products" in str(error)
        return
    from kinetix.mass_action import MassActionMechanism

    mech = MassActionMechanism(spec)
    y = torch.tensor([0.3, 0.2, 0.1], dtype=torch.float64)
    rates = mech.rates_of_progress(y)
    for j, reaction in enumerate(spec.reactions):
        expected = reaction.rate_constant
        for name, order in reaction.orders.items():
            expected *= float(y[spec.species.index(name)]) ** order
        assert float(rates[j]) == pytest.approx(expected, rel=1e-14, abs=1e-300)
