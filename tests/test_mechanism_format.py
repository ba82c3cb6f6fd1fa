"""The mass-action YAML format: every kind of bad input gets an error naming file, place and fix."""

import re
import time
from contextlib import contextmanager

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kinetix
from kinetix.errors import MechanismError
from kinetix.mass_action import bounded_yaml, load_spec, parse_spec
from kinetix.mass_action.format import MAX_FILE_BYTES
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
    (mutate("rate_constant: 2.5", "rate_constant: 1" + "0" * 400), ["reactions[0] (R1).rate_constant", "must be finite"]),
    (mutate("rate_constant: 2.5", "rate_constant: " + "9" * 5000), ["line 6", "cannot read '99999", "4300 digits"]),
    (mutate("name: toy", "name: 2001-13-45"), ["line 3", "cannot read '2001-13-45' (month must be in 1..12)"]),
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


def alias_levels(levels: int, fanout: int) -> list[str]:
    """Flow lists where level k repeats level k-1 ``fanout`` times through an alias: a few hundred
    bytes standing for ``fanout ** levels`` items."""
    lists = [f"&l0 [{', '.join(['lol'] * fanout)}]"]
    return lists + [f"&l{k} [{', '.join([f'*l{k - 1}'] * fanout)}]" for k in range(1, levels)]


def alias_bomb(field: str, levels: int = 9, fanout: int = 9) -> str:
    """A valid mechanism but for ``field``, a list whose first item holds all the levels."""
    lines = [line for line in GOOD.splitlines() if not line.startswith(f"{field}:")]
    return "\n".join([*lines, f"{field}: [[{', '.join(alias_levels(levels, fanout))}]]"]) + "\n"


@contextmanager
def within(seconds: float):
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < seconds


@pytest.mark.parametrize("field", ["description", "species", "name", "reference"])
def test_an_alias_bomb_is_refused_at_once(field):
    text = alias_bomb(field)
    assert len(text) < 800  # 9 ** 9 = 387 million items once expanded
    with within(1.0), pytest.raises(MechanismError) as info:
        parse_spec(text, "bomb.yaml")
    message = str(info.value)
    assert message.startswith("bomb.yaml: line ") and "more than 1,000,000 values once aliases are expanded" in message
    assert len(message) < 300


def test_a_long_alias_chain_is_refused_at_once():
    """Doubling at each of 2,000 levels: the count must stop early, not compute 2 ** 2000."""
    with within(1.0), pytest.raises(MechanismError, match="once aliases are expanded"):
        parse_spec(alias_bomb("description", levels=2000, fanout=2), "chain.yaml")


@pytest.mark.parametrize("text, fragment", [
    ("a: &a [*a]\n", "an alias refers to a list or mapping that contains it"),
    ("a: &a {b: *a}\n", "an alias refers to a list or mapping that contains it"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "nested more than 32 levels deep"),
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),  # libyaml stops at 1,000 levels itself
    ("a: &a [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]\n", "once aliases are expanded"),
])
@pytest.mark.parametrize("loader", bounded_yaml.LOADERS, ids=lambda loader: loader.__name__)
def test_self_reference_and_deep_nesting_are_refused_by_every_loader(text, fragment, loader):
    with within(5.0), pytest.raises(yaml.YAMLError, match=fragment):
        bounded_yaml.load(text, loader)


@given(st.integers(1, 40), st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_alias_bounds_match_an_independent_count(levels, fanout):
    """Level k is 1 list holding ``fanout`` copies of level k-1 (level 0: ``fanout`` scalars): the
    document (a list of the levels) is refused exactly when its expanded size or depth is too large."""
    sizes = [1 + fanout]
    for _ in range(1, levels):
        sizes.append(1 + fanout * sizes[-1])
    total, depth = 1 + sum(sizes), levels + 1
    text = "".join(f"- {level}\n" for level in alias_levels(levels, fanout))
    refused = total > bounded_yaml.MAX_VALUES or depth > bounded_yaml.MAX_DEPTH
    with within(1.0):
        try:
            document = bounded_yaml.load(text)
        except bounded_yaml.YAMLRefused:
            assert refused
        else:
            assert not refused and len(document) == levels


@pytest.mark.parametrize("text, line, first", [
    (GOOD.replace("rate_constant: 2.5}", "rate_constant: 2.5, rate_constant: 3.5}"), 6, 6),
    (GOOD.replace("name: toy\n", "name: toy\nname: other\n"), 4, 3),
    ("kinetix-mechanism: 1\nreactions:\n  - equation: A => B\n    rate_constant: 1\n    rate_constant: 2\n", 5, 4),
])
def test_a_duplicate_key_is_refused_with_its_line(text, line, first):
    with pytest.raises(MechanismError) as info:
        parse_spec(text, "toy.yaml")
    assert str(info.value).startswith(f"toy.yaml: line {line}: duplicate key ")
    assert f"(first on line {first}); give each key once" in str(info.value)


def test_anchors_aliases_and_merge_keys_within_bounds_still_work():
    text = GOOD.replace("reactions:\n", "reactions:\n  - &base {equation: C => A, rate_constant: 4.0, orders: &o {C: 2}}\n"
                        "  - {<<: *base, rate_constant: 5.0, orders: *o}\n")
    spec = parse_spec(text, "toy.yaml")
    assert [r.rate_constant for r in spec.reactions[:2]] == [4.0, 5.0]
    assert spec.reactions[1].orders == {"C": 2.0}


def test_a_mechanism_file_over_the_size_limit_is_refused_before_reading_it(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "#" * MAX_FILE_BYTES)
    with within(1.0), pytest.raises(MechanismError, match=r"huge.yaml: [\d,]+ bytes, more than the 4,194,304"):
        load_spec(path)
    with pytest.raises(MechanismError, match="more than the 4,194,304"):
        parse_spec(GOOD + "#" * MAX_FILE_BYTES, "huge.yaml")
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1))
    assert load_spec(path).name == "toy"  # the limit itself is allowed


def test_messages_quote_at_most_a_short_excerpt():
    long_name = "N" * 1_000_000
    for text in (mutate("A + B => C", f"A + {long_name} => C"), mutate("A + B => C", f"A <=> {long_name}"),
                 mutate("name: toy", f"name: [{long_name}]"), mutate("A + B => C", f"A + 2 3 {long_name} => C"),
                 mutate("species: [A, B, C]", f"species: [A, B, C, [{', '.join(['x'] * 100_000)}]]")):
        with pytest.raises(MechanismError) as info:
            parse_spec(text, "toy.yaml")
        assert len(str(info.value)) < 400


def test_the_c_loader_is_used_when_present():
    assert bounded_yaml.LOADERS[-1].__name__ == "_PurePythonLoader"
    assert (bounded_yaml.LOADERS[0].__name__ == "_LibyamlLoader") == yaml.__with_libyaml__


@pytest.mark.parametrize("loader", bounded_yaml.LOADERS, ids=lambda loader: loader.__name__)
def test_no_tag_runs_code(loader, tmp_path):
    marker = tmp_path / "ran"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"):
        with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
            bounded_yaml.load(f"x: {tag} [touch {marker}]\n", loader)
    assert not marker.exists()


# PyYAML writes YAML 1.1, where "1E5" is text, unquoted; kinetix reads YAML 1.2, where it is a number
texts = st.text(max_size=8).filter(lambda text: not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", text))
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(json_like)
def test_every_loader_reads_back_what_yaml_writes(value):
    """The libyaml and pure-Python loaders agree, and lose nothing PyYAML writes."""
    text = yaml.safe_dump(value)
    for loader in bounded_yaml.LOADERS:
        assert bounded_yaml.load(text, loader) == value
