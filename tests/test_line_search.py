"""Tests for the exact line search (``sklearn_lowrank._line_search.exact_step``).

The returned step is compared with a brute-force minimisation of the true objective
along the line, evaluated by recomputing the predictions from dense ``Aᵢ`` in NumPy
float64; every check runs in NumPy and under ``array_api_strict`` (default and
non-default device), in float64 and float32.
"""

import math

import array_api_strict as xps
import numpy as np
import pytest
from _backends import BACKENDS, NUMPY_XP, STRICT_BACKENDS, Backend, to_numpy
from array_api_compat import array_namespace
from scipy.optimize import minimize_scalar

from sklearn_lowrank._line_search import _coefficients, _Line, exact_step
from sklearn_lowrank._operators import MatrixOperator, RankOneOperator
from sklearn_lowrank._penalty import SmoothGroupLasso
from sklearn_lowrank.datasets import make_low_rank_sensing

N_SAMPLES, DIM, RANK = 40, 5, 2
BETA = 0.05
# exact_step tries step_guess·4**k for k in -6..6 (and 0), and the same multiples of the
# loss-alone minimiser.
GRID_SPAN = 4.0**6


class Problem:
    """A line-search instance on one backend, with its dense float64 twin."""

    def __init__(self, kind, backend, alpha, direction="gradient", seed=0):
        rng = np.random.default_rng(seed)
        d, n = DIM, N_SAMPLES
        truth = rng.standard_normal((d, RANK))
        U = rng.standard_normal((d, RANK + 1)) * 0.8
        if kind == "rank_one":
            X = rng.standard_normal((n, d))
        else:
            X = rng.standard_normal((n, d * d))
        self.backend, self.alpha, self.n = backend, alpha, n
        Xr, Ur = backend.rounded(X), backend.rounded(U)
        if kind == "rank_one":
            self.A = np.einsum("ni,nj->nij", Xr, Xr)
        else:
            self.A = Xr.reshape(n, d, d)
        y = self.predict(truth) + 0.01 * rng.standard_normal(n)
        self.y = backend.rounded(y)
        self.U = Ur
        grad = self.gradient(Ur)
        if direction == "gradient":
            D = grad
        elif direction == "ascent":
            D = -grad
        else:  # random, oriented downhill
            D = rng.standard_normal(U.shape)
            D *= np.sign(np.sum(D * grad))
        self.D = backend.rounded(D)
        self.penalty = SmoothGroupLasso(BETA) if alpha > 0 else None

        self.Xb, self.Ub = backend.asarray(X), backend.asarray(U)
        self.Db = backend.asarray(D)
        self.yb = backend.asarray(y)
        op = RankOneOperator(self.Xb) if kind == "rank_one" else MatrixOperator(self.Xb)
        state = op.start(self.Ub)
        self.residual = state.predictions - self.yb
        self.a, self.b, _ = op.directional(self.Ub, state, self.Db)

    def predict(self, V):
        return np.einsum("nij,ij->n", self.A, V @ V.T)

    def objective(self, V):
        r = self.predict(V) - self.y
        value = r @ r / (2 * self.n)
        if self.alpha > 0:
            z = np.sum(V * V, axis=0)
            value += self.alpha * np.sum(z / np.sqrt(z + BETA))
        return value

    def gradient(self, V):
        r = self.predict(V) - self.y
        sym = 0.5 * (self.A + np.transpose(self.A, (0, 2, 1)))
        grad = 2 * np.einsum("n,nij->ij", r, sym) @ V / self.n
        if self.alpha > 0:
            z = np.sum(V * V, axis=0)
            grad += self.alpha * V * 2 * (z + 2 * BETA) / (2 * (z + BETA) ** 1.5)
        return grad

    def along(self, t):
        """True objective at ``U − tD``, predictions recomputed from scratch."""
        return self.objective(self.U - t * self.D)

    def along_many(self, ts):
        """:meth:`along` at each of ``ts`` (vectorised; predictions recomputed)."""
        V = self.U[None] - np.asarray(ts)[:, None, None] * self.D[None]
        M = V @ np.transpose(V, (0, 2, 1))
        r = np.einsum("nij,mij->mn", self.A, M) - self.y
        values = np.sum(r * r, axis=1) / (2 * self.n)
        if self.alpha > 0:
            z = np.sum(V * V, axis=1)
            values += self.alpha * np.sum(z / np.sqrt(z + BETA), axis=1)
        return values

    def step(self, step_guess=1.0):
        xp = array_namespace(self.Xb)
        return exact_step(
            xp,
            self.residual,
            self.a,
            self.b,
            self.n,
            self.Ub,
            self.Db,
            step_guess,
            self.penalty,
            self.alpha,
        )

    def reference_minimum(self, t_max):
        """Global minimiser of the true objective on [0, t_max]: dense grid + Brent."""
        grid = np.concatenate([[0.0], np.geomspace(t_max * 1e-6, t_max, 3000)])
        values = self.along_many(grid)
        i = int(np.argmin(values))
        if i == 0:
            return 0.0, values[0]
        lo, hi = grid[i - 1], grid[min(i + 1, grid.size - 1)]
        res = minimize_scalar(
            self.along, bounds=(lo, hi), method="bounded", options={"xatol": 1e-14 * hi}
        )
        return (res.x, res.fun) if res.fun < values[i] else (grid[i], values[i])


KINDS = ["rank_one", "matrix"]
ALPHAS = [pytest.param(0.0, id="no-penalty"), pytest.param(0.05, id="penalty")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("direction", ["gradient", "random"])
@pytest.mark.parametrize("kind", KINDS)
def test_step_minimises_true_objective(kind, direction, alpha, backend):
    prob = Problem(kind, backend, alpha, direction)
    step, _ = prob.step(1.0)
    t = float(to_numpy(step))
    t_ref, f_ref = prob.reference_minimum(GRID_SPAN)
    f0 = prob.along(0.0)
    assert f_ref < f0  # the direction is downhill: a positive step must be found
    assert t > 0
    f_step = prob.along(t)
    # Never worse than the brute-force minimum (beyond rounding of the dtype).
    assert f_step <= f_ref + backend.rtol * f0
    if backend.dtype == "float64":
        # Near a minimum the objective is flat, so t is pinned to about √eps.
        assert t == pytest.approx(t_ref, rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", KINDS)
def test_returned_value_is_objective_at_step(kind, alpha, backend):
    prob = Problem(kind, backend, alpha, "gradient", seed=1)
    step, value = prob.step(1.0)
    # The one-dimensional search runs on the host: plain Python floats come back.
    assert type(step) is float and type(value) is float
    t = step
    assert float(to_numpy(value)) == pytest.approx(prob.along(t), rel=backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_plain_loss_step_is_the_global_minimiser_along_the_line(kind, backend):
    """Without a penalty the roots of the cubic give the global minimum over t ≥ 0,
    even along an ascent direction where the quartic only comes down far out."""
    prob = Problem(kind, backend, 0.0, "ascent", seed=2)
    step, value = prob.step(1.0)
    ts = np.concatenate([[0.0], np.geomspace(1e-8, 1e4, 4000)])
    best = prob.along_many(ts).min()
    f0 = prob.along(0.0)
    assert prob.along(step) <= best + backend.rtol * f0
    assert value == pytest.approx(prob.along(step), rel=backend.rtol, abs=backend.rtol * f0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("alpha", [pytest.param(0.05, id="penalty")])
@pytest.mark.parametrize("kind", KINDS)
def test_search_never_goes_uphill(kind, alpha, backend):
    """Along the ascent direction ``D = −∇f`` the penalised objective first rises.
    The search either stays put or finds the far-out region where the quartic comes
    down again (the grid around the loss-alone minimiser reaches it); it never returns
    a step that increases the objective."""
    prob = Problem(kind, backend, alpha, "ascent", seed=2)
    f0 = prob.along(0.0)
    assert prob.along(1e-6) > f0  # it is an ascent direction
    step, value = prob.step(1.0)
    t = float(to_numpy(step))
    assert prob.along(t) <= f0 * (1 + backend.rtol)
    assert float(to_numpy(value)) <= f0 * (1 + backend.rtol)
    if t > 0:
        ts = np.concatenate([[0.0], np.geomspace(1e-8, 10 * t, 4000)])
        assert prob.along(t) <= prob.along_many(ts).min() + backend.rtol * f0


def test_zero_step_when_the_direction_is_zero():
    prob = Problem("rank_one", Backend("numpy", "float64", None), 0.05, "gradient", seed=2)
    prob.a, prob.b, prob.Db = 0.0 * prob.a, 0.0 * prob.b, 0.0 * prob.Db
    step, value = prob.step(1.0)
    assert step == 0.0
    assert value == pytest.approx(prob.along(0.0), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("factor", [1e-3, 30.0])
@pytest.mark.parametrize("kind", KINDS)
def test_step_found_from_a_poor_guess(kind, factor, backend):
    """A guess far from the minimiser (within the grid's span) still finds it."""
    prob = Problem(kind, backend, 0.05, "gradient", seed=3)
    t_ref, f_ref = prob.reference_minimum(GRID_SPAN)
    step, _ = prob.step(float(factor * t_ref))
    f0 = prob.along(0.0)
    assert prob.along(float(to_numpy(step))) <= f_ref + backend.rtol * f0


@pytest.mark.parametrize("factor", [8e-5, 2e-4, 1e6, 1e12, 1e20])
@pytest.mark.parametrize("kind", KINDS)
def test_step_found_from_a_guess_far_off(kind, factor):
    """A minimiser up to four times past the largest trial around the guess (the
    refinement extends the grid's top interval), or far below the guess's grid (the
    trials around the loss-alone minimiser reach it), is found. A single grid around
    the guess found no decrease from a tiny start and returned 0 at every iteration."""
    prob = Problem(kind, Backend("numpy", "float64", None), 0.05, "gradient", seed=3)
    t_ref, f_ref = prob.reference_minimum(GRID_SPAN)
    # Outside the guess's own grid: above its top, or far below its bottom.
    assert 1.0 < 4 * GRID_SPAN * factor and (factor < 1 / GRID_SPAN or factor > GRID_SPAN)
    step, _ = prob.step(float(factor * t_ref))
    assert float(step) == pytest.approx(t_ref, rel=1e-6)
    assert prob.along(float(step)) <= f_ref + 1e-12 * prob.along(0.0)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", KINDS)
def test_non_finite_coefficients_are_an_error(kind, alpha):
    """An overflowed direction must not price every step as NaN and return 0."""
    prob = Problem(kind, Backend("numpy", "float64", None), alpha, "gradient", seed=3)
    prob.b = prob.b.copy()
    prob.b[0] = np.inf
    with pytest.raises(FloatingPointError, match="not finite"):
        prob.step(1.0)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_a_quartic_past_the_range_is_an_error(alpha):
    """Gram entries within a factor 2 of the largest float pass as finite, but the
    quartic's coefficients (2·⟨r, a⟩, ...) overflow: no step of 0 for it."""
    # Each product is 1.69e308 (finite); c₂ = ⟨a, a⟩/2n + 2⟨r, b⟩/2n is not.
    residual = a = b = np.array([1.3e154])
    U = D = np.ones((2, 1))
    with pytest.raises(FloatingPointError, match="coefficients are not finite"):
        exact_step(
            NUMPY_XP,
            residual,
            a,
            b,
            1,
            U,
            D,
            penalty=SmoothGroupLasso(0.01) if alpha else None,
            alpha=alpha,
        )


def test_non_finite_column_terms_are_an_error():
    """With the penalty, the per-column terms (‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²) are checked too:
    an overflowed direction whose data terms stay finite prices every step as NaN."""
    residual = a = b = np.array([1.0, 2.0])
    U, D = np.ones((2, 2)), np.array([[np.inf, 1.0], [1.0, 1.0]])
    with pytest.raises(FloatingPointError, match="coefficients are not finite"):
        exact_step(
            NUMPY_XP, residual, a, b, 2, U, D, penalty=SmoothGroupLasso(0.01), alpha=0.05
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_array_step_guess(kind, backend):
    """A 0-d array guess on the data's device gives the same answer as a float."""
    prob = Problem(kind, backend, 0.05, "gradient", seed=4)
    from_float = prob.step(0.5)
    from_array = prob.step(backend.asarray(0.5))
    for x, y in zip(from_float, from_array, strict=True):
        assert float(to_numpy(x)) == pytest.approx(float(to_numpy(y)), rel=backend.rtol)


@pytest.mark.parametrize("backend", STRICT_BACKENDS)
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", KINDS)
def test_strict_matches_numpy(kind, alpha, backend):
    """array_api_strict (any device) gives NumPy's step and value in the same dtype."""
    step, value = Problem(kind, backend, alpha, "random", seed=5).step(1.0)
    ref_step, ref_value = Problem(kind, backend.numpy_twin(), alpha, "random", seed=5).step(
        1.0
    )
    assert float(to_numpy(step)) == pytest.approx(float(ref_step), rel=backend.rtol)
    assert float(to_numpy(value)) == pytest.approx(float(ref_value), rel=backend.rtol)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_line_objective_is_consistent(kind):
    """The vectorised brute-force reference agrees with the one-point objective."""
    prob = Problem(kind, Backend("numpy", "float64", None), 0.05, "random", seed=6)
    ts = np.array([0.0, 1e-3, 0.05, 0.7, 3.0])
    expected = [prob.along(t) for t in ts]
    np.testing.assert_allclose(prob.along_many(ts), expected, rtol=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", KINDS)
def test_newton_terms_match_the_line_objective(kind, alpha):
    """The value and derivatives Newton uses agree with the true objective along the
    line (derivatives by central differences)."""
    prob = Problem(kind, Backend("numpy", "float64", None), alpha, "random", seed=7)
    coefficients = _coefficients(
        NUMPY_XP, prob.residual, prob.a, prob.b, prob.n, prob.Ub, prob.Db
    )
    line = _Line(*coefficients, prob.penalty, alpha)
    h = 1e-4
    for t in (0.0, 0.03, 0.4):
        value, first, second = line.value_and_derivatives(t)
        low, mid, high = prob.along(t - h), prob.along(t), prob.along(t + h)
        assert value == pytest.approx(mid, rel=1e-12)
        assert first == pytest.approx((high - low) / (2 * h), rel=1e-6)
        assert second == pytest.approx((high - 2 * mid + low) / h**2, rel=1e-4)


# ------------------------------------------------------------------ quartic_step
@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
@pytest.mark.parametrize("guess_scale", [1e-3, 1.0, 1e3])
def test_quartic_step_is_the_exact_minimiser(kind, guess_scale):
    """Without a penalty the host root-finding lands on the dense-search minimum."""
    from scipy.optimize import minimize_scalar

    from sklearn_lowrank._line_search import quartic_step
    from sklearn_lowrank._operators import make_operator

    rng = np.random.default_rng(4)
    d, k, n = 5, 3, 80
    X = rng.standard_normal((n, d * d if kind == "matrix" else d))
    op = make_operator(kind, X)
    U = rng.standard_normal((d, k))
    y = op.predict(rng.standard_normal((d, 2)))
    state = op.start(U)
    residual = state.predictions - y
    D = guess_scale * op.adjoint_times(U, state, residual)
    a, b, _ = op.directional(U, state, D)
    step = quartic_step(NUMPY_XP, residual, a, b, n)

    def loss(t):
        r = op.predict(U - t * D) - y
        return r @ r / (2 * n)

    bracket_end = 10.0 / guess_scale
    reference = minimize_scalar(
        loss,
        bounds=(0.0, bracket_end),
        method="bounded",
        options={"xatol": 1e-14 / guess_scale},
    )
    assert step > 0
    assert loss(step) <= reference.fun * (1 + 1e-9)
    assert loss(step) < loss(0.0)


def test_quartic_step_is_zero_when_nothing_decreases():
    from sklearn_lowrank._line_search import quartic_step

    residual = np.array([1.0, -2.0, 0.5])
    # Moving along a = -r only increases ‖r - t·a‖² for t > 0.
    assert quartic_step(NUMPY_XP, residual, -residual, np.zeros(3), 3) == 0.0


def _companion_minimiser(quartic):
    """Reference: the positive real roots of φ' from ``numpy.roots``."""
    coefficients = np.array(quartic[::-1])
    roots = np.roots(np.polyder(coefficients)) if np.any(coefficients[:-1]) else []
    candidates = [0.0] + [
        float(t.real) for t in roots if abs(t.imag) <= 1e-12 * (1 + abs(t)) and t.real > 0
    ]
    return candidates[int(np.argmin(np.polyval(coefficients, candidates)))]


def test_closed_form_minimiser_matches_the_companion_matrix():
    """Quartics whose coefficients span 16 orders of magnitude, some with c₄ = 0 or
    c₃ = 0: the closed-form cubic never does worse than ``numpy.roots``."""
    from sklearn_lowrank._line_search import _quartic_minimiser

    rng = np.random.default_rng(0)

    def value(q, t):
        return q[0] + t * (q[1] + t * (q[2] + t * (q[3] + t * q[4])))

    for trial in range(5000):
        q = rng.standard_normal(5) * 10.0 ** rng.uniform(-8, 8, 5)
        q[4] = abs(q[4]) if trial % 7 else 0.0
        if trial % 11 == 0:
            q[3] = 0.0
        ours, ref = _quartic_minimiser(q), _companion_minimiser(q)
        scale = sum(abs(q[i]) * max(ours, ref) ** i for i in range(5))
        assert value(q, ours) <= value(q, ref) + 1e-12 * scale, (trial, q)


@pytest.mark.parametrize(
    "roots", [(1.0, 2.0, 3.0), (-3e9, 0.04, -2e-7), (5.0, 5.0, -1.0), (0.0, 1e-8, 1e8)]
)
def test_cubic_roots_recovers_roots_of_any_spread(roots):
    from sklearn_lowrank._line_search import _cubic_roots

    a = 2.5
    b = -a * sum(roots)
    c = a * (roots[0] * roots[1] + roots[0] * roots[2] + roots[1] * roots[2])
    d = -a * roots[0] * roots[1] * roots[2]
    found = sorted(_cubic_roots(a, b, c, d))
    assert len(found) == 3
    np.testing.assert_allclose(found, sorted(roots), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "coefficients",
    [
        pytest.param((1.0, -(1e67 + 3.0), 3e67 + 2.0, -2e67), id="q-squared-overflows"),
        pytest.param((1.0, 0.0, 1e-120, 0.0), id="d-zero-tiny-c"),
        pytest.param((1.0, 1e-110, 1e-240, -1e-300), id="terms-underflow"),
    ],
)
def test_cubic_roots_survive_extreme_coefficients(coefficients):
    """Overflow and underflow in the closed form fall back to ``numpy.roots`` instead
    of raising (``OverflowError`` from ``(q/2)**2`` at X·1e-15, ``ValueError`` from
    ``sqrt(-p/3)`` at X·1e15, before X was normalised; a division by an underflowed
    ``r³``)."""
    from sklearn_lowrank._line_search import _cubic_roots

    a, b, c, d = coefficients
    found = _cubic_roots(a, b, c, d)
    assert found and all(math.isfinite(t) for t in found)
    reference = [t.real for t in np.roots([a, b, c, d]) if abs(t.imag) <= 1e-9 * abs(t)]
    largest = max(reference, key=abs)
    assert max(found, key=abs) == pytest.approx(largest, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_line_search_of_a_tiny_factor_in_float32(dtype):
    """A factor of norm 1e-12 makes a and b about 1e-23: their float32 squares
    underflowed, the quartic lost its leading term, and the search priced a step of
    7e22 at a negative loss. Formed in float64, both dtypes find the same step."""
    X, y, _ = make_low_rank_sensing(60, 4, 2, random_state=0)
    rng = np.random.default_rng(0)
    U = 1e-12 * rng.standard_normal((4, 1))
    steps = {}
    for dt in (np.float64, dtype):
        op = RankOneOperator(X.astype(dt), normalize=True)
        Uc, yc = U.astype(dt), (y / 3.0).astype(dt)
        state = op.start(Uc)
        residual = state.predictions - yc
        D = 2 * op.adjoint_times(Uc, state, residual)
        a, b, _ = op.directional(Uc, state, D)
        steps[dt], value = exact_step(NUMPY_XP, residual, a, b, X.shape[0], Uc, D)
        assert 0 <= value <= float(residual @ residual) / (2 * X.shape[0])
    assert steps[dtype] == pytest.approx(steps[np.float64], rel=1e-3)


def test_coefficients_without_float64_do_not_underflow():
    """On a device without float64 the Gram matrices are formed in float32 on columns
    divided by their largest magnitude: a factor of norm 1e-12 has a and b of about
    1e-23, whose float32 squares underflow to 0 (the quartic then lost its leading
    term); scaled, they match the float64 products."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 200)) * np.array([[1.0], [1e-23], [1e-23]])
    U = 1e-12 * rng.standard_normal((5, 2))
    D = rng.standard_normal((5, 2))
    dev = xps.Device("no_float64")
    found = _coefficients(
        xps,
        *(xps.asarray(v.astype(np.float32), device=dev) for v in vectors),
        200,
        xps.asarray(U.astype(np.float32), device=dev),
        xps.asarray(D.astype(np.float32), device=dev),
    )
    rounded = [x.astype(np.float32).astype(np.float64) for x in (*vectors, U, D)]
    stacked = np.stack(rounded[:3], axis=1)
    Ur, Dr = rounded[3:]
    columns = np.stack([np.sum(Ur * Ur, 0), np.sum(Ur * Dr, 0), np.sum(Dr * Dr, 0)])
    expected = (stacked.T @ stacked / 400, columns)
    for actual, wanted in zip(found, expected, strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=0)
    assert np.all(np.diag(found[0]) > 0) and np.all(found[1][[0, 2]] > 0)
