"""Keys under which compiled programs are kept: a function made anew is recognised as the same one.

A compiled solve is kept per problem, and a problem is keyed by its functions. Keyed by identity, a
function that is created for every solve (a lambda written in a training loop, or the time-reversed
right-hand side that :func:`kinetix.solve` makes for decreasing times) would compile a new program
every time and keep every one of them. :func:`function_key` keys a plain function by what decides its
behaviour instead: its code, and the very objects its defaults, closure and globals hold; and
:class:`KeptPrograms` makes sure that a program is only reused while the functions it was built from
still have that key.
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
    """``function`` itself, or for a plain Python function its code with the very objects (:class:`Same`)
    that its default values, closure cells and globals hold. Two lambdas made by one line with the same
    captured objects and defaults get equal keys; a captured object replaced by another gives a new key."""
    if not isinstance(function, types.FunctionType):
        return function  # modules, bound methods (equal when their function and object are), builtins
    defaults = tuple(Same(value) for value in function.__defaults__ or ())  # a new tuple each time `def` runs
    keyword_defaults = tuple((name, Same(value)) for name, value in sorted((function.__kwdefaults__ or {}).items()))
    cells = tuple(Same(_contents(cell)) for cell in function.__closure__ or ())
    return function.__code__, defaults, keyword_defaults, cells, Same(function.__globals__)


def _contents(cell: types.CellType):
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


class KeptPrograms:
    """Compiled programs by problem key (which holds :func:`function_key` of the problem's functions).

    Each program is kept with the functions it was built from, and built again when their keys no
    longer match the key asked for: one of their closures has had a captured object replaced since
    (a ``nonlocal`` rebinding), and the program, which calls them, would compute with the new object.
    A program of ``None`` marks a problem that could not be compiled."""

    def __init__(self):
        self._kept: dict = {}

    def get(self, key, functions: tuple, build):
        """The program for ``key``, built by ``build()`` unless one built from ``functions``' equals is kept."""
        kept = self._kept.get(key)
        if kept is None or _keys(kept[0]) != _keys(functions):
            kept = self._kept[key] = (functions, build())
        return kept[1]

    def put(self, key, functions: tuple, program) -> None:
        self._kept[key] = (functions, program)

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self):
        return iter(self._kept)


def _keys(functions: tuple) -> tuple:
    return tuple(function_key(function) for function in functions)
