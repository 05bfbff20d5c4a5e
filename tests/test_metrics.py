"""Tests for ``sklearn_lowrank.metrics.relative_error``."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error


def dense_relative_error(U, V):
    return np.linalg.norm(U @ U.T - V @ V.T) / np.linalg.norm(V @ V.T)


@pytest.mark.parametrize(("d", "k", "r"), [(10, 3, 3), (10, 5, 2), (4, 3, 4), (3, 5, 2)])
def test_matches_dense_computation(d, k, r):
    rng = np.random.default_rng(d + k + r)
    U, V = rng.standard_normal((d, k)), rng.standard_normal((d, r))
    assert relative_error(U, V) == pytest.approx(dense_relative_error(U, V), rel=1e-12)


def test_returns_python_float_and_zero_for_equal_matrices():
    V = np.random.default_rng(0).standard_normal((6, 2))
    err = relative_error(V, V)
    assert isinstance(err, float)
    assert err <= 1e-15
    assert relative_error(-V, V) <= 1e-15


def test_invariant_to_orthogonal_mixing_of_columns():
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    base = relative_error(U, V)
    for _ in range(5):
        Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        assert relative_error(U @ Q, V) == pytest.approx(base, rel=1e-12)
        assert relative_error(U, V @ Q) == pytest.approx(base, rel=1e-12)
        assert relative_error(V @ Q, V) <= 1e-14


def test_extra_zero_columns_do_not_matter():
    rng = np.random.default_rng(2)
    U, V = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    padded = np.hstack([U, np.zeros((7, 3))])
    assert relative_error(padded, V) == pytest.approx(relative_error(U, V), rel=1e-12)


@pytest.mark.parametrize("eps", [1e-6, 1e-9, 1e-12])
def test_accurate_for_tiny_errors(eps):
    """With U = V + εW the exact difference ε(VWᵀ + WVᵀ + εWWᵀ) has no cancellation."""
    rng = np.random.default_rng(3)
    V, W = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))
    U = V + eps * W
    exact = np.linalg.norm(eps * (V @ W.T + W @ V.T + eps * W @ W.T)) / np.linalg.norm(
        V @ V.T
    )
    # Rounding of UUᵀ-sized quantities (~1e-16) limits the relative accuracy to ~1e-16/ε.
    assert relative_error(U, V) == pytest.approx(exact, rel=max(1e-10, 1e-12 / eps))


def test_accepts_array_likes():
    U, V = [[2.0, 0.5], [0.0, 1.0]], [[1.0], [0.0]]
    expected = dense_relative_error(np.array(U), np.array(V))
    assert relative_error(U, V) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("U", "V"),
    [
        (np.ones((4, 2)), np.ones((5, 2))),  # different d
        (np.ones(4), np.ones((4, 2))),  # 1-D estimate
        (np.ones((4, 2)), np.ones(4)),  # 1-D truth
        (np.ones((2, 4, 2)), np.ones((4, 2))),  # 3-D
    ],
)
def test_mismatched_shapes_raise(U, V):
    with pytest.raises(ValueError, match="same d"):
        relative_error(U, V)


def test_transposed_estimate_is_named():
    """components_ is (r, d): passing it untransposed names the fix; a plain mismatch
    of d does not."""
    with pytest.raises(ValueError, match=r"pass the model or components_\.T"):
        relative_error(np.ones((2, 4)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"\(5, 2\)\.$"):
        relative_error(np.ones((4, 2)), np.ones((5, 2)))


def test_a_fitted_model_stands_for_its_factor():
    """alpha=0 keeps all d = 6 columns: components_ is square, and passed as it is it
    gave 1.16 for an error of 1e-10, without a word. The model itself reads as
    components_.T; an unfitted one is an error."""
    X, y, truth = make_low_rank_sensing(800, 6, 2, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (alpha=0 keeps every column, and says so)
        model = PrunedFactorSensing(alpha=0, random_state=0).fit(X, y)
    assert model.components_.shape == (6, 6)
    assert relative_error(model, truth) == relative_error(model.components_.T, truth)
    assert (
        relative_error(model, truth) < 1e-8 < 1.0 < relative_error(model.components_, truth)
    )
    with pytest.raises(NotFittedError):
        relative_error(PrunedFactorSensing(), truth)


def test_zero_truth_raises():
    with pytest.raises(ValueError, match="zero factor"):
        relative_error(np.ones((3, 1)), np.zeros((3, 2)))


@pytest.mark.parametrize("c", [1e-200, 1e-100, 1e100, 1e200])
def test_any_magnitude_of_the_float64_range(c):
    """Squared entries of 1e±200 leave the range: the error came out 0.0 at 1e78,
    nan at 1e100 and 'truth is the zero factor' at 1e-170."""
    rng = np.random.default_rng(3)
    U, V = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    expected = relative_error(U, V)
    assert relative_error(c * U, c * V) == pytest.approx(expected, rel=1e-12)


def test_factors_of_another_array_library_are_copied_to_the_host():
    xps = pytest.importorskip("array_api_strict")
    U, V = np.array([[2.0, 0.5], [0.0, 1.0]]), np.array([[1.0], [0.0]])
    device = xps.Device("device1")  # refuses implicit conversion, as a GPU does
    found = relative_error(xps.asarray(U, device=device), xps.asarray(V, device=device))
    assert found == pytest.approx(dense_relative_error(U, V), rel=1e-14)


@pytest.mark.parametrize(
    ("U", "match"),
    [
        (np.ones((3, 1)) * (1 + 1j), "complex"),
        (np.array([[1.0], [np.nan], [0.0]]), "NaN or infinity"),
        (np.array([[1.0], [np.inf], [0.0]]), "NaN or infinity"),
    ],
)
def test_complex_or_non_finite_factors_raise(U, match):
    """The imaginary part was dropped (error 0 for a complex estimate), NaN returned."""
    V = np.ones((3, 1))
    with pytest.raises(ValueError, match=f"estimate .*{match}"):
        relative_error(U, V)
    with pytest.raises(ValueError, match=f"truth .*{match}"):
        relative_error(V, U)
