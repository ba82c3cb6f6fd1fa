"""Compiled programs are kept per function behaviour, not per function object."""

import torch

from kinetix.solvers.function_key import function_key


def made(scale):
    return lambda t, y: scale * y


def test_lambdas_from_one_line_with_the_same_captured_objects_share_a_key():
    scale = torch.tensor(2.0)
    assert function_key(made(scale)) == function_key(made(scale))
    assert hash(function_key(made(scale))) == hash(function_key(made(scale)))


def test_another_captured_object_or_other_code_is_another_key():
    scale = torch.tensor(2.0)
    assert function_key(made(scale)) != function_key(made(torch.tensor(2.0)))  # equal values, another tensor
    assert function_key(made(scale)) != function_key(lambda t, y: scale * y)


def test_modules_and_bound_methods_are_their_own_keys():
    module = torch.nn.Linear(2, 2)
    assert function_key(module) is module
    assert function_key(module.forward) == function_key(module.forward)  # a new bound method each access
    assert function_key(module.forward) != function_key(torch.nn.Linear(2, 2).forward)


def test_default_arguments_are_compared_one_by_one():
    # `lambda t, y, m=model: ...` builds a new defaults tuple each time: it must still be the same key
    model = torch.nn.Linear(3, 3)

    def made(model):
        return lambda t, y, m=model, *, scale=2.0: scale * m(y)

    assert function_key(made(model)) == function_key(made(model))
    assert function_key(made(model)) != function_key(made(torch.nn.Linear(3, 3)))
