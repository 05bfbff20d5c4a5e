"""Tests for the three-phase pipeline (``sklearn_lowrank._three_phase``)."""

import itertools
import math
import re
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import NUMPY_AGREEMENT, NUMPY_XP, assert_close, to_numpy, unblocked
from _problems import KINDS, problem
from array_api_compat import array_namespace
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank import _three_phase as three_phase
from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._pruning import ColumnPruner
from sklearn_lowrank._solvers import SolverResult, with_factor
from sklearn_lowrank._three_phase import (
    _column_norms,
    _resumed,
    default_n_columns,
    fit_three_phase,
)
from sklearn_lowrank.datasets import make_low_rank_sensing

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
    s, g = result.data_scale, op.gain
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


@pytest.mark.parametrize(
    ("init_scale", "threshold"),
    [(1e-8, "auto"), (1e-3, 0.05), (1e-200, "auto"), (1e-320, "auto")],
)
def test_a_run_stopped_at_the_saddle_at_zero_goes_on(init_scale, threshold, capsys):
    """Matrix d = 4, rank 2, alpha=0.09: a pick-up level of 0.9 against a top
    eigenvalue of 1, so U = 0 is a saddle from which the growing directions emerge
    slowly. The first run stopped after 2 iterations with no column grown (the
    stopping test's floor on ‖U‖ is absolute there): rank 1, R² 0.55, a warning that
    alpha was too strong; from 1e-200 no step changed the objective, an error (from
    1e-320, scaled up in one step, the factor overflowed). Going
    on to √tol while the threshold waits for a gap rescued only the default start.
    The run now goes on from the default start's size with a relative test. A
    penalty too strong for any column (pick-up level 2: U = 0 is a minimum) still
    stops there and warns."""
    X, y, _ = make_low_rank_sensing(
        500, 4, 2, measurement="matrix", noise=0.05, random_state=1
    )
    model = PrunedFactorSensing(
        measurement="matrix",
        alpha=0.09,
        init_scale=init_scale,
        threshold=threshold,
        random_state=0,
        verbose=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
    assert "stopped at the saddle U = 0; going on" in capsys.readouterr().out
    assert model.n_components_ == 2 and model.score(X, y) > 0.99
    strong = PrunedFactorSensing(measurement="matrix", alpha=0.2, random_state=0)
    with pytest.warns(UserWarning, match="Pruning kept no column"):
        strong.fit(X, y)


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
    assert scaled.data_scale == pytest.approx(c * base.data_scale, rel=1e-10)
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
@pytest.mark.parametrize("factor_unit", [1e300, 1e-50])
def test_a_factor_beyond_the_dtype_is_an_error(factor_unit):
    """In float32 the factor overflows (1e300) or vanishes (1e-50) in the units of y."""
    convert = three_phase._factor_in_units_of_y
    V = np.ones((4, 2), dtype=np.float32)
    with pytest.raises(FloatingPointError, match=r"factor.* not representable"):
        convert(NUMPY_XP, V, factor_unit)
    # A zero factor stays zero; representable factors pass.
    zero = np.zeros_like(V)
    np.testing.assert_array_equal(convert(NUMPY_XP, zero, 1e-50), zero)
    assert np.all(convert(NUMPY_XP, V, 1e10) == np.float32(1e10))


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
    assert res.data_scale == pytest.approx(ref.data_scale, rel=1e-10)
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


# ------------------------------------------------------ pruning after fine-tuning


def _fit_at_kappa_1e4(**params):
    """The missed-direction advice's second refit on a rank-3 M* of eigenvalues
    1, 1e-2, 1e-4: a numeric threshold at the random start's transients."""
    X, y, factor = make_low_rank_sensing(1200, 20, 3, condition_number=1e4, random_state=5)
    model = PrunedFactorSensing(threshold=0.0031, random_state=0, **params)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    return model, factor, [str(w.message) for w in record]


def test_directions_the_fine_tuning_shrank_are_pruned_after_it(capsys):
    """Pruning kept 13 columns, 10 of which fine-tuning shrank below 1e-5 of the
    largest: n_components_ was 13 for a rank-3 M*, silently. Looking every 10
    iterations, the fine-tuning prunes them as they fall below the threshold (it had
    taken 1267 iterations to shrink them all)."""
    model, factor, messages = _fit_at_kappa_1e4(alpha=5e-4, verbose=1)
    assert model.support_.sum() > model.n_components_ == 3
    assert messages == []
    assert model.n_iter_finetune_ < 100
    assert re.search(
        r"pruning after \d+ fine-tuning iterations: kept 3 of", capsys.readouterr().out
    )
    M = model.get_matrix()
    M_star = factor @ factor.T
    assert np.linalg.norm(M - M_star) < 1e-8 * np.linalg.norm(M_star)
    # The directions come strongest first, and the run's iterations add up.
    norms = np.linalg.norm(model.components_, axis=1)
    assert np.all(np.diff(norms) < 0)
    assert model.n_iter_ == len(model.loss_curve_) > model.n_iter_finetune_


@pytest.mark.parametrize("finetune_iter", [15, 25])
def test_pruning_after_the_fine_tuning_stays_within_finetune_iter(finetune_iter, capsys):
    """The run after the pruning had a budget of its own: n_iter_finetune_ reached
    twice finetune_iter, and when it converged the first run's ConvergenceWarning was
    dropped. The runs now share finetune_iter; a spent budget returns the pruned
    factor with that warning, and verbose=2 counts on across the runs."""
    model, _, messages = _fit_at_kappa_1e4(
        alpha=5e-4, finetune_iter=finetune_iter, verbose=2
    )
    assert model.n_iter_finetune_ == finetune_iter
    assert messages and all("finetune_iter=" in m for m in messages)
    out = capsys.readouterr().out
    assert "fine-tuning iterations: kept" in out
    counts = [int(line.split("iter")[1].split()[0]) for line in out.splitlines()
              if line.startswith("  [fine-tuning]")]  # fmt: skip
    assert counts == list(range(10, finetune_iter + 1, 10))
    # What the budget leaves is pruned by the same rule: nothing below it.
    singular = np.linalg.svd(model.components_, compute_uv=False)
    assert singular[-1] >= model.threshold_ * singular[0]


def test_a_factor_pruned_as_the_budget_ends_is_reported_unconverged():
    """A run that converged on its last allowed iteration and was then pruned kept
    converged=True: no ConvergenceWarning, and the diagnostics read the pruned factor
    as a converged fit (found at finetune_iter=107 on a float32 matrix problem)."""
    op, X, y, _ = problem("rank_one")
    U = np.random.default_rng(0).standard_normal((X.shape[1], 3))
    converged = SolverResult(U=U, n_iter=5, converged=True, objective=[1.0] * 5)
    pruned = with_factor(op, y, converged, U[:, :2])
    assert not pruned.converged and pruned.U.shape[1] == 2
    residual = op.predict(U[:, :2]) - y
    np.testing.assert_allclose(pruned.residual, residual, rtol=1e-12)
    np.testing.assert_allclose(pruned.gram, U[:, :2].T @ U[:, :2], rtol=1e-12)
    state = op.start(U[:, :2])
    gradient = 2.0 * op.adjoint_times(U[:, :2], state, residual)
    assert pruned.gradient_norm == pytest.approx(np.linalg.norm(gradient), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pruning_after_the_fine_tuning_on_a_strict_device(dtype):
    """The same pruning and second fine-tuning on array_api_strict's non-default
    device, which refuses silent host conversions as a GPU does."""
    X, y, _ = make_low_rank_sensing(1200, 20, 3, condition_number=1e4, random_state=5)
    X, y = X.astype(dtype), y.astype(dtype)
    dev = xps.Device("device1")
    host = PrunedFactorSensing(alpha=5e-4, threshold=0.0031, random_state=0).fit(X, y)
    strict = PrunedFactorSensing(alpha=5e-4, threshold=0.0031, random_state=0).fit(
        xps.asarray(X, device=dev), xps.asarray(y, device=dev)
    )
    assert strict.n_components_ == host.n_components_ == 3
    assert strict.n_iter_ == host.n_iter_
    assert_close(strict.components_, host.components_, NUMPY_AGREEMENT[dtype])


def test_without_a_penalty_fine_tuned_directions_are_not_pruned():
    """alpha=0: greedy pruning keeps what it keeps, which the package shows."""
    model, _, _ = _fit_at_kappa_1e4(alpha=0.0, finetune_iter=300)
    U = model.components_.T
    singular = np.linalg.svd(U, compute_uv=False)
    assert model.n_components_ == model.support_.sum()
    assert singular[-1] < model.threshold_ * singular[0]
