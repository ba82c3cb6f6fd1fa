"""Where the backward program of a compiled solve cannot be compiled, the gradient is still right."""

import pytest
import torch

from kinetix.solvers import compiled_gradient
from test_compiled_gradient import RateConstants, loss_and_gradients


@pytest.fixture
def backward_cannot_compile(monkeypatch):
    """No compiler: the forward program runs as written, with its loop in Python, and compiling the
    backward program fails as a compiler error would."""
    def compile_(function, **options):
        if getattr(function, "__name__", "") != "_backward":
            return function

        def failing(*arguments):
            raise torch._dynamo.exc.TorchDynamoException("the backend could not compile the graph")
        return failing

    def python_while_loop(condition, body, carried):
        while bool(condition(*carried)):
            carried = body(*carried)
        return carried

    monkeypatch.setattr(torch, "compile", compile_)
    monkeypatch.setattr(compiled_gradient, "while_loop", python_while_loop)


def test_a_backward_program_that_cannot_compile_falls_back_to_the_same_loop_in_python(backward_cannot_compile):
    field = RateConstants()
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399]], dtype=torch.float64, requires_grad=True)
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-4, 2, 6, dtype=torch.float64)])
    inputs = (y0, field.log_k)
    _, eager = loss_and_gradients(field, y0, t, inputs)
    with pytest.warns(RuntimeWarning, match="backward program of compile='solve' could not be compiled"):
        _, compiled = loss_and_gradients(field, y0, t, inputs, options={"compile": "solve"})
    for got, expected in zip(compiled, eager):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10 * float(expected.abs().max()))
