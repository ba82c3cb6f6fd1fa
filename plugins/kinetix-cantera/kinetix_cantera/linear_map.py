"""Right-multiplication by a constant matrix, dense or as a CSR product, whichever is cheaper."""

from __future__ import annotations

import warnings

import torch

from kinetix.products import matmul

# A CSR product pays on the CPU where the dense one does this many times more multiply-adds than
# the matrix has nonzeros. Measured on one thread (x86_64, AVX-512), per chunk of states:
# gri30's stoichiometry (53 x 325, 7 % filled, 14x) dense 0.36 ms, CSR 0.48 ms; n-hexane's
# (1268 x 5336, 0.28 % filled, 356x) dense 45 ms, CSR 0.6 ms.
SPARSE_ADVANTAGE = 32


class LinearMap(torch.nn.Module):
    """``x @ matrix`` ``(..., n_out)`` for ``x`` ``(..., n_in)`` and a constant ``matrix`` ``(n_in, n_out)``.

    A matrix with fewer than ``1 / SPARSE_ADVANTAGE`` of its entries nonzero (the stoichiometry of a
    large mechanism) is applied on the CPU as a CSR sparse-dense product, built on first use, and
    under ``torch.compile`` as :meth:`gather_scatter`; other matrices, other devices (CSR has no
    ``meta`` kernels) and ``torch.func`` transforms get the dense product. All are differentiable
    in ``x``. Buffers: ``matrix`` (dense), and for a sparse one its nonzero entries.
    """

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.register_buffer("matrix", matrix, persistent=False)
        self.sparse = matrix.numel() > SPARSE_ADVANTAGE * max(int(torch.count_nonzero(matrix)), 1)
        self._csr: tuple[tuple, torch.Tensor] | None = None  # ((device, dtype), matrix.T as CSR)
        rows, columns = matrix.nonzero().T if self.sparse else (torch.zeros(0, dtype=torch.long),) * 2
        self.register_buffer("_entry_rows", rows, persistent=False)
        self.register_buffer("_entry_columns", columns, persistent=False)
        self.register_buffer("_entry_values", matrix[rows, columns], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sparse and torch.compiler.is_compiling():
            return self.gather_scatter(x)
        if not (self.sparse and x.device.type == "cpu" and not _transformed(x)):
            return matmul(x, self.matrix)
        flat = x.reshape(-1, x.shape[-1])
        return (self._transposed_csr() @ flat.T).T.reshape(*x.shape[:-1], -1)

    def gather_scatter(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ matrix`` from the nonzero entries alone, as a gather, a product and a scatter-add:
        what ``torch.compile`` gets for a sparse matrix (inductor fuses it into one loop)."""
        terms = x.index_select(-1, self._entry_rows) * self._entry_values
        return x.new_zeros(*x.shape[:-1], self.matrix.shape[1]).index_add(-1, self._entry_columns, terms)

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
