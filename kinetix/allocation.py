"""A ceiling on the memory that a block of torch code may request, checked before each allocation.

Used where sizes come from untrusted or mistyped input (a network's width in a config or a
surrogate manifest): a too-large request is refused in microseconds instead of exhausting memory.
"""

from __future__ import annotations

import math

import torch
from torch.overrides import TorchFunctionMode

from .errors import KinetixError

_FACTORIES = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn})


class AllocationBudget(TorchFunctionMode):
    """Inside ``with AllocationBudget(limit, what):`` the tensor factories that modules allocate with
    (``torch.empty``, ``zeros``, ``ones``, ``full``, ``rand``, ``randn``) raise
    :class:`kinetix.KinetixError` naming ``what`` before allocating, once the block's total would
    exceed ``limit`` bytes."""

    def __init__(self, limit: int, what: str):
        super().__init__()
        self.limit, self.what, self.used = limit, what, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES:
            size = kwargs.get("size", args[0] if args and isinstance(args[0], (tuple, list)) else args)
            dtype = kwargs.get("dtype") or torch.get_default_dtype()
            self.used += math.prod(size) * dtype.itemsize
            if self.used > self.limit:
                raise KinetixError(f"{self.what}: needs more than {self.limit / 2**30:.3g} GiB "
                                   f"({self.used / 2**30:.3g} GiB requested so far); refused before allocating")
        return func(*args, **kwargs)
