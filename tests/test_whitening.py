"""Tests for the whitening of rank-one vectors (``sklearn_lowrank._whitening``)."""

import numpy as np
import pytest
from _backends import BACKENDS, assert_same_kind, to_numpy

from sklearn_lowrank._whitening import whiten


def correlated_shifted(n=500, d=6, seed=0):
    """Features with a common mean, unequal scales and correlations."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.geomspace(0.1, 10, d)
    return rng.standard_normal((n, d)) @ mixing + 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_whitened_vectors_have_an_identity_second_moment(backend):
    """X̃ = X·T has second moment I, on the backend, and a factor fitted on X̃ maps back
    to one that measures every xᵢ as it measured x̃ᵢ: ⟨xxᵀ, TŨŨᵀTᵀ⟩ = ‖Ũᵀx̃‖²."""
    X = correlated_shifted()
    Xb = backend.asarray(X)
    X_tilde, to_original = whiten(Xb)
    assert_same_kind(X_tilde, Xb)
    moment = to_numpy(X_tilde).T @ to_numpy(X_tilde) / len(X)
    np.testing.assert_allclose(moment, np.eye(6), atol=1e3 * backend.rtol)
    factor = np.random.default_rng(1).standard_normal((6, 2))
    U = to_numpy(to_original(backend.asarray(factor)))
    measured = np.sum((backend.rounded(X) @ U) ** 2, axis=1)
    measured_tilde = np.sum((to_numpy(X_tilde) @ factor) ** 2, axis=1)
    np.testing.assert_allclose(measured, measured_tilde, rtol=1e3 * backend.rtol)


def test_directions_never_varied_along_are_left_out():
    """A repeated feature and an all-zero one: XᵀX is singular (Cholesky fails), and
    the two directions X never varies along are dropped, not divided by ~0."""
    X = correlated_shifted()
    X = np.hstack([X, X[:, :1], np.zeros((len(X), 1))])
    X_tilde, to_original = whiten(X)
    assert X_tilde.shape == (len(X), 6)
    np.testing.assert_allclose(X_tilde.T @ X_tilde / len(X), np.eye(6), atol=1e-8)
    assert to_original(np.ones((6, 1))).shape == (8, 1)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_any_scale_of_the_float64_range(scale):
    """XᵀX would under- or overflow at these scales: the decomposition runs on X over
    its largest entry, and the map back carries the scale."""
    X = correlated_shifted()
    reference, back = whiten(X)
    X_tilde, to_original = whiten(scale * X)
    np.testing.assert_allclose(X_tilde, reference, rtol=1e-9, atol=1e-12)
    factor = np.ones((6, 1))
    np.testing.assert_allclose(to_original(factor) * scale, back(factor), rtol=1e-9)


def test_zeros_are_left_for_the_operator_to_report():
    X = np.zeros((10, 3))
    X_tilde, to_original = whiten(X)
    assert X_tilde is X and to_original is None
