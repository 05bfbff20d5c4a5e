"""PrunedFactorSensing: recovery, the sklearn workflow, fitted attributes, bad input."""

import copy
import functools
import math
import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn
from _backends import NUMPY_XP
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_lowrank._estimator as estimator_module
from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._solvers import minimize
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

# (measurement, n_samples, d, r): the two problems of the acceptance criteria.
PROBLEMS = {
    "dense": ("matrix", 600, 40, 3),
    "rank_one": ("rank_one", 5000, 100, 5),
}


def make_problem(name, condition_number, noise=0.0, seed=0):
    measurement, n, d, r = PROBLEMS[name]
    X, y, factor = make_low_rank_sensing(
        n,
        d,
        r,
        measurement=measurement,
        condition_number=condition_number,
        noise=noise,
        random_state=seed,
    )
    return measurement, X, y, factor


def fit(measurement, X, y, **params):
    return PrunedFactorSensing(measurement=measurement, random_state=0, **params).fit(X, y)


@functools.lru_cache
def oracle_error(problem, condition_number, noise):
    """Relative error of gradient descent told the true rank, run to convergence.

    The relative error does not depend on the scale of y, so it is computed once per
    problem and reused for the rescaled copies.
    """
    measurement, X, y, factor = make_problem(problem, condition_number, noise)
    op = make_operator(measurement, X)
    scale = data_scale(NUMPY_XP, op, y)
    d, r = factor.shape
    start = 1e-3 * np.random.RandomState(0).standard_normal((d, r)) / math.sqrt(d)
    result = minimize(op, y / scale, start, memory=0, max_iter=20000, tol=1e-10)
    return relative_error(math.sqrt(scale) * result.U, factor)


# --------------------------------------------------------------------- recovery
@pytest.mark.parametrize("y_scale", [1.0, 1e-4, 1e4])
@pytest.mark.parametrize("condition_number", [1, 10])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_noiseless_recovery_finds_rank_and_matrix(problem, condition_number, y_scale):
    measurement, X, y, factor = make_problem(problem, condition_number)
    model = fit(measurement, X, y_scale * y)
    assert model.n_components_ == factor.shape[1]
    error = relative_error(model.components_.T / math.sqrt(y_scale), factor)
    assert error <= 1e-8


@pytest.mark.parametrize("y_scale", [1.0, 1e-4, 1e4])
@pytest.mark.parametrize("condition_number", [1, 10])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_noisy_recovery_matches_gd_told_the_rank(problem, condition_number, y_scale):
    measurement, X, y, factor = make_problem(problem, condition_number, noise=0.1)
    y = y_scale * y
    factor = factor * math.sqrt(y_scale)
    model = fit(measurement, X, y)
    assert model.n_components_ == factor.shape[1]
    error = relative_error(model.components_.T, factor)
    reference = oracle_error(problem, condition_number, 0.1)
    # The noise really matters here: neither estimate is near exact.
    assert reference > 1e-3
    assert error <= 1.15 * reference


@pytest.mark.parametrize("problem", PROBLEMS)
def test_fit_is_equivariant_in_the_scale_of_x(problem):
    """Scaling X by c scales Aᵢ by c² (rank-one) or c (matrix), the measurement scale
    with it, and the factor by 1/c or 1/√c: the normalised run is the same. Before,
    only y was normalised: X·10 found rank 10 of 5 and X·30 rank 1, silently.

    A power of two scales exactly, so that fit is bitwise the same up to the factor."""
    measurement, X, y, factor = make_problem(problem, 10)
    power = 2 if measurement == "rank_one" else 1
    base = fit(measurement, X, y)
    assert base.measurement_scale_ == pytest.approx(1.0, rel=0.05)  # Gaussian data
    exact = fit(measurement, 2.0**10 * X, y)
    assert exact.measurement_scale_ == 2.0 ** (10 * power) * base.measurement_scale_
    np.testing.assert_array_equal(
        2.0 ** (10 * power / 2) * exact.components_, base.components_
    )
    assert exact.loss_curve_ == base.loss_curve_
    for c in (1e-6, 10.0, 30.0, 1e8):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = fit(measurement, c * X, y)
        assert model.measurement_scale_ == pytest.approx(c**power * base.measurement_scale_)
        assert model.n_components_ == factor.shape[1]
        np.testing.assert_array_equal(model.support_, base.support_)
        assert abs(model.n_iter_ - base.n_iter_) <= 1
        error = relative_error(c ** (power / 2) * model.components_.T, factor)
        assert error <= 1e-8


@pytest.mark.parametrize("problem", PROBLEMS)
def test_without_regularizer_column_norms_stay_comparable(problem):
    """The seed paper's negative result: alpha=0 leaves nothing for pruning to cut."""
    measurement, X, y, _ = make_problem(problem, 1)
    with pytest.warns(UserWarning, match="with alpha=0 there is no penalty"):
        model = fit(measurement, X, y, alpha=0.0, finetune_iter=0)
    norms = model.column_norms_
    assert np.mean(norms >= 0.3 * norms.max()) >= 0.5
    regularized = fit(measurement, X, y, finetune_iter=0)
    assert np.mean(regularized.column_norms_ >= 0.3 * regularized.column_norms_.max()) < 0.5


@pytest.mark.parametrize("problem", PROBLEMS)
def test_finetune_solvers_agree_and_lbfgs_needs_far_fewer_iterations(problem):
    measurement, X, y, factor = make_problem(problem, 10)
    lbfgs = fit(measurement, X, y)
    gd = fit(measurement, X, y, finetune_solver="gd")
    for model in (lbfgs, gd):
        assert model.n_components_ == factor.shape[1]
        assert relative_error(model.components_.T, factor) <= 1e-8
    assert 3 * lbfgs.n_iter_finetune_ < gd.n_iter_finetune_


@pytest.mark.parametrize(("condition_number", "alpha"), [(50, 1e-3), (100, 5e-4)])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_weaker_penalty_recovers_high_condition_numbers(problem, condition_number, alpha):
    """The documented recipe; early pruning must not cut the weakest direction while it
    is still growing. At 100, stopping the regularised phase at its support tolerance
    left the weakest column 3-6 times above the removed ones and kept 22-30 columns:
    the phase must go on while no gap separates the norms."""
    measurement, X, y, factor = make_problem(problem, condition_number)
    model = fit(measurement, X, y, alpha=alpha)
    assert model.n_components_ == factor.shape[1]
    assert relative_error(model.components_.T, factor) <= 1e-8


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_early_pruning_keeps_the_rank_near_the_sample_size_threshold(seed):
    """n = 150 ≈ 1.3 × the degrees of freedom: columns fade slowly above the first cut.

    Regression: stopping the regularised phase at the first cut kept 7, 7 and 4 columns
    on these seeds (errors 0.4, 0.44, 0.06); running it to its tolerance, as it does
    now after dropping the columns below that cut, keeps 3.
    """
    X, y, factor = make_low_rank_sensing(
        150, 40, 3, measurement="matrix", random_state=seed
    )
    model = fit("matrix", X, y)
    assert model.n_components_ == 3
    assert relative_error(model.components_.T, factor) <= 1e-8


@pytest.mark.parametrize(("n_samples", "seed"), [(50, 0), (50, 3), (60, 0)])
def test_early_pruning_keeps_the_rank_at_full_width(n_samples, seed):
    """d = 20 gives k = d = 20 columns, n = 1.25-1.5 r·d. Regression: stopping the
    regularised phase at a confirmed cut kept 3, 4 and 4 columns here (the gallery's
    phase transition showed it); columns fade by only ~5% per five iterations."""
    X, y, factor = make_low_rank_sensing(
        n_samples, 20, 2, measurement="matrix", random_state=seed
    )
    model = fit("matrix", X, y)
    assert model.n_components_ == 2
    assert relative_error(model.components_.T, factor) <= 1e-8


@pytest.mark.parametrize("problem", PROBLEMS)
def test_support_threshold_and_norms_agree_after_early_pruning(problem):
    measurement, X, y, factor = make_problem(problem, 10)
    model = fit(measurement, X, y)
    norms, largest = model.column_norms_, model.column_norms_.max()
    assert model.support_.sum() == model.n_components_ == factor.shape[1]
    assert np.all(norms[model.support_] >= model.threshold_ * largest)
    assert np.all(norms[~model.support_] < model.threshold_ * largest)
    # A tenfold gap separates what was kept from what was pruned.
    assert norms[model.support_].min() >= 10 * norms[~model.support_].max()


def test_finetuning_converges_linearly():
    """Gradient-descent fine-tuning (the seed paper's) converges linearly: the log-loss
    decreases about linearly."""
    measurement, X, y, _ = make_problem("dense", 10)
    model = fit(measurement, X, y, finetune_solver="gd")
    tail = np.asarray(model.loss_curve_[-model.n_iter_finetune_ :])
    logs = np.log10(tail[tail > 1e-24 * tail[0]])
    assert logs[-1] < logs[0] - 8  # many orders of magnitude
    slope = np.polyfit(np.arange(logs.size), logs, 1)[0]
    half = logs.size // 2
    late = np.polyfit(np.arange(half), logs[-half:], 1)[0]
    # A sublinear method slows down by far more than this between halves.
    assert late < 0.5 * slope < 0


# ------------------------------------------------------------------- workflow
@pytest.fixture(scope="module")
def quadratic_network():
    """y = Σⱼ (wⱼᵀx)² + noise: a two-layer network with quadratic activation, rank 2."""
    X, y, factor = make_low_rank_sensing(
        1000, 15, 2, measurement="rank_one", noise=0.3, random_state=1
    )
    return X, y, factor


def test_grid_search_in_pipeline_picks_true_rank(quadratic_network):
    X, y, factor = quadratic_network
    pipe = make_pipeline(
        # Scaling without centring keeps y exactly quadratic in the scaled features.
        StandardScaler(with_mean=False),
        PrunedFactorSensing(random_state=0),
    )
    grid = {
        "prunedfactorsensing__alpha": [0.0, 5e-3],
        "prunedfactorsensing__beta": [1e-2, 1e-1],
        "prunedfactorsensing__threshold": ["auto", 0.5],
        "prunedfactorsensing__finetune_iter": [0, 300],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    best = search.best_estimator_[-1]
    assert best.n_components_ == factor.shape[1]
    assert search.best_params_["prunedfactorsensing__alpha"] > 0
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(restored.predict(X), search.best_estimator_.predict(X))


@pytest.fixture(scope="module")
def small_dense():
    X, y, factor = make_low_rank_sensing(300, 8, 2, measurement="matrix", random_state=3)
    return X, y, factor


def test_matrix_mode_3d_and_flat_inputs_fit_identically(small_dense):
    X, y, _ = small_dense
    flat = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    cube = PrunedFactorSensing(measurement="matrix", random_state=0).fit(
        X.reshape(-1, 8, 8), y
    )
    np.testing.assert_array_equal(flat.components_, cube.components_)
    np.testing.assert_array_equal(flat.loss_curve_, cube.loss_curve_)
    assert flat.n_features_in_ == cube.n_features_in_ == 64
    # Either layout is accepted at predict/transform time.
    np.testing.assert_allclose(flat.predict(X.reshape(-1, 8, 8)), flat.predict(X))
    np.testing.assert_allclose(cube.transform(X), flat.transform(X.reshape(-1, 8, 8)))


def test_matrix_mode_only_symmetric_part_matters(small_dense):
    X, y, _ = small_dense
    A = X.reshape(-1, 8, 8)
    symmetric = 0.5 * (A + A.transpose(0, 2, 1))
    a = PrunedFactorSensing(measurement="matrix", random_state=0).fit(A, y)
    b = PrunedFactorSensing(measurement="matrix", random_state=0).fit(symmetric, y)
    np.testing.assert_allclose(a.get_matrix(), b.get_matrix(), rtol=1e-8, atol=1e-10)


def test_matrix_mode_clone_pickle_pipeline_grid_search(small_dense):
    X, y, factor = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    assert clone(model).get_params() == model.get_params()
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert relative_error(model.components_.T, factor) < 1e-8

    pipe = make_pipeline(PrunedFactorSensing(measurement="matrix", random_state=0))
    search = GridSearchCV(
        pipe,
        {
            "prunedfactorsensing__alpha": [5e-3, 5e-2],
            "prunedfactorsensing__threshold": ["auto", 0.2],
        },
        cv=3,
    )
    search.fit(X, y)
    assert search.best_estimator_[-1].n_components_ == 2
    assert search.best_score_ > 0.99


# --------------------------------------------------------------- fitted model
def test_fitted_attributes_and_methods(small_dense):
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    r, k = model.n_components_, model.column_norms_.size
    assert model.components_.shape == (r, 8)
    assert model.support_.shape == (k,) and model.support_.sum() == r
    assert len(model.loss_curve_) == model.n_iter_
    assert all(type(value) is float for value in model.loss_curve_)
    assert 0 < model.n_iter_finetune_ < model.n_iter_
    kept = model.column_norms_[model.support_]
    dropped = model.column_norms_[~model.support_]
    assert dropped.max() < model.threshold_ * kept.max() <= kept.min()
    M = model.get_matrix()
    np.testing.assert_allclose(M, model.components_.T @ model.components_)
    A = X.reshape(-1, 8, 8)
    np.testing.assert_allclose(model.predict(X), np.einsum("nij,ij->n", A, M))
    U = model.components_.T
    np.testing.assert_allclose(
        model.transform(X), np.einsum("ia,nij,jb->nab", U, A, U).reshape(len(X), -1)
    )
    # Named by the entry (j, l) of UᵀAᵢU they hold.
    assert list(model.get_feature_names_out()) == [
        f"prunedfactorsensing{j}_{l}" for j in range(r) for l in range(r)
    ]
    assert model.score(X, y) > 1 - 1e-12


def test_rank_one_predict_and_transform(quadratic_network):
    X, y, _ = quadratic_network
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    U = model.components_.T
    np.testing.assert_allclose(model.transform(X), X @ U)
    np.testing.assert_allclose(model.predict(X), np.sum((X @ U) ** 2, axis=1))
    assert model.transform(X).shape == (len(X), model.n_components_)


def test_finetune_iter_zero_skips_finetuning(small_dense):
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", finetune_iter=0, random_state=0)
    model.fit(X, y)
    assert model.n_iter_finetune_ == 0
    norms = np.linalg.norm(model.components_, axis=1)
    np.testing.assert_allclose(np.sort(norms), np.sort(model.column_norms_[model.support_]))


@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
def test_float32_input_gets_float32_output_from_a_float64_fit(kind):
    X, y, _ = make_low_rank_sensing(300, 6, 2, measurement=kind, random_state=0)
    model = PrunedFactorSensing(measurement=kind, random_state=0).fit(X, y)
    assert model.components_.dtype == np.float64
    X32 = X.astype(np.float32)
    for method in (model.predict, model.transform):
        found, expected = method(X32), method(X)
        assert found.dtype == np.float32, method.__name__
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
@pytest.mark.parametrize("magnitude", [1e40, 1e80])
def test_float32_output_past_its_range_is_an_error(kind, magnitude):
    """A float64 fit to y of 1e40 (predictions past float32's range) or 1e80 (the
    factor too) returned inf and NaN on float32 X, after NumPy's overflow warnings
    only; score then blamed the input."""
    X, y, _ = make_low_rank_sensing(300, 6, 2, measurement=kind, random_state=0)
    model = PrunedFactorSensing(measurement=kind, random_state=0).fit(X, y * magnitude)
    X32 = X.astype(np.float32)
    calls = [lambda: model.predict(X32), lambda: model.score(X32, y * magnitude)]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy's overflow warnings before it
            with pytest.raises(FloatingPointError, match=r"range of float32.*as float64"):
                call()
    # Where the factor itself leaves float32, the projection does too.
    if magnitude == 1e80:
        with pytest.raises(FloatingPointError, match="transform: the result exceeds"):
            model.transform(X32)
    assert np.all(np.isfinite(model.predict(X)))


def test_predict_under_assume_finite_names_the_nan_in_x():
    """assume_finite=True lets a NaN of X through to predict, whose check of its result
    then blamed the dtype's range."""
    X, y, _ = make_low_rank_sensing(300, 6, 2, random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    X = X.copy()
    X[3, 2] = np.nan
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(ValueError, match=r"X contains NaN .*before predict"):
            model.predict(X)


def test_float32_is_computed_in_float32(small_dense):
    X, y, factor = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    model.fit(X.astype(np.float32), y.astype(np.float32))
    assert model.components_.dtype == np.float32
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    assert relative_error(model.components_.T, factor) < 1e-4


def test_verbose_prints_one_line_per_phase(small_dense, capsys):
    X, y, _ = small_dense
    PrunedFactorSensing(measurement="matrix", verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "[PrunedFactorSensing] regularized fit",
        "[PrunedFactorSensing] pruning",
        "[PrunedFactorSensing] fine-tuning",
        "[PrunedFactorSensing] total",
    ]


@pytest.mark.parametrize("resumed", [False, True])
def test_verbose_two_prints_progress_in_the_units_of_y(small_dense, capsys, resumed):
    """Progress lines print the objective as loss_curve_ holds it (they printed it
    in the normalised units, 6.8e-3 for 2.73), every tenth iteration of a phase, and
    a regularised phase that goes on keeps counting (it restarted at 1)."""
    X, y, _ = small_dense
    kwargs = dict(measurement="matrix", finetune_solver="gd")
    if resumed:  # stops at 17 iterations with no gap, goes on to 26
        X, y, _ = make_low_rank_sensing(
            2000,
            20,
            4,
            measurement="matrix",
            condition_number=50,
            noise=0.05,
            random_state=1,
        )
        kwargs.update(alpha=1e-3)
    seed = 1 if resumed else 0
    model = PrunedFactorSensing(verbose=2, random_state=seed, **kwargs).fit(X, 1e3 * y)
    out = capsys.readouterr().out
    assert ("going on" in out) == resumed
    lines = [ln for ln in out.splitlines() if " iter " in ln]
    assert any(ln.startswith("  [regularized") for ln in lines) == resumed
    # One line per tenth iteration of each phase, none lost.
    counts = [sum(ln.startswith(f"  [{p}") for ln in lines) for p in ("reg", "fine")]
    n_regularized = model.n_iter_ - model.n_iter_finetune_
    assert counts == [n_regularized // 10, model.n_iter_finetune_ // 10]
    assert counts[1] > 0
    first_of_phase = {
        "regularized fit": 0,
        "fine-tuning": model.n_iter_ - model.n_iter_finetune_,
    }
    for line in lines:
        phase, n_iter, value = re.match(
            r"  \[(.+)\] iter +(\d+) +objective (\S+)", line
        ).groups()
        assert int(n_iter) % 10 == 0
        index = first_of_phase[phase] + int(n_iter) - 1
        assert float(value) == pytest.approx(model.loss_curve_[index], rel=1e-6)


def test_fine_tuning_warning_names_finetune_iter(small_dense):
    """The budget named is the public one the user can raise, and the warning points
    at the user's fit call, not at a line of the package."""
    X, y, _ = small_dense
    model = PrunedFactorSensing(
        measurement="matrix", finetune_iter=3, finetune_solver="gd", random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="fine-tuning.* finetune_iter=3 ") as record:
        model.fit(X, y)
    assert "max_iter" not in str(record[0].message)
    assert record[0].filename == __file__


def test_huge_tol_stops_at_once():
    """tol=1e160 raised OverflowError from tol**2; any tol stops as soon as it is met."""
    X, y, _ = make_low_rank_sensing(2000, 20, 3, random_state=0)
    model = PrunedFactorSensing(tol=1e160, random_state=0).fit(X, y)
    assert model.n_iter_finetune_ == 1
    assert model.n_components_ == 3


def test_loose_tol_keeps_the_rank():
    """tol is the fine-tuning's: the regularised phase still runs to its support
    tolerance. tol=1e-3 used to stop it at √tol = 0.03, before the gap formed: all 20
    columns of a rank-3 problem were kept."""
    X, y, factor = make_low_rank_sensing(2000, 20, 3, random_state=0)
    for seed in range(3):
        model = PrunedFactorSensing(tol=1e-3, random_state=seed).fit(X, y)
        assert model.n_components_ == 3
        assert relative_error(model.components_.T, factor) < 1e-2


def test_warns_when_the_rank_found_is_not_identified():
    """45 measurements for a rank-3 estimate in d = 20 (57 degrees of freedom): many
    matrices of that rank fit the data. The fit found them (relative error 0.93) and
    said nothing. With one more measurement than unknowns the warning stays silent."""
    X, y, _ = make_low_rank_sensing(45, 20, 2, random_state=0)
    with pytest.warns(
        UserWarning, match="45 measurements .* 57 degrees.* not identified"
    ) as record:
        PrunedFactorSensing(random_state=0).fit(X, y)
    assert record[0].filename == __file__
    X, y, _ = make_low_rank_sensing(58, 20, 2, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(random_state=2).fit(X, y)
    assert model.n_components_ == 3  # 57 degrees of freedom, 58 measurements
    assert not [w for w in record if "not identified" in str(w.message)]
    # Repeated rows add no equations: 45 measurements in 900 rows, the same estimate
    # (error 0.95 against the truth, a perfect training fit), used to pass silently.
    X, y, _ = make_low_rank_sensing(45, 20, 2, random_state=0)
    order = np.random.default_rng(0).permutation(900)
    X, y = np.tile(X, (20, 1))[order], np.tile(y, 20)[order]
    X[::2] *= -1.0  # the same measurement xxᵀ
    with pytest.warns(UserWarning, match=r"45 distinct measurements \(in 900 rows\)"):
        PrunedFactorSensing(random_state=0).fit(X, y)
    # As many measurements as degrees of freedom: still not identified.
    X, y, _ = make_low_rank_sensing(57, 20, 2, random_state=0)
    with pytest.warns(UserWarning, match="57 measurements .* 57 degrees"):
        model = PrunedFactorSensing(random_state=2).fit(X, y)
    assert model.n_components_ == 3


def test_as_many_measurements_as_unknowns_identify_a_full_rank_estimate():
    """At full rank the measurements are a linear system: one measurement fixes a 1 × 1
    matrix (it used to warn "1 measurements ... many matrices"), while below full rank
    one measurement of a 2 × 2 matrix (two unknowns) still does not."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = PrunedFactorSensing(random_state=0).fit([[2.0]], [8.0])
    np.testing.assert_allclose(model.components_, [[np.sqrt(2.0)]], rtol=1e-8)
    with pytest.warns(UserWarning, match="^1 measurement for a rank-1 .* 2 degrees"):
        PrunedFactorSensing(random_state=0).fit([[1.0, 0.0]], [1.0])


@pytest.mark.parametrize("features", ["uniform", "shifted", "unequal-scales"])
def test_standardise_and_append_one_recovers_non_isotropic_features(features):
    """The user guide's recipe for measurements far from isotropic: fitting on
    x̃ = [(x − μ)/σ, 1] is an exact change of variables (xᵀMx = x̃ᵀBᵀMBx̃, B = [diag σ, μ])
    and U = diag(1/σ)·Ũ[:d]. On x itself these problems give rank 1 and error 0.8, or
    (unequal scales) the right rank but error 3e-3 after 2000 slow fine-tuning steps."""
    rng = np.random.default_rng(0)
    factor = np.linalg.qr(rng.standard_normal((20, 3)))[0]
    X = {
        "uniform": rng.uniform(0.0, 1.0, (5000, 20)),
        "shifted": rng.standard_normal((5000, 20)) + 3.0,
        "unequal-scales": rng.standard_normal((5000, 20)) * np.geomspace(0.1, 10, 20),
    }[features]
    y = np.sum((X @ factor) ** 2, axis=1)
    with pytest.warns(UserWarning, match="far from isotropic"):  # ConvergenceWarning too
        plain = PrunedFactorSensing(random_state=0).fit(X, y)
    assert relative_error(plain.components_.T, factor) > 1e-3  # the failure documented
    mu, sigma = X.mean(axis=0), X.std(axis=0)
    X_tilde = np.hstack([(X - mu) / sigma, np.ones((len(X), 1))])
    model = PrunedFactorSensing(random_state=0).fit(X_tilde, y)
    U = model.components_.T[:-1] / sigma[:, None]
    assert model.n_components_ == 3
    assert relative_error(U, factor) < 1e-8


def test_full_rank_fit_says_full_rank():
    """With n_columns = d every column kept means a full-rank estimate, not an
    n_columns too small to reveal the rank."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 8))
    factor = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    y = np.sum((X @ factor) ** 2, axis=1)
    with pytest.warns(UserWarning, match="as many as the dimension d=8") as record:
        model = PrunedFactorSensing(random_state=0).fit(X, y)
    assert "n_columns" not in str(record[0].message)
    assert model.n_components_ == 8
    assert relative_error(model.components_.T, factor) < 1e-8


def test_centred_features_in_a_pipeline_are_named_when_every_column_is_kept():
    """StandardScaler() before the estimator, on features with a common mean, turns
    xᵀMx into a quadratic no PSD M fits: every column kept, a negative R², and a
    warning that only blamed alpha."""
    rng = np.random.default_rng(0)
    d = 10
    X = rng.standard_normal((3000, d)) + 3.0
    factor = rng.standard_normal((d, 2))
    y = np.sum((X @ factor) ** 2, axis=1)
    pipeline = make_pipeline(StandardScaler(), PrunedFactorSensing(random_state=0))
    with pytest.warns(UserWarning, match="kept all 10 columns.*StandardScaler"):
        pipeline.fit(X, y)
    assert pipeline.score(X, y) < 0.5


def test_warns_when_every_column_is_kept(small_dense):
    X, y, _ = small_dense
    with pytest.warns(UserWarning, match="kept all 2 columns"):
        model = PrunedFactorSensing(measurement="matrix", n_columns=2, random_state=0)
        model.fit(X, y)
    assert model.n_components_ == 2


def test_all_zero_measurements_are_refused(small_dense):
    """Zero X, or matrix measurements whose symmetric parts are zero, say nothing of
    M*: the fit used to return a model predicting about 1e-10, blaming alpha."""
    X, y, _ = small_dense
    d = math.isqrt(X.shape[1])
    A = X.reshape(-1, d, d)
    for bad in (np.zeros_like(X), (A - np.swapaxes(A, 1, 2)).reshape(X.shape)):
        with pytest.raises(ValueError, match="X holds only zeros"):
            PrunedFactorSensing(measurement="matrix").fit(bad, y)


def test_warns_and_keeps_largest_when_nothing_passes(small_dense):
    X, _, _ = small_dense
    with pytest.warns(UserWarning, match="kept no column"):
        model = PrunedFactorSensing(measurement="matrix", random_state=0)
        model.fit(X, np.zeros(len(X)))
    assert model.n_components_ == 1


def test_negative_rank_one_targets_are_named_when_nothing_is_kept():
    """Even without a penalty, negative y leaves no column: the warning blamed alpha
    alone."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    with pytest.warns(UserWarning, match="kept no column.* never negative"):
        PrunedFactorSensing(alpha=0.0, random_state=0).fit(X, -y)


def test_centred_rank_one_targets_are_named():
    """A StandardScaler on the target centres y: rank-one predictions xᵀMx are never
    negative, and the fit reached a training R² of 0.5 without a word."""
    X, y, _ = make_low_rank_sensing(2000, 20, 2, random_state=0)
    centred = TransformedTargetRegressor(
        PrunedFactorSensing(random_state=0), transformer=StandardScaler()
    )
    with pytest.warns(UserWarning, match="y looks centred"):
        centred.fit(X, y)
    # Scaling without centring is a change of units: no warning, a perfect fit.
    scaled = TransformedTargetRegressor(
        PrunedFactorSensing(random_state=0), transformer=StandardScaler(with_mean=False)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scaled.fit(X, y).score(X, y) > 0.999999


@pytest.mark.parametrize("finetune_iter", [2000, 0])
def test_a_fit_no_better_than_the_mean_warns(finetune_iter):
    """Features shifted by 3 and centred before the fit: xᵀMx becomes a quadratic with
    linear and constant terms. Pruning kept 19 of 20 columns (no warning of its own)
    and the training R² was negative, silently."""
    X, _, factor = make_low_rank_sensing(2000, 20, 2, random_state=0)
    X = X + 3.0
    y = np.sum((X @ factor) ** 2, axis=1)
    model = make_pipeline(
        StandardScaler(), PrunedFactorSensing(finetune_iter=finetune_iter, random_state=0)
    )
    with pytest.warns(
        UserWarning, match=r"explains none of the variance of y \(training R² -"
    ):
        model.fit(X, y)
    assert model.score(X, y) < 0
    # Without the scaler the same data fit, with no such warning (shifted features are
    # far from isotropic, which is said instead).
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(random_state=0).fit(X, y)
    messages = [str(w.message) for w in record if w.category is UserWarning]
    assert len(messages) == 1 and "far from isotropic" in messages[0]


@pytest.mark.parametrize(
    "alpha, columns",
    [(5e-3, "1 column kept: the penalty"), (0.0, "3 columns kept: y may not be")],
)
def test_a_fit_no_better_than_the_mean_names_the_penalty_only_if_there_is_one(
    alpha, columns
):
    """y unrelated to the 3 × 3 sensing matrices: the default keeps one column, alpha=0
    all three; the warning counts them in good English and blames alpha only when
    there is a penalty."""
    X = np.random.default_rng(0).standard_normal((50, 3, 3))
    y = np.random.default_rng(1).random(50)
    model = PrunedFactorSensing(measurement="matrix", alpha=alpha, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    (message,) = [str(w.message) for w in record if "explains none" in str(w.message)]
    assert columns in message and ("alpha" in message) == (alpha > 0)


def test_a_fit_that_kept_every_column_is_not_told_the_penalty_is_too_strong():
    """Shifted, then centred features of d = 8: pruning keeps all 8 columns and says
    the penalty is too weak; the R² warning said it "may be too strong" in the same
    fit."""
    X, _, factor = make_low_rank_sensing(300, 8, 2, random_state=0)
    X = X + 3.0
    y = np.sum((X @ factor) ** 2, axis=1)
    model = make_pipeline(StandardScaler(), PrunedFactorSensing(random_state=0))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert model[-1].n_components_ == 8
    (message,) = [str(w.message) for w in record if "explains none" in str(w.message)]
    assert "8 columns kept: y may not be" in message and "alpha" not in message


def test_a_penalty_that_keeps_nothing_is_not_blamed_on_the_data():
    """alpha=1 on a rank-6 truth: no column grows, pruning keeps the largest and says
    alpha may be too strong; the R² check must not add that y is outside the model."""
    X, y, _ = make_low_rank_sensing(800, 10, 6, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(alpha=1.0, random_state=0).fit(X, y)
    messages = [str(w.message) for w in record]
    assert any("kept no column" in m for m in messages)
    assert not any("explains none" in m for m in messages)


def test_same_seed_same_fit(quadratic_network):
    X, y, _ = quadratic_network
    a = PrunedFactorSensing(random_state=7).fit(X, y)
    b = PrunedFactorSensing(random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)


# ------------------------------------------------------------------ bad input
@pytest.fixture
def no_solver(monkeypatch):
    """Fail loudly if the numerical work starts: errors must come before it."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the fit started before the input was rejected")

    monkeypatch.setattr(estimator_module, "fit_three_phase", forbidden)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y"])
def test_non_finite_input_is_rejected_before_work(bad, where, no_solver, small_dense):
    X, y, _ = small_dense
    X, y = X.copy(), y.copy()
    (X if where == "X" else y)[3] = bad
    model = PrunedFactorSensing(measurement="matrix")
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
@pytest.mark.parametrize("where", ["X", "y"])
def test_unchecked_non_finite_input_is_named_not_blamed_on_scale(
    bad, kind, where, small_dense
):
    # With assume_finite=True, NaN reaches the fit, whose errors speak of magnitudes.
    X, y, _ = (
        small_dense
        if kind == "matrix"
        else make_low_rank_sensing(100, 6, 2, random_state=0)
    )
    X, y = X.copy(), y.copy()
    (X if where == "X" else y)[3] = bad
    model = PrunedFactorSensing(measurement=kind)
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(
            ValueError, match=f"Input {where} contains NaN or infinity"
        ) as info:
            model.fit(X, y)
    assert isinstance(info.value.__cause__, FloatingPointError)
    assert not hasattr(model, "n_features_in_")


def test_non_square_width_in_matrix_mode(no_solver):
    model = PrunedFactorSensing(measurement="matrix")
    with pytest.raises(ValueError, match="not a perfect square"):
        model.fit(np.ones((10, 8)), np.ones(10))
    with pytest.raises(ValueError, match="not square"):
        model.fit(np.ones((10, 2, 3)), np.ones(10))
    # 4-D input: scikit-learn's message asked for 2-D arrays, but 3-D ones are fine.
    with pytest.raises(ValueError, match=r"\(n_samples, d, d\) or \(n_samples, d\*d\)"):
        model.fit(np.ones((10, 2, 2, 2)), np.ones(10))
    assert not hasattr(model, "n_features_in_")


def test_no_sensing_matrices_named_by_their_shape():
    """An empty (0, 5, 5) X was reported as shape (0, 25), by fit and predict; and
    (3, 0, 0) as (3, 0)."""
    empty = r"0 sample\(s\) \(shape=\(0, 5, 5\)\) .* by PrunedFactorSensing"
    model = PrunedFactorSensing(measurement="matrix")
    with pytest.raises(ValueError, match=empty):
        model.fit(np.empty((0, 5, 5)), np.empty(0))
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(3, 0, 0\)\)"):
        model.fit(np.empty((3, 0, 0)), np.ones(3))
    assert not hasattr(model, "n_features_in_")
    X, y, _ = make_low_rank_sensing(60, 5, 1, measurement="matrix", random_state=0)
    model.fit(X, y)
    with pytest.raises(ValueError, match=empty):
        model.predict(np.empty((0, 5, 5)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": -1.0}, "'alpha' parameter"),
        ({"measurement": "diagonal"}, "'measurement' parameter"),
        ({"beta": 0.0}, "'beta' parameter"),
        ({"threshold": 1.5}, "'threshold' parameter"),
        ({"threshold": "median"}, "'threshold' parameter"),
        ({"n_columns": 0}, "'n_columns' parameter"),
        ({"array_module": "torch"}, "'array_module' parameter"),
        ({"finetune_iter": -5}, "'finetune_iter' parameter"),
        ({"finetune_iter": 2.5}, "'finetune_iter' parameter"),
        ({"finetune_solver": "adam"}, "'finetune_solver' parameter"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"tol": -1.0}, "'tol' parameter"),
        ({"init_scale": 0.0}, "'init_scale' parameter"),
        ({"init_scale": -1e-3}, "'init_scale' parameter"),
        ({"verbose": -1}, "'verbose' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
    ],
)
def test_bad_parameters_are_rejected_before_work(params, match, no_solver, small_dense):
    X, y, _ = small_dense
    model = PrunedFactorSensing(**{"measurement": "matrix", **params})
    before = copy.deepcopy(vars(model))
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)
    assert_unchanged(model, before)


def assert_unchanged(model, before):
    """Every attribute of ``model`` as in ``before``, a deep copy of ``vars(model)``."""
    after = vars(model)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
        else:
            assert after[name] == value, name


@pytest.mark.parametrize("new_kind", ["matrix", "rank_one"])
def test_refit_with_bad_input_leaves_fitted_model_unchanged(small_dense, new_kind):
    """Every attribute stays, the kind predict reads X as included: a refit refused
    after set_params(measurement=...) must not change how the old fit reads X."""
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    predicted = model.predict(X)
    model.set_params(measurement=new_kind)
    before = copy.deepcopy(vars(model))
    bad = np.ones((10, 5 * 5))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, np.ones(10))
    assert_unchanged(model, before)
    np.testing.assert_array_equal(model.predict(X), predicted)


def test_mixed_type_column_names_are_refused_before_work(small_dense, monkeypatch):
    """scikit-learn refuses a DataFrame whose column names mix types; the error came
    after the whole fit (feature names are recorded once it succeeds)."""
    pd = pytest.importorskip("pandas")
    X, y, _ = make_low_rank_sensing(200, 4, 1, random_state=0)
    frame = pd.DataFrame(X, columns=[0, 1, "a", "b"])
    monkeypatch.setattr(estimator_module, "fit_three_phase", None)  # any call fails
    with pytest.raises(TypeError, match="Feature names are only supported"):
        PrunedFactorSensing().fit(frame, y)


def test_sensing_matrices_under_rank_one_name_the_measurement(small_dense, no_solver):
    X, y, _ = small_dense
    model = PrunedFactorSensing()
    for matrices in (X.reshape(-1, 8, 8), X.reshape(-1, 8, 8).tolist()):
        with pytest.raises(
            ValueError, match=r"3-D array of shape \(300, 8, 8\).* set measurement='matrix'"
        ):
            model.fit(matrices, y)
    assert not hasattr(model, "n_features_in_")


def test_sensing_matrices_at_predict_name_the_refit():
    # A fitted rank-one model reads X as it was fitted: a new measurement needs a refit.
    X, y, _ = make_low_rank_sensing(100, 4, 1, random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    for matrices in (np.ones((3, 2, 2)), np.ones((3, 2, 2)).tolist()):
        with pytest.raises(ValueError, match="refit with measurement='matrix'"):
            model.predict(matrices)


def test_wrong_width_at_predict(small_dense):
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 49 features"):
        model.predict(np.ones((4, 49)))
    # Matrices of another size are named as such (scikit-learn counted 49 "features").
    matrices = "X holds 7 × 7 sensing matrices, but PrunedFactorSensing was fitted on 8 × 8"
    for call in (model.predict, model.transform, lambda X: model.score(X, np.ones(4))):
        with pytest.raises(ValueError, match=matrices):
            call(np.ones((4, 7, 7)))


@pytest.mark.parametrize("kinds", [("rank_one", "matrix"), ("matrix", "rank_one")])
def test_measurement_changed_after_fit_applies_at_the_next_fit(kinds):
    """predict, transform and the output feature names read X as fit did: a changed
    ``measurement`` reinterpreted X against the fitted factor (NumPy's matmul or
    reshape errors, and r*r names for a transform of r columns) until the next fit."""
    fitted_kind, new_kind = kinds
    X, y, _ = make_low_rank_sensing(300, 5, 2, measurement=fitted_kind, random_state=0)
    model = PrunedFactorSensing(measurement=fitted_kind, random_state=0).fit(X, y)
    predicted, projected = model.predict(X), model.transform(X)
    model.set_params(measurement=new_kind)
    np.testing.assert_array_equal(model.predict(X), predicted)
    np.testing.assert_array_equal(model.transform(X), projected)
    assert model.get_feature_names_out().shape == (projected.shape[1],)
    assert model.score(X, y) > 0.999
    X_new, y_new, _ = make_low_rank_sensing(300, 5, 2, measurement=new_kind, random_state=0)
    model.fit(X_new, y_new)
    assert model.n_features_in_ == X_new.shape[1]
    assert model.predict(X_new).shape == y_new.shape


def test_string_targets_are_read_as_numbers_or_refused_naming_y(small_dense):
    """As scikit-learn's regressors do: numeric strings are numbers; other strings
    are a ValueError naming y (it was NumPy's UFuncTypeError from inside the fit)."""
    X, y, _ = small_dense
    as_numbers = PrunedFactorSensing(measurement="matrix", random_state=0)
    reference = clone(as_numbers).fit(X, y)
    as_numbers.fit(X, y.astype(str))
    np.testing.assert_allclose(as_numbers.predict(X), reference.predict(X), rtol=1e-12)
    model = PrunedFactorSensing(measurement="matrix")
    with pytest.raises(ValueError, match="y must hold numbers: could not convert"):
        model.fit(X, np.array(["a"] * y.shape[0]))
    # Dates and durations too (NumPy's "ufunc 'absolute' did not contain a loop").
    for unit in ("datetime64[s]", "timedelta64[s]"):
        dates = np.arange(y.shape[0]).astype(unit)
        with pytest.raises(ValueError, match=re.escape(f"numbers, not {unit} values")):
            model.fit(X, dates)
    assert not hasattr(model, "components_")


def test_pandas_targets_are_read_or_refused_as_numpy_ones(small_dense):
    """A pandas Series or Index of dates or durations was fitted as nanoseconds (the
    NumPy array refused), and score compared them with predictions in other units;
    pandas strings were refused without naming y."""
    pd = pytest.importorskip("pandas")
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    durations = pd.to_timedelta(y, unit="s")
    dates = pd.date_range("2020", periods=y.size)
    for target in (durations, pd.Series(durations), dates, pd.DataFrame({"t": dates})):
        with pytest.raises(ValueError, match="y must hold numbers, not"):
            model.fit(X, target)
    for strings in (pd.Series(["a"] * y.size), pd.Series(pd.Categorical(["a"] * y.size))):
        with pytest.raises(ValueError, match="y must hold numbers: could not convert"):
            model.fit(X, strings)
    assert not hasattr(model, "components_")
    model.fit(X, pd.Series(y))
    with pytest.raises(ValueError, match="y must hold numbers, not timedelta64"):
        model.score(X, pd.Series(durations))
    assert model.score(X, pd.Series(y.astype(str))) == model.score(X, y)


def test_unfitted_methods_raise():
    model = PrunedFactorSensing()
    for method in (model.predict, model.transform):
        with pytest.raises(NotFittedError):
            method(np.ones((3, 4)))
    with pytest.raises(NotFittedError):
        model.get_matrix()


def test_measurements_past_the_dtypes_range_are_reported_alone():
    X = np.ones((20, 3))
    y = np.full(20, 1e300)
    model = PrunedFactorSensing()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the error alone, no notices
        with pytest.raises(FloatingPointError, match="mean square of the measurements"):
            model.fit(X * 1e200, y)
    assert not hasattr(model, "components_")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 1e200}, "line search's coefficients are not finite"),
        ({"init_scale": 1e200}, r"objective became nan.*init_scale"),
    ],
)
def test_overflowing_parameters_are_reported_not_returned(small_dense, params, message):
    """alpha=1e200 overflowed the direction; every trial step priced as NaN, the
    search returned 0 and five zero steps passed for convergence: two columns of the
    random start came back as the fit, with only NumPy's RuntimeWarnings. The error
    now comes alone: 6-16 overflow notices from inside the package preceded it."""
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(FloatingPointError, match=message):
            model.fit(X, y)
    assert not hasattr(model, "components_")


def test_huge_beta_fits_without_overflow_notices(small_dense):
    """beta=1e308 overflows the penalty's column weights on the way (harmlessly: the
    fit is the same as at 1e300), which NumPy reported in 130 RuntimeWarnings."""
    X, y, _ = small_dense
    fits = []
    for beta in (1e300, 1e308):
        model = PrunedFactorSensing(measurement="matrix", random_state=0, beta=beta)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)  # the pruning's own advice
            fits.append(model.fit(X, y).get_matrix())
    np.testing.assert_allclose(fits[1], fits[0], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_matrix_past_the_dtypes_range_is_an_error(dtype):
    """With X·c and y·c²·M, UUᵀ can leave the dtype's range while U does not:
    get_matrix returned inf and NaN with only NumPy's matmul notices."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    big = 1e-100 if dtype == np.float64 else 1e-17
    X, y = (X * big).astype(dtype), (y * 1e10 / big**2 * big).astype(dtype)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.components_))
    assert np.all(np.isfinite(model.predict(X)))
    with pytest.raises(FloatingPointError, match=r"UUᵀ has entries up to .* beyond"):
        model.get_matrix()
    model.fit(X, y / 1e10 * big)  # M within range again
    assert np.all(np.isfinite(model.get_matrix()))


def test_a_fit_failing_while_storing_leaves_the_estimator_as_it_was(monkeypatch):
    """Moving the fitted arrays to X's namespace can still raise (float64 values past
    float32's range for a device without float64): n_features_in_ was recorded first,
    and components_ stored, before support_ failed."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    before = copy.deepcopy(vars(model))
    original = estimator_module.move_to

    def failing(x, xp, dev=None, *, name="X"):
        if name == "support_":
            raise ValueError("support_ cannot move")
        return original(x, xp, dev, name=name)

    monkeypatch.setattr(estimator_module, "move_to", failing)
    X2, y2, _ = make_low_rank_sensing(300, 6, 2, random_state=1)
    with pytest.raises(ValueError, match="support_ cannot move"):
        model.fit(X2, y2)
    assert_unchanged(model, before)


def test_beta_past_the_float32_range_is_named(small_dense):
    """float32 fits at beta=1e37; at 1e39, past float32's range, the overflow is an
    error that names beta among its suspects (it named only alpha and init_scale)."""
    X, y, _ = small_dense
    X, y = X.astype(np.float32), y.astype(np.float32)
    PrunedFactorSensing(measurement="matrix", random_state=0, beta=1e37).fit(X, y)
    model = PrunedFactorSensing(measurement="matrix", random_state=0, beta=1e39)
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        # Value-based casting: NumPy 1.x forms 1e39 with float32 arrays in float64.
        assert np.all(np.isfinite(model.fit(X, y).components_))
        return
    with pytest.raises(FloatingPointError, match=r"alpha, beta, init_scale"):
        model.fit(X, y)


def test_loss_curve_past_the_float64_range_warns(small_dense):
    """y·1e160 is fitted in normalised units, but its squared loss overflows float64:
    the curve holds inf, said in a warning (the conversion used to raise
    OverflowError, from a progress message built even with verbose=0)."""
    X, y, factor = small_dense
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    with pytest.warns(RuntimeWarning, match="loss_curve_ holds inf"):
        model.fit(X, 1e160 * y)
    assert np.isinf(model.loss_curve_).any()
    assert model.n_components_ == factor.shape[1]
    assert relative_error(model.components_.T / 1e80, factor) < 1e-8


def test_cupy_requested_without_cupy_is_a_clear_error(small_dense, without_cupy):
    X, y, _ = small_dense
    model = PrunedFactorSensing(measurement="matrix", array_module="cupy")
    with pytest.raises(ImportError, match=r"needs CuPy.*\[gpu\]"):
        model.fit(X, y)
    assert not hasattr(model, "components_")


def test_tiny_random_start_escapes_in_the_same_iterations(small_dense):
    """From columns of norm 1e-5 the line search used to return 0, and five zero steps
    counted as converged: the regularised phase ended at its random start and pruning
    kept half the columns, with no warning. The metric is now that of U/‖U‖_F and the
    search also tries steps around the loss-alone minimiser, which from 1e-40 is some
    1e40 times the first guess. From 1e-80 trial steps overflow the quartic to inf
    (never chosen), which NumPy warned about."""
    X, y, factor = small_dense
    default = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    for init_scale in (1e-5, 1e-10, 1e-25, 1e-40, 1e-80):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = PrunedFactorSensing(
                measurement="matrix", init_scale=init_scale, random_state=0
            ).fit(X, y)
        assert model.n_components_ == factor.shape[1]
        assert model.n_iter_ == default.n_iter_
        assert relative_error(model.components_.T, factor) < 1e-8


def test_float32_start_below_resolution_goes_on_from_the_default_size(small_dense):
    """float32 resolves a start of 1e-18 (same rank, same error as 1e-3: the line
    search's products are formed in float64; in float32 its limit was 1e-13); at 1e-30
    the start's effect on the objective underflows and no step changes it: the fit
    used to return columns of the random start (rank 10 of 3, error 1.0) without a
    word, then raised an error. U = 0 being a saddle, the run now goes on from the
    default start's size: the same rank and error."""
    X, y, factor = small_dense
    X, y = X.astype(np.float32), y.astype(np.float32)
    for init_scale in (1e-18, 1e-30):
        model = PrunedFactorSensing(
            measurement="matrix", init_scale=init_scale, random_state=0
        )
        model.fit(X, y)
        assert model.n_components_ == factor.shape[1]
        assert relative_error(model.components_.T.astype(float), factor) < 1e-5


def test_a_design_of_one_repeated_measurement_is_named_when_nothing_moves(small_dense):
    """One dense matrix repeated 200 times, y = 3 + noise: no step moved the start,
    and the error blamed init_scale and alpha alone. It now counts the distinct
    measurements, which no remedy of those two can add; a varied design that stalls
    (init_scale too small) does not mention them."""
    rng = np.random.default_rng(0)
    X = np.tile(rng.standard_normal(16), (200, 1))
    y = 3.0 + 0.1 * rng.standard_normal(200)
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    with pytest.raises(FloatingPointError, match=r"only 1 distinct measurement, no more"):
        model.fit(X, y)
    X, y, _ = small_dense
    model = PrunedFactorSensing(
        measurement="matrix", alpha=1.0, init_scale=1e-30, random_state=0
    )
    with pytest.raises(FloatingPointError) as error:
        model.fit(X.astype(np.float32), y.astype(np.float32))
    assert "distinct" not in str(error.value)


def test_a_penalty_that_lets_no_column_grow_is_reported(small_dense):
    """alpha=1 from init_scale=1e-10 (float64): the penalty shrinks every column and no
    step changes the objective; the error names alpha too. At alpha=100 some steps
    moved the start a little, and one of its columns, at 1.1-1.8 times init_scale,
    passed the floor init_scale: it was kept and fine-tuned to a fit with R² < 0.4,
    without a word. The floor is now the start's largest column: the fit warns."""
    X, y, _ = small_dense
    model = PrunedFactorSensing(
        measurement="matrix", alpha=1, init_scale=1e-10, random_state=0
    )
    with pytest.raises(FloatingPointError, match=r"init_scale=1e-10 .*alpha=1 too strong"):
        model.fit(X, y)
    X, y, _ = make_low_rank_sensing(600, 20, 3, random_state=2)
    model = PrunedFactorSensing(alpha=100, init_scale=1e-10, random_state=2)
    with pytest.warns(UserWarning, match="kept no column"):
        model.fit(X, y)


@pytest.mark.parametrize(
    "shape, params, same_matrix",
    [
        ((5, 2, 1), dict(alpha=100.0, n_columns=1, threshold=0.0), True),
        # beta=1e-12 makes the penalty nearly non-smooth, with several rank-one local
        # solutions: float32's rounding ends at another (loss 0.766 against 0.776).
        ((60, 4, 2), dict(alpha=1.0, beta=1e-12, n_columns=3, init_scale=1.0), False),
    ],
)
def test_strong_penalty_fits_in_float32_as_in_float64(shape, params, same_matrix):
    """A strong penalty shrinks the factor to 1e-12 or leaves L-BFGS pairs at float32's
    rounding level: the float32 fit overflowed (FloatingPointError) where float64
    fits, through the line search's underflowing squares and an unscaled curvature
    test."""
    X, y, _ = make_low_rank_sensing(*shape, random_state=0)
    fits = {}
    for dtype in (np.float64, np.float32):
        model = PrunedFactorSensing(random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fits[dtype] = model.fit(X.astype(dtype), y.astype(dtype))
    assert fits[np.float32].n_components_ == fits[np.float64].n_components_
    # The same matrix, to float32's resolution (a rank of 1 by construction in the
    # first case says nothing by itself).
    matrices = [fits[dtype].get_matrix().astype(np.float64) for dtype in fits]
    assert np.all(np.isfinite(matrices[1]))
    if not same_matrix:
        return
    np.testing.assert_allclose(
        matrices[1], matrices[0], rtol=1e-4, atol=1e-6 * np.abs(matrices[0]).max()
    )


def test_float64_start_below_resolution_does_not_advise_float64(small_dense):
    """A start below resolution with a penalty that lets no column grow (alpha=1):
    the error advises float64 only to a float32 fit."""
    X, y, _ = small_dense
    model = PrunedFactorSensing(
        measurement="matrix", alpha=1.0, init_scale=1e-200, random_state=0
    )
    with pytest.raises(FloatingPointError, match="init_scale=1e-200") as error:
        model.fit(X, y)
    assert "use float64" not in str(error.value)
    model.set_params(init_scale=1e-30)
    with pytest.raises(FloatingPointError, match="or use float64"):
        model.fit(X.astype(np.float32), y.astype(np.float32))


@pytest.mark.parametrize("init_scale", [0.5, 3.0])
def test_large_random_start_still_finds_the_rank(small_dense, init_scale):
    """The 'never grew past its start' floor must not prune signal after a big start."""
    X, y, factor = small_dense
    model = PrunedFactorSensing(measurement="matrix", init_scale=init_scale, random_state=0)
    model.fit(X, y)
    assert model.n_components_ == factor.shape[1]
    assert relative_error(model.components_.T, factor) < 1e-8
