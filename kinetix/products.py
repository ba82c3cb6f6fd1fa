"""Matrix products that a compiled program fuses with its neighbours.

Inside ``torch.compile`` a matrix product is a call out of the generated code into BLAS: for the small
matrices of a solver step (stage combinations, a few species) the call's dispatch and allocation cost
microseconds, more than its arithmetic, and a compiled solve makes dozens per step. Up to
:data:`FUSE_MAX` multiply-adds per matrix (and :data:`FUSE_BATCH_MAX` per batch), these functions write
the product as a broadcast multiply-and-sum, which the compiler folds into the surrounding kernels; outside
a compiled program, and for larger products, they are the plain product.
"""

from __future__ import annotations

import torch

FUSE_MAX = 4096  # multiply-adds per matrix (n k m) up to which a compiled product is fused
FUSE_BATCH_MAX = 2**20  # multiply-adds of a whole batch, past which BLAS beats a fused loop


def _fused(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether to write ``a @ b`` as a broadcast sum: inside a compiled program, for matrices of at most
    :data:`FUSE_MAX` multiply-adds and batches of at most :data:`FUSE_BATCH_MAX`. A 2-D ``a`` ``(B, k)``
    times a 2-D ``b`` is ``B`` products of a row (a batch of states times a fixed matrix), so a matrix
    counts ``k m``. (10,000 states times gri30's third-body efficiencies, 21 million multiply-adds, are
    4x faster in BLAS.)"""
    if a.dim() < 2 or not torch.compiler.is_compiling():
        return False
    if a.dim() > 2 or b.dim() > 2:  # a batch of matrices (..., n, k)
        per_matrix = a.shape[-2] * a.shape[-1] * b.shape[-1]
        count = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]).numel()
    else:  # a batch of rows (B, k) times one matrix
        per_matrix, count = a.shape[-1] * b.shape[-1], a.shape[0]
    return per_matrix <= FUSE_MAX and per_matrix * count <= FUSE_BATCH_MAX


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for ``a`` ``(..., n, k)`` or ``(..., k)`` and ``b`` ``(..., k, m)``."""
    if _fused(a, b):
        return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)
    return torch.bmm(a, b) if a.dim() == 3 and b.dim() == 3 else a @ b


def addmm(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``c + a @ b`` (as :func:`matmul`), batched or not."""
    if _fused(a, b):
        return c + matmul(a, b)
    return torch.baddbmm(c, a, b) if a.dim() == 3 and b.dim() == 3 else c + a @ b


def exclusive_products(x: torch.Tensor) -> torch.Tensor:
    """``out[..., m] = prod of x[..., j] for j != m`` ``(..., w)``, without division (zeros allowed). Compiled,
    for a small ``w``, as ``w`` prefix and suffix products that fuse; otherwise two ``cumprod``."""
    ones = torch.ones_like(x[..., :1])
    if torch.compiler.is_compiling() and x.shape[-1] <= 8:
        prefix, suffix = [ones], [ones]
        for m in range(1, x.shape[-1]):
            prefix.append(prefix[-1] * x[..., m - 1:m])
            suffix.append(suffix[-1] * x[..., -m:x.shape[-1] - m + 1])
        return torch.cat(prefix, dim=-1) * torch.cat(suffix[::-1], dim=-1)
    before = torch.cumprod(torch.cat([ones, x[..., :-1]], dim=-1), dim=-1)
    after = torch.cumprod(torch.cat([ones, x.flip(-1)[..., :-1]], dim=-1), dim=-1).flip(-1)
    return before * after
