"""Tests for ``sklearn_lowrank.datasets.make_low_rank_sensing``."""

import numpy as np
import pytest

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing


@pytest.mark.parametrize(
    ("measurement", "width"), [("matrix", lambda d: d * d), ("rank_one", lambda d: d)]
)
def test_shapes_and_dtypes(measurement, width):
    n, d, r = 50, 7, 3
    X, y, factor = make_low_rank_sensing(n, d, r, measurement=measurement, random_state=0)
    assert X.shape == (n, width(d))
    assert y.shape == (n,)
    assert factor.shape == (d, r)
    for arr in (X, y, factor):
        assert arr.dtype == np.float64
    X32, y32, f32 = make_low_rank_sensing(
        n, d, r, measurement=measurement, dtype=np.float32, random_state=0
    )
    assert X32.dtype == y32.dtype == f32.dtype == np.float32
    np.testing.assert_allclose(X32, X, rtol=1e-6)
    np.testing.assert_allclose(y32, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_default_shapes_and_measurement_match_the_estimator():
    X, y, factor = make_low_rank_sensing(random_state=0)
    assert PrunedFactorSensing().measurement == "rank_one"
    assert X.shape == (600, 40)
    assert y.shape == (600,)
    assert factor.shape == (40, 3)


@pytest.mark.parametrize("measurement", ["matrix", "rank_one"])
def test_determinism(measurement):
    kwargs = dict(measurement=measurement, noise=0.1, condition_number=3.0)
    a = make_low_rank_sensing(30, 5, 2, random_state=42, **kwargs)
    b = make_low_rank_sensing(30, 5, 2, random_state=np.random.RandomState(42), **kwargs)
    c = make_low_rank_sensing(30, 5, 2, random_state=43, **kwargs)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    for u, v in zip(a, c, strict=True):
        assert not np.array_equal(u, v)


@pytest.mark.parametrize("measurement", ["matrix", "rank_one"])
def test_noiseless_observations_are_the_measurements(measurement):
    n, d, r = 40, 6, 2
    X, y, factor = make_low_rank_sensing(n, d, r, measurement=measurement, random_state=1)
    M = factor @ factor.T
    if measurement == "matrix":
        expected = np.einsum("nij,ij->n", X.reshape(n, d, d), M)
    else:
        expected = np.einsum("ni,ij,nj->n", X, M, X)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12 * np.abs(y).max())


@pytest.mark.parametrize("kappa", [1.0, 4.0, 100.0])
@pytest.mark.parametrize("rank", [1, 3])
def test_condition_number_of_true_factor(kappa, rank):
    _, _, factor = make_low_rank_sensing(
        20, 8, rank, condition_number=kappa, random_state=2
    )
    eigenvalues = np.sort(np.linalg.eigvalsh(factor.T @ factor))[::-1]
    assert eigenvalues[0] == pytest.approx(1.0, rel=1e-12)
    if rank > 1:
        assert eigenvalues[0] / eigenvalues[-1] == pytest.approx(kappa, rel=1e-10)
        # Geometrically spaced in between.
        ratios = eigenvalues[:-1] / eigenvalues[1:]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-10)
    # Columns are orthogonal (Q·diag(√σ)).
    gram = factor.T @ factor
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-12)


@pytest.mark.parametrize("measurement", ["matrix", "rank_one"])
def test_noise_level(measurement):
    """Same seed: same X and factor, so y differs by exactly the added noise."""
    n, sigma = 4000, 0.3
    X0, y0, f0 = make_low_rank_sensing(n, 4, 2, measurement=measurement, random_state=3)
    X1, y1, f1 = make_low_rank_sensing(
        n, 4, 2, measurement=measurement, noise=sigma, random_state=3
    )
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(f0, f1)
    eps = y1 - y0
    # Sample std of n Gaussians is within ~1.1% (1 s.d.) of sigma at n = 4000.
    assert np.std(eps) == pytest.approx(sigma, rel=0.05)
    assert abs(np.mean(eps)) < 5 * sigma / np.sqrt(n)


def test_full_rank_is_allowed():
    _, _, factor = make_low_rank_sensing(10, 4, 4, random_state=0)
    assert np.linalg.matrix_rank(factor) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(measurement="dense"), "measurement must be"),
        (dict(n_samples=0), "n_samples must be a positive integer"),
        (dict(n_samples=2.5), "n_samples must be a positive integer"),
        (dict(n_features=-3), "n_features must be a positive integer"),
        (dict(rank=0), "rank must be a positive integer"),
        (dict(n_features=4, rank=5), "cannot exceed n_features"),
        (dict(condition_number=0.5), "condition_number must be >= 1"),
        (dict(condition_number=np.nan), "condition_number must be >= 1"),
        (dict(noise=-0.1), "noise must be >= 0"),
        (dict(noise=np.nan), "noise must be >= 0"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_low_rank_sensing(**{"n_samples": 10, "n_features": 4, "rank": 2, **kwargs})
