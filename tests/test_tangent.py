"""Tests for the measurements' ranks on tangent spaces (``sklearn_lowrank._tangent``).

Designs whose unseen directions are known by construction, on every backend of the
core (NumPy, array_api_strict on its default, second and float64-less devices, float64
and float32): the ranks are exact counts, the same on each.
"""

import array_api_strict as xps
import numpy as np
import pytest
from _backends import BACKENDS

from sklearn_lowrank._operators import MatrixOperator, RankOneOperator
from sklearn_lowrank._tangent import degrees_of_freedom, tangent_ranks

D, K = 6, 2
DOF = degrees_of_freedom(K, D)  # 11


def factor(d=D, k=K, seed=1):
    return np.random.default_rng(seed).standard_normal((d, k))


def operator(kind, X, backend, factor_values):
    op_class = RankOneOperator if kind == "rank_one" else MatrixOperator
    op = op_class(backend.asarray(X), normalize=True)
    return op, backend.asarray(factor_values)


def gaussian(kind, n, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d if kind == "rank_one" else d * d))


def diagonal_matrices(n, d=D, seed=0):
    """``Aᵢ`` diagonal: only ``diag(M)`` is measured, ``d`` numbers."""
    values = np.random.default_rng(seed).standard_normal((n, d))
    return np.stack([np.diag(v) for v in values]).reshape(n, d * d)


def entries_but_row_zero(d=D, seed=0):
    """``Aᵢ = e_a e_bᵀ`` for every ``1 ≤ a ≤ b`` (twice, shuffled): each entry of ``M``
    outside row and column 0 is measured, none of those."""
    a, b = np.triu_indices(d - 1)
    A = np.zeros((2 * a.size, d, d))
    A[np.arange(2 * a.size), np.tile(a + 1, 2), np.tile(b + 1, 2)] = 1.0
    return np.random.default_rng(seed).permutation(A.reshape(2 * a.size, d * d))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
def test_random_designs_see_every_direction_from_their_first_rows(kind, backend):
    op, V = operator(kind, gaussian(kind, 10 * DOF), backend, factor())
    ranks = tangent_ranks(op, V, wider_dim=1.5 * DOF)
    assert (ranks.local, ranks.local_dim, ranks.unseen) == (DOF, DOF, 0)
    assert ranks.wider == ranks.wider_dim >= 1.5 * DOF
    assert ranks.wider_dim == degrees_of_freedom(K + 2, D)  # the narrowest: 18 ≥ 16.5
    # 1.25 times the wider space's dimension, of the 110 rows.
    assert ranks.rows == ranks.wider_dim + ranks.wider_dim // 4 + 1 < op.n_samples


@pytest.mark.parametrize("backend", BACKENDS)
def test_diagonal_sensing_matrices_see_only_the_diagonal(backend):
    """d = 6 numbers measured: 5 of the 11 directions at a rank-2 estimate unseen,
    and only 6 independent measurements among 200."""
    op, V = operator("matrix", diagonal_matrices(200), backend, factor())
    ranks = tangent_ranks(op, V, wider_dim=1.5 * DOF)
    assert (ranks.local, ranks.unseen, ranks.wider) == (D, DOF - D, D)
    assert ranks.rows == 200  # every row read before concluding


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_of_m_never_measured_leaves_k_directions_unseen(backend):
    """Moving the estimate's row 0 (``B = e₀cᵀ`` in ``VBᵀ + BVᵀ``, c ∈ ℝᵏ) changes
    no measurement; every other direction does."""
    op, V = operator("matrix", entries_but_row_zero(), backend, factor())
    ranks = tangent_ranks(op, V, wider_dim=DOF + 1)
    assert ranks.unseen == K


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_vectors_measure_d_numbers(backend):
    """Rank-one one-hot codes (scaled) measure ``M``'s diagonal only: a rank-one
    estimate is seen in all of its d directions, but the data hold d independent
    measurements, no more than its degrees of freedom."""
    rng = np.random.default_rng(0)
    X = np.eye(D)[rng.integers(0, D, 300)] * rng.uniform(0.5, 2.0, (300, 1))
    op, V = operator("rank_one", X, backend, factor(k=1))
    ranks = tangent_ranks(op, V, wider_dim=D + 2)
    assert (ranks.local, ranks.unseen) == (D, 0)
    assert ranks.wider == D < ranks.wider_dim


def test_rows_are_read_until_the_ranks_are_full():
    """Diagonal matrices first, Gaussian ones after: the first rows leave directions
    unseen, twice as many see them all."""
    X = np.vstack([diagonal_matrices(15), gaussian("matrix", 200)])
    op, V = operator("matrix", X, BACKENDS[0].values[0], factor())
    ranks = tangent_ranks(op, V, wider_dim=DOF + 1)
    first = ranks.wider_dim + ranks.wider_dim // 4 + 1
    assert ranks.unseen == 0 and ranks.wider == ranks.wider_dim
    assert first < ranks.rows <= 4 * first


def test_a_device_without_float64_sums_on_the_host():
    """array_api_strict's float64-less device (Apple's GPUs): the same counts."""
    dev = xps.Device("no_float64")
    X = xps.asarray(diagonal_matrices(200).astype(np.float32), device=dev)
    op = MatrixOperator(X, normalize=True)
    V = xps.asarray(factor().astype(np.float32), device=dev)
    ranks = tangent_ranks(op, V, wider_dim=1.5 * DOF)
    assert (ranks.local, ranks.wider) == (D, D)


def test_too_costly_a_check_is_left_out():
    """Rank-one d = 200 at rank 5: about 2·10⁹ flops against 20 passes of 5·10⁵ rows'
    worth and the 10⁸ floor."""
    op, V = operator(
        "rank_one",
        gaussian("rank_one", 500, d=200),
        BACKENDS[0].values[0],
        factor(d=200, k=5),
    )
    assert tangent_ranks(op, V, wider_dim=1000) is None
