"""The fingerprint that names a solve's package: the same for the same problem, another for any change
that could change the program, none where a function cannot be described."""

import functools
import types

import pytest
import torch

import kinetix
from compiled_problems import compiled_integration
from conftest import MECHANISMS
from kinetix.solvers import package
from kinetix.solvers.tableaus import RODAS4, RODAS5P

SHAPES = ((1, 3), (1, 1), (64,))
SCALE = torch.tensor(1.0, dtype=torch.float64)


def found(func, tableau=RODAS5P, rtol=1e-6, shapes=SHAPES, vectorize=True) -> package.Fingerprint | None:
    """The fingerprint of a compiled solve of ``func`` from ``[1, 0, 0]``."""
    return package.fingerprint(compiled_integration(func, tableau, rtol), shapes, vectorize)


def fingerprint(func, **settings):
    """The package name of :func:`found`'s solve."""
    described = found(func, **settings)
    return None if described is None else described.name


def scaled_decay(t, y):
    return -SCALE * y


def test_the_same_problem_has_the_same_name_in_any_load(robertson):
    name = fingerprint(robertson)
    assert name is not None and len(name) == 64
    assert fingerprint(kinetix.load_mechanism(MECHANISMS / "robertson.yaml")) == name


def test_any_change_to_the_program_changes_the_name(robertson, monkeypatch):
    name = fingerprint(robertson)
    changed = kinetix.load_mechanism("robertson")
    with torch.no_grad():
        next(tensor for tensor in [*changed.parameters(), *changed.buffers()] if tensor.is_floating_point()).mul_(1.5)
    others = [fingerprint(changed), fingerprint(robertson, tableau=RODAS4), fingerprint(robertson, rtol=1e-7),
              fingerprint(robertson, shapes=((2, 3), (2, 1), (64,))), fingerprint(robertson, vectorize=False)]
    assert name not in others and len(set(others)) == len(others)
    decay = fingerprint(scaled_decay)
    monkeypatch.setattr(__import__(__name__), "SCALE", torch.tensor(2.0, dtype=torch.float64))
    assert fingerprint(scaled_decay) != decay  # a module-level tensor that the function reads


def test_where_inductor_keeps_its_cache_is_not_part_of_the_name(robertson, monkeypatch):
    # inductor sets TORCHINDUCTOR_CACHE_DIR in the environment when it first compiles, so the first solve
    # of a fresh process named its program differently from every later one and built it twice
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    name = fingerprint(robertson)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/elsewhere")
    assert fingerprint(robertson) == name
    monkeypatch.setenv("TORCHINDUCTOR_MAX_AUTOTUNE", "1")  # settings that change programs still count
    assert fingerprint(robertson) != name


def closing_over(settings):
    return lambda t, y: -settings.scale * y


def made_by(kind):
    if kind == "fast":
        return lambda t, y: -10.0 * y
    return lambda t, y: -y  # the same qualified name, another body


class Decay(torch.nn.Module):
    RATE = 1.0

    def forward(self, t, y):
        return -self.RATE * y


def test_code_and_class_attributes_are_part_of_the_name(monkeypatch):
    assert fingerprint(made_by("fast")) != fingerprint(made_by("slow"))
    decay = fingerprint(Decay())
    monkeypatch.setattr(Decay, "RATE", 2.0)
    assert fingerprint(Decay()) != decay


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_tensors_of_any_layout_and_dtype_are_described():
    for tensor in (torch.ones(3, dtype=torch.bfloat16), torch.eye(3, dtype=torch.float64).to_sparse_csr()):
        assert fingerprint(lambda t, y, k=tensor: -y) is not None


def test_a_fingerprint_tells_when_what_it_was_computed_from_changed(robertson, monkeypatch):
    mechanism = found(robertson)
    assert mechanism.current()
    with torch.no_grad():
        next(tensor for tensor in [*robertson.parameters(), *robertson.buffers()] if tensor.is_floating_point()).add_(0)
    assert not mechanism.current()  # an in-place change, even to the same values, asks for the name again
    user = found(scaled_decay)
    assert user.current()
    monkeypatch.setattr(__import__(__name__), "SCALE", torch.tensor(3.0, dtype=torch.float64))
    assert not user.current()


def test_a_kinetix_setting_changed_at_run_time_asks_for_another_name(robertson, monkeypatch):
    from kinetix.solvers import compiled_gradient

    before = found(robertson)
    assert before.current() and before.current()  # the second check reads the settings as described by the first
    monkeypatch.setattr(compiled_gradient, "CHUNK", compiled_gradient.CHUNK + 1)
    assert not before.current()
    assert fingerprint(robertson) != before.name


@pytest.mark.parametrize("func", [functools.partial(scaled_decay), closing_over(types.SimpleNamespace(scale=2.0)),
                                  eval("lambda t, y: -y", {})])
def test_a_function_holding_objects_of_unknown_kind_has_no_name(func):
    assert fingerprint(func) is None


def test_packages_live_in_the_kinetix_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIX_CACHE_DIR", str(tmp_path))
    assert package.cache_dir() == tmp_path / "solves"
    monkeypatch.delenv("KINETIX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert package.cache_dir() == tmp_path / "xdg" / "kinetix" / "solves"
