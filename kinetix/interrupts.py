"""Interrupts that stop a command: Ctrl-C (SIGINT) and SIGTERM.

Inside :func:`trapped` both signals raise ``KeyboardInterrupt`` (so ``finally`` blocks run and
temporary files are removed) and are remembered: a library that swallows the exception (HDF5
callbacks can) cannot turn an interrupt into success, because :func:`raise_if_interrupted`, called
before every atomic commit and at the end of a command, raises it again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def _handler(signum: int, frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def received() -> int | None:
    """The first signal received inside :func:`trapped`, or ``None``."""
    return _received[0] if _received else None


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a signal arrived inside :func:`trapped`."""
    if _received:
        raise KeyboardInterrupt(signal.Signals(_received[0]).name)


@contextlib.contextmanager
def trapped() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above for the duration of the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in _SIGNALS}
    _received.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()
