"""Tests for ``sklearn_lowrank.datasets.make_low_rank_sensing``."""

import warnings

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


SMALL = {"n_samples": 10, "n_features": 4, "rank": 2}
INTEGER_PARAMS = ["n_samples", "n_features", "rank"]


@pytest.mark.parametrize("name", INTEGER_PARAMS)
@pytest.mark.parametrize(
    "value", [True, False, np.True_, 2.0, 2.5, np.float64(3.0), "3", None, 3 + 0j]
)
def test_integer_params_reject_non_integers(name, value):
    """Bools and float-valued integers are not integers: a TypeError naming the
    parameter, not one from deep inside NumPy."""
    with pytest.raises(TypeError, match=f"^{name} must be a positive integer; got"):
        make_low_rank_sensing(**{**SMALL, name: value})


@pytest.mark.parametrize("name", INTEGER_PARAMS)
@pytest.mark.parametrize("value", [0, -1, np.int64(0)])
def test_integer_params_reject_values_below_one(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be a positive integer; got"):
        make_low_rank_sensing(**{**SMALL, name: value})


@pytest.mark.parametrize("name", INTEGER_PARAMS)
@pytest.mark.parametrize("integer_type", [np.int64, np.int32, np.uint8])
def test_integer_params_accept_numpy_integers(name, integer_type):
    value = SMALL[name] + (name != "rank")  # rank stays <= n_features
    expected = make_low_rank_sensing(**{**SMALL, name: value}, noise=0.1, random_state=0)
    got = make_low_rank_sensing(
        **{**SMALL, name: integer_type(value)}, noise=0.1, random_state=0
    )
    for u, v in zip(expected, got, strict=True):
        np.testing.assert_array_equal(u, v)


def test_rank_may_be_a_numpy_integer():
    _, _, factor = make_low_rank_sensing(20, 5, np.int64(3), random_state=0)
    assert factor.shape == (5, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("condition_number", np.inf),
        ("condition_number", -np.inf),
        ("condition_number", np.nan),
        ("condition_number", np.float32(np.inf)),
        ("condition_number", 10**400),  # an int beyond float's range
        ("condition_number", 0.999),
        ("condition_number", 0),
        ("noise", np.inf),
        ("noise", -np.inf),
        ("noise", np.nan),
        ("noise", np.float32(np.nan)),
        ("noise", -1e-12),
    ],
)
def test_float_params_must_be_finite_and_in_range(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be >= "):
        make_low_rank_sensing(**SMALL, **{name: value})


@pytest.mark.parametrize("name", ["condition_number", "noise"])
@pytest.mark.parametrize("value", [True, False, "2", None, 2 + 0j, np.array([2.0])])
def test_float_params_reject_non_reals(name, value):
    with pytest.raises(TypeError, match=f"^{name} must be a real number; got"):
        make_low_rank_sensing(**SMALL, **{name: value})


@pytest.mark.parametrize(
    ("kwargs", "reference"),
    [
        (dict(condition_number=2), dict(condition_number=2.0)),
        (dict(condition_number=np.float64(2.5)), dict(condition_number=2.5)),
        (dict(condition_number=1), dict(condition_number=1.0)),
        (dict(noise=0), dict(noise=0.0)),
        (dict(noise=np.float64(0.25)), dict(noise=0.25)),
    ],
)
def test_float_params_accept_ints_and_numpy_floats(kwargs, reference):
    expected = make_low_rank_sensing(**SMALL, **reference, random_state=0)
    got = make_low_rank_sensing(**SMALL, **kwargs, random_state=0)
    for u, v in zip(expected, got, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    "dtype",
    [
        np.int64,
        "int64",
        int,
        np.int32,
        bool,
        np.float16,
        np.complex128,
        object,
        np.dtype(np.float64).newbyteorder(),  # float64, not in native byte order
        "no such dtype",
        [("a", np.float64)],
    ],
)
def test_dtype_must_be_float32_or_float64(dtype):
    """An integer dtype used to truncate y, which then no longer measured X."""
    with pytest.raises(ValueError, match=r"^dtype must be float32 or float64; got"):
        make_low_rank_sensing(**SMALL, dtype=dtype)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        ("float32", np.float32),
        ("f4", np.float32),
        (np.dtype("float32"), np.float32),
        (np.float64, np.float64),
        ("float64", np.float64),
        (np.dtype("float64"), np.float64),
        (float, np.float64),
    ],
)
def test_dtype_spellings(dtype, expected):
    X, y, factor = make_low_rank_sensing(**SMALL, dtype=dtype, random_state=0)
    assert X.dtype == y.dtype == factor.dtype == expected


@pytest.mark.parametrize("measurement", [None, ["matrix"], np.array(["rank_one"]), 1])
def test_measurement_must_be_a_known_string(measurement):
    with pytest.raises(ValueError, match=r"^measurement must be 'matrix' or 'rank_one'"):
        make_low_rank_sensing(**SMALL, measurement=measurement)


@pytest.mark.parametrize("random_state", [-1, 2**32, 1.5, "0", np.random.default_rng(0)])
def test_random_state_errors_name_it(random_state):
    with pytest.raises(ValueError, match=r"^random_state must be None, an integer"):
        make_low_rank_sensing(**SMALL, random_state=random_state)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rank=2.0),
        dict(n_samples=True),
        dict(rank=5),
        dict(condition_number=np.inf),
        dict(noise=np.nan),
        dict(dtype=np.int64),
        dict(measurement="dense"),
    ],
)
def test_errors_come_before_any_draw(kwargs):
    rng = np.random.RandomState(0)
    before = rng.get_state()
    with pytest.raises((TypeError, ValueError)):
        make_low_rank_sensing(**{**SMALL, **kwargs}, random_state=rng)
    after = rng.get_state()
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:] == before[2:]


def test_condition_number_within_the_range_of_dtype():
    """In float32 a condition number past 3.4e38 made the last column subnormal, and
    zero past about 1e90: a factor of lower rank than asked for."""
    _, _, factor = make_low_rank_sensing(**SMALL, condition_number=3e38, dtype=np.float32)
    assert np.all(np.linalg.norm(factor.astype(float), axis=0) > 0)
    with pytest.raises(ValueError, match=r"condition_number must be at most 3.4e\+38"):
        make_low_rank_sensing(**SMALL, condition_number=1e39, dtype=np.float32)
    make_low_rank_sensing(**SMALL, condition_number=1e300)  # float64: fine


def test_noise_within_the_range_of_dtype():
    """noise=1e39 in float32 returned y holding ±inf (with NumPy's cast warning), a y
    the estimator then refuses; the bound leaves ten standard deviations in range."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, y, _ = make_low_rank_sensing(**SMALL, noise=3e37, dtype=np.float32)
    assert np.all(np.isfinite(y))
    with pytest.raises(ValueError, match=r"noise must be at most 3.4e\+37 for float32"):
        make_low_rank_sensing(**SMALL, noise=1e39, dtype=np.float32)
    with pytest.raises(ValueError, match=r"noise must be at most 1.8e\+307 for float64"):
        make_low_rank_sensing(**SMALL, noise=1e308)


def test_non_native_byte_order_is_named():
    swapped = np.dtype(np.float64).newbyteorder()
    with pytest.raises(ValueError, match="byte order is not native"):
        make_low_rank_sensing(**SMALL, dtype=swapped)
