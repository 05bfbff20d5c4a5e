"""Measurement operators: how ⟨Aᵢ, UUᵀ⟩ and its adjoint are computed per kind.

An operator turns a factor ``U`` (d, k) into predictions ``𝒜(UUᵀ)`` (n,) and applies the
adjoint, ``(1/n) Σᵢ wᵢ sym(Aᵢ) U``. Solvers talk to it through a small state so that an
iteration touches the measurements only to price a search direction (:meth:`directional`,
one pass; two matrix-vector products for matrix measurements) and for the gradient
(:meth:`adjoint_times`, one pass).

All methods use only Array-API operations of the namespace ``xp`` the data lives in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from ._backend import from_host
from ._backend import row_block as backend_row_block

__all__ = [
    "MatrixOperator",
    "OperatorState",
    "RankOneOperator",
    "make_operator",
    "measure",
    "project",
    "square_side",
]


@dataclass
class OperatorState:
    """Predictions ``𝒜(UUᵀ)`` of the current factor and the operator's cache for it."""

    predictions: Any
    cache: Any = None


class RankOneOperator:
    """Rank-one measurements ``Aᵢ = xᵢxᵢᵀ``: ``⟨Aᵢ, UUᵀ⟩ = ‖Uᵀxᵢ‖²``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One measurement vector ``xᵢ`` per row.
    """

    def __init__(self, X):
        self.xp = array_namespace(X)
        self.X = X
        self.n_samples, self.dim = X.shape

    def _row_sums(self, M):
        # A matrix-vector product with ones: BLAS sums short rows far faster than a
        # reduction along axis 1 (NumPy, 5000 × 30: 21 µs against 130 µs).
        return M @ self.xp.ones(M.shape[1], dtype=M.dtype, device=device(M))

    def _state(self, XU) -> OperatorState:
        """State of the factor ``U`` with ``X·U = XU``: predictions from the cache."""
        return OperatorState(self._row_sums(XU * XU), XU)

    def start(self, U) -> OperatorState:
        return self._state(self.X @ U)

    def predict(self, U):
        return self.start(U).predictions

    def adjoint_times(self, U, state: OperatorState, weights):
        # X̃ᵀ diag(w) X U with XU cached: one pass over X.
        return self.X.T @ (weights[:, None] * state.cache) / self.n_samples

    def directional(self, U, state: OperatorState, D):
        """``(a, b, extra)`` with ``𝒜((U-tD)(U-tD)ᵀ) = predictions - t·a + t²·b``."""
        XD = self.X @ D
        a = 2.0 * self._row_sums(state.cache * XD)
        b = self._row_sums(XD * XD)
        return a, b, XD

    def advance(self, state: OperatorState, a, b, XD, step) -> OperatorState:
        # Recomputing from the cache (O(nk), no pass over X) avoids drift in the residual.
        return self._state(state.cache - step * XD)

    def rotate(self, state: OperatorState, W) -> OperatorState:
        """State for ``U·W`` (``W`` orthogonal): predictions are unchanged."""
        return OperatorState(state.predictions, state.cache @ W)

    def keep_columns(self, U, state: OperatorState, index) -> OperatorState:
        """State for ``U``, the columns ``index`` of the factor ``state`` was built for."""
        return self._state(self.xp.take(state.cache, index, axis=1))

    def sensing_matrix(self, weights):
        """``(1/n) Σᵢ wᵢ Aᵢ`` as a dense (d, d) array.

        Accumulated over a sixteenth of the rows at a time, so that the weighted copy of
        X never exists whole.
        """
        n = self.n_samples
        step = max(1, -(-n // 16))
        total = 0.0
        for start in range(0, n, step):
            stop = min(start + step, n)
            block = self.X[start:stop, ...]
            total = total + block.T @ (weights[start:stop, None] * block)
        return total / n


class MatrixOperator:
    """General sensing matrices ``Aᵢ`` (only their symmetric part matters).

    The measurements are stored packed: for each sample, the upper triangle of
    ``Aᵢ + Aᵢᵀ`` with the diagonal halved, so that ``⟨Aᵢ, M⟩ = packed[i] · triu(M)`` for
    any symmetric ``M``. This halves the bytes read per pass.

    Parameters
    ----------
    X : array of shape (n_samples, dim * dim)
        Each row is ``Aᵢ`` flattened in row-major order.
    chunk_size : int or None, default=None
        Rows packed at a time, bounding the temporary memory of the packing; ``None``
        packs a sixteenth of the rows (at least 64, at most 4096) at a time.
    row_block : int, None or "auto", default="auto"
        Rows per block of :meth:`directional`'s two products; ``None`` runs each over
        all rows, ``"auto"`` asks the backend (blocks of about 4 MiB on NumPy, none
        elsewhere; see :func:`~sklearn_lowrank._backend.row_block`).
    """

    def __init__(self, X, chunk_size: int | None = None, row_block="auto"):
        xp = self.xp = array_namespace(X)
        self.n_samples = X.shape[0]
        d = self.dim = square_side(X.shape[1])
        rows, cols = np.triu_indices(d)

        def put(values, dtype=None):
            return from_host(xp, values, dtype=dtype, device=device(X))

        self._upper = put(rows * d + cols)
        self._lower = put(cols * d + rows)
        # Entry (i, j) of a symmetric matrix read back from the packed vector; off-diagonal
        # entries are halved because the packed vector holds Aᵢⱼ + Aⱼᵢ.
        where = np.empty((d, d), dtype=np.int64)
        where[rows, cols] = where[cols, rows] = np.arange(rows.size)
        self._unpack = put(where.reshape(-1))
        # ...with the adjoint's 1/n folded in (one operation less per call).
        unpack_scale = np.where(np.eye(d) > 0, 1.0, 0.5) / self.n_samples
        self._unpack_scale = put(unpack_scale.reshape(-1), X.dtype)
        pack_scale = put(np.where(rows == cols, 0.5, 1.0), X.dtype)
        # Filled in place, a sixteenth of the rows at a time: besides the packed array
        # (about half of X) only two chunk-sized temporaries exist, so building the
        # operator peaks near 0.56 times the size of X.
        self.packed = xp.empty((self.n_samples, rows.size), dtype=X.dtype, device=device(X))
        step = chunk_size or min(4096, max(64, -(-self.n_samples // 16)))
        for start in range(0, self.n_samples, step):
            stop = min(start + step, self.n_samples)
            block = X[start:stop, ...]
            chunk = xp.take(block, self._upper, axis=1)
            chunk += xp.take(block, self._lower, axis=1)
            chunk *= pack_scale
            self.packed[start:stop, ...] = chunk
        if row_block == "auto":
            row_block = backend_row_block(xp, rows.size * xp.finfo(X.dtype).bits // 8)
        self.row_block = row_block

    def _pack(self, M):
        return self.xp.take(self.xp.reshape(M, (-1,)), self._upper)

    def _unpacked(self, g):
        d = self.dim
        return self.xp.reshape(self.xp.take(g, self._unpack) * self._unpack_scale, (d, d))

    def start(self, U) -> OperatorState:
        return OperatorState(self.packed @ self._pack(U @ U.T))

    def predict(self, U):
        return self.start(U).predictions

    def sensing_matrix(self, weights):
        """``(1/n) Σᵢ wᵢ sym(Aᵢ)`` as a dense (d, d) array: one pass over the data."""
        return self._unpacked(weights @ self.packed)

    def adjoint_times(self, U, state: OperatorState, weights):
        return self.sensing_matrix(weights) @ U

    def directional(self, U, state: OperatorState, D):
        Dt = D.T
        UD = U @ Dt
        first, second = self._pack(UD + UD.T), self._pack(D @ Dt)
        # Two matrix-vector products rather than one two-column product, which BLAS runs
        # far below bandwidth (OpenBLAS, d=100, n=20000: 158 ms against 102 ms for two
        # products in float64). Blocked by rows, the second product reads its rows from
        # the cache (see _backend.row_block).
        if self.row_block is None:
            return self.packed @ first, self.packed @ second, None
        a, b = [], []
        for start in range(0, self.n_samples, self.row_block):
            block = self.packed[start : min(start + self.row_block, self.n_samples), ...]
            a.append(block @ first)
            b.append(block @ second)
        return self.xp.concat(a), self.xp.concat(b), None

    def advance(self, state: OperatorState, a, b, extra, step) -> OperatorState:
        return OperatorState(state.predictions - step * a + (step * step) * b)

    def rotate(self, state: OperatorState, W) -> OperatorState:
        """State for ``U·W`` (``W`` orthogonal): predictions are unchanged."""
        return state

    def keep_columns(self, U, state: OperatorState, index) -> OperatorState:
        """State for ``U``, the columns ``index`` of the factor ``state`` was built for."""
        return self.start(U)


def square_side(width: int) -> int:
    """``d`` such that ``d * d == width``; ``ValueError`` if ``width`` is not a square."""
    d = math.isqrt(int(width))
    if d * d != width:
        raise ValueError(
            "measurement='matrix' expects X of shape (n_samples, d, d) or flattened "
            f"(n_samples, d*d); got {width} columns, which is not a perfect square."
        )
    return d


def measure(measurement: str, X, U):
    """``⟨Aᵢ, UUᵀ⟩`` for data as the estimator receives it, without building an operator.

    ``X`` holds vectors ``xᵢ`` (rank-one) or flattened matrices ``Aᵢ`` (matrix); one
    pass, no packing, so it suits predicting on new data.
    """
    xp = array_namespace(X, U)
    if measurement == "rank_one":
        XU = X @ U
        return xp.sum(XU * XU, axis=1)
    return X @ xp.reshape(U @ U.T, (-1,))


def project(measurement: str, X, U):
    """The measurements seen through ``U``: ``X·U`` (rank-one) or ``UᵀAᵢU`` flattened
    row-major to ``(n, r*r)`` (matrix)."""
    xp = array_namespace(X, U)
    if measurement == "rank_one":
        return X @ U
    d = U.shape[0]
    projected = U.T @ (xp.reshape(X, (-1, d, d)) @ U)
    return xp.reshape(projected, (X.shape[0], -1))


def make_operator(measurement: str, X):
    """The operator for ``measurement`` ('rank_one' or 'matrix') on 2-D data ``X``."""
    if measurement == "rank_one":
        return RankOneOperator(X)
    if measurement == "matrix":
        return MatrixOperator(X)
    raise ValueError(f"measurement must be 'rank_one' or 'matrix'; got {measurement!r}.")
