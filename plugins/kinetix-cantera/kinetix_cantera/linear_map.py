"""Right-multiplication by a constant matrix, dense or as a CSR product, whichever is cheaper."""

from __future__ import annotations

import warnings

import torch

# A CSR product pays on the CPU where the dense one does this many times more multiply-adds than
# the matrix has nonzeros. Measured on one thread (x86_64, AVX-512), per chunk of states:
# gri30's stoichiometry (53 x 325, 7 % filled, 14x) dense 0.36 ms, CSR 0.48 ms; n-hexane's
# (1268 x 5336, 0.28 % filled, 356x) dense 45 ms, CSR 0.6 ms.
SPARSE_ADVANTAGE = 32


class LinearMap(torch.nn.Module):
    """``x @ matrix`` ``(..., n_out)`` for ``x`` ``(..., n_in)`` and a constant ``matrix`` ``(n_in, n_out)``.

    A matrix with fewer than ``1 / SPARSE_ADVANTAGE`` of its entries nonzero (the stoichiometry of a
    large mechanism) is applied on the CPU as a CSR sparse-dense product, built on first use; other
    matrices, other devices (CSR has no ``meta`` kernels), ``torch.compile`` and ``torch.func``
    transforms get the dense product. Both are differentiable in ``x``. Buffer ``matrix`` (dense).
    """

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.register_buffer("matrix", matrix, persistent=False)
        self.sparse = matrix.numel() > SPARSE_ADVANTAGE * max(int(torch.count_nonzero(matrix)), 1)
        self._csr: tuple[tuple, torch.Tensor] | None = None  # ((device, dtype), matrix.T as CSR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.sparse and x.device.type == "cpu" and not torch.compiler.is_compiling() and not _transformed(x)):
            return x @ self.matrix
        flat = x.reshape(-1, x.shape[-1])
        return (self._transposed_csr() @ flat.T).T.reshape(*x.shape[:-1], -1)

    def _transposed_csr(self) -> torch.Tensor:
        key = (self.matrix.device, self.matrix.dtype)
        if self._csr is None or self._csr[0] != key:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
                self._csr = (key, self.matrix.T.to_sparse_csr())
        return self._csr[1]


def _transformed(x: torch.Tensor) -> bool:
    """True inside a ``torch.func`` transform (vmap, jvp, grad), whose wrapped tensors CSR cannot take."""
    return torch._C._functorch.is_functorch_wrapped_tensor(x)
