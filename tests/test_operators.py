"""Tests for the measurement operators (``sklearn_lowrank._operators``).

Every operator method is checked against a dense NumPy float64 reference built from the
explicit sensing matrices ``Aᵢ``, in NumPy and under ``array_api_strict`` (default and
non-default device), in float64 and float32.
"""

import inspect
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import BACKENDS, BACKENDS_FLOAT64, assert_close, assert_same_kind, to_numpy
from array_api_compat import array_namespace
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import sklearn_lowrank._operators as operators_module
from sklearn_lowrank._operators import (
    MatrixOperator,
    MeasurementOperator,
    OperatorState,
    RankOneOperator,
    make_operator,
    measure,
    project,
    square_side,
)

N_SAMPLES, DIM, RANK = 37, 5, 3


# --------------------------------------------------------------------------- problems


def rank_one_problem(seed=0, n=N_SAMPLES, d=DIM):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.einsum("ni,nj->nij", X, X)


def matrix_problem(seed=0, n=N_SAMPLES, d=DIM):
    """Non-symmetric ``Aᵢ``: only their symmetric part may matter."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d, d))
    return A.reshape(n, d * d), A


PROBLEMS = {"rank_one": rank_one_problem, "matrix": matrix_problem}


def reference_gain(kind, A):
    """The measurement scale ``g`` from the dense ``Aᵢ``: the mean diagonal entry
    (rank-one), the RMS coordinate of ``sym(Aᵢ)`` in an orthonormal basis of the
    symmetric matrices (matrix)."""
    n, d, _ = A.shape
    if kind == "rank_one":
        return np.trace(A, axis1=1, axis2=2).mean() / d
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    return np.sqrt(np.sum(sym * sym) / (n * d * (d + 1) / 2))


def build(kind, backend, seed=0, normalize=False, **kwargs):
    """Operator on the backend, and the dense (n, d, d) float64 reference ``Aᵢ``
    (divided by the measurement scale with ``normalize``, on data scaled by 3 so that
    the scale is far from 1)."""
    X, _ = PROBLEMS[kind](seed)
    if normalize:
        X = 3.0 * X
    Xb = backend.asarray(X)
    if kind == "rank_one":
        op = RankOneOperator(Xb, normalize=normalize)
    else:
        op = MatrixOperator(Xb, normalize=normalize, **kwargs)
    Xr = backend.rounded(X)
    A = np.einsum("ni,nj->nij", Xr, Xr) if kind == "rank_one" else Xr.reshape(-1, DIM, DIM)
    if normalize:
        A = A / reference_gain(kind, A)
    return op, Xb, A


def factors(seed=1, d=DIM, k=RANK):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, k)), rng.standard_normal((d, k))


def dense_predictions(A, U):
    return np.einsum("nij,ij->n", A, U @ U.T)


def dense_sensing_matrix(A, w):
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    return np.einsum("n,nij->ij", w, sym) / A.shape[0]


KINDS = ["rank_one", "matrix"]
NORMALIZE = [pytest.param(False, id="raw"), pytest.param(True, id="normalized")]


# ---------------------------------------------------------------- dense references


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_predictions_match_dense(kind, backend, normalize):
    op, Xb, A = build(kind, backend, normalize=normalize)
    U, _ = factors()
    Ub = backend.asarray(U)
    U = backend.rounded(U)
    expected = dense_predictions(A, U)
    state = op.start(Ub)
    assert isinstance(state, OperatorState)
    assert_same_kind(state.predictions, Xb)
    assert_close(state.predictions, expected, backend.rtol)
    assert_close(op.predict(Ub), expected, backend.rtol)
    assert op.n_samples == N_SAMPLES
    assert op.dim == DIM


class _CountingNamespace:
    """An array namespace that counts the vectors it is asked to fill."""

    def __init__(self, xp):
        self._xp, self.fills = xp, 0

    def __getattr__(self, name):
        if name == "full":
            self.fills += 1
        return getattr(self._xp, name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_one_row_sums_reuse_their_constant_vector(backend):
    """The row sums' constant vector is made once per width and dtype: made anew, it
    was three kernel launches more per iteration on a GPU. Predictions are unchanged."""
    op, _, A = build("rank_one", backend, normalize=True)
    op.xp = counting = _CountingNamespace(op.xp)
    U, _ = factors()
    for width in (3, 3, 2, 3, 2):
        Ub = backend.asarray(U[:, :width])
        state = op.start(Ub)
        op.directional(Ub, state, Ub)
        expected = dense_predictions(A, backend.rounded(U[:, :width]))
        assert_close(state.predictions, expected, backend.rtol)
    assert counting.fills == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_adjoint_times_matches_dense(kind, backend, normalize):
    op, Xb, A = build(kind, backend, normalize=normalize)
    U, _ = factors()
    w = np.random.default_rng(2).standard_normal(N_SAMPLES)
    Ub, wb = backend.asarray(U), backend.asarray(w)
    U, w = backend.rounded(U), backend.rounded(w)
    out = op.adjoint_times(Ub, op.start(Ub), wb)
    assert_same_kind(out, Xb)
    assert_close(out, dense_sensing_matrix(A, w) @ U, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_sensing_matrix_matches_dense(kind, backend, normalize):
    op, Xb, A = build(kind, backend, normalize=normalize)
    w = np.random.default_rng(3).standard_normal(N_SAMPLES)
    S = op.sensing_matrix(backend.asarray(w))
    expected = dense_sensing_matrix(A, backend.rounded(w))
    assert_same_kind(S, Xb)
    assert_close(S, expected, backend.rtol)
    assert_close(S, to_numpy(S).T, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_sandwiched_matches_dense(kind, backend, normalize):
    """``Lᵀ·sym(Aᵢ)/g·R`` for a slice of rows, with ``L`` and ``R`` of other widths."""
    op, Xb, A = build(kind, backend, normalize=normalize)
    L, R = factors(seed=4, k=4)[0], factors(seed=5, k=2)[0]
    rows = slice(3, 20)
    Z = op.sandwiched(backend.asarray(L), backend.asarray(R), rows)
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    expected = np.einsum(
        "ap,nab,bq->npq", backend.rounded(L), sym[rows], backend.rounded(R)
    )
    assert_same_kind(Z, Xb)
    assert_close(Z, expected, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_links_connect_what_the_measurements_connect(kind, backend):
    """Against the nonzero pattern of the dense ``sym(Aᵢ)`` of the rows, for sparse
    rows (two nonzero coordinates, or two entries of ``Aᵢ``) and dense ones: every
    pair given is reached, every index reached appears, and the pairs connect the
    indices as the pattern does (rank-one vectors give a chain, not every pair)."""
    rng = np.random.default_rng(0)
    dense, _ = PROBLEMS[kind]()
    sparse = np.zeros_like(dense)
    for row in sparse:
        row[rng.choice(row.size, 2, replace=False)] = rng.standard_normal(2)
    for X in (sparse, dense):
        op_class = RankOneOperator if kind == "rank_one" else MatrixOperator
        op = op_class(backend.asarray(X))
        rows = slice(3, 20)
        A = np.einsum("ni,nj->nij", X, X) if kind == "rank_one" else X.reshape(-1, DIM, DIM)
        pattern = np.any((A + np.transpose(A, (0, 2, 1)))[rows] != 0, axis=0)
        a, b = op.links(rows)
        assert pattern[a, b].all()
        reached = pattern.any(axis=1)
        np.testing.assert_array_equal(np.isin(np.arange(DIM), np.r_[a, b]), reached)
        graph = coo_matrix((np.ones(a.size), (a, b)), shape=(DIM, DIM))
        labels = connected_components(graph, directed=False)[1][reached]
        expected = connected_components(pattern, directed=False)[1][reached]
        assert len(np.unique(labels)) == len(np.unique(expected))


@pytest.mark.parametrize("kind", KINDS)
def test_row_size_is_the_numbers_a_pass_reads_per_measurement(kind):
    op, _, _ = build(kind, BACKENDS[0].values[0])
    assert op.row_size == (DIM if kind == "rank_one" else DIM * (DIM + 1) // 2)
    if kind == "matrix":
        assert op.packed.shape == (N_SAMPLES, op.row_size)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_second_moment_of_rank_one_vectors(backend, normalize):
    """(1/n) Σ xᵢxᵢᵀ/g, the sensing matrix of unit weights; matrices have none."""
    op, Xb, A = build("rank_one", backend, normalize=normalize)
    moment = op.second_moment()
    assert_same_kind(moment, Xb)
    assert_close(moment, dense_sensing_matrix(A, np.ones(N_SAMPLES)), backend.rtol)
    assert build("matrix", backend, normalize=normalize)[0].second_moment() is None


@pytest.mark.parametrize("backend", BACKENDS_FLOAT64)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_loss_gradient_matches_finite_differences(kind, backend, normalize):
    """``2·adjoint_times(U, start(U), r)`` is the gradient of ``‖𝒜(UUᵀ) − y‖²/(2n)``."""
    op, _, A = build(kind, backend, normalize=normalize)
    U, _ = factors()
    y = np.random.default_rng(4).standard_normal(N_SAMPLES)

    def loss(V):
        r = dense_predictions(A, V) - y
        return r @ r / (2 * N_SAMPLES)

    Ub = backend.asarray(U)
    state = op.start(Ub)
    grad = 2.0 * op.adjoint_times(Ub, state, state.predictions - backend.asarray(y))
    h = 1e-6
    numeric = np.zeros_like(U)
    for idx in np.ndindex(*U.shape):
        E = np.zeros_like(U)
        E[idx] = h
        numeric[idx] = (loss(U + E) - loss(U - E)) / (2 * h)
    assert_close(grad, numeric, 1e-7)


# ---------------------------------------------------------- measurement scale


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_gain_is_the_measurement_scale(kind, backend):
    """``gain`` is the reference scale with ``normalize``, exactly 1.0 without, and
    scales with the data as ``Aᵢ`` does (``c²`` for rank-one, ``c`` for matrix)."""
    X, A = PROBLEMS[kind](0)
    A = np.einsum("ni,nj->nij", X, X) if kind == "rank_one" else A
    unit = make_operator(kind, backend.asarray(X), normalize=True)
    assert unit.gain == pytest.approx(reference_gain(kind, A), rel=backend.rtol)
    assert make_operator(kind, backend.asarray(X)).gain == 1.0
    power = 2 if kind == "rank_one" else 1
    scaled = make_operator(kind, backend.asarray(1e-7 * X), normalize=True)
    assert scaled.gain == pytest.approx(1e-7**power * unit.gain, rel=backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_distinct_measurements_count_repeats_once(kind, backend):
    """Repeats at scattered rows (across the hashing's row blocks) count once, as do
    the same measurement written as -x (rank-one) or Aᵀ (matrix); a row that differs
    in one entry by a thousandth counts apart."""
    X, A = PROBLEMS[kind](0, n=40)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, 40, size=300)
    rows = X[picks]
    if kind == "rank_one":
        rows[::3] *= -1.0
    else:
        flipped = np.transpose(A[picks], (0, 2, 1)).reshape(300, -1)
        rows[::3] = flipped[::3]
    data = np.concatenate([X, rows])
    near = np.array(X[:1])
    near[0, 0] *= 1.001
    data = np.concatenate([data, near]).astype(backend.dtype)
    for normalize in (False, True):
        op = make_operator(kind, backend.asarray(data), normalize=normalize)
        assert op.distinct_measurements() == 41
        # The first rows only: the 40 distinct ones, then 10 of their repeats; past
        # the end, all of them (a slice past the end, which array_api_strict refuses).
        assert op.distinct_measurements(rows=50) == 40
        assert op.distinct_measurements(rows=20) == 20
        assert op.distinct_measurements(rows=10**6) == 41


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_sizes_are_the_measurements_squared_norms(kind, backend):
    """``‖xᵢ‖²`` (rank-one) or ``‖sym(Aᵢ)‖²_F`` (matrix), in X's units whatever
    ``normalize``: the data scale leaves out outsized measurements by them."""
    X, A = PROBLEMS[kind](0)
    if kind == "rank_one":
        expected = np.sum(X * X, axis=1)
    else:
        sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
        expected = np.sum(sym * sym, axis=(1, 2))
    for normalize in (False, True):
        op = make_operator(kind, backend.asarray(3.0 * X), normalize=normalize)
        assert_same_kind(op.sizes, backend.asarray(X))
        assert_close(op.sizes, 9.0 * expected, backend.rtol)


@pytest.mark.parametrize("kind", KINDS)
def test_mean_norm_bounds_the_mean_spectral_norm(kind):
    """``mean_norm`` bounds the mean ``‖sym(Aᵢ)‖₂/g`` from above (the noise check's
    cheap test relies on it), and ``spectral_bounds()`` each one, exactly for rank-one
    ``Aᵢ``, on rows of very unequal sizes."""
    X, A = PROBLEMS[kind](0)
    scales = np.geomspace(0.1, 10.0, X.shape[0])
    X = X * (scales[:, None] if kind == "rank_one" else scales[:, None] ** 0.5)
    op = make_operator(kind, X, normalize=True)
    if kind == "rank_one":
        A = np.einsum("ni,nj->nij", X, X)
    else:
        A = X.reshape(A.shape)
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    spectral = np.abs(np.linalg.eigvalsh(sym)).max(axis=1) / op.gain
    bounds = np.asarray(op.spectral_bounds())
    if kind == "rank_one":
        assert op.mean_norm == pytest.approx(spectral.mean(), rel=1e-12)
        np.testing.assert_allclose(bounds, spectral, rtol=1e-12)
    else:
        assert spectral.mean() <= op.mean_norm
        # Per measurement too (the missed-direction check's one-row test).
        assert np.all(spectral <= bounds * (1 + 1e-12))
        assert np.any(spectral < 0.9 * bounds)  # a bound, not the norm


@pytest.mark.parametrize("kind", KINDS)
def test_matrix_response_is_what_a_direction_becomes_in_a_sensing_matrix(kind):
    """For Gaussian measurements of Δ = uuᵀ, the sensing matrix of ⟨Aᵢ, Δ⟩/g is about
    ``matrix_response·Δ`` (plus tr(Δ)·I for rank-one): its top eigenvalue, with the
    isotropic part taken out, against the response (20000 samples: within 5%)."""
    rng = np.random.default_rng(3)
    d, n = 6, 20000
    X = rng.standard_normal((n, d if kind == "rank_one" else d * d))
    op = make_operator(kind, X, normalize=True)
    u = np.zeros((d, 1))
    u[0] = 1.0
    S = to_numpy(op.sensing_matrix(op.predict(u)))
    isotropic = np.median(np.linalg.eigvalsh(S))
    top = np.linalg.eigvalsh(S)[-1] - isotropic
    assert top == pytest.approx(op.matrix_response, rel=0.05)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_gain_depends_only_on_the_symmetric_part(backend):
    _, A = matrix_problem()
    transposed = np.transpose(A, (0, 2, 1))
    gains = [
        MatrixOperator(backend.asarray(B.reshape(N_SAMPLES, -1)), normalize=True).gain
        for B in (A, transposed, 0.5 * (A + transposed))
    ]
    assert gains[1] == gains[0]
    assert gains[2] == pytest.approx(gains[0], rel=backend.rtol)


@pytest.mark.parametrize("chunk_size", [1, 5, N_SAMPLES + 1])
def test_matrix_gain_does_not_depend_on_the_packing_chunks(chunk_size):
    X, _ = matrix_problem()
    whole = MatrixOperator(X, normalize=True, chunk_size=N_SAMPLES)
    chunked = MatrixOperator(X, normalize=True, chunk_size=chunk_size)
    assert chunked.gain == pytest.approx(whole.gain, rel=1e-14)
    np.testing.assert_allclose(chunked.packed, whole.packed, rtol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_all_zero_measurements_are_an_error(kind):
    """Zero measurements say nothing about M* (a fit used to return a model that
    predicted about 1e-10 everywhere, blaming alpha)."""
    X, _ = PROBLEMS[kind](0)
    with pytest.raises(ValueError, match="X holds only zeros") as error:
        make_operator(kind, np.zeros_like(X), normalize=True)
    # Only matrices have symmetric parts to speak of.
    assert ("symmetric parts" in str(error.value)) == (kind == "matrix")
    # Unnormalised operators (predict) take any X.
    assert make_operator(kind, np.zeros_like(X)).n_samples == X.shape[0]


@pytest.mark.parametrize("kind", KINDS)
def test_gain_underflow_is_a_floating_point_error(kind):
    """float32 squares of 1e-25 underflow: the mean square was 0, the gain fell back
    to 1 and the fit diverged with 'the objective became inf'."""
    X, _ = PROBLEMS[kind](0)
    X = (1e-25 * X).astype(np.float32)
    assert np.any(X != 0)
    with pytest.raises(FloatingPointError, match="underflows: X holds values too small"):
        make_operator(kind, X, normalize=True)


@pytest.mark.parametrize("kind", KINDS)
def test_gain_overflow_is_a_floating_point_error(kind):
    """float32 squares overflow past about 1.8e19: reported, not divided by inf."""
    X, _ = PROBLEMS[kind](0)
    X = (1e20 * X).astype(np.float32)
    assert np.all(np.isfinite(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own overflow notice
        with pytest.raises(FloatingPointError, match="mean square of the measurements"):
            make_operator(kind, X, normalize=True)
        assert make_operator(kind, X).gain == 1.0


@pytest.mark.parametrize(("kind", "dim"), [("rank_one", 20), ("matrix", 8)])
def test_gain_of_sizes_whose_float32_sum_overflows(kind, dim):
    """Every size finite in float32, their sum not: the mean square was inf, and a
    FloatingPointError blamed X's values, so the float32 range fell with n·d."""
    X, _ = PROBLEMS[kind](0, d=dim)
    X = (np.sqrt(7e35) * X).astype(np.float32)
    op = make_operator(kind, X, normalize=True)
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(op.sizes)) and np.all(np.isfinite(op.sizes))
    exact = make_operator(kind, X.astype(np.float64), normalize=True)
    assert op.gain == pytest.approx(exact.gain, rel=1e-6)
    assert op.mean_size == pytest.approx(exact.mean_size, rel=1e-6)


def test_rank_one_sums_past_the_dtype_are_an_error():
    """The rank-one passes divide their sums over the rows by n·g: in float32 that
    became inf silently (every gradient 0); now an error names the rows and n·g."""
    X = (5e18 * rank_one_problem(0)[0]).astype(np.float32)
    op = make_operator("rank_one", X[:3], normalize=True)  # fewer rows: the same values
    assert 3 * op.gain < np.finfo(np.float32).max < 37 * op.gain
    with pytest.raises(FloatingPointError, match=r"float32 with 37 rows.* n·g = 8\.5e\+38"):
        make_operator("rank_one", X, normalize=True)


# ------------------------------------------------------------------ directional


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
def test_directional_parabola(kind, backend, normalize):
    """``𝒜((U − tD)(U − tD)ᵀ) = p − t·a + t²·b`` for several ``t``."""
    op, Xb, A = build(kind, backend, normalize=normalize)
    U, D = factors()
    Ub, Db = backend.asarray(U), backend.asarray(D)
    U, D = backend.rounded(U), backend.rounded(D)
    state = op.start(Ub)
    a, b, _ = op.directional(Ub, state, Db)
    assert_same_kind(a, Xb)
    assert_same_kind(b, Xb)
    p = dense_predictions(A, U)
    for t in (-0.7, 0.0, 0.3, 1.0, 2.5):
        expected = dense_predictions(A, U - t * D)
        model = to_numpy(state.predictions) - t * to_numpy(a) + t * t * to_numpy(b)
        assert_close(model, expected, backend.rtol)
    # The pieces themselves: a = 𝒜(UDᵀ + DUᵀ), b = 𝒜(DDᵀ).
    assert_close(a, np.einsum("nij,ij->n", A, U @ D.T + D @ U.T), backend.rtol)
    assert_close(b, dense_predictions(A, D), backend.rtol)
    assert_close(state.predictions, p, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_array", [False, True], ids=["float-step", "array-step"])
def test_advance_matches_fresh_start(kind, backend, as_array, normalize):
    """``advance`` gives the state ``start(U − tD)`` would, including its cache."""
    op, Xb, A = build(kind, backend, normalize=normalize)
    U, D = factors()
    w = np.random.default_rng(5).standard_normal(N_SAMPLES)
    Ub, Db, wb = backend.asarray(U), backend.asarray(D), backend.asarray(w)
    state = op.start(Ub)
    a, b, extra = op.directional(Ub, state, Db)
    t = 0.37
    step = backend.asarray(t) if as_array else t
    moved = op.advance(state, a, b, extra, step)
    Vb = Ub - step * Db
    fresh = op.start(Vb)
    assert_same_kind(moved.predictions, Xb)
    assert_close(moved.predictions, to_numpy(fresh.predictions), backend.rtol)
    V = backend.rounded(U) - t * backend.rounded(D)
    assert_close(moved.predictions, dense_predictions(A, V), backend.rtol)
    # The advanced state is usable for the next adjoint (RankOne caches X·U).
    assert_close(
        op.adjoint_times(Vb, moved, wb),
        to_numpy(op.adjoint_times(Vb, fresh, wb)),
        backend.rtol,
    )
    # ``advance`` may reuse the direction's buffers but leaves the old state intact.
    assert_close(
        op.adjoint_times(Ub, state, wb),
        to_numpy(op.adjoint_times(Ub, op.start(Ub), wb)),
        backend.rtol,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_keep_columns(kind, backend):
    op, Xb, A = build(kind, backend)
    U, _ = factors()
    w = np.random.default_rng(6).standard_normal(N_SAMPLES)
    Ub, wb = backend.asarray(U), backend.asarray(w)
    state = op.start(Ub)
    keep = np.array([0, 2])
    kept_b = backend.index(keep)
    Vb = array_namespace(Ub).take(Ub, kept_b, axis=1)
    new_state = op.keep_columns(Vb, state, kept_b)
    V = backend.rounded(U)[:, keep]
    assert_same_kind(new_state.predictions, Xb)
    assert_close(new_state.predictions, dense_predictions(A, V), backend.rtol)
    expected_adjoint = dense_sensing_matrix(A, backend.rounded(w)) @ V
    assert_close(op.adjoint_times(Vb, new_state, wb), expected_adjoint, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_rotate(kind, backend):
    """For orthogonal ``W`` the state of ``U·W`` has the same predictions."""
    op, _, A = build(kind, backend)
    U, _ = factors()
    rng = np.random.default_rng(7)
    W, _ = np.linalg.qr(rng.standard_normal((RANK, RANK)))
    w = rng.standard_normal(N_SAMPLES)
    Ub, Wb, wb = backend.asarray(U), backend.asarray(W), backend.asarray(w)
    state = op.start(Ub)
    rotated = op.rotate(state, Wb)
    UWb = Ub @ Wb
    UW = backend.rounded(U) @ backend.rounded(W)
    assert_close(rotated.predictions, to_numpy(state.predictions), backend.rtol)
    assert_close(rotated.predictions, dense_predictions(A, UW), backend.rtol)
    expected_adjoint = dense_sensing_matrix(A, backend.rounded(w)) @ UW
    assert_close(op.adjoint_times(UWb, rotated, wb), expected_adjoint, backend.rtol)


# ------------------------------------------------------- MatrixOperator packing


@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_only_symmetric_part_matters(backend):
    X, A = matrix_problem(seed=8)
    sym = 0.5 * (A + np.transpose(A, (0, 2, 1)))
    op = MatrixOperator(backend.asarray(X))
    op_sym = MatrixOperator(backend.asarray(sym.reshape(len(A), -1)))
    U, D = factors(seed=9)
    Ub, Db = backend.asarray(U), backend.asarray(D)
    assert_close(op.packed, to_numpy(op_sym.packed), backend.rtol)
    assert_close(op.predict(Ub), to_numpy(op_sym.predict(Ub)), backend.rtol)
    a, b, _ = op.directional(Ub, op.start(Ub), Db)
    a_sym, b_sym, _ = op_sym.directional(Ub, op_sym.start(Ub), Db)
    assert_close(a, to_numpy(a_sym), backend.rtol)
    assert_close(b, to_numpy(b_sym), backend.rtol)
    # Antisymmetric measurements see nothing.
    anti = 0.5 * (A - np.transpose(A, (0, 2, 1)))
    op_anti = MatrixOperator(backend.asarray(anti.reshape(len(A), -1)))
    assert np.max(np.abs(to_numpy(op_anti.predict(Ub)))) <= backend.rtol * np.max(
        np.abs(to_numpy(op.predict(Ub)))
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_packed_layout(backend):
    """``packed[i]`` is the upper triangle of ``Aᵢ + Aᵢᵀ`` with the diagonal halved."""
    X, A = matrix_problem(seed=10)
    op = MatrixOperator(backend.asarray(X))
    A = backend.rounded(A)
    rows, cols = np.triu_indices(DIM)
    expected = (A + np.transpose(A, (0, 2, 1)))[:, rows, cols]
    expected[:, rows == cols] *= 0.5
    assert op.packed.shape == (N_SAMPLES, DIM * (DIM + 1) // 2)
    assert_same_kind(op.packed, backend.asarray(X))
    assert_close(op.packed, expected, backend.rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk_size", [1, 5, N_SAMPLES, N_SAMPLES + 1])
def test_matrix_chunked_packing_equals_unchunked(backend, chunk_size):
    X, _ = matrix_problem(seed=11)
    Xb = backend.asarray(X)
    chunked = MatrixOperator(Xb, chunk_size=chunk_size)
    whole = MatrixOperator(Xb, chunk_size=10 * N_SAMPLES)
    assert chunked.packed.shape == whole.packed.shape
    # Packing is elementwise, so chunking must not change a single bit.
    assert np.array_equal(to_numpy(chunked.packed), to_numpy(whole.packed))
    U, _ = factors(seed=12)
    Ub = backend.asarray(U)
    assert_close(chunked.predict(Ub), to_numpy(whole.predict(Ub)), backend.rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("source", ["numpy", "strict"])
def test_matrix_packs_data_from_elsewhere_a_chunk_at_a_time(monkeypatch, source, dtype):
    """With ``target``, X is moved to where the fit computes a chunk of rows at a
    time as it is packed, so that device never holds X whole (a GPU fit of host data
    needed X plus its packed half there). The operator is the one built from X moved
    first, to the bit."""
    X, _ = matrix_problem(seed=15, n=40)
    X = X.astype(dtype)
    dev = xps.Device("device1")
    on_target = xps.asarray(X, device=dev)
    X_source = X if source == "numpy" else xps.asarray(X)  # strict's other device
    moved_rows = []
    real_move_to = operators_module.move_to

    def counting_move_to(x, *args, **kwargs):
        moved = real_move_to(x, *args, **kwargs)
        if moved is not x:
            moved_rows.append(x.shape[0])
        return moved

    monkeypatch.setattr(operators_module, "move_to", counting_move_to)
    for normalize in (False, True):
        moved_rows.clear()
        op = MatrixOperator(X_source, chunk_size=16, normalize=normalize, target=(xps, dev))
        assert moved_rows == [16, 16, 8]
        reference = MatrixOperator(on_target, chunk_size=16, normalize=normalize)
        assert op.xp is xps and op.gain == reference.gain
        for mine, theirs in [(op.packed, reference.packed), (op.sizes, reference.sizes)]:
            assert_same_kind(mine, on_target)
            assert np.array_equal(to_numpy(mine), to_numpy(theirs))
        U = xps.asarray(factors(seed=16)[0].astype(dtype), device=dev)
        assert np.array_equal(to_numpy(op.predict(U)), to_numpy(reference.predict(U)))
    # Data already there are not moved.
    moved_rows.clear()
    MatrixOperator(on_target, chunk_size=16, target=(xps, dev))
    assert moved_rows == []


def test_matrix_data_narrowed_to_float32_are_checked_whole():
    """float64 data for a device without float64 are moved whole, not a chunk at a
    time: whether float32 holds them depends on their largest magnitude, and a chunk
    of tiny rows alone would be refused."""
    X, _ = matrix_problem(seed=18, n=40)
    X[:16] *= 1e-40
    dev = xps.Device("no_float64")
    op = MatrixOperator(X, chunk_size=16, target=(xps, dev))
    reference = MatrixOperator(xps.asarray(X.astype(np.float32), device=dev))
    assert op.packed.dtype == xps.float32 and op.packed.device == dev
    assert np.array_equal(to_numpy(op.packed), to_numpy(reference.packed))
    with pytest.raises(ValueError, match="outside the range of float32"):
        MatrixOperator(1e-40 * X, chunk_size=16, target=(xps, dev))


def test_matrix_target_without_a_device_is_where_x_lives():
    """``target=(xp, None)`` for data already in ``xp`` computes on their device, as
    the rank-one operator (and ``move_to``) do, not on the namespace's default one."""
    dev = xps.Device("device1")
    X = xps.asarray(matrix_problem(seed=19)[0], device=dev)
    for operator_class in (MatrixOperator, RankOneOperator):
        op = operator_class(X, target=(xps, None))
        assert op.sizes.device == dev


def test_rank_one_operator_moves_its_data_whole():
    """Every pass of the rank-one operator reads X: it is moved whole."""
    X, _ = rank_one_problem(seed=17)
    dev = xps.Device("device1")
    op = RankOneOperator(X, target=(xps, dev))
    assert op.xp is xps and op.X.device == dev
    assert np.array_equal(to_numpy(op.X), X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("row_block", [1, 5, N_SAMPLES, N_SAMPLES + 1])
def test_matrix_blocked_directional_matches_dense(backend, row_block):
    """The row-blocked pass (the NumPy default) gives the same parabola on every backend."""
    op, Xb, A = build("matrix", backend, row_block=row_block)
    assert op.row_block == row_block
    U, D = factors(seed=13)
    Ub, Db = backend.asarray(U), backend.asarray(D)
    U, D = backend.rounded(U), backend.rounded(D)
    a, b, _ = op.directional(Ub, op.start(Ub), Db)
    assert_same_kind(a, Xb)
    assert_same_kind(b, Xb)
    assert_close(a, np.einsum("nij,ij->n", A, U @ D.T + D @ U.T), backend.rtol)
    assert_close(b, dense_predictions(A, D), backend.rtol)


def test_matrix_row_block_auto_blocks_only_on_numpy():
    X, _ = matrix_problem(seed=14, n=3000, d=40)
    auto = MatrixOperator(X)
    # About 4 MiB of packed float64 rows (820 numbers each) per block.
    assert auto.row_block == (4 * 2**20) // (820 * 8)
    assert MatrixOperator(xps.asarray(X)).row_block is None
    assert MatrixOperator(X, row_block=None).row_block is None


# ---------------------------------------------------------------------- errors


def test_square_side():
    for d in (1, 2, 7, 40):
        assert square_side(d * d) == d
    for width in (2, 3, 15, 17, 99):
        with pytest.raises(ValueError, match="not a perfect square"):
            square_side(width)


def test_matrix_operator_rejects_non_square_width():
    X = np.random.default_rng(13).standard_normal((4, 15))
    with pytest.raises(ValueError, match="15 columns"):
        MatrixOperator(X)


def test_make_operator():
    rng = np.random.default_rng(14)
    X1 = rng.standard_normal((6, 3))
    X2 = rng.standard_normal((6, 9))
    op1 = make_operator("rank_one", X1)
    op2 = make_operator("matrix", X2)
    assert isinstance(op1, RankOneOperator)
    assert isinstance(op2, MatrixOperator)
    assert (op1.dim, op2.dim) == (3, 3)
    U = np.ones((3, 1))
    for bad in ("rank-one", "Matrix", "", None):
        with pytest.raises(ValueError, match="measurement must be"):
            make_operator(bad, X1)
        # Not read as the matrix kind, whose products happen to fit a 9-wide X.
        for compute in (measure, project):
            with pytest.raises(ValueError, match="measurement must be"):
                compute(bad, X2, U)
    with pytest.raises(ValueError, match="not a perfect square"):
        make_operator("matrix", X1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["rank_one", "matrix"])
def test_measure_and_project_on_unpacked_data(kind, backend):
    """``measure``/``project`` (behind predict/transform) match the dense reference."""
    _, Xb, A = build(kind, backend)
    U, _ = factors(seed=13)
    Ub = backend.asarray(U)
    U = backend.rounded(U)
    predictions = measure(kind, Xb, Ub)
    assert_same_kind(predictions, Xb)
    assert_close(predictions, dense_predictions(A, U), backend.rtol)
    projected = project(kind, Xb, Ub)
    assert_same_kind(projected, Xb)
    if kind == "rank_one":
        expected = backend.rounded(PROBLEMS[kind](0)[0]) @ U
    else:
        expected = np.einsum("ia,nij,jb->nab", U, A, U).reshape(A.shape[0], -1)
    assert_close(projected, expected, backend.rtol)


@pytest.mark.parametrize("operator_class", [RankOneOperator, MatrixOperator])
def test_operators_implement_the_protocol(operator_class):
    """Every member the solvers rely on, with the protocol's arity."""
    X = np.random.default_rng(15).standard_normal((6, 9))
    assert isinstance(operator_class(X), MeasurementOperator)
    for name, member in vars(MeasurementOperator).items():
        if callable(member) and not name.startswith("_"):
            expected = inspect.signature(getattr(MeasurementOperator, name)).parameters
            found = inspect.signature(getattr(operator_class, name)).parameters
            assert len(found) == len(expected), name
