"""Tests for the descent solvers (``sklearn_lowrank._solvers.minimize``)."""

import math
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import NUMPY_AGREEMENT, NUMPY_XP, to_numpy, unblocked
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import _solvers as solvers
from sklearn_lowrank._operators import MatrixOperator, RankOneOperator
from sklearn_lowrank._penalty import SmoothGroupLasso
from sklearn_lowrank._pruning import ALIGN_EVERY, ColumnPruner
from sklearn_lowrank._solvers import SolverResult, minimize
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

N_SAMPLES, DIM, RANK = 150, 6, 2
BETA = 1e-2
KINDS = ["rank_one", "matrix"]
MEMORIES = [pytest.param(0, id="gd"), pytest.param(5, id="lbfgs")]
# The penalty the solver tests fit with.
PENALISED = {"penalty": SmoothGroupLasso(BETA), "alpha": 0.05}


class Problem:
    """Noiseless data, its operator and a dense float64 objective ``f``."""

    def __init__(self, kind, seed=0, n=N_SAMPLES, d=DIM, rank=RANK, condition_number=2.0):
        X, y, truth = make_low_rank_sensing(
            n,
            d,
            rank,
            measurement=kind,
            condition_number=condition_number,
            random_state=seed,
        )
        self.X, self.y, self.truth, self.n = X, y, truth, n
        self.op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
        self.A = np.einsum("ni,nj->nij", X, X) if kind == "rank_one" else X.reshape(n, d, d)

    def objective(self, U, alpha=0.0):
        r = np.einsum("nij,ij->n", self.A, U @ U.T) - self.y
        value = r @ r / (2 * self.n)
        if alpha > 0:
            z = np.sum(U * U, axis=0)
            value += alpha * np.sum(z / np.sqrt(z + BETA))
        return value

    def numeric_gradient(self, U, alpha=0.0, h=1e-6):
        grad = np.zeros_like(U)
        for idx in np.ndindex(*U.shape):
            E = np.zeros_like(U)
            E[idx] = h
            up, down = self.objective(U + E, alpha), self.objective(U - E, alpha)
            grad[idx] = (up - down) / (2 * h)
        return grad


def near_truth(prob, seed=1, spread=0.1):
    rng = np.random.default_rng(seed)
    return prob.truth + spread * rng.standard_normal(prob.truth.shape)


def small_random(d, k, seed=2, scale=1e-3):
    return scale * np.random.default_rng(seed).standard_normal((d, k))


def penalty_for(alpha):
    return SmoothGroupLasso(BETA) if alpha > 0 else None


def pruner_for(U0, start_norm=None, **kwargs):
    """A fresh ``ColumnPruner`` for the start ``U0``, measuring growth from its largest
    column unless ``start_norm`` is given."""
    if start_norm is None:
        start_norm = float(np.max(np.linalg.norm(to_numpy(U0), axis=0)))
    return ColumnPruner(U0.shape[1], start_norm=start_norm, **kwargs)


# ---------------------------------------------------------------- monotone descent


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("kind", KINDS)
def test_objective_decreases_monotonically(kind, memory, alpha):
    prob = Problem(kind)
    U0 = small_random(DIM, 4, scale=0.3)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        penalty=penalty_for(alpha),
        alpha=alpha,
        memory=memory,
        max_iter=60,
        tol=1e-12,
    )
    objective = np.asarray(res.objective)
    assert isinstance(res, SolverResult)
    assert len(objective) == res.n_iter > 1
    assert objective[0] < prob.objective(U0, alpha)
    assert np.all(np.diff(objective) <= 1e-12 * np.abs(objective[:-1]))
    # The recorded values are the true objective of the iterates.
    assert objective[-1] == pytest.approx(prob.objective(res.U, alpha), rel=1e-10)


# -------------------------------------------------------------------- convergence


@pytest.mark.parametrize("start", ["near-truth", "small-random"])
@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("kind", KINDS)
def test_converges_on_well_posed_problem(kind, memory, start):
    prob = Problem(kind)
    U0 = near_truth(prob) if start == "near-truth" else small_random(DIM, RANK)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = minimize(prob.op, prob.y, U0, memory=memory, max_iter=3000, tol=1e-10)
    assert res.converged
    assert res.n_iter < 3000
    assert relative_error(res.U, prob.truth) < 1e-8
    assert res.objective[-1] <= 1e-16 * prob.objective(U0)
    assert res.U.shape == (DIM, RANK)
    assert res.seconds >= 0


@pytest.mark.parametrize("scale", [30.0, 0.03])
@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("kind", KINDS)
def test_stops_at_the_first_gradient_below_tol_times_the_factor_norm(kind, memory, scale):
    """``‖∇f(U)‖_F ≤ tol·max(‖U‖_F, 1)``, checked with the dense gradient on problems
    scaled so that ‖U‖_F ≈ 40 (the absolute test ``‖∇f‖ ≤ tol`` would go on) and
    ‖U‖_F ≈ 0.04 (the purely relative test ``‖∇f‖ ≤ tol·‖U‖_F`` would go on)."""
    prob, tol = Problem(kind), 1e-7
    y = scale**2 * prob.y
    sym = prob.A + np.swapaxes(prob.A, 1, 2)

    def gradient_and_bound(U):
        r = np.einsum("nij,ij->n", prob.A, U @ U.T) - y
        grad = np.einsum("n,nij->ij", r, sym) @ U / prob.n
        return np.linalg.norm(grad), tol * max(np.linalg.norm(U), 1.0)

    seen = [scale * near_truth(prob)]
    res = minimize(
        prob.op,
        y,
        seen[0],
        memory=memory,
        max_iter=3000,
        tol=tol,
        callback=lambda U: seen.append(np.array(U, copy=True)),
    )
    assert res.converged and len(seen) == res.n_iter + 1
    last, bound = gradient_and_bound(seen[-1])
    assert last <= bound * (1 + 1e-6)
    before, bound = gradient_and_bound(seen[-2])
    assert before > bound * (1 - 1e-6)


def test_lbfgs_needs_fewer_iterations_than_gradient_descent():
    prob = Problem("rank_one")
    U0 = near_truth(prob)
    gd = minimize(prob.op, prob.y, U0, memory=0, max_iter=3000, tol=1e-10)
    lbfgs = minimize(prob.op, prob.y, U0, memory=5, max_iter=3000, tol=1e-10)
    assert gd.converged and lbfgs.converged
    assert lbfgs.n_iter < gd.n_iter


@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("kind", KINDS)
def test_scaled_metric_removes_the_condition_number_slowdown(kind, memory):
    """ScaledGD's metric (UᵀU)⁻¹: far fewer iterations on an ill-conditioned M*."""
    prob = Problem(kind, n=400, condition_number=30.0)
    U0 = near_truth(prob, spread=0.05)
    plain = minimize(prob.op, prob.y, U0, memory=memory, max_iter=5000, tol=1e-10)
    scaled = minimize(
        prob.op, prob.y, U0, memory=memory, scaled=True, max_iter=5000, tol=1e-10
    )
    assert plain.converged and scaled.converged
    assert scaled.n_iter * 2 < plain.n_iter
    assert relative_error(scaled.U, prob.truth) < 1e-8


@pytest.mark.parametrize("damping", [0.0, 0.1])
@pytest.mark.parametrize("size", [1.0, 1e-20, 1e20])
def test_metric_inverse_is_the_damped_inverse_gram(damping, size):
    """``‖U‖²_F·(UᵀU + δ‖U‖²_F·I)⁻¹``, δ at least machine epsilon: the metric of
    ``U/‖U‖_F``, the same whatever ``U``'s size; damped, it moves a tiny column at most
    ``1/δ`` times its share of the gradient."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 3)) * np.array([1.0, 0.5, 1e-6]) * size
    G = rng.standard_normal((6, 3))
    eps = np.finfo(float).eps
    norm_sq = np.sum(U * U)
    ridge = max(damping, eps) * norm_sq
    expected = norm_sq * G @ np.linalg.inv(U.T @ U + ridge * np.eye(3))
    scaled = G @ solvers._metric_inverse(U.T @ U, damping, eps)
    np.testing.assert_allclose(scaled, expected, rtol=1e-7)
    gain = np.linalg.norm(scaled[:, 2]) / np.linalg.norm(G[:, 2])
    if damping:
        assert gain == pytest.approx(1 / damping, rel=1e-3)
    else:
        assert gain > 1e6


def test_curvature_test_scales_with_the_dtype():
    """A pair whose sᵀy is below float32's resolution carries no curvature there: it
    passed the fixed 1e-12 and its weight 1/sᵀy reached 6e20 (the direction
    overflowed). float64 keeps its threshold."""
    rtol = {
        dtype: solvers._Memory(NUMPY_XP, 2, np.zeros((3, 2), dtype)).curvature_rtol
        for dtype in (np.float32, np.float64)
    }
    assert rtol[np.float64] == solvers._CURVATURE_RTOL
    assert rtol[np.float32] == pytest.approx(100 * np.finfo(np.float32).eps)
    rng = np.random.default_rng(0)
    s_, y_ = rng.standard_normal(6), rng.standard_normal(6)
    y_ -= (s_ @ y_ / (s_ @ s_) - 1e-7) * s_  # sᵀy = 1e-7·‖s‖², below float32's ε
    g = rng.standard_normal(6)
    rows = np.stack([s_, y_, g])
    pairs = rows @ rows.T
    metric_pairs = rows[1:] @ rows[1:].T
    for dtype, skipped in ((np.float32, True), (np.float64, False)):
        weights, _ = solvers._two_loop_weights(pairs, metric_pairs, 1, rtol[dtype])
        # Without the pair the direction is γ·g with γ = 1: weights (0, 1, 0).
        assert np.allclose(weights, [0.0, 1.0, 0.0]) == skipped


def test_metric_inverse_of_a_zero_factor_is_finite():
    assert np.all(np.isfinite(solvers._metric_inverse(np.zeros((3, 3)), 0.1, 1e-16)))


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("memory", [1, 3])
def test_two_loop_weights_match_the_recursion(memory, scaled):
    """The direction from the host weights is the textbook two-loop recursion's
    (Nocedal & Wright, Algorithm 7.4) with H₀ = γP; a pair without curvature is
    skipped."""
    rng = np.random.default_rng(1)
    d, k = 5, 3
    S = rng.standard_normal((memory, d, k))
    Y = S @ np.diag([1.0, 2.0, 3.0]) + 0.1 * rng.standard_normal((memory, d, k))
    if memory > 1:
        Y[0] = -S[0]  # no curvature
    g = rng.standard_normal((d, k))
    P = np.linalg.inv(np.diag([1.0, 4.0, 9.0])) if scaled else np.eye(k)
    rows = np.concatenate([S.reshape(memory, -1), Y.reshape(memory, -1), g.reshape(1, -1)])
    basis_v = np.concatenate([(Y @ P).reshape(memory, -1), (g @ P).reshape(1, -1)])
    metric_pairs = basis_v @ rows[memory:].T
    weights, slope = solvers._two_loop_weights(rows @ rows.T, metric_pairs, memory)
    direction = weights @ np.concatenate([basis_v, S.reshape(memory, -1)])

    curved = [np.sum(S[i] * Y[i]) > 0 for i in range(memory)]
    q, coefs = g.copy(), {}
    for i in reversed(range(memory)):
        if curved[i]:
            rho = 1 / np.sum(S[i] * Y[i])
            coefs[i] = rho * np.sum(S[i] * q)
            q = q - coefs[i] * Y[i]
    newest = max(i for i in range(memory) if curved[i])
    gamma = np.sum(S[newest] * Y[newest]) / np.sum(Y[newest] * (Y[newest] @ P))
    r = gamma * q @ P
    for i in range(memory):
        if curved[i]:
            rho = 1 / np.sum(S[i] * Y[i])
            r = r + (coefs[i] - rho * np.sum(Y[i] * r)) * S[i]
    np.testing.assert_allclose(direction, r.reshape(-1), rtol=1e-10)
    assert slope == pytest.approx(np.sum(g * r), rel=1e-10)


def test_scaled_metric_survives_a_zero_column():
    """A singular UᵀU must not produce a non-finite direction."""
    prob = Problem("rank_one")
    U0 = np.hstack([near_truth(prob), np.zeros((DIM, 1))])
    res = minimize(prob.op, prob.y, U0, memory=5, scaled=True, max_iter=500, tol=1e-10)
    assert np.all(np.isfinite(res.U))
    assert res.objective[-1] < 1e-12 * res.objective[0] + 1e-20


# -------------------------------------------------------------- early_pruning hook


def test_early_pruning_drops_columns_and_the_run_goes_on():
    prob = Problem("rank_one")
    U0 = small_random(DIM, 5, seed=3)
    seen = []

    def prune(values):
        seen.append(np.array(values))
        return 2 if len(seen) == 2 else None  # second look: keep the two largest

    pruner = pruner_for(U0, early_pruning=prune)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        **PENALISED,
        memory=5,
        max_iter=500,
        tol=1e-6,
        pruner=pruner,
    )
    assert res.converged
    assert [v.size for v in seen[:3]] == [5, 5, 2]
    # The three smallest directions were dropped at the second look, with their norms.
    assert res.U.shape == (DIM, 2) and len(pruner.dropped) == 3
    np.testing.assert_allclose(
        sorted(pruner.dropped.values(), reverse=True),
        np.sort(seen[1])[::-1][2:],
        rtol=1e-6,
    )
    # The objective was re-priced after the drop and the run went on to its tolerance:
    # the rank-2 truth, up to the penalty's shrinkage.
    assert res.n_iter > 10
    assert relative_error(res.U, prob.truth) < 0.2
    # What the result carries of the final U, after the drop too: UᵀU (host) and the
    # residual 𝒜(UUᵀ) − y.
    np.testing.assert_allclose(res.gram, res.U.T @ res.U, rtol=1e-10)
    residual = prob.op.predict(res.U) - prob.y
    np.testing.assert_allclose(res.residual, residual, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize(("scaled", "damping"), [(False, 0.0), (True, 0.1)])
def test_scaled_metric_after_an_early_pruning_cut(monkeypatch, scaled, damping):
    """Once early pruning has cut, every kept column carries signal: the run goes on in
    ScaledGD's metric, undamped (its inverse would blow up on the tiny columns before;
    a damped metric is bounded there)."""
    metrics = []
    original = solvers._metric_inverse

    def spy(gram, damping, eps):
        metrics.append((gram.shape[0], damping))
        return original(gram, damping, eps)

    monkeypatch.setattr(solvers, "_metric_inverse", spy)
    prob = Problem("rank_one")
    looks = []

    def prune(values):
        looks.append(len(values))
        return 2 if len(looks) == 2 else None

    iterations = []
    U0 = small_random(DIM, 5, seed=3)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        **PENALISED,
        memory=5,
        scaled=scaled,
        damping=damping,
        max_iter=500,
        tol=1e-6,
        pruner=pruner_for(U0, early_pruning=prune),
        callback=lambda U: iterations.append(U.shape[1]),
    )
    assert res.converged
    cut = iterations.index(2)  # first iteration run at the kept width
    before = [(5, damping)] * cut if scaled else []
    assert cut > 0 and metrics == before + [(2, 0.0)] * (len(iterations) - cut)


@pytest.mark.parametrize("kind", KINDS)
def test_step_after_escaping_the_small_start_follows_the_gradient(kind):
    """A step that grows ‖U‖ tenfold leaves no curvature pair behind: L-BFGS's next
    direction is the gradient again. From a start that does not escape, it is not."""
    prob = Problem(kind, n=60, d=4)
    for scale, escapes in ((1e-3, True), (0.3, False)):
        factors = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the caller warns, not the solver
            minimize(
                prob.op,
                prob.y,
                small_random(4, 3, scale=scale),
                **PENALISED,
                memory=5,
                max_iter=2,
                callback=lambda U, seen=factors: seen.append(np.array(U)),
            )
        U1, U2 = factors
        assert (np.linalg.norm(U1) > 10 * scale * np.sqrt(12)) == escapes
        gradient = prob.numeric_gradient(U1, alpha=PENALISED["alpha"])
        move = U1 - U2
        cosine = np.sum(move * gradient) / np.linalg.norm(move) / np.linalg.norm(gradient)
        assert (cosine > 1 - 1e-8) == escapes, cosine


@pytest.mark.parametrize("namespace", ["numpy", "strict"])
@pytest.mark.parametrize("scaled", [False, True])
def test_small_transfers_per_iteration(monkeypatch, scaled, namespace):
    """Besides the line search's coefficients, an iteration fetches one report of
    ``1 + k² + (2m+1)²`` numbers (the objective, UᵀU, the Gram matrix of m pairs and
    the gradient) and, in a metric with pairs stored, ``(m+1)²`` inner products:
    nothing of size n or d, on NumPy as on any other namespace. Early pruning's
    singular values come from the report."""
    transfers = []
    original = solvers.fetch

    def counting(xp, *arrays):
        transfers.append(sum(math.prod(a.shape) for a in arrays))
        return original(xp, *arrays)

    monkeypatch.setattr(solvers, "fetch", counting)
    looks = []
    prob = Problem("rank_one", n=400, d=40)
    k, memory = 5, 3
    on = np.asarray if namespace == "numpy" else xps.asarray
    U0 = small_random(40, k, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller warns, not the solver
        res = minimize(
            RankOneOperator(on(prob.X)),
            on(prob.y),
            on(U0),
            **PENALISED,
            memory=memory,
            scaled=scaled,
            damping=0.1,
            max_iter=9,  # no alignment (every 10 iterations)
            tol=0.0,
            pruner=pruner_for(U0, early_pruning=lambda v: looks.append(v.size)),
        )
    assert res.n_iter == 9
    reports = [s for s in transfers if s > (memory + 1) ** 2]
    products = [s for s in transfers if s <= (memory + 1) ** 2]
    assert len(reports) == 1 + res.n_iter
    assert all(
        s - 1 - k * k in {(2 * m + 1) ** 2 for m in range(memory + 1)} for s in reports
    )
    assert all(s in {(m + 1) ** 2 for m in range(1, memory + 1)} for s in products)
    # A metric needs the products on every iteration that has pairs (all but the first
    # and the one after the escape from the small start); the Euclidean one never does.
    assert len(products) == (res.n_iter - 2 if scaled else 0)
    assert looks and set(looks) == {k}


def test_early_pruning_that_never_cuts_changes_nothing():
    prob = Problem("rank_one")
    kwargs = dict(**PENALISED, memory=5, max_iter=500)
    U0 = small_random(DIM, 5, seed=3)
    ref = minimize(prob.op, prob.y, U0, tol=1e-6, **kwargs)
    pruner = pruner_for(U0, early_pruning=lambda v: None)
    res = minimize(prob.op, prob.y, U0, tol=1e-6, pruner=pruner, **kwargs)
    assert res.n_iter == ref.n_iter
    np.testing.assert_allclose(res.U, ref.U)


# ----------------------------------------------------------------------- callback


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("memory", MEMORIES)
def test_callback_called_every_iteration(memory, alpha):
    prob = Problem("matrix")
    U0 = small_random(DIM, 3, scale=0.3)
    seen = []
    res = minimize(
        prob.op,
        prob.y,
        U0,
        penalty=penalty_for(alpha),
        alpha=alpha,
        memory=memory,
        max_iter=25,
        tol=1e-12,
        callback=lambda U: seen.append(np.array(U, copy=True)),
    )
    assert len(seen) == res.n_iter == len(res.objective)
    # Each call sees the iterate whose objective was recorded at that iteration.
    for U, value in zip(seen, res.objective, strict=True):
        assert prob.objective(U, alpha) == pytest.approx(value, rel=1e-10)
    # ...and the last one is the returned factor, up to a rotation of its columns.
    np.testing.assert_allclose(seen[-1] @ seen[-1].T, res.U @ res.U.T, atol=1e-12)


# ---------------------------------------------------------------------- dropping


def test_drop_ratio_drops_and_records_collapsed_columns():
    prob = Problem("rank_one")
    k, ratio, alpha = 5, 0.1, 0.05
    U0 = small_random(DIM, k, seed=3)
    pen = SmoothGroupLasso(BETA)
    seen = []
    pruner = pruner_for(U0, drop_ratio=ratio)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        penalty=pen,
        alpha=alpha,
        memory=10,
        max_iter=300,
        tol=1e-8,
        pruner=pruner,
        callback=lambda U: seen.append(np.array(U, copy=True)),
    )
    assert len(pruner.dropped) >= 1
    assert res.U.shape == (DIM, len(pruner.columns))
    assert sorted([*pruner.columns, *pruner.dropped]) == list(range(k))
    assert np.all(np.diff(pruner.columns) > 0)
    # Replay the drops: every ALIGN_EVERY (10) iterations the solver rotates the
    # factor it handed to the callback by best_rotation and drops the small columns.
    columns = np.arange(k)
    expected = {}
    for it in range(10, res.n_iter, 10):
        U = seen[it - 1]
        if seen[it].shape[1] == U.shape[1]:
            continue
        norms = np.linalg.norm(U @ pen.best_rotation(U.T @ U), axis=0)
        collapsed = norms < ratio * norms.max()
        expected.update(zip(columns[collapsed].tolist(), norms[collapsed], strict=True))
        columns = columns[~collapsed]
        assert seen[it].shape[1] == columns.size
    assert expected.keys() == pruner.dropped.keys()
    for column, norm in expected.items():
        assert pruner.dropped[column] == pytest.approx(norm, rel=1e-12)
    np.testing.assert_array_equal(pruner.columns, columns)
    # The kept columns still fit the rank-2 truth (up to the penalty's shrinkage).
    assert relative_error(res.U, prob.truth) < 0.2


@pytest.mark.parametrize("start_norm", [None, 1e-3])
def test_no_drop_before_columns_grow(start_norm):
    """Columns are only dropped once the largest has grown 10x from its start: never
    from a start already at the scale of the solution, unless (resuming a run) the
    original start, given as ``start_norm``, was small."""
    prob = Problem("rank_one")
    U0 = np.hstack([prob.truth, small_random(DIM, 3, seed=4)])
    pruner = pruner_for(U0, start_norm, drop_ratio=0.1)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        **PENALISED,
        memory=10,
        max_iter=100,
        tol=1e-8,
        pruner=pruner,
    )
    assert res.n_iter >= 10  # at least one alignment happened
    if start_norm is None:
        assert pruner.dropped == {}
        np.testing.assert_array_equal(pruner.columns, np.arange(U0.shape[1]))
    else:
        assert sorted(pruner.dropped) == [2, 3, 4]
        np.testing.assert_array_equal(pruner.columns, [0, 1])


def test_a_pruner_for_another_width_is_refused():
    prob = Problem("rank_one")
    U0 = small_random(DIM, 5, seed=3)
    with pytest.raises(ValueError, match="pruner numbers 3 columns, U has 5"):
        minimize(prob.op, prob.y, U0, **PENALISED, pruner=pruner_for(U0[:, :3]))


@pytest.mark.parametrize("with_pruner", [False, True])
def test_no_drop_without_drop_ratio(with_pruner):
    prob = Problem("rank_one")
    U0 = small_random(DIM, 5, seed=3)
    pruner = pruner_for(U0) if with_pruner else None
    res = minimize(
        prob.op,
        prob.y,
        U0,
        **PENALISED,
        memory=10,
        max_iter=300,
        tol=1e-8,
        pruner=pruner,
    )
    assert res.n_iter >= 10  # at least one alignment happened
    assert res.U.shape == U0.shape
    if with_pruner:
        assert pruner.dropped == {}
        np.testing.assert_array_equal(pruner.columns, np.arange(5))


# ------------------------------------------------------------------ failure modes


@pytest.mark.parametrize("memory", MEMORIES)
def test_exhausted_budget_is_reported_not_warned(memory):
    """The solver returns ``converged=False`` and the final gradient norm; the caller,
    which knows the budget's public name (max_iter or finetune_iter), warns."""
    prob = Problem("matrix")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize(
            prob.op, prob.y, small_random(DIM, RANK), memory=memory, max_iter=3, tol=1e-12
        )
    assert not res.converged
    assert res.n_iter == 3
    expected = np.linalg.norm(prob.numeric_gradient(res.U))
    assert res.gradient_norm == pytest.approx(expected, rel=1e-6)
    converged = minimize(prob.op, prob.y, near_truth(prob), memory=memory, max_iter=500)
    assert converged.converged and converged.gradient_norm is None
    assert len(res.objective) == 3


def test_scale_floor_zero_makes_the_stopping_test_relative():
    """A penalty too strong for any column (pick-up level 10): the columns shrink
    toward 0 with a gradient proportional to them. The default floor of 1 stops the
    run once the gradient is under ``tol`` in absolute terms; with a floor of 0 the
    test is relative, which such a run never passes: it goes on shrinking them until
    the objective stalls at its rounding level."""
    prob = Problem("matrix")
    strong = {"penalty": SmoothGroupLasso(BETA), "alpha": 1.0}
    start = small_random(DIM, RANK)
    absolute = minimize(prob.op, prob.y, start, **strong, max_iter=50, tol=1e-3)
    assert absolute.converged and absolute.n_iter < 50
    relative = minimize(
        prob.op, prob.y, start, **strong, max_iter=50, tol=1e-3, scale_floor=0.0
    )
    assert relative.n_iter > absolute.n_iter
    assert np.linalg.norm(relative.U) < 1e-3 * np.linalg.norm(absolute.U)


# --------------------------------------------------------------------- stall test


def _calls_until_stall(stall, values):
    """Index (1-based) of the first of ``values`` at which ``stall`` says stop, or 0."""
    for i, value in enumerate(values, start=1):
        if stall(value):
            return i
    return 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stall_test_counts_decreases_in_the_dtypes_eps(dtype):
    eps = float(np.finfo(dtype).eps)
    y = np.ones(10, dtype=dtype)  # floor 128·ε²·… far below the values used here
    patience = solvers._STALL_PATIENCE
    rounding = [1.0 - 2 * i * eps for i in range(1, 3 * patience)]  # 2ε each
    progress = [1.0 - 10 * i * eps for i in range(1, 3 * patience)]  # 10ε each

    def calls(values):
        return _calls_until_stall(solvers._StallTest(NUMPY_XP, y, dtype, 1.0), values)

    assert calls(rounding) == patience
    assert calls(progress) == 0
    # Increases count as stalls; a real decrease starts the count again.
    assert calls([1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]) == 9


def test_the_stall_test_compares_with_the_repriced_objective(monkeypatch):
    """After the columns turn (or go), the objective is re-priced: the next one is
    compared with that, not with the objective before the turn, which the rotation
    lowered (a stale, higher value made the next step look like a decrease and reset
    the count of non-decreases)."""
    repriced = []

    class Recording(solvers._StallTest):
        def reprice(self, value):
            repriced.append((self.value, value))
            super().reprice(value)
            assert self.value == value  # the next objective is compared with it

    monkeypatch.setattr(solvers, "_StallTest", Recording)
    prob = Problem("rank_one")
    U0 = small_random(DIM, 5, seed=3)
    res = minimize(
        prob.op,
        prob.y,
        U0,
        penalty=SmoothGroupLasso(BETA),
        alpha=0.05,
        memory=5,
        max_iter=60,
        tol=0.0,
    )
    # One re-pricing per alignment, every ALIGN_EVERY iterations.
    assert len(repriced) == res.n_iter // ALIGN_EVERY > 0
    # The best rotation for the penalty never raises the objective.
    assert all(after <= before * (1 + 1e-12) for before, after in repriced)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stall_test_asks_for_one_percent_at_the_rounding_floor(dtype):
    y = np.ones(10, dtype=dtype)
    stall = solvers._StallTest(NUMPY_XP, y, dtype, 1.0)
    below = 0.5 * stall.floor
    patience = solvers._STALL_PATIENCE
    jitter = [below * (1.0 - 0.005 * i) for i in range(1, 3 * patience)]  # 0.5 % each
    shrinking = [below * 0.9**i for i in range(1, 3 * patience)]  # 10 % each
    stall.value = below
    assert _calls_until_stall(stall, jitter) == patience
    stall = solvers._StallTest(NUMPY_XP, y, dtype, below)
    assert _calls_until_stall(stall, shrinking) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_float32_lbfgs_stops_soon_after_reaching_its_floor(kind):
    # Noiseless float32 data: the residual reaches rounding level within a dozen
    # iterations; the run must stop a few iterations later (it waited 10-30 more among
    # the objective's jitter before the stall test used the dtype's ε).
    prob = Problem(kind)
    X, y = prob.X.astype(np.float32), prob.y.astype(np.float32)
    op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
    U0 = near_truth(prob).astype(np.float32)
    res = minimize(op, y, U0, memory=5, scaled=True, max_iter=500, tol=0.0)
    floor = solvers._StallTest(NUMPY_XP, y, np.float32, 0.0).floor
    reached = 1 + int(np.argmax(np.asarray(res.objective) <= floor))
    assert res.objective[reached - 1] <= floor
    assert res.converged
    assert res.n_iter <= reached + 2 * solvers._STALL_PATIENCE
    assert relative_error(res.U.astype(np.float64), prob.truth) < 1e-6


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [1e300, np.nan, np.inf])
@pytest.mark.parametrize("kind", KINDS)
def test_non_finite_objective_raises(kind, bad):
    prob = Problem(kind)
    y = prob.y.copy()
    y[::7] = bad  # squared residuals overflow (1e300) or propagate nan/inf
    with pytest.raises(FloatingPointError, match="objective became"):
        minimize(prob.op, y, near_truth(prob), memory=5, max_iter=10)


# ----------------------------------------------------- gradient used by the solver


@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("kind", KINDS)
def test_first_step_follows_finite_difference_gradient(kind, memory, alpha):
    """The first step is ``U₁ = U₀ − t·∇f(U₀)`` (no curvature pairs yet for L-BFGS)."""
    prob = Problem(kind, n=60, d=4)
    U0 = np.random.default_rng(5).standard_normal((4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller warns, not the solver
        res = minimize(
            prob.op,
            prob.y,
            U0,
            penalty=penalty_for(alpha),
            alpha=alpha,
            memory=memory,
            max_iter=1,
        )
    numeric = prob.numeric_gradient(U0, alpha)
    move = U0 - res.U
    t = np.sum(move * numeric) / np.sum(numeric * numeric)
    assert t > 0
    np.testing.assert_allclose(move, t * numeric, rtol=0, atol=1e-7 * np.abs(move).max())
    assert res.objective[0] == pytest.approx(prob.objective(res.U, alpha), rel=1e-10)
    assert res.objective[0] < prob.objective(U0, alpha)


def test_step_after_the_free_rotation_follows_the_rotated_gradient(monkeypatch):
    """Every 10 iterations the columns turn to the basis best for the penalty, and the
    loss gradient turns with them (∇L(UW) = ∇L(U)·W). The step after the turn is then
    along the gradient at the turned factor (gradient descent); kept unturned, the
    loss gradient of the old basis skewed that step."""
    prob = Problem("rank_one", n=60, d=4)
    penalty = SmoothGroupLasso(BETA)
    W, _ = np.linalg.qr(np.random.default_rng(8).standard_normal((3, 3)))
    monkeypatch.setattr(penalty, "best_rotation", lambda gram: W)
    seen = []
    minimize(
        prob.op,
        prob.y,
        np.random.default_rng(5).standard_normal((4, 3)),
        penalty=penalty,
        alpha=PENALISED["alpha"],
        memory=0,
        max_iter=11,
        tol=0.0,
        callback=lambda U: seen.append(np.array(U, copy=True)),
    )
    turned = seen[9] @ W  # the factor the 11th step starts from
    numeric = prob.numeric_gradient(turned, PENALISED["alpha"])
    move = turned - seen[10]
    cosine = np.sum(move * numeric) / np.linalg.norm(move) / np.linalg.norm(numeric)
    assert cosine > 1 - 1e-8


# ---------------------------------------------------------- array_api_strict run


STRICT = [
    pytest.param("float64", None, id="strict-float64"),
    pytest.param("float32", None, id="strict-float32"),
    pytest.param("float64", "device1", id="strict-float64-device1"),
    pytest.param("float32", "device1", id="strict-float32-device1"),
]


def numpy_and_strict(prob, U0, dtype, device, drop_ratio=None, **kwargs):
    """The same ``minimize`` call on NumPy and on array_api_strict (``device``), each
    with a fresh pruner when ``drop_ratio`` is given; the results and their kept
    columns (``None`` without a pruner)."""
    X, y = prob.X.astype(dtype), prob.y.astype(dtype)
    op_class = type(prob.op)
    dev = None if device is None else xps.Device(device)
    pruners = [
        None if drop_ratio is None else pruner_for(U0, drop_ratio=drop_ratio)
        for _ in range(2)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = minimize(unblocked(op_class, X), y, U0, pruner=pruners[0], **kwargs)
        res = minimize(
            op_class(xps.asarray(X, device=dev)),
            xps.asarray(y, device=dev),
            xps.asarray(U0, device=dev),
            pruner=pruners[1],
            **kwargs,
        )
    assert res.U.device == xps.asarray(X, device=dev).device
    ref_columns, res_columns = (None if p is None else p.columns for p in pruners)
    return ref, res, ref_columns, res_columns


@pytest.mark.parametrize("damping", [None, 0.1])
@pytest.mark.parametrize(("dtype", "device"), STRICT)
@pytest.mark.parametrize("kind", KINDS)
def test_strict_matches_numpy(kind, dtype, device, damping):
    """The whole solver (L-BFGS, rotation, drops; Euclidean or in the damped metric
    of the regularised phase) runs on any Array-API device."""
    prob = Problem(kind)
    U0 = small_random(DIM, 5, seed=3).astype(dtype)
    metric = {} if damping is None else {"scaled": True, "damping": damping}
    ref, res, ref_columns, res_columns = numpy_and_strict(
        prob,
        U0,
        dtype,
        device,
        **PENALISED,
        **metric,
        memory=10,
        max_iter=40,
        tol=1e-8,
        drop_ratio=0.1,
    )
    rtol = NUMPY_AGREEMENT[dtype]
    assert res.n_iter == ref.n_iter
    assert ref_columns.size < U0.shape[1]  # a drop happened
    np.testing.assert_array_equal(res_columns, ref_columns)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=rtol)
    U = to_numpy(res.U)
    assert np.linalg.norm(U - ref.U) <= rtol * np.linalg.norm(ref.U)


def test_numpy_row_blocks_match_the_one_product_pass():
    """NumPy's blocked directional pass and the one-product pass of the other
    namespaces round differently; over the run of test_strict_matches_numpy (rotations
    of nearly equal columns included) the two stay within 1e-8."""
    prob = Problem("matrix")
    U0 = small_random(DIM, 5, seed=3)
    kwargs = dict(**PENALISED, memory=10, max_iter=40, tol=1e-8)
    pruners = [pruner_for(U0, drop_ratio=0.1) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        blocked = minimize(MatrixOperator(prob.X), prob.y, U0, pruner=pruners[0], **kwargs)
        one_product = minimize(
            MatrixOperator(prob.X, row_block=None), prob.y, U0, pruner=pruners[1], **kwargs
        )
    assert blocked.n_iter == one_product.n_iter
    np.testing.assert_array_equal(pruners[0].columns, pruners[1].columns)
    np.testing.assert_allclose(blocked.objective, one_product.objective, rtol=1e-8)
    assert np.linalg.norm(blocked.U - one_product.U) <= 1e-8 * np.linalg.norm(blocked.U)


@pytest.mark.parametrize(("dtype", "device"), STRICT)
@pytest.mark.parametrize("kind", KINDS)
def test_strict_matches_numpy_scaled_lbfgs(kind, dtype, device):
    """The fine-tuning solver (L-BFGS in the ScaledGD metric) on any Array-API device."""
    prob = Problem(kind)
    U0 = near_truth(prob).astype(dtype)
    ref, res, *_ = numpy_and_strict(
        prob, U0, dtype, device, memory=5, scaled=True, max_iter=15, tol=0.0
    )
    rtol = NUMPY_AGREEMENT[dtype]
    assert res.n_iter == ref.n_iter
    U = to_numpy(res.U)
    assert np.linalg.norm(U - ref.U) <= rtol * np.linalg.norm(ref.U)


def test_a_direction_that_is_not_downhill_falls_back_to_the_gradient(monkeypatch):
    """The two-loop direction's slope gᵀHg is positive in exact arithmetic (pairs
    without curvature are skipped); should rounding make it not so, the step must
    still descend: the gradient in the run's metric is the direction (the Euclidean
    one when there is none), as on a first iteration."""
    rng = np.random.default_rng(2)
    U, s, grad = (rng.standard_normal((4, 2)) for _ in range(3))
    memory = solvers._Memory(NUMPY_XP, 2, U)
    memory.append(s, 2.0 * s)
    rows = memory.store_gradient(grad)
    pairs = rows @ rows.T
    downhill = memory.direction(grad, pairs, None)
    assert np.sum(downhill * grad) > 0
    assert not np.allclose(downhill, grad)
    real = solvers._two_loop_weights

    def uphill(*args):
        weights, slope = real(*args)
        return weights, -abs(slope)

    monkeypatch.setattr(solvers, "_two_loop_weights", uphill)
    np.testing.assert_array_equal(memory.direction(grad, pairs, None), grad)
    inverse = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(memory.direction(grad, pairs, inverse), grad @ inverse)
