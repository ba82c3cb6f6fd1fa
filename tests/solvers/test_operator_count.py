"""The eager Rodas5P step stays lean: torch operator calls per attempted step, counted at dispatch."""

import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import kinetix


class OperatorCount(TorchDispatchMode):
    """Counts every aten operator that reaches a kernel (views included)."""

    def __init__(self):
        super().__init__()
        self.calls = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func)] += 1
        return func(*args, **(kwargs or {}))


def operators_per_attempt(robertson, grad: bool, ignore=()) -> float:
    y0 = robertson.initial_state()
    t = torch.tensor([0.0, 1e5], dtype=torch.float64)
    counter = OperatorCount()
    with counter, torch.set_grad_enabled(grad):
        solution = kinetix.solve(robertson, y0, t, rtol=1e-6, atol=1e-10)
    attempts = int(solution.stats.steps[0] + solution.stats.rejected[0])
    assert attempts > 100
    return sum(calls for name, calls in counter.calls.items() if name not in ignore) / attempts


def test_at_most_200_operators_per_rodas5p_step(robertson):
    """Everything a solve does, divided by its attempted steps: 8 right-hand sides and the
    Jacobian of the mechanism (82 calls), the stages, error norm, control and dense output."""
    assert operators_per_attempt(robertson, grad=False) <= 200


def test_recording_gradients_adds_no_operators(robertson):
    """With gradients recorded, the same calls, besides the ``detach`` aliases autograd itself makes
    when it saves tensors for the backward pass."""
    robertson.rate_constants.requires_grad_(True)
    assert operators_per_attempt(robertson, grad=True, ignore=("aten.detach.default",)) <= 200
