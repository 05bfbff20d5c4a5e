"""Tests for the data scale and the summary of y (``sklearn_lowrank._scaling``)."""

import math
import warnings

import numpy as np
import pytest
from _backends import NUMPY_XP
from _problems import KINDS, problem

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._operators import MatrixOperator, RankOneOperator, make_operator
from sklearn_lowrank._scaling import data_scale, summarize
from sklearn_lowrank.datasets import make_low_rank_sensing


def dense_sensing_matrix(kind, X, y):
    n = X.shape[0]
    if kind == "rank_one":
        A = np.einsum("ni,nj->nij", X, X)
    else:
        d = math.isqrt(X.shape[1])
        A = X.reshape(n, d, d)
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    return np.einsum("n,nij->ij", y, sym) / n


@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_is_top_eigenvalue_of_the_centred_sensing_matrix(kind):
    """Centred y; the measurements more than ten times the mean size left out."""
    _, X, y, _ = problem(kind, noise=0.1)
    X = X.copy()
    X[5] *= 6.0  # size ×36 (matrix) or ×36 (rank-one ‖x‖²): left out
    op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
    if kind == "rank_one":
        sizes = np.sum(X * X, axis=1)
    else:
        A = X.reshape(len(X), *(2 * [math.isqrt(X.shape[1])]))
        sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
        sizes = np.sum(sym * sym, axis=(1, 2))
    np.testing.assert_allclose(op.sizes, sizes, rtol=1e-12)
    centred = y - y.mean()
    weights = np.where(sizes <= 10 * sizes.mean(), centred, 0.0)
    expected = np.linalg.eigvalsh(dense_sensing_matrix(kind, X, weights))[-1]
    assert weights[5] == 0 and np.count_nonzero(weights == 0) == 1
    assert data_scale(op.xp, op, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_tracks_the_top_eigenvalue_whatever_the_rank(kind):
    """E[S₀] = 2·M* (rank-one) or M* (matrix) for Gaussian measurements, at any rank:
    subtracting the median eigenvalue, as before, took a signal eigenvalue once
    r ≥ d/2 and s fell 2-5 times (matrix, d = 10, r = 6)."""
    expected_factor = 2.0 if kind == "rank_one" else 1.0
    for rank in (1, 3, 6, 9):
        X, y, truth = make_low_rank_sensing(
            20000, 10, rank, measurement=kind, random_state=rank
        )
        op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
        top = np.linalg.eigvalsh(truth @ truth.T)[-1]
        assert data_scale(op.xp, op, y) == pytest.approx(expected_factor * top, rel=0.15)


def test_data_scale_ignores_one_outlying_measurement():
    """One noiseless rank-one row ten times the typical norm (y a hundred times) among
    3000 raised s 48-fold before the truncation, and the fit kept one column of 3."""
    X, y, _ = make_low_rank_sensing(3000, 30, 3, random_state=0)
    op = RankOneOperator(X)
    clean = data_scale(op.xp, op, y)
    X, y = X.copy(), y.copy()
    X[0] *= 10
    y[0] *= 100
    op = RankOneOperator(X)
    assert data_scale(op.xp, op, y) == pytest.approx(clean, rel=0.05)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    assert model.n_components_ == 3


def test_data_scale_keeps_the_few_rows_that_see_a_spike():
    """Single-entry Aᵢ = e_j e_kᵀ, M* = e₀e₀ᵀ, noise 0.01: about 7 rows of 6000 see the
    signal. Truncating on |yᵢ − ȳ| (ten times its mean) left them out, s fell ~60-fold
    and 15 noise columns were kept; truncating on the measurements' size keeps them."""
    rng = np.random.default_rng(0)
    n, d = 6000, 30
    j, k = rng.integers(0, d, n), rng.integers(0, d, n)
    X = np.zeros((n, d * d))
    X[np.arange(n), j * d + k] = 1.0
    y = ((j == 0) & (k == 0)).astype(float) + 0.01 * rng.standard_normal(n)
    model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert model.n_components_ == 1
    assert model.data_scale_ > 0.03


@pytest.mark.parametrize("c", [1e-250, 1e-20, 1e-4, 0.5, 7.0, 1e5, 1e20, 1e250])
@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_is_scale_equivariant(kind, c):
    """Down to the extremes: S₀ is formed from y in units of its own spread, so it
    neither underflows (float32, y·1e-22 with X·1e-11, gave s = 0, then the fallback 1
    and a meaningless fit) nor overflows."""
    op, X, y, _ = problem(kind, noise=0.1)
    s = data_scale(op.xp, op, y)
    assert isinstance(s, float)
    assert data_scale(op.xp, op, c * y) == pytest.approx(c * s, rel=1e-10)
    if 1e-30 < c < 1e30:
        X32, y32 = X.astype(np.float32), y.astype(np.float32)
        op32 = RankOneOperator(X32) if kind == "rank_one" else MatrixOperator(X32)
        s32 = data_scale(op32.xp, op32, y32)
        scaled = data_scale(op32.xp, op32, np.float32(c) * y32)
        assert scaled == pytest.approx(c * s32, rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_falls_back_to_one_for_zero_y(kind):
    op, _, y, _ = problem(kind)
    assert data_scale(op.xp, op, np.zeros_like(y)) == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_of_constant_y_is_proportional_to_it(kind):
    """Constant y takes the uncentred fallback, whatever the rounding of its mean:
    y ≡ 0.1 has a mean an ulp off, whose spread formed S₀ from rounding noise
    (s = 1.7e-17 where y ≡ 0.25 gave about 0.3)."""
    op, _, y, _ = problem(kind)
    unit = data_scale(op.xp, op, np.full_like(y, 0.25))
    for c in (0.1, 1 / 3, 7.7):
        found = data_scale(op.xp, op, np.full_like(y, c))
        assert found == pytest.approx(c / 0.25 * unit, rel=1e-12)


@pytest.mark.parametrize("c", [-3.0, 0.25])
def test_data_scale_falls_back_to_largest_magnitude_for_isotropic_s0(c):
    """``Aᵢ = I`` for all i makes ``S₀ = mean(y)·I``: no spread, so ``s = |mean(y)|``."""
    d, n = 4, 10
    X = np.tile(np.eye(d).reshape(1, -1), (n, 1))
    op = MatrixOperator(X)
    y = np.full(n, c)
    assert data_scale(op.xp, op, y) == pytest.approx(abs(c), rel=1e-12)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_data_scale_non_finite_raises(bad):
    op, _, y, _ = problem("rank_one")
    y = y.copy()
    y[3] = bad
    with pytest.raises(FloatingPointError, match="not finite"):
        data_scale(op.xp, op, y)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype, peak", [(np.float32, 2e37), (np.float64, 5e306)])
def test_summary_of_y_whose_sum_leaves_the_range(dtype, peak):
    """Values in range, sum not: the mean was inf, the rank-one fit was told y "looks
    centred" (inf ≤ 1e-4·inf), then that y's values were too large. In units of the
    largest value the summary and the fit are as for y/peak."""
    _, X, y, _ = problem("rank_one")
    op = RankOneOperator(X.astype(dtype))
    unit = y / np.max(np.abs(y))
    summary = summarize(op, (unit * peak).astype(dtype))
    expected = summarize(op, unit.astype(dtype))
    assert summary.mean == pytest.approx(expected.mean * peak, rel=1e-5)
    assert summary.spread == pytest.approx(expected.spread * peak, rel=1e-5)
    assert summary.relative_variance == pytest.approx(expected.relative_variance, rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = PrunedFactorSensing(random_state=0)
        model.fit(X.astype(dtype), (unit * peak).astype(dtype))
    reference = PrunedFactorSensing(random_state=0).fit(X, y)
    assert model.n_components_ == reference.n_components_


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_of_measurements_past_the_range_raises(kind):
    # Without normalize, nothing checked X's squares before S₀ = (1/n) Σ wᵢAᵢ overflows
    # (S₀ is quadratic in rank-one xᵢ, linear in Aᵢ).
    _, X, y, _ = problem(kind)
    op = make_operator(kind, X * (1e160 if kind == "rank_one" else 1e307))
    with pytest.raises(FloatingPointError, match=r"\(1/n\)·Σᵢ yᵢAᵢ is not finite"):
        data_scale(op.xp, op, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("constant_y", [False, True])
def test_outsized_measurements_are_those_the_data_scale_leaves_out(kind, constant_y):
    """A measurement counts as outsized, in the summary the warnings read, exactly when
    its size exceeds ten times the mean: 99 of size 1 and one of size q, mean
    (99 + q)/100, so q = 11 is the boundary. The data scale leaves out the same one,
    also in its fallback for a constant y: turning it (same size, other direction)
    then leaves the scale as it was."""
    rng = np.random.default_rng(0)
    shape = (6,) if kind == "rank_one" else (6, 6)
    base = rng.standard_normal((100, *shape))
    y = np.full(100, 2.0) if constant_y else 1.0 + rng.random(100)

    def operator(first, size):
        data = base.copy()
        data[0] = first
        if kind == "rank_one":
            unit = data / np.linalg.norm(data, axis=1)[:, None]
            return RankOneOperator(unit * size[:, None])
        data = data + np.transpose(data, (0, 2, 1))
        data /= np.linalg.norm(data, axis=(1, 2), keepdims=True)
        return MatrixOperator((data * size[:, None, None]).reshape(100, -1))

    for q, outsized in [(10.9, 0), (11.1, 1)]:
        size = np.ones(100)
        size[0] = np.sqrt(q)
        ops = [operator(rng.standard_normal(shape), size) for _ in range(2)]
        np.testing.assert_allclose(ops[0].sizes[:2], [q, 1.0], rtol=1e-12)
        assert summarize(ops[0], y).n_outsized == outsized
        scales = [data_scale(NUMPY_XP, op, y) for op in ops]
        assert (abs(scales[0] - scales[1]) <= 1e-12 * scales[0]) == bool(outsized)
