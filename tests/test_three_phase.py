"""Tests for the three-phase pipeline (``sklearn_lowrank._three_phase``)."""

import itertools
import math
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import NUMPY_XP, to_numpy, unblocked
from array_api_compat import array_namespace
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank import _three_phase as three_phase
from sklearn_lowrank._operators import MatrixOperator, RankOneOperator, make_operator
from sklearn_lowrank._pruning import ColumnPruner
from sklearn_lowrank._solvers import SolverResult
from sklearn_lowrank._three_phase import (
    _column_norms,
    _resumed,
    data_scale,
    default_n_columns,
    fit_three_phase,
)
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

KINDS = ["rank_one", "matrix"]


def problem(kind, n=200, d=6, rank=2, seed=0, noise=0.0):
    X, y, truth = make_low_rank_sensing(
        n, d, rank, measurement=kind, noise=noise, random_state=seed
    )
    op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
    return op, X, y, truth


def dense_sensing_matrix(kind, X, y):
    n = X.shape[0]
    if kind == "rank_one":
        A = np.einsum("ni,nj->nij", X, X)
    else:
        d = math.isqrt(X.shape[1])
        A = X.reshape(n, d, d)
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    return np.einsum("n,nij->ij", y, sym) / n


# ---------------------------------------------------------------------- data_scale


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
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_data_scale_of_measurements_past_the_range_raises(kind):
    # Without normalize, nothing checked X's squares before S₀ = (1/n) Σ wᵢAᵢ overflows
    # (S₀ is quadratic in rank-one xᵢ, linear in Aᵢ).
    _, X, y, _ = problem(kind)
    op = make_operator(kind, X * (1e160 if kind == "rank_one" else 1e307))
    with pytest.raises(FloatingPointError, match=r"\(1/n\)·Σᵢ yᵢAᵢ is not finite"):
        data_scale(op.xp, op, y)


# --------------------------------------------------------------- default_n_columns


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (1, 1),  # capped at d
        (10, 10),  # 10 + 2·4 = 18 > 10: capped
        (16, 16),  # 10 + 2·4 = 18 > 16: capped
        (25, 20),  # 10 + 2·5
        (100, 30),  # 10 + 2·10
        (101, 32),  # 10 + 2·⌈10.05⌉
    ],
)
def test_default_n_columns_values(d, expected):
    assert default_n_columns(d) == expected


def test_default_n_columns_properties():
    widths = [default_n_columns(d) for d in range(1, 500)]
    assert all(1 <= w <= d for d, w in zip(range(1, 500), widths, strict=True))
    assert all(b >= a for a, b in itertools.pairwise(widths))
    assert all(isinstance(w, int) for w in widths)


# ------------------------------------------------------------------ fit_three_phase


FIT_KWARGS = dict(n_columns=5, max_iter=300, finetune_iter=300, random_state=0)


@pytest.mark.parametrize("kind", KINDS)
def test_callback_sees_both_phases_in_units_of_y(kind):
    op, X, y, _ = problem(kind)
    calls = []
    result = fit_three_phase(
        op,
        y,
        callback=lambda phase, U: calls.append((phase, np.array(U, copy=True))),
        **FIT_KWARGS,
    )
    phases = [phase for phase, _ in calls]
    assert set(phases) == {"regularized fit", "fine-tuning"}
    n_regularized = phases.count("regularized fit")
    # All regularised-fit calls come first, then one call per fine-tuning iteration.
    assert phases == ["regularized fit"] * n_regularized + ["fine-tuning"] * (
        len(phases) - n_regularized
    )
    assert phases.count("fine-tuning") == result.n_iter_finetune
    assert len(calls) == len(result.objective)
    # Fine-tuning minimises the plain loss; the callback's factor is in the units of y,
    # so its loss is the recorded objective (which is also in the units of y).
    n = X.shape[0]
    A = np.einsum("ni,nj->nij", X, X) if kind == "rank_one" else X.reshape(n, 6, 6)
    for (_, U), value in list(zip(calls, result.objective, strict=True))[n_regularized:]:
        r = np.einsum("nij,ij->n", A, U @ U.T) - y
        assert r @ r / (2 * n) == pytest.approx(value, rel=1e-8)
    np.testing.assert_allclose(calls[-1][1], result.factor, rtol=1e-12)
    # The support is what fine-tuning started from.
    assert calls[-1][1].shape[1] == result.support.sum() == result.factor.shape[1]
    assert calls[0][1].shape == (6, FIT_KWARGS["n_columns"])


@pytest.mark.parametrize("kind", KINDS)
def test_regularized_objective_is_the_penalised_loss_in_units_of_y(kind):
    """The regularised phase's objective, as the docs state it in the units of X and
    y: λ_y = alpha·s^{3/2}·g^{1/2}, β_y = beta·s/g, with measurements scaled so that
    the gain g is not 1."""
    _, X, y, _ = problem(kind)
    X, y = 3.0 * X, 5.0 * y
    op = make_operator(kind, X, normalize=True)
    calls = []
    alpha, beta = 0.02, 0.05
    kwargs = dict(FIT_KWARGS, alpha=alpha, beta=beta)
    result = fit_three_phase(
        op, y, callback=lambda phase, U: calls.append((phase, U.copy())), **kwargs
    )
    s, g = result.scale, op.gain
    assert not math.isclose(g, 1.0, rel_tol=0.1)
    lam, smoothing = alpha * s**1.5 * g**0.5, beta * s / g
    n = X.shape[0]
    A = np.einsum("ni,nj->nij", X, X) if kind == "rank_one" else X.reshape(n, 6, 6)
    regularized = [
        (U, value)
        for (phase, U), value in zip(calls, result.objective, strict=True)
        if phase == "regularized fit"
    ]
    assert len(regularized) > 5
    for U, value in regularized:
        r = np.einsum("nij,ij->n", A, U @ U.T) - y
        norms = np.sum(U * U, axis=0)
        penalty = lam * np.sum(norms / np.sqrt(norms + smoothing))
        assert r @ r / (2 * n) + penalty == pytest.approx(value, rel=1e-8)


def test_no_fine_tuning_calls_when_finetune_iter_is_zero():
    op, _, y, _ = problem("rank_one")
    phases = []
    result = fit_three_phase(
        op,
        y,
        callback=lambda phase, U: phases.append(phase),
        **{**FIT_KWARGS, "finetune_iter": 0},
    )
    assert phases and set(phases) == {"regularized fit"}
    assert result.n_iter_finetune == 0


@pytest.mark.parametrize("kind", KINDS)
def test_regularized_fit_goes_on_while_no_gap_separates_the_norms(kind, monkeypatch):
    """A support tolerance so loose that the phase stops before any gap has formed:
    the phase goes on (to √tol) and the support is found. With a numeric threshold
    there is no gap to wait for: the phase stops there and keeps every column."""
    monkeypatch.setattr(three_phase, "_SUPPORT_TOL", 0.5)
    op, _, y, truth = problem(kind)
    phases = []
    kwargs = dict(FIT_KWARGS, callback=lambda phase, U: phases.append(phase))
    with pytest.warns(UserWarning, match="kept all 5 columns"):
        fit_three_phase(op, y, **dict(kwargs, threshold=0.1))
    first_stop = phases.count("regularized fit")
    phases.clear()
    result = fit_three_phase(op, y, **kwargs)
    assert phases.count("regularized fit") > first_stop
    assert result.threshold > 0 and result.support.sum() == truth.shape[1]


@pytest.mark.parametrize("kind", KINDS)
def test_regularized_runs_get_their_tolerances_and_the_original_start(kind, monkeypatch):
    """The regularised phase stops at the support tolerance when fine-tuning follows
    and, with no gap yet, goes on to √tol; without fine-tuning it runs to
    min(√tol, support tolerance). A resumed run measures growth from the original
    start, so early pruning and drops stay on."""
    monkeypatch.setattr(three_phase, "_SUPPORT_TOL", 0.5)
    calls = []
    original = three_phase.minimize

    def spy(op, y, U, **kwargs):
        calls.append((kwargs["phase"], kwargs["tol"], kwargs.get("pruner")))
        return original(op, y, U, **kwargs)

    monkeypatch.setattr(three_phase, "minimize", spy)
    op, _, y, _ = problem(kind)
    fit_three_phase(op, y, **dict(FIT_KWARGS, tol=1e-10))
    regularized = [call for call in calls if call[0] == "regularized fit"]
    assert [tol for _, tol, _ in regularized] == [0.5, 1e-5]
    # One pruner for both runs: growth from the original start, the start's numbering.
    pruner = regularized[0][2]
    assert pruner is not None and regularized[1][2] is pruner
    assert pruner.start_norm > 0 and pruner.n_columns == FIT_KWARGS["n_columns"]
    calls.clear()
    fit_three_phase(op, y, **dict(FIT_KWARGS, tol=1e-10, finetune_iter=0))
    assert [tol for _, tol, _ in calls] == [1e-5]


@pytest.mark.parametrize(
    "kind, n, d, r, extra",
    [("matrix", 2000, 20, 4, 0), ("rank_one", 400, 20, 2, 1)],
)
def test_a_gap_under_the_floor_does_not_stop_the_phase(kind, n, d, r, extra):
    """Noisy (0.05), ill-conditioned (κ = 50), weak penalty: at the support tolerance
    the only tenfold gap lies between two columns under the floor. Taken for a
    support, it kept 14-16 columns, whose fine-tuning ran out of its 2000 iterations;
    going on finds the true rank on the matrix problem. On the rank-one one, with
    only 400 samples, a column fitting the noise (norm 0.04 of the largest, against
    0.12 for the weak direction) may stay above the gap: rank 3 of 2 today (error
    0.013, 0.010 at the true rank), one ``extra`` column allowed."""
    X, y, _ = make_low_rank_sensing(
        n, d, r, measurement=kind, condition_number=50, noise=0.05, random_state=1
    )
    model = PrunedFactorSensing(measurement=kind, alpha=1e-3, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert r <= model.n_components_ <= r + extra
    assert model.n_iter_finetune_ < 100


@pytest.mark.parametrize("kind", KINDS)
def test_going_on_stays_within_max_iter(kind, monkeypatch):
    """The phase that goes on gets what is left of ``max_iter``, not a new budget.
    (Here it first stops after one iteration and needs 13-17 in all.)"""
    monkeypatch.setattr(three_phase, "_SUPPORT_TOL", 0.5)
    op, _, y, _ = problem(kind)
    phases = []
    kwargs = dict(FIT_KWARGS, callback=lambda phase, U: phases.append(phase))
    fit_three_phase(op, y, **kwargs)
    assert phases.count("regularized fit") > 10
    phases.clear()
    # The warning names the budget the user set, not what was left of it.
    with pytest.warns(ConvergenceWarning, match="regularized fit.* max_iter=8 "):
        fit_three_phase(op, y, **dict(kwargs, max_iter=8))
    assert phases.count("regularized fit") == 8


def test_regularized_solver_has_the_estimators_defaults():
    """The settings benchmarks time are those a default fit runs."""
    model = PrunedFactorSensing()
    settings = three_phase.regularized_solver()
    assert settings["alpha"] == model.alpha
    assert settings["penalty"].beta == model.beta
    assert settings["scaled"] and 0 < settings["damping"] < 1


def test_resumed_run_adds_up_and_norms_cover_every_column():
    """A regularised fit resumed from a factor that had lost columns: one result for
    both runs, and the norms of the start's columns from the pruner both shared."""
    U = np.arange(12.0).reshape(3, 4)
    first = SolverResult(U=U, n_iter=7, converged=True, objective=[3.0, 2.0], moved=False)
    second = SolverResult(
        U=U[:, [0, 2]], n_iter=4, converged=False, objective=[1.0], gradient_norm=0.5
    )
    result = _resumed(first, second)
    assert result.gradient_norm == 0.5 and result.moved
    assert (result.n_iter, result.converged, result.objective) == (11, False, [3, 2, 1])
    pruner = ColumnPruner(6, start_norm=1e-3)
    pruner.columns, pruner.dropped = np.array([0, 3]), {1: 0.1, 4: 0.2, 2: 0.3, 5: 0.4}
    norms = _column_norms(NUMPY_XP, result.U, pruner)
    np.testing.assert_allclose(norms[[0, 3]], np.linalg.norm(U[:, [0, 2]], axis=0))
    np.testing.assert_allclose(norms[[1, 4, 2, 5]], [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("c", [1e-3, 50.0])
def test_fit_is_scale_equivariant(c):
    """Scaling y by c scales the scale by c and the factor by √c (same normalised run)."""
    op, _, y, _ = problem("rank_one", noise=0.01)
    base = fit_three_phase(op, y, **FIT_KWARGS)
    scaled = fit_three_phase(op, c * y, **FIT_KWARGS)
    assert scaled.scale == pytest.approx(c * base.scale, rel=1e-10)
    np.testing.assert_array_equal(scaled.support, base.support)
    # Rounding differs between the two runs; compare norm-wise, not entry by entry.
    expected = math.sqrt(c) * base.factor
    assert np.linalg.norm(scaled.factor - expected) <= 1e-6 * np.linalg.norm(expected)
    norms = math.sqrt(c) * base.column_norms
    assert np.linalg.norm(scaled.column_norms - norms) <= 1e-6 * np.linalg.norm(norms)


@pytest.mark.parametrize("x_scale, y_scale", [(1e-150, 1e100), (1e150, 1e-100)])
def test_fit_in_units_where_the_data_scale_over_the_gain_leaves_the_range(x_scale, y_scale):
    """s/g ≈ 1e±400 while the factor, √s/√g ≈ 1e±200, is representable: the fit is
    the unscaled one, rescaled (it used to come back as inf, or as zeros)."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    base = PrunedFactorSensing(random_state=0).fit(X, y)
    model = PrunedFactorSensing(random_state=0).fit(x_scale * X, y_scale * y)
    expected = base.components_ * (math.sqrt(y_scale) / x_scale)
    assert model.n_components_ == base.n_components_
    error = np.linalg.norm(model.components_ - expected)
    assert error <= 1e-6 * np.linalg.norm(expected)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("root", [1e300, 1e-50])
def test_a_factor_beyond_the_dtype_is_an_error(root):
    """In float32 the factor overflows (1e300) or vanishes (1e-50) in the units of y."""
    V = np.ones((4, 2), dtype=np.float32)
    with pytest.raises(FloatingPointError, match=r"factor.* not representable"):
        three_phase._in_units_of_y(NUMPY_XP, V, root)
    # A zero factor stays zero; representable factors pass.
    zero = np.zeros_like(V)
    np.testing.assert_array_equal(three_phase._in_units_of_y(NUMPY_XP, zero, 1e-50), zero)
    assert np.all(three_phase._in_units_of_y(NUMPY_XP, V, 1e10) == np.float32(1e10))


STRICT = [
    pytest.param(None, id="strict-float64"),
    pytest.param("device1", id="strict-float64-device1"),
]


@pytest.mark.parametrize("device", STRICT)
@pytest.mark.parametrize("kind", KINDS)
def test_strict_matches_numpy(kind, device):
    """The whole pipeline runs on any Array-API device and matches NumPy."""
    op, X, y, _ = problem(kind)
    op_class = type(op)
    kwargs = {**FIT_KWARGS, "max_iter": 60, "finetune_iter": 30}
    dev = None if device is None else xps.Device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = fit_three_phase(unblocked(op_class, X), y, **kwargs)
        Xs, ys = xps.asarray(X, device=dev), xps.asarray(y, device=dev)
        res = fit_three_phase(op_class(Xs), ys, **kwargs)
    assert array_namespace(res.factor) is array_namespace(ys)
    assert res.factor.device == ys.device
    assert res.scale == pytest.approx(ref.scale, rel=1e-10)
    np.testing.assert_array_equal(res.support, ref.support)
    factor = to_numpy(res.factor)
    assert np.linalg.norm(factor - ref.factor) <= 1e-10 * np.linalg.norm(ref.factor)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-10)


def test_defaults_are_the_estimators():
    """fit_three_phase's defaults (which the benchmarks use) are the estimator's."""
    import inspect

    estimator = PrunedFactorSensing().get_params()
    signature = inspect.signature(three_phase.fit_three_phase).parameters
    shared = [name for name in signature if name in estimator]
    assert len(shared) == 11
    for name in shared:
        assert signature[name].default == estimator[name], name


def test_unconverged_fit_names_outsized_measurements_and_their_remedy():
    """2% of the rows 100 times the others' norm dominate the squared loss: both phases
    used their budgets and 7 columns were kept for rank 2, and the warning only said to
    raise them. It now counts those rows and gives the exact remedy, which recovers M."""
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((10, 2))
    X = rng.standard_normal((1000, 10))
    X[:20] *= 100.0
    y = np.sum((X @ truth) ** 2, axis=1)
    model = PrunedFactorSensing(max_iter=100, finetune_iter=100, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X, y)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert [m.split(":")[0] for m in messages] == ["regularized fit", "fine-tuning"]
    for message in messages:
        assert "20 of the 1000 measurements are over 10 times the mean ‖xᵢ‖²" in message
        assert message.endswith("fit xᵢ/‖xᵢ‖ and yᵢ/‖xᵢ‖² instead.")
    assert "may keep too many columns" in messages[0]
    assert "columns" not in messages[1]  # the fine-tuning keeps what pruning kept
    sizes = np.linalg.norm(X, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X / sizes[:, None], y / sizes**2)  # the remedy the warning gives
    assert model.n_components_ == 2
    assert relative_error(model.components_.T, truth) < 1e-8
    # Without outsized rows the warning says what it said.
    X, y, _ = make_low_rank_sensing(1000, 10, 2, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(max_iter=3, finetune_iter=3, random_state=0).fit(X, y)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert len(messages) == 2 and not any("mean ‖xᵢ‖²" in m for m in messages)


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
        assert three_phase._summarize(NUMPY_XP, ops[0], y).n_outsized == outsized
        scales = [data_scale(NUMPY_XP, op, y) for op in ops]
        assert (abs(scales[0] - scales[1]) <= 1e-12 * scales[0]) == bool(outsized)


@pytest.mark.parametrize("repeated", [False, True])
def test_distinct_rows_are_counted_on_all_the_data_only_when_the_first_do_not_settle_it(
    repeated, monkeypatch
):
    """The identifiability check counts distinct measurements among the first
    2·(dof + 1) rows (below full rank), a lower bound; it passes over all the data
    (and sorts n hashes) only when that bound leaves the estimate unidentified, as
    with repeated rows."""
    X, y, _ = make_low_rank_sensing(45 if repeated else 600, 20, 2, random_state=0)
    if repeated:
        X, y = np.tile(X, (20, 1)), np.tile(y, 20)
    calls = []
    counted = RankOneOperator.distinct_measurements

    def recorded(self, rows=None):
        calls.append(rows)
        return counted(self, rows)

    monkeypatch.setattr(RankOneOperator, "distinct_measurements", recorded)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(random_state=0).fit(X, y)
    rank = model.n_components_
    head = 2 * (rank * 20 - rank * (rank - 1) // 2 + 1)
    assert calls == ([head, None] if repeated else [head])
    assert any("not identified" in str(w.message) for w in record) == repeated


def test_not_identified_says_fewer_at_full_rank_and_no_more_below():
    """At full rank n = dof identifies the estimate, so the warning means fewer
    measurements than unknowns; below it, no more than them."""
    op = RankOneOperator(np.array([[1.0, 0.0], [1.0, 1.0]]))
    with pytest.warns(UserWarning, match="2 measurements .* 3 degrees .* with fewer "):
        three_phase._warn_if_not_identified(op, rank=2)
    with pytest.warns(UserWarning, match="2 measurements .* 2 degrees .* with no more "):
        three_phase._warn_if_not_identified(op, rank=1)
    op = RankOneOperator(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        three_phase._warn_if_not_identified(op, rank=2)  # 3 for 3 at full rank


def test_far_from_isotropic_vectors_warn_and_whitening_recovers():
    """Features shifted by 2 (d = 20): the fit found rank 1 of 3 with relative error
    0.87 and no warning. It now warns, and the whitening it gives (the user guide's
    snippet, which leaves out directions X never varies along) recovers M*."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 20)) + 2.0
    truth = np.linalg.qr(rng.standard_normal((20, 3)))[0] * [1.0, 0.8, 0.6]
    y = np.sum((X @ truth) ** 2, axis=1)
    message = r"far from isotropic: one direction holds 81% .* fit X @ T for T = V"
    with pytest.warns(UserWarning, match=message) as record:
        model = PrunedFactorSensing(random_state=0).fit(X, y)
    assert len(record) == 1 and record[0].filename == __file__
    assert relative_error(model.components_.T, truth) > 0.5  # today's silent failure
    X = np.hstack([X, X[:, :1]])  # a repeated feature: X^T X is singular
    w, V = np.linalg.eigh(X.T @ X / len(X))
    keep = w > 1e-10 * w[-1]
    T = V[:, keep] / np.sqrt(w[keep])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X @ T, y)
    assert model.n_components_ == 3
    np.testing.assert_allclose(model.predict(X @ T), y, rtol=1e-8)
    U = T @ model.components_.T
    U[0] += U[-1]  # the repeated feature's weight, on the feature it repeats
    assert relative_error(U[:-1], truth) < 1e-8


@pytest.mark.parametrize(
    ("dim", "share", "warns"),
    [(20, 0.29, False), (20, 0.31, True), (5, 0.69, False), (5, 0.71, True)],
)
def test_isotropy_warning_boundary(dim, share, warns):
    """X built with an exact second moment diag(a, 1, …, 1): the warning needs the top
    direction to hold over 30% of the trace and, for small d, over 3.5 times the mean
    eigenvalue (at d = 5, a share of 0.7)."""
    top = share * (dim - 1) / (1 - share)
    H = np.linalg.qr(np.random.default_rng(0).standard_normal((400, dim)))[0]
    X = np.sqrt(400) * H * np.sqrt(np.r_[top, np.ones(dim - 1)])
    op = RankOneOperator(X, normalize=True)
    np.testing.assert_allclose(np.linalg.eigvalsh(op.second_moment())[-1] / dim, share)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        three_phase._warn_if_anisotropic(op)
    assert len(record) == warns


def test_an_overflowed_second_moment_is_left_to_the_fit(monkeypatch):
    """A moment past the dtype's range (float32, entries 1e19 squared) is not
    decomposed: NumPy's eigenvalues would be NaN, and other backends' eigvalsh may
    refuse inf (as the stand-in below does)."""
    op = RankOneOperator((np.ones((20, 3)) * 1e19).astype(np.float32))
    with np.errstate(over="ignore"):
        assert not np.all(np.isfinite(op.second_moment()))

    def refuses(matrix):
        raise AssertionError("eigvalsh of a non-finite matrix")

    monkeypatch.setattr(op.xp.linalg, "eigvalsh", refuses)
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("error")
        three_phase._warn_if_anisotropic(op)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 10, 20, 30])
def test_few_isotropic_vectors_do_not_warn_but_few_shifted_ones_do(n):
    """n ≤ 3d Gaussian vectors at d = 10: their sample second moment has rank at most
    n, one direction held 47-100% of its trace for n ≤ 4, and the warning blamed
    features the theory assumes. Sampling spreads those eigenvalues up to about
    (1 + √(d/n))² times their mean; features shifted by 3 are beyond 1.5 times that
    from n = 8 on (below, n vectors cannot tell a shift from sampling)."""
    for seed in range(20):
        X = np.random.default_rng(seed).standard_normal((n, 10))
        for features, warns in [(X, False), (X + 3.0, n >= 8)]:
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                three_phase._warn_if_anisotropic(RankOneOperator(features))
            assert len(record) == warns


@pytest.mark.parametrize("kind", KINDS)
def test_isotropic_measurements_do_not_warn(kind):
    """Gaussian vectors (ratio about 1.3 here) and matrix measurements, which have no
    vectors, fit without the isotropy warning; the ratio is scale-free."""
    X, y, _ = make_low_rank_sensing(600, 20, 3, measurement=kind, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PrunedFactorSensing(measurement=kind, random_state=0).fit(1e3 * X, y)


# ------------------------------------------------------------------ noise warning


def noisy_problem(relative_noise, kind="matrix", n=228, d=20, rank=3):
    """n = 4 times the degrees of freedom of rank 3 at d = 20 (matrix measurements);
    noise ``relative_noise`` times the standard deviation of the noiseless y."""
    _, y0, _ = make_low_rank_sensing(n, d, rank, measurement=kind, random_state=0)
    noise = relative_noise * float(np.std(y0))
    return make_low_rank_sensing(n, d, rank, measurement=kind, noise=noise, random_state=0)


def noise_warnings(record):
    return [str(w.message) for w in record if "residuals are near" in str(w.message)]


def test_noise_above_the_pick_up_level_is_named_with_an_alpha_that_helps():
    """Noise 0.2·std(y): the default kept 8 columns for rank 3, silently (relative
    error 0.27 against 0.11 told the rank). The warning names the ratio to the pick-up
    level; refitting with the alpha it advises keeps 4 and is silent."""
    X, y, _ = noisy_problem(0.2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    (message,) = noise_warnings(record)
    ratio = float(message.split("reaches ")[1].split(" times")[0])
    advised = float(message.split("raise alpha to about ")[1].split(" ")[0])
    assert model.n_components_ > 5 and ratio > 0.7
    assert advised == pytest.approx(model.alpha * ratio / 0.5, rel=0.1)
    assert f"n_components_={model.n_components_}" in message
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        refit = PrunedFactorSensing(measurement="matrix", alpha=advised, random_state=0)
        refit.fit(X, y)
    assert refit.n_components_ < model.n_components_ and not noise_warnings(record)


@pytest.mark.parametrize("relative_noise, passes", [(0.0, 0), (0.01, 1)])
def test_noise_well_below_the_pick_up_level_is_not_named(
    relative_noise, passes, monkeypatch
):
    """No warning at noise 0.01·std(y); a fit noiseless to rounding does not even make
    the pass over the data that measures the noise's level."""
    X, y, _ = noisy_problem(relative_noise)
    calls = []
    original = three_phase._top_eigenvalue
    monkeypatch.setattr(
        three_phase,
        "_top_eigenvalue",
        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert len(calls) == passes


@pytest.mark.parametrize("finetune_iter", [0, 3])
def test_noise_is_estimated_only_from_a_converged_fine_tuning(finetune_iter):
    """Residuals with the penalty's shrinkage in them, or of an unfinished run,
    overstate the noise: no noise warning then (the same data warn when converged)."""
    X, y, _ = noisy_problem(0.2)
    model = PrunedFactorSensing(
        measurement="matrix", finetune_iter=finetune_iter, random_state=0
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert not noise_warnings(record)


def test_residuals_at_rounding_level_are_not_noise():
    """float32, noiseless: residuals of a few ε, which a pick-up level made tiny by
    beta=1e10 would take for noise far above it."""
    X, y, _ = noisy_problem(0.0)
    model = PrunedFactorSensing(measurement="matrix", beta=1e10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X.astype(np.float32), y.astype(np.float32))
    assert model.n_components_ == 3
