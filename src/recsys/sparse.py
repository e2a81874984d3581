"""Sparse helpers of the recommenders: top-k per row, item x item products in column blocks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k_rows(M: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (only rows with more are touched)."""
    M = M.tocsr()
    counts = np.diff(M.indptr)
    heavy = np.flatnonzero(counts > k)
    if not len(heavy):
        return M
    keep = np.ones(M.nnz, dtype=bool)
    for i in heavy:
        start, end = M.indptr[i], M.indptr[i + 1]
        drop = np.argpartition(M.data[start:end], end - start - k)[: end - start - k]
        keep[start + drop] = False
    row = np.repeat(np.arange(M.shape[0]), counts)
    return sp.csr_matrix((M.data[keep], (row[keep], M.indices[keep])), shape=M.shape)


def blockwise_item_item(
    A: sp.csr_matrix, B: sp.csr_matrix, k: int, block: int = 2048
) -> sp.csr_matrix:
    """Top-``k`` per row of ``Aᵀ B`` (items x items), computed ``block`` item rows at a time so
    that the full product — quadratic in basket size, huge for a large catalogue — never
    exists at once."""
    At = A.T.tocsr()
    parts = []
    for start in range(0, At.shape[0], block):
        part = (At[start : start + block] @ B).tocsr()
        parts.append(top_k_rows(part, k))
    return sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, B.shape[1]))
