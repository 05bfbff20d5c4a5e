"""Measurement operators: how ⟨Aᵢ, UUᵀ⟩ and its adjoint are computed per kind.

An operator (the :class:`MeasurementOperator` protocol) turns a factor ``U`` (d, k)
into predictions ``𝒜(UUᵀ)`` (n,) and applies the adjoint, ``(1/n) Σᵢ wᵢ sym(Aᵢ) U``.
Solvers talk to it through a small state so that an iteration touches the measurements
only to price a search direction (:meth:`directional`, one pass; for matrix
measurements one two-row product, or on NumPy two row-blocked matrix-vector products)
and for the gradient (:meth:`adjoint_times`, one pass).

With ``normalize=True`` an operator works with ``Aᵢ/g`` instead of ``Aᵢ``, ``g`` its
measurement scale (:attr:`gain`): the solvers then see unit-scale measurements whatever
the units of ``X``, and the scale costs no operation per iteration (it is folded into
constants the operator applies anyway).

All methods use only Array-API operations of the namespace ``xp`` the data lives in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from array_api_compat import array_namespace, device

from ._backend import (
    Array,
    dtype_name,
    fetch,
    from_host,
    move_to,
    moved_dtype,
    namespace_and_device,
    to_host,
)
from ._backend import row_block as backend_row_block

__all__ = [
    "MatrixOperator",
    "MeasurementOperator",
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

    predictions: Array
    cache: Any = None  # whatever the operator keeps (rank-one: X·U)


@runtime_checkable
class MeasurementOperator(Protocol):
    """What the solvers and the three phases need of a measurement kind.

    A new kind (matrix completion, say) implements these, and :func:`make_operator`
    maps its name to the class. ``U`` is the current factor (d, k) and ``state`` the
    :class:`OperatorState` built for it; arrays are in the namespace ``xp``.
    """

    xp: Any  #: Array namespace of the data.
    n_samples: int
    dim: int  #: ``d``: the matrices are d × d.
    #: Numbers a pass reads per measurement: ``d`` (vectors) or ``d(d+1)/2`` (packed).
    row_size: int
    gain: float  #: Scale ``g`` the measurements are divided by (1.0 if not).
    sizes: Array  #: Per-measurement size, by which the data scale leaves out outliers.
    mean_size: float  #: Mean of :attr:`sizes`, on the host.
    #: An upper bound on the mean ``‖sym(Aᵢ)‖_F/g`` (so on the mean spectral norm), on
    #: the host.
    mean_norm: float
    #: ``c`` with ``E[(1/n) Σᵢ ⟨Aᵢ, Δ⟩ sym(Aᵢ)/g²] = c·Δ`` (plus ``tr(Δ)·I`` for
    #: rank-one) for Gaussian measurements: what a direction of ``M`` becomes in a
    #: sensing matrix.
    matrix_response: float
    #: How a size, and the rescaling of a measurement and its ``yᵢ`` to size 1, read
    #: in messages.
    size_formula: str
    unit_rescaling: str
    #: Whether every ``Aᵢ`` is PSD, so that ``⟨Aᵢ, M⟩ ≥ 0`` for every PSD ``M``.
    nonnegative: bool

    def start(self, U: Array) -> OperatorState:
        """State of ``U``: one pass over the data."""

    def predict(self, U: Array) -> Array:
        """``𝒜(UUᵀ)``, shape (n_samples,)."""

    def adjoint_times(self, U: Array, state: OperatorState, weights: Array) -> Array:
        """``(1/n) Σᵢ wᵢ sym(Aᵢ)/g · U``, the gradient's data term: one pass."""

    def directional(
        self, U: Array, state: OperatorState, D: Array
    ) -> tuple[Array, Array, Any]:
        """``(a, b, extra)`` with ``𝒜((U-tD)(U-tD)ᵀ) = predictions - t·a + t²·b``:
        one pass; ``extra`` is whatever :meth:`advance` needs."""

    def advance(
        self, state: OperatorState, a: Array, b: Array, extra: Any, step: float
    ) -> OperatorState:
        """State of ``U - step·D``, without a pass over the data."""

    def rotate(self, state: OperatorState, W: Array) -> OperatorState:
        """State of ``U·W`` for an orthogonal ``W`` (predictions unchanged)."""

    def keep_columns(self, U: Array, state: OperatorState, index: Array) -> OperatorState:
        """State of ``U``, the columns ``index`` of the factor of ``state``."""

    def sensing_matrix(self, weights: Array) -> Array:
        """``(1/n) Σᵢ wᵢ sym(Aᵢ)/g`` as a dense (d, d) array."""

    def sandwiched(self, L: Array, R: Array, rows: slice) -> Array:
        """``Lᵀ·sym(Aᵢ)/g·R`` for the measurements ``rows``, shape (rows, p, q) for
        ``L`` (d, p) and ``R`` (d, q): one pass over those rows."""

    def second_moment(self) -> Array | None:
        """``(1/n) Σᵢ xᵢxᵢᵀ/g`` (d, d) for measurements made of vectors ``xᵢ``, whose
        isotropy the theory assumes; ``None`` for kinds without them."""

    def links(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Host index arrays ``(a, b)`` of entries of ``M`` that the measurements
        ``rows`` reach (``sym(Aᵢ)ₐᵦ ≠ 0`` for some ``i``): enough of them to connect
        the indices that those entries connect, each index reached in one at
        least."""

    def spectral_bounds(self) -> Array:
        """Upper bounds on ``‖sym(Aᵢ)‖₂/g``, shape (n_samples,): how much one
        measurement can move a sensing matrix's eigenvalues."""

    def distinct_measurements(self, rows: int | None = None) -> int:
        """Number of distinct measurements among the first ``rows`` rows (all by
        default)."""

    @staticmethod
    def measure(X: Array, U: Array) -> Array:
        """``⟨Aᵢ, UUᵀ⟩`` for raw rows of ``X``, without building an operator."""

    @staticmethod
    def project(X: Array, U: Array) -> Array:
        """The raw measurements of ``X`` seen through ``U``."""


class _OperatorBase:
    """What the operator classes share: :meth:`predict` and the set-up of the scale.

    A subclass sets ``xp``, ``n_samples`` and ``sizes``, then calls :meth:`_set_scale`,
    and defines :meth:`start` and :meth:`_gain_of`.
    """

    def predict(self, U):
        """``𝒜(UUᵀ)``, shape (n_samples,)."""
        return self.start(U).predictions

    def _set_scale(self, data, n_coordinates: int, normalize: bool, *, zero: str):
        """Set :attr:`mean_size` (the mean of :attr:`sizes`) and :attr:`gain`: 1.0, or
        with ``normalize`` :meth:`_gain_of` the mean square of the measurements'
        ``n_coordinates`` coordinates each (checked by :func:`_check_mean_square`,
        on ``data`` and with ``zero``)."""
        total, unit = _total(self.xp, self.sizes)
        self.mean_size = _mean(total, unit, self.n_samples)
        self.gain = 1.0
        if normalize:
            mean_square = _mean(total, unit, self.n_samples * n_coordinates)
            mean_square = _check_mean_square(self.xp, data, mean_square, zero=zero)
            self.gain = self._gain_of(mean_square)


class RankOneOperator(_OperatorBase):
    """Rank-one measurements ``Aᵢ = xᵢxᵢᵀ``: ``⟨Aᵢ, UUᵀ⟩ = ‖Uᵀxᵢ‖²``.

    A :class:`MeasurementOperator`.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One measurement vector ``xᵢ`` per row.
    normalize : bool, default=False
        Work with ``Aᵢ/g``, ``g`` the mean square of ``X``'s entries (:attr:`gain`).
    target : tuple (xp, device) or None, default=None
        The namespace and device to compute in, where ``X`` is moved (whole: every
        pass reads it); ``None``: where ``X`` lives.

    Attributes
    ----------
    gain : float
        ``g``: ``(1/nd)·Σᵢ‖xᵢ‖²``, the mean diagonal entry of ``Aᵢ`` (1 in expectation
        for standard Gaussian ``xᵢ``); 1.0 without ``normalize``.
    sizes : array of shape (n_samples,)
        ``‖xᵢ‖²`` in the units of ``X`` (``‖Aᵢ‖_F``): the data scale leaves out
        outsized measurements by it.
    """

    nonnegative = True
    matrix_response = 2.0  # E[(xᵀΔx)·xxᵀ] = 2Δ + tr(Δ)·I
    size_formula = "‖xᵢ‖²"
    unit_rescaling = "xᵢ/‖xᵢ‖ and yᵢ/‖xᵢ‖²"

    def __init__(self, X, normalize: bool = False, target: tuple | None = None):
        if target is not None:
            X = move_to(X, *target)
        xp = self.xp = array_namespace(X)
        self.X = X
        self.n_samples, self.dim = X.shape
        self.row_size = self.dim
        self.sizes = xp.empty(self.n_samples, dtype=X.dtype, device=device(X))
        for rows in row_blocks(self.n_samples):
            block = X[rows, ...]
            self.sizes[rows] = xp.sum(block * block, axis=1)
        self._set_scale(X, self.dim, normalize, zero="X holds only zeros")
        self.mean_norm = self.mean_size / self.gain  # ‖xᵢxᵢᵀ‖_F = ‖xᵢ‖²
        self._row_sum_weights = {}

    def _gain_of(self, mean_square: float) -> float:
        """``g``, the mean square of X's entries itself, checked."""
        # The passes divide their sums over the rows by n·g, which the dtype must hold
        # (float32 X of entries 1e17 with n = 40000: n·g became inf, every gradient 0,
        # and the fit kept 30 noise columns, with no error). Sums that overflow
        # themselves are caught as a non-finite line search.
        if self.n_samples * mean_square > float(self.xp.finfo(self.X.dtype).max):
            raise FloatingPointError(
                f"X holds values too large for {self.X.dtype} with {self.n_samples} "
                f"rows: the sums over the rows are divided by n·g = "
                f"{self.n_samples * mean_square:.1e} (g the mean square of X's "
                "entries), beyond the dtype. Rescale X (the fit does not depend on "
                "its scale), or use float64."
            )
        return mean_square

    @staticmethod
    def measure(X, U):
        """``‖Uᵀxᵢ‖²`` for raw rows ``xᵢ`` of ``X``, without an operator: one pass."""
        XU = X @ U
        return array_namespace(X, U).sum(XU * XU, axis=1)

    @staticmethod
    def project(X, U):
        """``X·U``: the measurement vectors seen through ``U``."""
        return X @ U

    def _row_sums(self, M):
        """Row sums of ``M`` divided by the gain.

        A matrix-vector product with a constant vector: BLAS sums short rows far faster
        than a reduction along axis 1 (NumPy, 5000 × 30: 21 µs against 130 µs), and
        the constant carries ``1/g`` for free. The vector is made once per width and
        dtype: an iteration takes three row sums, each a kernel launch more on a GPU
        when the vector was made anew.
        """
        key = (M.shape[1], M.dtype)
        weights = self._row_sum_weights.get(key)
        if weights is None:
            weights = self.xp.full(key[0], 1.0 / self.gain, dtype=M.dtype, device=device(M))
            self._row_sum_weights[key] = weights
        return M @ weights

    def _state(self, XU) -> OperatorState:
        """State of the factor ``U`` with ``X·U = XU``: predictions from the cache."""
        return OperatorState(self._row_sums(XU * XU), XU)

    def start(self, U) -> OperatorState:
        return self._state(self.X @ U)

    def adjoint_times(self, U, state: OperatorState, weights):
        # X̃ᵀ diag(w) X U with XU cached: one pass over X, formed as (WᵀX)ᵀ: OpenBLAS
        # runs the long sum over n faster with the small factor on the left (d=100,
        # n=20000: 0.70 times the time at k=30, 0.50 at k=3, one thread). The sums may
        # round differently on two threads: 5 of 44 reference fits moved by ~1e-15.
        weighted = weights[:, None] * state.cache
        return (weighted.T @ self.X).T / (self.n_samples * self.gain)

    def directional(self, U, state: OperatorState, D):
        """``(a, b, extra)`` with ``𝒜((U-tD)(U-tD)ᵀ) = predictions - t·a + t²·b``."""
        XD = self.X @ D
        a = 2.0 * self._row_sums(state.cache * XD)
        b = self._row_sums(XD * XD)
        return a, b, XD

    def advance(self, state: OperatorState, a, b, extra, step) -> OperatorState:
        # ``extra`` is X·D (from directional). Recomputing from the cache (O(nk), no
        # pass over X) avoids drift in the residual.
        return self._state(state.cache - step * extra)

    def rotate(self, state: OperatorState, W) -> OperatorState:
        """State for ``U·W`` (``W`` orthogonal): predictions are unchanged."""
        return OperatorState(state.predictions, state.cache @ W)

    def keep_columns(self, U, state: OperatorState, index) -> OperatorState:
        """State for ``U``, the columns ``index`` of the factor ``state`` was built for."""
        return self._state(self.xp.take(state.cache, index, axis=1))

    def distinct_measurements(self, rows: int | None = None) -> int:
        """Number of distinct ``Aᵢ`` (``xᵢ`` and ``−xᵢ`` give the same) among the first
        ``rows`` rows (all by default): one pass over them."""
        return _distinct_rows(self.xp, _first(self.X, rows), up_to_sign=True)

    def spectral_bounds(self):
        """``‖xᵢ‖²/g``, the spectral norm of ``xᵢxᵢᵀ/g`` itself."""
        return self.sizes / self.gain

    def second_moment(self):
        """``(1/n) Σᵢ xᵢxᵢᵀ/g``: :meth:`sensing_matrix` of unit weights, without
        multiplying by them (half the time)."""
        return self._outer_sum(None)

    def sensing_matrix(self, weights):
        """``(1/n) Σᵢ wᵢ Aᵢ/g`` as a dense (d, d) array."""
        return self._outer_sum(weights)

    def links(self, rows):
        """Each row's nonzero features, chained in order (consecutive ones paired,
        each with itself): ``O(nnz)`` on the host, from the rows' nonzero pattern. A
        row with every feature nonzero links them all: then the chain of all d,
        without moving the pattern (dense features)."""
        xp, block = self.xp, self.X[rows, ...]
        nonzero = xp.astype(block != 0, xp.uint8)  # (NumPy < 2: no bool by DLPack)
        (most,) = fetch(xp, xp.max(xp.sum(nonzero, axis=1, dtype=xp.int32)))
        if most == self.dim:
            every = np.arange(self.dim)
            return np.concatenate([every, every[:-1]]), np.concatenate([every, every[1:]])
        row, feature = np.nonzero(to_host(nonzero))
        same = row[1:] == row[:-1]
        return (
            np.concatenate([feature, feature[:-1][same]]),
            np.concatenate([feature, feature[1:][same]]),
        )

    def sandwiched(self, L, R, rows):
        """``(Lᵀxᵢ)(Rᵀxᵢ)ᵀ/g`` for the measurements ``rows``, shape (rows, p, q)."""
        xp, block = self.xp, self.X[rows, ...]
        left = xp.expand_dims(block @ L, axis=2)
        right = xp.expand_dims(block @ R, axis=1) * (1.0 / self.gain)
        return left * right

    def _outer_sum(self, weights):
        """``(1/n) Σᵢ wᵢ xᵢxᵢᵀ/g`` (``wᵢ = 1`` for ``None``): one pass over X, a
        sixteenth of the rows at a time, so that the weighted copy of X never exists
        whole."""
        total = 0.0
        for rows in row_blocks(self.n_samples):
            block = self.X[rows, ...]
            weighted = block if weights is None else weights[rows, None] * block
            total = total + block.T @ weighted
        return total / (self.n_samples * self.gain)


class MatrixOperator(_OperatorBase):
    """General sensing matrices ``Aᵢ`` (only their symmetric part matters).

    A :class:`MeasurementOperator`.

    The measurements are stored packed: for each sample, the upper triangle of
    ``Aᵢ + Aᵢᵀ`` with the diagonal halved, so that ``⟨Aᵢ, M⟩ = packed[i] · triu(M)`` for
    any symmetric ``M``. This halves the bytes read per pass.

    Parameters
    ----------
    X : array of shape (n_samples, dim * dim)
        Each row is ``Aᵢ`` flattened in row-major order.
    chunk_size : int or None, default=None
        Rows packed at a time, bounding the temporary memory of the packing; ``None``
        packs a sixteenth of the rows (at least 64, at most 4096) at a time. The
        estimator leaves it at ``None``: other values are for the tests.
    row_block : int, None or "auto", default="auto"
        Rows per block of :meth:`directional`'s two matrix-vector products; ``None``
        forms the pass as one two-row product over all rows instead, ``"auto"`` asks
        the backend (blocks of about 4 MiB on NumPy, ``None`` elsewhere; see
        :func:`~sklearn_lowrank._backend.row_block`). The estimator leaves it at
        ``"auto"``: other values are for the tests and benchmarks.
    normalize : bool, default=False
        Work with ``Aᵢ/g`` (:attr:`gain`): the packed measurements are divided by ``g``
        once, in place.
    target : tuple (xp, device) or None, default=None
        The namespace and device to compute in, where ``X`` is moved a chunk of rows at
        a time as it is packed: that device holds the packed half of ``X``, never
        ``X`` itself (a GPU fit of host data needs a third of the memory). ``None``:
        where ``X`` lives.

    Attributes
    ----------
    gain : float
        ``g``: the root mean square of ``sym(Aᵢ)``'s coordinates in an orthonormal
        basis of the symmetric matrices, ``(Σᵢ ‖sym(Aᵢ)‖²_F / (n·d(d+1)/2))^{1/2}``
        (1 in expectation for ``Aᵢ`` with standard Gaussian entries; then
        ``E⟨Aᵢ, M⟩² = ‖M‖²_F``); 1.0 without ``normalize``.
    sizes : array of shape (n_samples,)
        ``‖sym(Aᵢ)‖²_F`` in the units of ``X``: the data scale leaves out outsized
        measurements by it.
    """

    nonnegative = False
    matrix_response = 1.0
    size_formula = "‖sym(Aᵢ)‖²_F"
    unit_rescaling = "Aᵢ/‖sym(Aᵢ)‖_F and yᵢ/‖sym(Aᵢ)‖_F"

    def __init__(
        self,
        X,
        chunk_size: int | None = None,
        row_block="auto",
        normalize: bool = False,
        target: tuple | None = None,
    ):
        source, source_device = namespace_and_device(X)
        xp, dev = target or (source, None)
        if xp is source and dev is None:
            dev = source_device
        self.xp = xp
        dtype = moved_dtype(X, xp, dev)
        if dtype_name(dtype) != dtype_name(X.dtype):
            # float64 for a device without it: checked and moved whole, since whether
            # float32 holds X depends on the largest magnitude of all its rows.
            X = move_to(X, xp, dev)
        self.n_samples = X.shape[0]
        d = self.dim = square_side(X.shape[1])
        rows, cols = np.triu_indices(d)
        self._upper = from_host(xp, rows * d + cols, device=dev, index=True)
        # Entry (i, j) of a symmetric matrix read back from the packed vector; off-diagonal
        # entries are halved because the packed vector holds Aᵢⱼ + Aⱼᵢ.
        where = np.empty((d, d), dtype=np.int64)
        where[rows, cols] = where[cols, rows] = np.arange(rows.size)
        self._unpack = from_host(xp, where.reshape(-1), device=dev, index=True)
        sym_scale = np.where(np.eye(d) > 0, 1.0, 0.5).reshape(-1)
        self._sym_scale = from_host(xp, sym_scale, dtype=dtype, device=dev)
        # ...with the adjoint's 1/n folded in (one operation less per call).
        unpack_scale = sym_scale / self.n_samples
        self._unpack_scale = from_host(xp, unpack_scale, dtype=dtype, device=dev)
        self.row_size = rows.size
        self.packed, self.sizes = _pack_rows(xp, dev, dtype, X, d, self._upper, chunk_size)
        self._set_scale(
            self.packed,
            rows.size,
            normalize,
            zero="The sensing matrices' symmetric parts are all zero (X holds only "
            "zeros, or antisymmetric matrices)",
        )
        if normalize:
            self.packed *= 1.0 / self.gain
        # The mean of √sizes is at most the root of their mean (Jensen).
        self.mean_norm = math.sqrt(self.mean_size) / self.gain
        if row_block == "auto":
            row_block = backend_row_block(xp, rows.size * xp.finfo(dtype).bits // 8)
        self.row_block = row_block

    def _gain_of(self, mean_square: float) -> float:
        """``g``, the root of the mean square of the packed coordinates."""
        return mean_square**0.5

    @staticmethod
    def measure(X, U):
        """``⟨Aᵢ, UUᵀ⟩`` for raw rows of ``X`` (``Aᵢ`` flattened), without packing: one
        pass."""
        return X @ array_namespace(X, U).reshape(U @ U.T, (-1,))

    @staticmethod
    def project(X, U):
        """``UᵀAᵢU`` for raw rows of ``X`` (``Aᵢ`` flattened), flattened row-major to
        ``(n, r*r)``."""
        xp = array_namespace(X, U)
        d = U.shape[0]
        projected = U.T @ (xp.reshape(X, (-1, d, d)) @ U)
        return xp.reshape(projected, (X.shape[0], -1))

    def _pack(self, M):
        return self.xp.take(self.xp.reshape(M, (-1,)), self._upper)

    def _unpacked(self, g):
        d = self.dim
        return self.xp.reshape(self.xp.take(g, self._unpack) * self._unpack_scale, (d, d))

    def start(self, U) -> OperatorState:
        return OperatorState(self.packed @ self._pack(U @ U.T))

    def sensing_matrix(self, weights):
        """``(1/n) Σᵢ wᵢ sym(Aᵢ)/g`` as a dense (d, d) array: one pass over the data."""
        return self._unpacked(weights @ self.packed)

    def sandwiched(self, L, R, rows):
        """``Lᵀ·sym(Aᵢ)/g·R`` for the measurements ``rows``, shape (rows, p, q): the
        rows unpacked, ``rows·d²`` numbers."""
        xp, d = self.xp, self.dim
        block = xp.take(self.packed[rows, ...], self._unpack, axis=1) * self._sym_scale
        # sym(Aᵢ)·R first: rows·d²·q flops rather than rows·d²·p with p = d.
        return L.T @ (xp.reshape(block, (-1, d, d)) @ R)

    def spectral_bounds(self):
        """``‖sym(Aᵢ)‖_F/g``, which bounds the spectral norm."""
        return self.xp.sqrt(self.sizes) / self.gain

    def second_moment(self) -> None:
        """``None``: general sensing matrices are not made of vectors."""
        return None

    def links(self, rows):
        """The entries of ``sym(Aᵢ)`` nonzero in some row: one pass over the rows."""
        xp, block = self.xp, self.packed[rows, ...]
        anywhere = to_host(xp.astype(xp.any(block != 0, axis=0), xp.uint8)) > 0
        a, b = np.triu_indices(self.dim)
        return a[anywhere], b[anywhere]

    def distinct_measurements(self, rows: int | None = None) -> int:
        """Number of distinct ``sym(Aᵢ)`` (``Aᵢ`` and ``Aᵢᵀ`` measure alike) among the
        first ``rows`` rows (all by default): one pass over them."""
        return _distinct_rows(self.xp, _first(self.packed, rows))

    def adjoint_times(self, U, state: OperatorState, weights):
        return self.sensing_matrix(weights) @ U

    def directional(self, U, state: OperatorState, D):
        xp = self.xp
        Dt = D.T
        UD = U @ Dt
        # Both packed matrices, as the two rows of one array: one gather packs them.
        pair = xp.take(
            xp.reshape(xp.stack([UD + UD.T, D @ Dt]), (2, -1)), self._upper, axis=1
        )
        if self.row_block is None:
            # One product reads the data once. cuBLAS runs this layout at 1.0-1.6 times
            # one pass, where two matrix-vector products take two, and (n, P) @ (P, 2)
            # up to 4.5 in float32 (H200, d=200, n=50000: 1.26 / 1.89 ms against
            # 1.95 / 3.47 ms for two products, float32 / float64).
            ab = pair @ self.packed.T
            return ab[0, ...], ab[1, ...], None
        # On NumPy, two matrix-vector products rather than one two-column product, which
        # OpenBLAS runs far below bandwidth, blocked by rows so that the second product
        # reads its rows from the cache (see _backend.row_block): d=100, n=20000 on 2
        # cores, 34 ms blocked against 75 ms for the two-column product and 52 ms for
        # two unblocked products (float64; float32 16 / 37 / 27 ms).
        first, second = pair[0, ...], pair[1, ...]
        a, b = [], []
        for rows in row_blocks(self.n_samples, self.row_block):
            block = self.packed[rows, ...]
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


def _pack_rows(xp, dev, dtype, X, d: int, upper, chunk_size: int | None):
    """``(packed, sizes)`` of :class:`MatrixOperator`, of ``dtype`` in ``xp`` on
    ``dev``: each row of ``X`` (``Aᵢ`` flattened) as the upper triangle of
    ``Aᵢ + Aᵢᵀ``, its diagonal halved (``upper`` indexes that triangle in a row), and
    ``‖sym(Aᵢ)‖²_F``.

    Filled in place, ``chunk_size`` rows at a time (``None``: a sixteenth of the rows,
    at least 64, at most 4096), each moved there first if ``X`` lives elsewhere:
    besides the packed array (about half of X) only two chunk-sized temporaries exist
    there, so building the operator peaks near 0.56 times the size of X.
    """
    n = X.shape[0]
    rows, cols = np.triu_indices(d)
    lower = from_host(xp, cols * d + rows, device=dev, index=True)
    pack_scale = from_host(xp, np.where(rows == cols, 0.5, 1.0), dtype=dtype, device=dev)
    # ‖sym(Aᵢ)‖²_F from the packed row p: the diagonal once, pᵢⱼ = 2·sym(Aᵢ)ᵢⱼ twice.
    square_weights = from_host(
        xp, np.where(rows == cols, 1.0, 0.5), dtype=dtype, device=dev
    )
    sizes = xp.empty(n, dtype=dtype, device=dev)
    packed = xp.empty((n, rows.size), dtype=dtype, device=dev)
    step = chunk_size or min(4096, max(64, _sixteenth(n)))
    for part in row_blocks(n, step):
        block = move_to(X[part, ...], xp, dev)
        chunk = xp.take(block, upper, axis=1)
        chunk += xp.take(block, lower, axis=1)
        chunk *= pack_scale
        packed[part, ...] = chunk
        chunk *= chunk  # in place: no third chunk-sized temporary at the peak
        sizes[part] = chunk @ square_weights
    return packed, sizes


def _sixteenth(n: int) -> int:
    """A sixteenth of ``n`` rows, rounded up: the default block of a pass in blocks."""
    return -(-n // 16)


def row_blocks(n: int, step: int | None = None):
    """Slices of ``step`` rows (default: a sixteenth of ``n``): per-block temporaries,
    never one of ``X``'s size."""
    step = step or max(1, _sixteenth(n))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _first(data, rows: int | None):
    """The first ``rows`` rows of ``data`` (all of them if ``None`` or more): the Array
    API leaves a slice past the end unspecified, and array_api_strict refuses it."""
    return data if rows is None or rows >= data.shape[0] else data[:rows, ...]


def _distinct_rows(xp, data, *, up_to_sign: bool = False) -> int:
    """Number of distinct rows of ``data`` (``up_to_sign``: a row and its negative are
    one), counted by a hash: each row's products with fixed random weights, summed
    along the row. Not a matrix-vector product, whose rounding can depend on where a
    row sits (OpenBLAS gave two identical rows hashes 1 ulp apart); a sum along each
    row rounds every row alike. Rows that differ by rounding errors can share a hash
    (as measurements they are the same), and distinct rows only by an exact
    cancellation or, in float32 with millions of rows, a collision among its levels."""
    n = data.shape[0]
    weights = np.random.default_rng(0).standard_normal(data.shape[1])
    weights = from_host(xp, weights, dtype=data.dtype, like=data)
    hashes = xp.empty(n, dtype=data.dtype, device=device(data))
    for rows in row_blocks(n):
        hashes[rows] = xp.sum(data[rows, ...] * weights, axis=1)
    if up_to_sign:
        hashes = xp.abs(hashes)
    ordered = xp.sort(hashes)
    changes = xp.astype(ordered[1:] != ordered[:-1], data.dtype)
    (count,) = fetch(xp, xp.sum(changes))
    return 1 + int(count)


def _total(xp, sizes) -> tuple[float, float]:
    """``Σᵢ sizes[i]`` on the host as ``(total, unit)``, the sum being ``total·unit``:
    the data's dtype sums with ``unit = 1``, unless that overflows while the sizes are
    finite (float32 X of entries 1e16 with n·d = 4e6 gave an infinite mean square),
    and then it sums in units of the largest size (:func:`_mean` reads it)."""
    with np.errstate(over="ignore"):  # NumPy-backed namespaces warn on the overflow
        (total,) = fetch(xp, xp.sum(sizes))
    if math.isinf(total := float(total)):
        (largest,) = fetch(xp, xp.max(sizes))
        if math.isfinite(largest := float(largest)):
            (relative,) = fetch(xp, xp.sum(sizes / largest))
            return float(relative), largest
    return total, 1.0


def _mean(total: float, unit: float, count: int) -> float:
    """``total·unit / count`` from :func:`_total`, divided before the product so that
    it stays finite where the sum does not; 0 for no rows."""
    return total / count * unit if count else 0.0


def _check_mean_square(xp, data, mean: float, *, zero: str) -> float:
    """``mean``, the mean square from which each operator's :attr:`gain` is defined
    (itself for rank-one data, its root for matrices), checked.

    ``data`` serves only to tell an all-zero ``X`` and for its dtype; ``zero`` says
    what is zero in the error. An error when the measurements are all zero (they say
    nothing of ``M*``), when the mean is not finite (the squares overflow), is zero for
    nonzero data (they underflow) or has an inverse beyond the dtype (the rank-one
    operator applies ``1/g``, the matrix one ``1/√g``, which this bounds too): each
    would fit a meaningless model.
    """
    if not math.isfinite(mean):
        raise FloatingPointError(
            "The mean square of the measurements X is not finite: X holds values too "
            "large for its dtype; rescale it (the fit does not depend on X's scale)."
        )
    if mean == 0:
        largest, smallest = fetch(xp, xp.max(data), xp.min(data))
        if largest == 0 and smallest == 0:
            raise ValueError(f"{zero}: the measurements say nothing about M*.")
    if mean == 0 or 1.0 / mean > float(xp.finfo(data.dtype).max):
        raise FloatingPointError(
            "The mean square of the measurements X underflows: X holds values too "
            "small for its dtype; rescale it (the fit does not depend on X's scale)."
        )
    return mean


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
    return _operator_class(measurement).measure(X, U)


def project(measurement: str, X, U):
    """The measurements seen through ``U``: ``X·U`` (rank-one) or ``UᵀAᵢU`` flattened
    row-major to ``(n, r*r)`` (matrix)."""
    return _operator_class(measurement).project(X, U)


def make_operator(
    measurement: str, X, normalize: bool = False, target: tuple | None = None
):
    """The operator for ``measurement`` ('rank_one' or 'matrix') on 2-D data ``X``;
    ``normalize`` divides the measurements by their scale, ``target`` (``(xp,
    device)``) is where to compute, ``X`` moved there (see the operators)."""
    return _operator_class(measurement)(X, normalize=normalize, target=target)


def _operator_class(measurement: str):
    """The operator class of a measurement kind."""
    kinds = {"rank_one": RankOneOperator, "matrix": MatrixOperator}
    if measurement not in kinds:
        raise ValueError(
            f"measurement must be 'rank_one' or 'matrix'; got {measurement!r}."
        )
    return kinds[measurement]
