"""Keys under which compiled programs are kept: a function made anew is recognised as the same one.

A compiled solve is kept per problem, and a problem is keyed by its functions. Keyed by identity, a
function that is created for every solve (a lambda written in a training loop, or the time-reversed
right-hand side that :func:`kinetix.solve` makes for decreasing times) would compile a new program
every time and keep every one of them. :func:`function_key` keys a plain function by what decides its
behaviour instead: its code, and the very objects its defaults, closure and globals hold.
"""

from __future__ import annotations

import types


class Same:
    """Equal to another :class:`Same` only when both hold the very same object (whatever that object's
    own ``==``, which a tensor or a list would not give as a key); holding it keeps its id unique."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other) -> bool:
        return isinstance(other, Same) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)


_EMPTY = object()  # the contents of a closure cell not yet assigned


def function_key(function) -> object:
    """``function`` itself, or for a plain Python function ``(code, defaults, closure, globals)``, the
    last three as the objects they hold (:class:`Same`). Two lambdas made by one line with the same
    captured objects get equal keys; a captured object replaced by another gives a new key."""
    if not isinstance(function, types.FunctionType):
        return function  # modules, bound methods (equal when their function and object are), builtins
    cells = tuple(Same(_contents(cell)) for cell in function.__closure__ or ())
    return (function.__code__, Same(function.__defaults__), Same(function.__kwdefaults__), cells,
            Same(function.__globals__))


def _contents(cell: types.CellType):
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY
