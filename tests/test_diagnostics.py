"""Tests for the warnings a fit gives (``sklearn_lowrank._diagnostics``)."""

import re
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import BACKENDS
from _problems import KINDS
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank import _diagnostics as diagnostics
from sklearn_lowrank._operators import MatrixOperator, RankOneOperator
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error


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
        diagnostics.warn_if_not_identified(op, np.eye(2))
    with pytest.warns(UserWarning, match="2 measurements .* 2 degrees .* with no more "):
        diagnostics.warn_if_not_identified(op, np.eye(2)[:, :1])
    op = RankOneOperator(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics.warn_if_not_identified(op, np.eye(2))  # 3 for 3 at full rank


def _structured_design(name, rng):
    """``(X, M*)`` of sensing matrices that see only part of ``M*`` (d = 8, rank 2)."""
    d, n = 8, 200
    truth = np.linalg.qr(rng.standard_normal((d, 2)))[0]
    A = np.zeros((n, d, d))
    if name == "diagonal":
        A[:, np.arange(d), np.arange(d)] = rng.standard_normal((n, d))
    elif name == "a 10-dimensional span":
        A = np.einsum(
            "nj,jab->nab", rng.standard_normal((n, 10)), rng.standard_normal((10, d, d))
        )
    elif name == "row 0 unmeasured":
        entries = rng.integers(1, d, size=(n, 2))
        A[np.arange(n), entries[:, 0], entries[:, 1]] = 1.0
    else:  # Gaussian on the 6 x 6 block
        A[:, :6, :6] = rng.standard_normal((n, 6, 6))
    return A, truth


@pytest.mark.parametrize(
    ("name", "unseen"),
    [
        ("row 0 unmeasured", 2),  # the estimate's row 0 moves freely: k directions
        ("6 x 6 block", 4),  # ...and so do its rows 6 and 7
        ("a 10-dimensional span", 5),  # 10 independent measurements
    ],
)
def test_designs_that_see_part_of_m_say_the_estimate_is_not_identified(name, unseen):
    """Each fitted a wrong matrix with training R² 1.0 and no warning: 13 times the
    degrees of freedom in rows, distinct ones, but directions of the rank-2 estimate
    that no measurement sees."""
    A, truth = _structured_design(name, np.random.default_rng(0))
    y = np.einsum("nab,ab->n", A, truth @ truth.T)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(A, y)
    (message,) = [str(w.message) for w in record]
    assert f"do not identify the estimate: {unseen} of the 15 directions" in message
    assert model.n_components_ == 2
    assert model.score(A, y) > 0.999
    assert relative_error(model.components_.T, truth) > 0.05


def _one_hot(d, n, rng):
    """One-hot codes of ``d`` categories, scaled."""
    return np.eye(d)[rng.integers(0, d, n)] * rng.uniform(0.5, 2.0, (n, 1))


def test_one_hot_vectors_say_only_the_diagonal_is_measured():
    """One-hot codes measure M's diagonal: a rank-1 fit of a rank-2 M* (d = 10, 400
    rows), R² 1.0 and relative error 1.5, had no warning. The design check names
    them, and only it warns; a single row with two features lifts it."""
    rng = np.random.default_rng(0)
    truth = np.linalg.qr(rng.standard_normal((10, 2)))[0]
    X = _one_hot(10, 400, rng)
    y = np.einsum("ni,ij,nj->n", X, truth @ truth.T, X)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(random_state=0).fit(X, y)
    (message,) = [str(w.message) for w in record]
    assert "single nonzero feature" in message and "only the diagonal" in message
    assert relative_error(model.components_.T, truth) > 0.5
    assert not diagnostics.warn_if_only_the_diagonal(RankOneOperator(X[:, :1]))  # d=1
    X[0, :2] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not diagnostics.warn_if_only_the_diagonal(RankOneOperator(X))


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_the_diagonal_reads_every_block_of_rows(backend):
    """Rows of one nonzero entry each; then one row of three, in the last block; and
    Gaussian sensing matrices, which reach every entry."""
    X = np.zeros((37, 5))
    X[np.arange(37), np.arange(37) % 5] = 2.0
    with pytest.warns(UserWarning, match="only the diagonal of M is measured"):
        assert diagnostics.warn_if_only_the_diagonal(RankOneOperator(backend.asarray(X)))
    X[-1, :3] = [1.0, -1.0, 0.5]
    matrices = np.random.default_rng(0).standard_normal((37, 25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not diagnostics.warn_if_only_the_diagonal(
            RankOneOperator(backend.asarray(X))
        )
        assert not diagnostics.warn_if_only_the_diagonal(
            MatrixOperator(backend.asarray(matrices))
        )


def test_one_hot_vectors_count_as_d_independent_measurements():
    """Where the design check is not told (the count itself, on one-hot codes): their
    10 independent measurements among 400 rows are no more than the 10 degrees of
    freedom of a rank-1 estimate."""
    rng = np.random.default_rng(0)
    X = _one_hot(10, 400, rng)
    with pytest.warns(UserWarning, match="10 linearly independent measurements .in 400 "):
        diagnostics.warn_if_not_identified(RankOneOperator(X), np.ones((10, 1)))


def _two_groups(n, d, rng, shift=0.0):
    """Rank-one vectors with features in two halves never nonzero together."""
    X = rng.standard_normal((n, d)) + shift
    group = rng.integers(0, 2, n)
    X[group == 0, d // 2 :] = 0.0
    X[group == 1, : d // 2] = 0.0
    return X


@pytest.mark.parametrize("kind", KINDS)
def test_measurements_that_never_link_two_groups_of_indices_warn(kind):
    """Sensing matrices in two diagonal blocks (rank-1 M*: a sign between them is
    free, which the first-order tangent check cannot see) fitted with errors of
    0.95-1.41 and R² 1.0, silently; rank-one features in two groups never nonzero
    together, shifted by 3, were told only to whiten. Diagonal sensing matrices make
    d groups of one."""
    rng = np.random.default_rng(0)
    d, n = 8, 600
    truth = rng.standard_normal((d, 1))
    if kind == "matrix":
        X = rng.standard_normal((n, d, d))
        X[:, : d // 2, d // 2 :] = 0.0
        X[:, d // 2 :, : d // 2] = 0.0
        y = np.einsum("nab,a,b->n", X, truth[:, 0], truth[:, 0])
    else:
        X = _two_groups(n, d, rng, shift=3.0)
        y = (X @ truth)[:, 0] ** 2
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement=kind, random_state=0).fit(X, y)
    messages = [str(w.message) for w in record]
    (linked,) = [m for m in messages if "No measurement links" in m]
    assert "in 2 groups ({0, 1, 2, 3}, {4, 5, 6, 7})" in linked
    assert not [m for m in messages if "do not identify the estimate" in m]
    assert model.score(X, y) > 0.999
    A = np.zeros((100, d, d))
    A[:, np.arange(d), np.arange(d)] = rng.standard_normal((100, d))
    with pytest.warns(UserWarning, match=re.escape("8 groups ({0}, {1}, {2} and 5 more)")):
        assert diagnostics.warn_if_unlinked(MatrixOperator(A.reshape(100, -1)))


@pytest.mark.parametrize("kind", KINDS)
def test_linked_designs_read_one_block_of_rows(kind, monkeypatch):
    """Gaussian measurements link every index in their first sixteenth of rows: no
    warning, and no other block read."""
    X, _, _ = make_low_rank_sensing(800, 10, 2, measurement=kind, random_state=0)
    op = (RankOneOperator if kind == "rank_one" else MatrixOperator)(X)
    calls = []
    original = type(op).links
    monkeypatch.setattr(
        type(op), "links", lambda self, rows: calls.append(rows) or original(self, rows)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not diagnostics.warn_if_unlinked(op)
    assert calls == [slice(0, 50)]


def test_the_tangent_check_runs_after_the_isotropy_warning():
    """Only the design checks that name what leaves directions unseen (one-hot
    vectors, a span too small, unlinked indices, a centred y) stop the tangent check,
    which would repeat them; the isotropy warning names another cause."""
    A = np.zeros((200, 6, 6))
    A[:, np.arange(6), np.arange(6)] = np.random.default_rng(0).standard_normal((200, 6))
    op = MatrixOperator(A.reshape(200, -1))
    V = np.random.default_rng(1).standard_normal((6, 2))
    with pytest.warns(UserWarning, match="do not identify the estimate: 5 of the 11"):
        diagnostics.warn_if_not_identified(op, V)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics.warn_if_not_identified(op, V, tangent=False)


def test_a_factor_wider_than_d_counts_the_rank_d_matrix_it_makes():
    """alpha=0 keeps all 10 columns of a 4 x 4 problem: the count took rank 10, whose
    'degrees of freedom' came out negative (-5), and 8 measurements for the 10
    unknowns of a 4 x 4 PSD matrix passed."""
    rng = np.random.default_rng(0)
    op = RankOneOperator(rng.standard_normal((8, 4)))
    with pytest.warns(UserWarning, match="8 measurements for a rank-4 .* 10 degrees"):
        diagnostics.warn_if_not_identified(op, rng.standard_normal((4, 10)))


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
        diagnostics.warn_if_anisotropic(op)
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
        diagnostics.warn_if_anisotropic(op)


@pytest.mark.parametrize("n", [1, 2, 4, 6, 8, 10, 20, 30])
def test_few_isotropic_vectors_do_not_warn_but_few_shifted_ones_do(n):
    """n ≤ 3d Gaussian vectors at d = 10: their sample second moment has rank at most
    n, one direction held 47-100% of its trace for n ≤ 4, and the warning blamed
    features the theory assumes. Sampling spreads those eigenvalues up to about
    (1 + √(d/n))² times their mean; features shifted by 3 are beyond 1.5 times that
    from n = 6 on (19 of 20 seeds at n = 5; from 4 vectors down, none can tell a
    shift from sampling)."""
    for seed in range(20):
        X = np.random.default_rng(seed).standard_normal((n, 10))
        for features, warns in [(X, False), (X + 3.0, n >= 6)]:
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                diagnostics.warn_if_anisotropic(RankOneOperator(features))
            assert len(record) == warns


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rotated", [False, True])
def test_vectors_that_span_fewer_dimensions_warn(dtype, rotated, strict):
    """xᵢ orthogonal to one direction (a zero feature, or the same after a rotation)
    and M* reaching it: relative error 0.64 with training R² 1.0, silently."""
    d = 12
    X, _, factor = make_low_rank_sensing(2000, d, 2, random_state=3)
    unseen = np.zeros(d)
    unseen[0] = 1.0
    if rotated:
        rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((d, d)))[0]
        X, unseen = X @ rotation, rotation.T @ unseen
    X = X - np.outer(X @ unseen, unseen)
    factor = factor + 0.7 * np.outer(unseen, [1.0, -1.0])
    y = np.sum((X @ factor) ** 2, axis=1)
    data = X.astype(dtype), y.astype(dtype)
    if strict:  # the non-default device refuses host conversions, as a GPU does
        data = tuple(xps.asarray(a, device=xps.Device("device1")) for a in data)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(random_state=0).fit(*data)
    (message,) = [str(w.message) for w in record]
    assert "span only 11 of the d=12 dimensions" in message
    assert "1 eigenvalue of 0" in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warning checked above
        model = PrunedFactorSensing(random_state=0).fit(X, y)
    assert relative_error(model.components_.T, factor) > 0.1
    # Their full span, the same vectors with the direction back, even 300 times
    # smaller than the rest (60ε in float32; a cut of 10·d·ε had warned): no warning.
    for size in (1.0, 0.003):
        along = size * np.random.default_rng(1).standard_normal(2000)
        X_full = X + np.outer(along, unseen)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            diagnostics.warn_if_anisotropic(RankOneOperator(X_full.astype(dtype)))


@pytest.mark.parametrize("kind", KINDS)
def test_isotropic_measurements_do_not_warn(kind):
    """Gaussian vectors (ratio about 1.3 here) and matrix measurements, which have no
    vectors, fit without the isotropy warning; the ratio is scale-free."""
    X, y, _ = make_low_rank_sensing(600, 20, 3, measurement=kind, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PrunedFactorSensing(measurement=kind, random_state=0).fit(1e3 * X, y)


def noisy_problem(relative_noise, kind="matrix", n=228, d=20, rank=3):
    """n = 4 times the degrees of freedom of rank 3 at d = 20 (matrix measurements);
    noise ``relative_noise`` times the standard deviation of the noiseless y."""
    _, y0, _ = make_low_rank_sensing(n, d, rank, measurement=kind, random_state=0)
    noise = relative_noise * float(np.std(y0))
    return make_low_rank_sensing(n, d, rank, measurement=kind, noise=noise, random_state=0)


def messages_with(record, text):
    """The recorded warnings' messages that contain ``text``."""
    return [str(w.message) for w in record if text in str(w.message)]


def noise_warnings(record):
    return messages_with(record, "may only fit noise")


def test_noise_above_the_pick_up_level_is_named_with_an_alpha_that_helps():
    """Noise 0.2·std(y): the default kept 8 columns for rank 3, silently (relative
    error 0.27 against 0.11 told the rank). The warning names some of the 5 extra
    directions (the weakest 4: within the noise's level) and none of the 3 real
    ones, and the level's ratio to the pick-up level; refitting with the alpha it
    advises keeps 4 and is silent."""
    X, y, _ = noisy_problem(0.2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    (message,) = noise_warnings(record)
    assert model.n_components_ == 8
    weak = int(message.split("The weakest ")[1].split(" directions of the 8 kept")[0])
    assert 1 <= weak <= 5
    ratio = float(message.split("that level is ")[1].split(" times")[0])
    advised = float(message.split("Raise alpha to about ")[1].split(" ")[0])
    assert ratio > 0.7 and f"n_components_={model.n_components_}" in message
    assert advised == pytest.approx(model.alpha * ratio / 0.5, rel=0.1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        refit = PrunedFactorSensing(measurement="matrix", alpha=advised, random_state=0)
        refit.fit(X, y)
    assert refit.n_components_ < model.n_components_ and not noise_warnings(record)


def test_a_fit_named_as_keeping_noise_is_not_told_it_lacks_a_direction(monkeypatch):
    """Noise 0.2 keeps 8 columns for 3, and the noise warning says so; after it the
    missed-direction check does not run (the passes are the residuals' spectrum's,
    which the not-PSD check reads first, and the noise level's). Both had come
    together on a fit with three rows of X times 30 (rank 6 for 3, a spike per
    outsized row: "may be too large" and "may be too small")."""
    X, y, _ = noisy_problem(0.2)
    calls = count_passes(monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert noise_warnings(record) and not missed_warnings(record)
    assert not not_psd_warnings(record)
    assert len(calls) == 1 + diagnostics._LEVEL_DRAWS


def missed_warnings(record):
    return messages_with(record, "that the fit lacks")


def not_psd_warnings(record):
    return messages_with(record, "no PSD matrix explains")


@pytest.mark.parametrize("kind", KINDS)
def test_a_direction_the_gap_rule_dropped_is_named_with_advice_that_recovers_it(kind):
    """r = 2 at condition number 100: the two needed columns are 10 times apart in
    norm, and "auto" cut between them at every alpha, silently (rank 1, relative error
    1e-2). The residuals' sensing matrix holds the dropped direction, one eigenvalue
    (the rank-one matrix centred: else its mean lifts every eigenvalue) well above
    their noise's level; refitting with the alpha and threshold the warning advises
    recovers M*."""
    d, rank = 20, 2
    n = 10 * (rank * d - 1)
    X, y, truth = make_low_rank_sensing(
        n, d, rank, measurement=kind, condition_number=100, random_state=0
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement=kind, random_state=0).fit(X, y)
    assert model.n_components_ == 1
    (message,) = missed_warnings(record)
    assert "hold a direction of M*" in message and "has 1 eigenvalue above" in message
    assert float(message.split("(the largest ")[1].split(" times")[0]) > 2.0
    assert "n_components_=1 may be too small" in message
    norm = float(message.split("a column of about ")[1].split(" times")[0])
    assert 0.05 < norm < 0.2  # the weaker direction's √(1/100), give or take
    alpha = float(message.split("tenfold (to ")[1].split(")")[0])
    threshold = float(message.split("(threshold=")[1].split(",")[0])
    assert alpha == pytest.approx(model.alpha / 10) and threshold < norm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refit = PrunedFactorSensing(
            measurement=kind, alpha=alpha, threshold=threshold, random_state=0
        ).fit(X, y)
    assert refit.n_components_ == 2
    assert relative_error(refit.components_.T, truth) < 1e-6


def noisy_missed_problem():
    """Matrix d = 20, r = 2, 10 times the degrees of freedom, condition number 30,
    noise 0.05 times the standard deviation of the noiseless y."""
    problem = dict(measurement="matrix", condition_number=30, random_state=0)
    _, y0, _ = make_low_rank_sensing(390, 20, 2, **problem)
    noise = 0.05 * float(np.std(y0))
    return make_low_rank_sensing(390, 20, 2, noise=noise, **problem)


def test_on_noisy_data_the_missed_direction_advice_stops_short_of_the_noise():
    """Matrix d = 20, r = 2, 10 times the degrees of freedom, condition number 30,
    noise 0.05: rank 1. alpha lowered tenfold kept 6 columns for 2 and drew the noise
    warning (advice that bounced); the warning lowers it only to where the noise
    reaches 0.7 of the pick-up level, and the refit is the fit told the rank, silent.
    Over 92 such refits (noise 0.05-0.1) tenfold went over the rank in 62, this
    floor in none."""
    X, y, truth = noisy_missed_problem()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert model.n_components_ == 1
    (message,) = missed_warnings(record)
    alpha = float(message.split("alpha lowered to ")[1].split(" ")[0])
    threshold = float(message.split("(threshold=")[1].split(",")[0])
    assert model.alpha / 10 < alpha < model.alpha
    assert "(not lower: below it the rest of the residuals, at 0.7 of the" in message

    def refit(alpha):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            model = PrunedFactorSensing(
                measurement="matrix", alpha=alpha, threshold=threshold, random_state=0
            ).fit(X, y)
        return model, record

    advised, record = refit(alpha)
    assert advised.n_components_ == 2 and not record
    told = PrunedFactorSensing(
        measurement="matrix", n_columns=2, alpha=0.0, threshold=0.0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no penalty": meant
        told.fit(X, y)
    error = relative_error(advised.components_.T, truth)
    assert error <= 1.01 * relative_error(told.components_.T, truth)
    tenfold, record = refit(model.alpha / 10)
    assert tenfold.n_components_ > 2 and noise_warnings(record)


def test_the_advices_noise_floor_leaves_out_the_lost_directions_signal():
    """Noiseless matrix d = 20, r = 2, 3 times the degrees of freedom, condition
    number 100: the residuals' σ is the lost direction's signal alone, and its level
    would have stopped alpha at 0.0007 as if it were noise. Fitted away along that
    direction (one more pass), 0.59 of the level is left (the kept column would
    adjust too), a floor of 0.00041: alpha lowered tenfold, and the refit recovers
    M*."""
    X, y, truth = make_low_rank_sensing(
        114, 20, 2, measurement="matrix", condition_number=100, random_state=0
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    (message,) = missed_warnings(record)
    assert "alpha lowered tenfold (to 0.0005)" in message
    threshold = float(message.split("(threshold=")[1].split(",")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refit = PrunedFactorSensing(
            measurement="matrix", alpha=5e-4, threshold=threshold, random_state=0
        ).fit(X, y)
    assert relative_error(refit.components_.T, truth) < 1e-6


def test_the_lowered_alpha_stops_at_the_noise():
    """Tenfold where the noise is far below the pick-up level; the noise's floor
    ``level·√beta/0.7`` where it is nearer; nothing where alpha is at it already,
    as printed (a floor of 0.00497 would have read "lowered to 0.005"), or is 0."""
    lowered = diagnostics._lowered_alpha
    assert lowered(5e-3, 1e-2, level=1e-6) == pytest.approx(5e-4)
    assert lowered(5e-3, 1e-2, level=0.014) == pytest.approx(0.002)
    assert lowered(5e-3, 1e-2, level=0.0348) is None
    assert lowered(5e-3, 1e-2, level=0.04) is None
    assert lowered(0.0, 1e-2, level=0.0) is None


def test_a_numeric_threshold_below_the_missed_norm_is_not_blamed():
    """threshold=1e-3 cannot cut a column of norm 0.18: the penalty (alpha=0.02) kept
    it out. The message had said the threshold "cuts above it", and put lowering
    alpha second; it now names the penalty, and its alpha with its threshold (0.055:
    1e-3 kept 7 columns at the lower alpha) recovers the rank."""
    X, y, _ = noisy_missed_problem()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(
            measurement="matrix", alpha=0.02, threshold=1e-3, random_state=0
        ).fit(X, y)
    assert model.n_components_ == 1
    (message,) = missed_warnings(record)
    assert "threshold=0.001 is below it, so the penalty kept the column out" in message
    assert "cuts above" not in message
    alpha = float(message.split("Refit with alpha lowered ")[1].split("(to ")[1][:5])
    threshold = float(message.split("(threshold=")[1].split(",")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refit = PrunedFactorSensing(
            measurement="matrix", alpha=alpha, threshold=threshold, random_state=0
        ).fit(X, y)
    assert refit.n_components_ == 2


@pytest.mark.parametrize(
    "threshold, lowered, says",
    [
        (
            "auto",
            None,
            "numeric threshold below that norm (threshold=0.03, say); alpha "
            "cannot go lower without fitting noise",
        ),
        (0.5, None, "threshold=0.5 cuts above it. Refit with a threshold below"),
        (0.01, None, "the penalty kept the column out, and alpha cannot go lower"),
        (0.01, 5e-4, "Refit with alpha lowered tenfold (to 0.0005) and a threshold"),
        (0.5, 5e-4, "and alpha lowered tenfold (to 0.0005) if the column still"),
    ],
)
def test_the_missed_advice_names_what_can_help(threshold, lowered, says):
    message = diagnostics._missed_advice(5e-3, lowered, threshold, relative_norm=0.1)
    assert says in message


@pytest.mark.parametrize("gated", [True, False])
def test_what_a_right_fits_tolerance_leaves_is_no_missed_direction(gated, monkeypatch):
    """A noiseless right-rank fit (d = 4, r = 2, error 5e-11) leaves residuals that are
    structured too: their largest eigenvalue stood 2.8 times above one draw's noise
    level (and their lowest 4.1 times below). Below max(1e-4, 10·tol) of the largest
    kept eigenvalue nothing counts, and the bound max|rᵢ|·mean‖Aᵢ‖ skips the passes;
    without that floor, the one-row test and the median over draws, the checks warn."""
    X, y, truth = make_low_rank_sensing(
        21, 4, 2, measurement="matrix", condition_number=10, random_state=0
    )
    if not gated:
        monkeypatch.setattr(diagnostics, "_MISSED_SHARE", 0.0)
        monkeypatch.setattr(diagnostics, "_MISSED_TOL", 0.0)
        monkeypatch.setattr(diagnostics, "_MISSED_ONE_ROW", np.inf)
        monkeypatch.setattr(diagnostics, "_LEVEL_DRAWS", 1)
    warns = not gated
    calls = count_passes(monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert model.n_components_ == 2
    assert relative_error(model.components_.T, truth) < 1e-8
    assert bool(missed_warnings(record) or not_psd_warnings(record)) == warns
    assert len(calls) == (1 + diagnostics._LEVEL_DRAWS if warns else 0)


def count_passes(monkeypatch):
    """The passes over the data the checks make (a sensing matrix's eigenvalues each),
    recorded in the list returned."""
    calls = []
    original = diagnostics._sensing_spectrum
    monkeypatch.setattr(
        diagnostics,
        "_sensing_spectrum",
        lambda *args: calls.append(1) or original(*args),
    )
    return calls


@pytest.mark.parametrize("relative_noise, passes", [(0.0, 0), (0.01, 10)])
def test_noise_well_below_the_pick_up_level_is_not_named(
    relative_noise, passes, monkeypatch
):
    """No warning at noise 0.01·std(y), after the passes that measure the residuals'
    sensing matrix and the noise's level (the median of 9 draws, on data this small);
    a fit noiseless to rounding makes none."""
    X, y, _ = noisy_problem(relative_noise)
    calls = count_passes(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert len(calls) == passes


@pytest.mark.parametrize("draws", [1, 9])
def test_small_data_read_the_noise_level_as_a_median_over_draws(draws, monkeypatch):
    """Matrix d = 10, r = 2 at 30 times the degrees of freedom, condition number 10,
    noise 0.3: the right rank, which one draw of signs (a level 1.2 times the
    median's) named as keeping noise, the weaker real direction standing at 0.90 of
    twice that level; the median over 9 draws puts it at 1.09 and does not. Over the
    guide's 1752 fits the median cut such false alarms from 32 to 27."""
    problem = dict(measurement="matrix", condition_number=10, random_state=0)
    _, y0, _ = make_low_rank_sensing(570, 10, 2, **problem)
    noise = 0.3 * float(np.std(y0))
    X, y, _ = make_low_rank_sensing(570, 10, 2, noise=noise, **problem)
    monkeypatch.setattr(diagnostics, "_LEVEL_DRAWS", draws)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert model.n_components_ == 2
    assert bool(noise_warnings(record)) == (draws == 1)


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


def test_the_noise_check_draws_nothing_from_the_users_random_state():
    """Its random signs come from a private generator: a RandomState the user passes
    moves on by the random start alone, whether the check runs (noisy y) or not, and
    a second fit with it is the fit it was before the check existed."""
    states = []
    for relative_noise in (0.0, 0.2):
        X, y, _ = noisy_problem(relative_noise)
        rng = np.random.RandomState(0)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            PrunedFactorSensing(measurement="matrix", random_state=rng).fit(X, y)
        assert bool(noise_warnings(record)) == (relative_noise > 0)
        states.append(rng.get_state()[1])
    np.testing.assert_array_equal(*states)


def test_a_constant_y_has_no_noise_to_name():
    """A constant y is fitted through the uncentred data scale; its residuals are no
    noise (the warning had advised a 32-fold alpha)."""
    X, y, _ = noisy_problem(0.2, kind="rank_one", n=600)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(random_state=0).fit(X, np.full_like(y, 2.0))
    assert not noise_warnings(record)


@pytest.mark.parametrize(
    "kind, n, rank, relative_noise, warns",
    [
        ("rank_one", 41, 2, 0.0, True),
        ("rank_one", 120, 1, 0.3, True),
        ("matrix", 50, 2, 0.0, False),
    ],
)
def test_barely_enough_measurements_are_named(kind, n, rank, relative_noise, warns):
    """41 rank-one measurements of a rank-2 20 × 20 matrix (dof 39): seed 5 found a
    wrong matrix (error 0.86, training R² 1.0), silently. At rank 1 of a 40 × 40
    matrix and 3 times its dof, noise 0.3 left rank 3 (dof 117 of 120): silent too,
    since the residuals then misstate the noise. Matrix measurements at 1.3 times the
    dof recover M* and are not named."""
    d = 20 if rank == 2 else 40
    seed = 5 if n == 41 else 0
    _, y0, _ = make_low_rank_sensing(n, d, rank, measurement=kind, random_state=seed)
    X, y, _ = make_low_rank_sensing(
        n, d, rank, measurement=kind, noise=relative_noise * y0.std(), random_state=seed
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(measurement=kind, random_state=seed).fit(X, y)
    barely = messages_with(record, "fewer than 10% of them are left beyond")
    assert bool(barely) == warns and not noise_warnings(record)


@pytest.mark.parametrize("n, warns", [(44, True), (45, False)])
def test_barely_enough_counts_beyond_the_measurements_that_identify(n, warns):
    """Rank 2 of 20 × 20 has 39 degrees of freedom and needs 40 measurements: 44
    leave 4 (9.1%) beyond those and are named, 45 are not. The message says "beyond
    the 40" (it had said "beyond those" after naming the 39, and 44 leave 5)."""
    X, y, _ = make_low_rank_sensing(n, 20, 2, measurement="matrix", random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert model.n_components_ == 2
    barely = messages_with(record, "fewer than 10% of them are left beyond the 40 ")
    assert bool(barely) == warns


def test_barely_enough_counts_distinct_measurements_as_such():
    """29 measurements given twice: counted, and named, as 29 distinct ones."""
    X, y, _ = make_low_rank_sensing(29, 10, 3, random_state=0)
    X, y = np.concatenate([X, X]), np.concatenate([y, y])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(random_state=0).fit(X, y)
    (message,) = messages_with(record, "fewer than 10% of them are left beyond")
    assert message.startswith("29 distinct measurements (in 58 rows) for a rank-3")


@pytest.mark.parametrize("n", [2, 3, 190, 571])
def test_the_noise_checks_signs_have_mean_zero(n):
    """A mean left by chance adds z̄·I to a rank-one sensing matrix: plain random signs
    of a fixed draw had z̄ = +0.105 at n = 190 and put the noise's level up to 3.8
    times too high. The signs are balanced, centred, and the same every call."""
    signs = diagnostics._balanced_signs(n)
    assert abs(np.mean(signs)) < 1e-15
    assert np.all(np.abs(np.abs(signs) - 1) <= 1 / n + 1e-12)
    np.testing.assert_array_equal(signs, diagnostics._balanced_signs(n))


def test_a_noise_level_of_zero_names_nothing(monkeypatch):
    """Balanced signs cancel on a design of one repeated row, leaving a level of 0:
    no ratio to it is formed (it had been a ZeroDivisionError)."""
    X, y, _ = make_low_rank_sensing(
        390, 20, 2, measurement="matrix", condition_number=100, random_state=0
    )
    monkeypatch.setattr(diagnostics, "_top_eigenvalue", lambda *args, **kwargs: 0.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        PrunedFactorSensing(measurement="matrix", random_state=0).fit(X, y)
    assert not missed_warnings(record)


def test_one_outlying_measurement_is_no_missed_direction():
    """Student-t noise (2 degrees of freedom): one large residual makes G ≈ (rᵢ/n)·xᵢxᵢᵀ,
    a spike 3.8 times the noise's level on a fit of the right rank, and refitting as
    advised fitted the outlier (error 2.1 times larger). A spike that one measurement
    could make half of is not named."""
    n = 1200
    X, y0, _ = make_low_rank_sensing(n, 40, 1, random_state=1)
    z = np.random.RandomState(1001).standard_t(2, size=n)
    y = y0 + 0.05 * y0.std() * z / z.std()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(random_state=1).fit(X, y)
    assert model.n_components_ == 1 and not missed_warnings(record)


def test_a_numeric_threshold_is_named_as_the_cut():
    """threshold=0.5 dropped a direction of 0.3 times the largest norm: the advice is a
    lower threshold (0.1 alone recovers M*), not threshold='auto'."""
    X, y, truth = make_low_rank_sensing(390, 20, 2, condition_number=10, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(threshold=0.5, random_state=0).fit(X, y)
    (message,) = missed_warnings(record)
    assert model.n_components_ == 1
    assert "threshold=0.5 cuts above it" in message and "'auto'" not in message
    advised = float(message.split("(threshold=")[1].split(",")[0])
    refit = PrunedFactorSensing(threshold=advised, random_state=0).fit(X, y)
    assert refit.n_components_ == 2
    assert relative_error(refit.components_.T, truth) < 1e-6


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_a_truth_that_is_not_psd_is_named(kind, strict):
    """M* of eigenvalues 1 and -0.5, noiseless: rank-one data fitted rank 1 with R²
    0.70 and no warning; matrix data read the negative part as noise ("may only fit
    noise", σ = 0.55)."""
    rng = np.random.default_rng(0)
    d = 10
    q = np.linalg.qr(rng.standard_normal((d, 2)))[0]
    M = np.outer(q[:, 0], q[:, 0]) - 0.5 * np.outer(q[:, 1], q[:, 1])
    if kind == "rank_one":
        X = rng.standard_normal((400, d))
        y = np.einsum("ni,ij,nj->n", X, M, X)
    else:
        X = rng.standard_normal((400, d * d))
        y = X @ M.ravel()
    # On array_api_strict's non-default device too, which refuses host conversions.
    dev = xps.Device("device1")
    data = (xps.asarray(X, device=dev), xps.asarray(y, device=dev)) if strict else (X, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = PrunedFactorSensing(measurement=kind, random_state=0).fit(*data)
    (message,) = [str(w.message) for w in record]
    assert "no PSD matrix explains" in message and "an eigenvalue below" in message
    assert model.score(*data) < 0.95
    # The PSD part alone fits with no warning.
    y_psd = y + 0.5 * (
        (X @ q[:, 1]) ** 2 if kind == "rank_one" else X @ np.outer(q[:, 1], q[:, 1]).ravel()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PrunedFactorSensing(measurement=kind, random_state=0).fit(X, y_psd)
