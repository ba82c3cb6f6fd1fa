"""Where the gradient of a compiled solve cannot be trusted to the compiled programs, it is still right.

These tests need no compiler: ``torch.compile`` returns the function as written, and the programs'
loops run in Python, so the logic that chooses a path is tested in seconds."""

import pytest
import torch

import kinetix
from kinetix.solvers import compiled_gradient, loop
from kinetix.solvers.compiled_gradient import python_while_loop
from test_compiled_gradient import RateConstants, loss_and_gradients


@pytest.fixture
def no_compiler(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda function, **options: function)
    # steps compiled by an earlier test in this process would be reused (a field's random draws then
    # come from the compiled program's generator, not torch's: the noisy field's gradients differed)
    monkeypatch.setattr(loop, "_COMPILED", {})
    monkeypatch.setattr(compiled_gradient, "while_loop", python_while_loop)  # the forward's loop
    monkeypatch.setattr(compiled_gradient._Programs._backward, "__defaults__", (python_while_loop,))


@pytest.fixture
def compiled_solves(no_compiler, monkeypatch) -> list:
    """Records each solve that took the compiled gradient's path (not the step-by-step one)."""
    solves, apply = [], compiled_gradient._Solve.apply

    def recording(*arguments):
        solves.append(arguments)
        return apply(*arguments)

    monkeypatch.setattr(compiled_gradient._Solve, "apply", recording)
    return solves


@pytest.fixture
def backward_cannot_compile(no_compiler, monkeypatch):
    """Compiling the backward program fails as a compiler error would."""
    def compile_(function, **options):
        if getattr(function, "__name__", "") != "_backward":
            return function

        def failing(*arguments):
            raise torch._dynamo.exc.TorchDynamoException("the backend could not compile the graph")
        return failing

    monkeypatch.setattr(torch, "compile", compile_)


def assert_same_gradients(field, inputs, y0, t, before_each_solve=lambda: None):
    before_each_solve()
    _, eager = loss_and_gradients(field, y0, t, inputs)
    before_each_solve()
    _, compiled = loss_and_gradients(field, y0, t, inputs, options={"compile": "solve"})
    for got, expected in zip(compiled, eager):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10 * float(expected.abs().max()))


Y0 = [[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399]]
TIMES = [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e2]


def test_a_backward_program_that_cannot_compile_falls_back_to_the_same_loop_in_python(backward_cannot_compile):
    field = RateConstants()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="backward program of compile='solve' could not be compiled"):
        assert_same_gradients(field, (y0, field.log_k), y0, t)


class CachedRates(RateConstants):
    """Rate constants computed from the parameter once, kept in a plain attribute (not a buffer)."""

    def prepare(self):
        self.k = self.log_k.exp()

    def forward(self, t, y):
        k1, k2, k3 = self.k.unbind()
        a, b, c = y.unbind(-1)
        return torch.stack([-k1 * a + k3 * b * c, k1 * a - k3 * b * c - k2 * b * b, k2 * b * b], -1)


def test_a_tensor_cached_from_a_parameter_keeps_its_gradient(compiled_solves):
    # the backward program swaps the module's parameters for its own tensors, which a cached attribute
    # does not see: its gradient came back zero; the solve now goes step by step
    field = CachedRates()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    assert_same_gradients(field, (y0, field.log_k), y0, t, before_each_solve=field.prepare)
    assert not compiled_solves


class NoisyRates(RateConstants):
    """Rate constants with multiplicative noise drawn at every evaluation (as dropout draws masks)."""

    def forward(self, t, y):
        return super().forward(t, y) * (1.0 + 1e-8 * torch.rand((), dtype=y.dtype))


def test_a_field_that_draws_random_numbers_is_differentiated_through_its_own_draws(compiled_solves):
    # the backward program recomputes each step: its draws would not be the forward's
    field = NoisyRates()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    assert_same_gradients(field, (y0, field.log_k), y0, t, before_each_solve=lambda: torch.manual_seed(0))
    assert not compiled_solves


def test_a_function_made_anew_for_every_solve_reuses_the_programs_of_the_first(no_compiler):
    # keyed by identity, each new lambda (and each time-reversed field that solve makes for decreasing
    # times) compiled new programs, minutes each, and kept them all
    field = RateConstants()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    programs = len(compiled_gradient._PROGRAMS)
    for _ in range(3):
        loss_and_gradients(lambda t, y: field(t, y), y0, t, (y0,), options={"compile": "solve"})
    backwards = torch.tensor([1e-3, 1e-4, 0.0], dtype=torch.float64)
    for _ in range(2):
        loss_and_gradients(field, y0[:1], backwards, (y0,), options={"compile": "solve"})
    assert len(compiled_gradient._PROGRAMS) == programs + 2


class WithUnusedParameter(RateConstants):
    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))


def test_a_parameter_the_field_does_not_use_gets_no_gradient_as_in_the_eager_loop(compiled_solves):
    # a zero gradient would still move it under weight decay or momentum; the eager loop gives None
    field = WithUnusedParameter()
    y0 = torch.tensor(Y0, dtype=torch.float64)
    t = torch.tensor(TIMES, dtype=torch.float64)
    for options in ({}, {"compile": "solve"}):
        ys = kinetix.odeint(field, y0, t, rtol=1e-6, atol=1e-10, options=options)
        used, unused = torch.autograd.grad(ys.sum(), (field.log_k, field.unused), allow_unused=True)
        assert unused is None and used is not None
    assert len(compiled_solves) == 1


def two_closures_from_one_line():
    """``(field, (first, retarget_first), (second, _))``: two closures made by one line over ``field``
    (whose gradient is not asked), and for each a function that replaces its captured field by another."""
    field, other = RateConstants().requires_grad_(False), RateConstants().requires_grad_(False)
    with torch.no_grad():
        other.log_k += 1.0

    def made():
        target = field

        def rates(t, y):
            return target(t, y)

        def retarget():
            nonlocal target
            target = other

        return rates, retarget

    return field, made(), made()


def test_a_program_is_not_reused_once_the_function_it_calls_captured_another_object(no_compiler):
    # two closures from one line share programs while they capture the same object; once the first
    # one's captured object is replaced, its program computes with the new one and must not serve the second
    field, (first, retarget_first), (second, _) = two_closures_from_one_line()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    loss_and_gradients(first, y0, t, (y0,), options={"compile": "solve"})
    retarget_first()
    ys, grads = loss_and_gradients(second, y0, t, (y0,), options={"compile": "solve"})
    eager_ys, eager = loss_and_gradients(field, y0, t, (y0,))
    torch.testing.assert_close(ys, eager_ys, rtol=1e-9, atol=1e-20)
    torch.testing.assert_close(grads[0], eager[0], rtol=1e-10, atol=0)


def test_a_closure_whose_program_another_closure_built_keeps_its_gradient_when_that_one_changes(no_compiler):
    # the kept programs call the first closure; replacing its captured object between the second's solve
    # and backward() made the backward recompute the steps with the other object
    _, (first, retarget_first), (second, _) = two_closures_from_one_line()
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TIMES, dtype=torch.float64)
    loss_and_gradients(first, y0, t, (y0,), options={"compile": "solve"})
    ys = kinetix.odeint(second, y0, t, rtol=1e-6, atol=1e-10, options={"compile": "solve"})
    retarget_first()
    (compiled,) = torch.autograd.grad((ys * torch.linspace(1, 2, ys.numel(), dtype=ys.dtype).view(ys.shape)).sum(), y0)
    _, (eager,) = loss_and_gradients(second, y0, t, (y0,))
    torch.testing.assert_close(compiled, eager, rtol=1e-10, atol=0)
