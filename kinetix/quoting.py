"""Quoting values in messages, bounded in length and in the work it takes whatever the value is.

A message must never ``repr()`` a value from a file in full: an aliased YAML list can stand for
billions of items, and a single field can be megabytes long.
"""

from __future__ import annotations

import reprlib
from typing import Any, Iterable

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxdict = 4
MAX_QUOTE = 120  # characters


def quote(value: Any) -> str:
    """``repr(value)`` for a message, at most ``MAX_QUOTE`` characters: long text is cut in the
    middle, long or deep collections end in ``...``; the cost does not grow with ``value``'s size."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails or is too large to compute (a 5000-digit int)
        return f"<{type(value).__name__}>"
    if len(text) <= MAX_QUOTE:
        return text
    half = (MAX_QUOTE - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def plain(value: Any) -> str:
    """Short text as it is (a name in a message); anything else as :func:`quote` gives it."""
    return value if isinstance(value, str) and len(value) <= 60 and value.isprintable() else quote(value)


def listing(items: Iterable[Any], *, limit: int = 12) -> str:
    """``"A, B, C"``: the first ``limit`` items as :func:`plain` gives them, then how many more."""
    shown, more = [], 0
    for item in items:
        if len(shown) < limit:
            shown.append(plain(item))
        else:
            more += 1
    return ", ".join(shown) + (f", ... ({more} more)" if more else "")
