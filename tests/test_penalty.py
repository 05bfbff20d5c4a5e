"""Tests for the smooth group lasso (``sklearn_lowrank._penalty``).

Checked against dense NumPy float64 formulas and finite differences, in NumPy and under
``array_api_strict`` (default and non-default device), in float64 and float32.
"""

import warnings

import numpy as np
import pytest
from _backends import BACKENDS, assert_close, assert_same_kind, to_numpy
from array_api_compat import array_namespace

from sklearn_lowrank._penalty import SmoothGroupLasso

BETA = 0.1


def factor(seed=0, d=6, k=4):
    """Columns of very different norms, one of them zero."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((d, k)) * np.array([3.0, 1.0, 0.05, 0.0][:k] + [0.5] * (k - 4))
    return U


def dense_h(z, beta=BETA):
    return z / np.sqrt(z + beta)


def dense_value(U, beta=BETA):
    return np.sum(dense_h(np.sum(U * U, axis=0), beta))


SQ_NORMS = np.array([0.0, 1e-4, 0.02, 0.1, 1.0, 7.5, 300.0])


# ------------------------------------------------------------------------- value


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_matches_dense(backend):
    U = factor()
    Ub = backend.asarray(U)
    xp = array_namespace(Ub)
    pen = SmoothGroupLasso(BETA)
    value = pen.value_and_gradient(xp, Ub)[0]
    assert_same_kind(value, Ub)
    assert value.shape == ()
    assert_close(value, dense_value(backend.rounded(U)), backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_from_sq_norms_sums_last_axis(backend):
    """The line search prices many steps at once: ``z`` of shape (m, k) gives (m,)."""
    z = np.abs(np.random.default_rng(1).standard_normal((5, 3))) ** 2
    zb = backend.asarray(z)
    xp = array_namespace(zb)
    out = SmoothGroupLasso(BETA).value_from_sq_norms(xp, zb)
    assert out.shape == (5,)
    assert_close(out, dense_h(backend.rounded(z)).sum(axis=1), backend.rtol)


def test_value_limits():
    """About ‖u‖ for ‖u‖² ≫ β (group lasso) and ‖u‖²/√β for ‖u‖² ≪ β (weight decay)."""
    beta = 1e-4
    pen = SmoothGroupLasso(beta)
    xp = array_namespace(np.zeros(1))
    big = np.array([[30.0], [40.0]])  # norm 50
    small = np.array([[3e-4], [4e-4]])  # norm 5e-4, squared 2.5e-7

    def value(U):
        return float(pen.value_and_gradient(xp, U)[0])

    assert value(big) == pytest.approx(50.0, rel=1e-6)
    assert value(small) == pytest.approx(2.5e-7 / np.sqrt(beta), rel=1e-2)
    assert value(np.zeros((3, 2))) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_beta_is_weight_decay_without_overflow(backend):
    """With ``β`` far above every ``‖uⱼ‖²`` the penalty is the weight decay
    ``‖uⱼ‖²/√β`` and its gradient ``2uⱼ/√β``. ``(z + β)·√(z + β)`` overflowed (and
    NumPy warned at every iteration of a fit) from β ≈ 1e205 in float64 and 5e25 in
    float32, where none of these numbers is out of range."""
    beta = 1e300 if backend.dtype == "float64" else 1e37
    U = factor(seed=4)
    Ub = backend.asarray(U)
    xp = array_namespace(Ub)
    pen = SmoothGroupLasso(beta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = pen.value_and_gradient(xp, Ub)
        first, second = pen.derivatives(xp, backend.asarray(SQ_NORMS))
    Ur = backend.rounded(U)
    assert_close(value, np.sum(Ur * Ur) / np.sqrt(beta), backend.rtol)
    assert_close(grad, 2.0 * Ur / np.sqrt(beta), backend.rtol)
    assert_close(first, np.full(SQ_NORMS.shape, 1.0 / np.sqrt(beta)), backend.rtol)
    # h''(z) ≈ -3/(4β^{3/2}), below the dtype's range here: zero or negative, finite.
    second = to_numpy(second)
    assert np.all(np.isfinite(second)) and np.all(second <= 0)


# ---------------------------------------------------------------------- gradient


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_matches_dense_formula(backend):
    """Column j of the gradient is ``2h'(‖uⱼ‖²)·uⱼ``; compare to the NumPy float64 run."""
    U = factor(seed=2)
    Ub = backend.asarray(U)
    xp = array_namespace(Ub)
    pen = SmoothGroupLasso(BETA)
    grad = pen.value_and_gradient(xp, Ub)[1]
    assert_same_kind(grad, Ub)
    Ur = backend.rounded(U)
    expected = pen.value_and_gradient(array_namespace(Ur), Ur)[1]
    assert_close(grad, expected, backend.rtol)


@pytest.mark.parametrize("beta", [1e-3, 0.1, 10.0])
def test_gradient_finite_differences(beta):
    U = factor(seed=3)
    pen = SmoothGroupLasso(beta)
    grad = pen.value_and_gradient(array_namespace(U), U)[1]
    h = 1e-6
    numeric = np.zeros_like(U)
    for idx in np.ndindex(*U.shape):
        E = np.zeros_like(U)
        E[idx] = h
        numeric[idx] = (dense_value(U + E, beta) - dense_value(U - E, beta)) / (2 * h)
    assert_close(grad, numeric, 1e-7)


# -------------------------------------------------------------- derivatives h', h''


@pytest.mark.parametrize("beta", [1e-3, 0.1, 10.0])
def test_derivatives_finite_differences(beta):
    pen = SmoothGroupLasso(beta)
    xp = array_namespace(SQ_NORMS)
    first, second = pen.derivatives(xp, SQ_NORMS)
    # Central differences with a step small relative to z + β (h is smooth for z > -β).
    h = 1e-5 * (SQ_NORMS + beta)
    numeric_first = (dense_h(SQ_NORMS + h, beta) - dense_h(SQ_NORMS - h, beta)) / (2 * h)
    first_plus, _ = pen.derivatives(xp, SQ_NORMS + h)
    first_minus, _ = pen.derivatives(xp, SQ_NORMS - h)
    numeric_second = (first_plus - first_minus) / (2 * h)
    np.testing.assert_allclose(first, numeric_first, rtol=1e-7)
    np.testing.assert_allclose(second, numeric_second, rtol=1e-7)
    # h is increasing and concave: what makes best_rotation exact.
    assert np.all(first > 0)
    assert np.all(second < 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_match_numpy(backend):
    zb = backend.asarray(SQ_NORMS)
    xp = array_namespace(zb)
    pen = SmoothGroupLasso(BETA)
    first, second = pen.derivatives(xp, zb)
    assert_same_kind(first, zb)
    assert_same_kind(second, zb)
    z = backend.rounded(SQ_NORMS)
    ref_first, ref_second = pen.derivatives(array_namespace(z), z)
    assert_close(first, ref_first, backend.rtol)
    assert_close(second, ref_second, backend.rtol)


# ------------------------------------------------------------------ best_rotation


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 4), (3, 5)], ids=["tall", "wide"])
def test_best_rotation(backend, shape):
    d, k = shape
    rng = np.random.default_rng(4)
    U = rng.standard_normal((d, k)) @ np.diag(np.geomspace(2.0, 0.01, k))
    Ub = backend.asarray(U)
    pen = SmoothGroupLasso(BETA)
    gram = to_numpy(Ub.T @ Ub)
    Wh, Ur = pen.best_rotation(gram), backend.rounded(U)
    assert Wh.shape == (k, k)
    tol = backend.rtol
    assert_close(Wh.T @ Wh, np.eye(k), 10 * tol)
    UW = Ur @ Wh
    gram = UW.T @ UW
    off_diagonal = gram - np.diag(np.diag(gram))
    assert np.linalg.norm(off_diagonal) <= 10 * tol * np.linalg.norm(gram)
    assert_close(UW @ UW.T, Ur @ Ur.T, 10 * tol)
    norms = np.linalg.norm(UW, axis=0)
    assert np.all(np.diff(norms) <= tol * norms[0])  # sorted by decreasing norm
    # Same column norms as NumPy float64 (columns are defined up to sign).
    W64 = pen.best_rotation(Ur.T @ Ur)
    assert_close(norms, np.linalg.norm(Ur @ W64, axis=0), 10 * tol)
    # The penalty never goes up, and no other rotation does better.
    best = dense_value(UW)
    assert best <= dense_value(Ur) * (1 + tol)
    for _ in range(20):
        Q, _ = np.linalg.qr(rng.standard_normal((k, k)))
        assert best <= dense_value(Ur @ Q) * (1 + tol)


def test_best_rotation_strictly_lowers_penalty_of_mixed_columns():
    """Mixing the columns of an orthogonal-column factor costs penalty; W undoes it."""
    rng = np.random.default_rng(5)
    basis, _ = np.linalg.qr(rng.standard_normal((5, 3)))
    V = basis * np.array([2.0, 0.5, 0.01])
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    U = V @ Q
    pen = SmoothGroupLasso(BETA)
    W = pen.best_rotation(U.T @ U)
    assert dense_value(U @ W) < dense_value(U)
    assert dense_value(U @ W) == pytest.approx(dense_value(V), rel=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm(U @ W, axis=0), np.linalg.norm(V, axis=0), rtol=1e-10
    )
