"""Which directions of the low-rank PSD matrices the measurements see.

A rank-``k`` PSD matrix ``M = QΣQᵀ`` (``Q`` d × k orthonormal) moves, to first
order, within its tangent space ``T(Q) = {QCᵀ + CQᵀ : C ∈ ℝ^{d×k}}``, of dimension
``dof(k) = k·d − k(k−1)/2``. The estimate is identified, to first order, only if the
measurement operator ``𝒜`` is one-to-one on ``T(Q)``: a direction ``Δ ∈ T(Q)`` with
``𝒜(Δ) = 0`` leads to other matrices of that rank that fit the data as well. Random
designs never have one; structured ones may (sensing matrices that never reach a row
of ``M``, or only its diagonal; one-hot features as rank-one vectors).

:func:`tangent_ranks` measures the rank of ``𝒜`` on ``T(Q)`` and, in the same
computation, on the tangent space of a wider factor ``[Q, G]`` (``G`` a fixed random
completion): that second rank counts the linearly independent measurements, up to the
wider space's dimension. In the basis ``B = [Q, G, ...]`` of ℝ^d (orthonormal), the
tangent space of the first ``m`` columns is spanned by ``bⱼbₚᵀ + bₚbⱼᵀ``, ``j < m``,
``j ≤ p``, and ``⟨Aᵢ, bⱼbₚᵀ + bₚbⱼᵀ⟩ = 2·bₚᵀsym(Aᵢ)bⱼ``: the columns with ``j < k``
span ``T(Q)``, so one Gram matrix of these measurements answers both questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from array_api_compat import device

from ._backend import Array, from_host, has_float64, to_host

__all__ = ["TangentRanks", "degrees_of_freedom", "tangent_ranks"]

# The check runs where it costs at most the larger of these flops and this many of the
# fit's passes (2·n·row_size·k flops each); it returns None elsewhere.
_FLOOR_FLOPS, _BUDGET_PASSES = 1e8, 20
# A direction whose measurements' norm is below this many times ε (of the data's
# dtype) of its coordinates' norm is one the data do not see, to rounding; the Gram
# matrix is float64, whose rounding bounds the cut at _GRAM_FLOOR.
_RANK_RTOL, _GRAM_FLOOR = 100.0, 1e-13
# Rows of the sensing matrices unpacked at a time (matrix measurements: d² numbers
# each).
_BLOCK_NUMBERS = 2**22


def degrees_of_freedom(rank: int, d: int) -> int:
    """Of a rank-``rank`` PSD ``d × d`` matrix: ``r·d − r(r−1)/2``, with ``r`` at most
    ``d`` (a factor of more columns than ``d`` still makes a matrix of rank ``d``)."""
    rank = min(rank, d)
    return rank * d - rank * (rank - 1) // 2


@dataclass(frozen=True)
class TangentRanks:
    """The ranks of the measurements on two tangent spaces (see the module)."""

    local: int  #: Rank on ``T(Q)``, the estimate's tangent space.
    local_dim: int  #: ``dof(k)``.
    wider: int  #: Rank on the wider factor's: independent measurements, up to...
    wider_dim: int  #: ...its dimension.
    rows: int  #: Measurements read (the first ones, until the ranks were full).

    @property
    def unseen(self) -> int:
        """Directions of ``T(Q)`` that change no measurement."""
        return self.local_dim - self.local


def tangent_ranks(op, V: Array, *, wider_dim: float) -> TangentRanks | None:
    """The ranks of ``op`` on the tangent space at the factor ``V`` (d, k) and on that
    of the narrowest wider factor whose space has ``wider_dim`` dimensions or more (at
    most ``d`` columns); ``None`` where that would cost more than ``_BUDGET_PASSES`` of
    the fit's passes (and ``_FLOOR_FLOPS``).

    The first ``1.25·dof(m)`` measurements are read, then twice as many, and so on
    until both ranks are full or every row is read, within that budget (``None`` if it
    runs out first): the Gram matrix of the tangent measurements (float64) costs
    ``rows·dof(m)²`` flops, where rank-one ``d = 1000``, ``k = 5`` would cost about a
    whole fit's passes. (Forming the measurements of matrix ``Aᵢ`` costs about as much
    again: reading every row of a structured design, matrix ``d = 30-40``,
    ``n = 20000``, took 0.1-0.25 s of 0.4-1 s fits.)
    """
    xp, d, n = op.xp, op.dim, op.n_samples
    k = min(V.shape[1], d)  # (wider than d, with alpha=0: the tangent space is all)
    m = k
    while m < d and degrees_of_freedom(m, d) < wider_dim:
        m += 1
    dim = degrees_of_freedom(m, d)
    budget = max(_FLOOR_FLOPS, _BUDGET_PASSES * 2.0 * n * op.row_size * k)

    def affordable(rows):
        return rows * dim * dim + dim**3 / 3.0 <= budget

    first = min(n, dim + dim // 4 + 1)
    if not affordable(first):
        return None
    basis = _completed_basis(to_host(V).astype(np.float64))
    B = from_host(xp, basis, dtype=V.dtype, like=V)
    # Pair (j, p), j ≤ p, j < m, at p·m + j of a (d, m) block Bᵀ·sym(Aᵢ)·B[:, :m].
    p, j = np.nonzero(np.arange(d)[:, None] >= np.arange(m)[None, :])
    pairs = from_host(xp, p * m + j, like=V, index=True)
    local, local_dim = j < k, degrees_of_freedom(k, d)
    eps = float(xp.finfo(V.dtype).eps)
    cut = max((_RANK_RTOL * eps) ** 2, _GRAM_FLOOR)
    on_device = has_float64(xp, device(V))
    gram = xp.zeros((dim, dim), dtype=xp.float64, device=device(V)) if on_device else 0.0
    step = max(1, _BLOCK_NUMBERS // (d * d))
    read, rows = 0, first
    while True:
        for start in range(read, rows, step):
            Z = op.sandwiched(B, B[:, :m], slice(start, min(start + step, rows)))
            J = xp.take(xp.reshape(Z, (Z.shape[0], d * m)), pairs, axis=1)
            # (A device without float64 sums the Gram matrix on the host.)
            J = xp.astype(J, xp.float64) if on_device else to_host(J).astype(np.float64)
            gram = gram + J.T @ J
        read = rows
        host = to_host(gram) if on_device else gram
        # Unit coordinates: the rank test then ignores how large each direction's
        # measurements are (features of scales 100-fold apart, say).
        norms = np.sqrt(np.diag(host))
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalized = host * scale[:, None] * scale[None, :]
        if _positive_beyond(normalized, cut):
            return TangentRanks(local_dim, local_dim, dim, dim, rows)
        if rows == n:
            break
        rows = min(n, 2 * rows)
        if not affordable(rows):
            return None
    return TangentRanks(
        local=_rank(normalized[np.ix_(local, local)], cut),
        local_dim=local_dim,
        wider=_rank(normalized, cut),
        wider_dim=dim,
        rows=rows,
    )


def _completed_basis(V: np.ndarray) -> np.ndarray:
    """An orthonormal basis of ℝ^d whose first ``k`` columns span ``V``'s columns, the
    rest completed from a fixed private draw (a fit warns or not whatever its seed)."""
    d, k = V.shape
    extra = np.random.default_rng(0).standard_normal((d, max(d - k, 0)))
    return np.linalg.qr(np.hstack([V, extra]))[0]


def _positive_beyond(gram: np.ndarray, cut: float) -> bool:
    """Whether every eigenvalue of the symmetric ``gram`` exceeds ``cut``: a Cholesky
    factorisation of ``gram − cut·I``, a third of an eigen-decomposition's cost."""
    try:
        scipy.linalg.cholesky(gram - cut * np.eye(gram.shape[0]), lower=True)
    except np.linalg.LinAlgError:
        return False
    return True


def _rank(gram: np.ndarray, cut: float) -> int:
    """Eigenvalues of the symmetric ``gram`` (unit diagonal where not 0) above
    ``cut``."""
    if gram.size == 0:
        return 0
    return int(np.sum(np.linalg.eigvalsh(gram) > cut))
