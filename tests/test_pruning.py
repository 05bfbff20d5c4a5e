"""Tests for greedy pruning (``sklearn_lowrank._pruning``)."""

import math
import warnings

import numpy as np
import pytest

from sklearn_lowrank import _diagnostics as diagnostics
from sklearn_lowrank._pruning import (
    ALIGN_EVERY,
    AUTO_MIN_GAP,
    ColumnPruner,
    EarlyPruning,
    auto_threshold,
    select_columns,
)


def select_and_warn(norms, threshold="auto", floor=0.0, alive=None, **context):
    """select_columns, then the warning a fit gives about its outcome."""
    support, relative = select_columns(norms, threshold, floor=floor, alive=alive)
    diagnostics.warn_about_pruning(norms, support, relative, floor=floor, **context)
    return support, relative


def geometric_middle(upper, lower, largest):
    return np.sqrt(upper * lower) / largest


# ------------------------------------------------------------------ auto_threshold


def test_auto_threshold_cuts_in_the_first_wide_gap():
    norms = np.array([1e-4, 0.9, 2.0, 1e-3, 0.5])  # unsorted on purpose
    # Ratios between sorted neighbours: 2.2, 1.8, 500, 10; the first >= 10 is 0.5 -> 1e-3.
    t = auto_threshold(norms)
    assert t == pytest.approx(geometric_middle(0.5, 1e-3, 2.0), rel=1e-12)
    assert 1e-3 / 2.0 < t < 0.5 / 2.0
    support, relative = select_columns(norms, "auto")
    assert relative == t
    np.testing.assert_array_equal(support, norms >= 0.5)


def test_auto_threshold_prefers_the_first_wide_gap_over_a_wider_one_below():
    """Columns still shrinking sit above dropped ones: the tail's gaps say nothing."""
    # Ratios 2.6, 105, 1.6, 2300: the support ends at the first tenfold drop.
    norms = np.array([1.0, 0.38, 3.6e-3, 2.3e-3, 1e-6])
    t = auto_threshold(norms)
    assert t == pytest.approx(geometric_middle(0.38, 3.6e-3, 1.0), rel=1e-12)
    support, _ = select_columns(norms, "auto")
    assert support.sum() == 2


def test_auto_threshold_picks_ratio_not_difference():
    """The widest gap is the largest ratio, not the largest absolute difference."""
    # Differences 8, ~2, ~1e-5; ratios 5, 2e5, 100.
    norms = np.array([10.0, 2.0, 1e-5, 1e-7])
    t = auto_threshold(norms)
    assert t == pytest.approx(geometric_middle(2.0, 1e-5, 10.0), rel=1e-12)


@pytest.mark.parametrize(
    "norms",
    [
        [1.0, 0.2, 0.03],  # ratios 5 and 6.7
        [3.0, 3.0, 3.0],
        [1.0, 1.0 / (0.95 * AUTO_MIN_GAP)],  # just under the minimum gap
        [5.0],
        [],
    ],
)
def test_auto_threshold_zero_without_wide_gap(norms):
    assert auto_threshold(np.array(norms)) == 0.0


def test_auto_threshold_accepts_gap_just_above_minimum():
    norms = np.array([1.0, 1.0 / (1.05 * AUTO_MIN_GAP)])
    t = auto_threshold(norms)
    assert t == pytest.approx(geometric_middle(norms[0], norms[1], norms[0]), rel=1e-12)


def test_auto_threshold_cuts_at_exactly_the_minimum_gap():
    assert auto_threshold(np.array([AUTO_MIN_GAP, 1.0])) > 0.0  # log(10) - log(1) exactly
    assert auto_threshold(np.array([AUTO_MIN_GAP, 1.0 + 1e-9])) == 0.0


def test_auto_threshold_ignores_gaps_under_the_floor():
    """Below the floor every column is pruned anyway: a gap there is no support."""
    norms = np.array([1.0, 0.5, 0.2, 0.05, 0.01, 0.004, 0.0015, 3e-4, 1e-6])
    assert auto_threshold(norms) == pytest.approx(math.sqrt(3e-4 * 1e-6))
    assert auto_threshold(norms, floor=1e-3) == 0.0
    # The gap from the last column above the floor down to those under it counts.
    cut = np.array([1.0, 0.5, 0.2, 1e-4, 1e-6])
    assert auto_threshold(cut, floor=1e-3) == pytest.approx(math.sqrt(0.2 * 1e-4))
    support, relative = select_columns(norms, "auto", floor=1e-3)
    assert relative == 0.0 and support.sum() == 7


def test_auto_threshold_zero_norms():
    # All zero: no scale at all.
    assert auto_threshold(np.zeros(4)) == 0.0
    # Exact zeros are treated as eps * largest, so they sit beyond a huge gap.
    norms = np.array([1.0, 0.5, 0.0, 0.0])
    t = auto_threshold(norms)
    assert t == pytest.approx(geometric_middle(0.5, np.finfo(float).eps, 1.0), rel=1e-12)
    support, _ = select_columns(norms, "auto")
    np.testing.assert_array_equal(support, [True, True, False, False])


def test_auto_threshold_is_scale_invariant():
    norms = np.array([3.0, 2.0, 0.01, 0.003])
    for c in (1e-6, 1.0, 1e6):
        assert auto_threshold(c * norms) == pytest.approx(auto_threshold(norms), rel=1e-12)


# ------------------------------------------------------------------ select_columns


def test_select_columns_numeric_threshold():
    norms = np.array([0.05, 4.0, 1.0, 0.4, 2.0])
    for threshold in (0.05, 0.1, 0.25, 0.5):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            support, relative = select_columns(norms, threshold)
        assert relative == threshold
        np.testing.assert_array_equal(support, norms >= threshold * norms.max())
    # The boundary is inclusive.
    support, _ = select_columns(norms, 0.25)
    assert support[2]  # 1.0 == 0.25 * 4.0


@pytest.mark.parametrize(
    "norms, says",
    [(np.ones(3), "kept all 3 columns: the regularized fit stopped at its max_iter"),
     (np.zeros(3), "The regularized fit stopped at its max_iter .* Otherwise the penalty")],
)  # fmt: skip
def test_an_unfinished_fit_is_named_before_alpha(norms, says):
    """max_iter=1 kept all 20 columns, and the warning said alpha was too weak, only."""
    with pytest.warns(UserWarning, match=says) as record:
        select_and_warn(norms, "auto", dim=8, converged=False)
    (message,) = [str(w.message) for w in record]
    assert message.index("increase max_iter") < message.index("Otherwise")


def test_select_columns_accepts_lists_and_returns_bool():
    support, relative = select_columns([2.0, 1e-6], "auto")
    assert support.dtype == bool
    np.testing.assert_array_equal(support, [True, False])
    assert isinstance(relative, float)


def test_warning_when_nothing_passes_keeps_largest():
    norms = np.array([0.3, 2.0, 1.0])
    with pytest.warns(UserWarning, match="kept no column"):
        support, relative = select_and_warn(norms, 1.5)
    np.testing.assert_array_equal(support, [False, True, False])
    assert relative == 1.5


def test_warning_when_the_only_column_is_kept():
    """One column of a d > 1 matrix: kept, as every column, and said so (it was not);
    of a 1 × 1 matrix, the full rank is the only answer and nothing is said."""
    with pytest.warns(UserWarning, match="kept its only column: n_columns may be"):
        select_and_warn(np.array([2.0]), "auto", dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert select_and_warn(np.array([2.0]), "auto", dim=1)[0].all()


def test_warning_when_more_columns_than_the_dimension_are_kept():
    with pytest.warns(UserWarning, match="kept all 5 columns, more than the dimension d=3"):
        select_and_warn(np.ones(5), "auto", dim=3)
    with pytest.warns(UserWarning, match="kept all 3 columns, as many as the dimension"):
        select_and_warn(np.ones(3), "auto", dim=3)


def test_warning_when_all_norms_are_zero():
    with pytest.warns(UserWarning, match="kept no column"):
        support, _ = select_and_warn(np.zeros(3), "auto")
    assert support.sum() == 1


@pytest.mark.parametrize("threshold", [0.0, 0.01, "auto"])
def test_warning_when_everything_is_kept(threshold):
    norms = np.array([1.0, 0.5, 0.2])  # no 10x gap, all above 1% of the largest
    with pytest.warns(UserWarning, match="kept all 3 columns"):
        support, _ = select_and_warn(norms, threshold)
    assert support.all()


@pytest.mark.parametrize("dim", [None, 3])
def test_without_the_penalty_the_warning_names_alpha_zero(dim):
    """Every column kept is the expected outcome of an unpenalised fit: the warning
    says that, not that n_columns is too small or the estimate has full rank."""
    with pytest.warns(UserWarning, match="kept all 3 columns: with alpha=0") as record:
        select_and_warn(np.array([1.0, 0.9, 0.8]), "auto", dim=dim, penalized=False)
    assert "n_columns" not in str(record[0].message)


@pytest.mark.parametrize("penalized", [True, False])
def test_a_single_kept_column_blames_the_penalty_only_if_there_is_one(penalized):
    with pytest.warns(UserWarning, match="kept its only column") as record:
        select_and_warn(np.array([2.0]), "auto", dim=8, penalized=penalized)
    assert ("alpha" in str(record[0].message)) == penalized


def test_no_warning_for_a_single_column():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        support, _ = select_and_warn(np.array([0.7]), "auto")
    np.testing.assert_array_equal(support, [True])


# --------------------------------------------------------------------------- floor


def test_floor_excludes_columns_that_did_not_grow():
    norms = np.array([2.0, 1.0, 0.3, 0.31])
    floor = 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        support, relative = select_and_warn(norms, 0.1, floor=floor)
    assert relative == 0.1
    # Above the threshold (0.1 * 2.0) but not strictly above the floor: dropped.
    np.testing.assert_array_equal(support, (norms >= 0.1 * norms.max()) & (norms > floor))
    assert not support[2] and support[3]


def test_floor_applies_to_auto_threshold():
    norms = np.array([3.0, 2.0, 1.5, 1e-4])  # auto cuts below 1.5
    support, _ = select_columns(norms, "auto", floor=1.6)
    np.testing.assert_array_equal(support, [True, True, False, False])


def test_floor_above_every_column_keeps_largest_with_warning():
    norms = np.array([0.2, 0.5, 0.1])
    with pytest.warns(UserWarning, match="kept no column"):
        support, _ = select_and_warn(norms, 0.0, floor=1.0)
    np.testing.assert_array_equal(support, norms == norms.max())


# ------------------------------------------------------------------- EarlyPruning


def test_early_pruning_proposes_a_cut_once_the_tail_shrinks():
    prune = EarlyPruning()
    assert prune([1.0, 0.8, 0.5, 0.04, 0.03]) is None  # a cut, nothing to compare with
    assert prune([1.0, 0.8, 0.5, 0.035, 0.025]) is None  # tail mass 0.0025 → 0.0018
    assert prune([1.0, 0.8, 0.5, 0.02, 0.01]) == 3  # halved: keep 3
    # After the drop, nothing more to cut.
    assert prune([1.0, 0.81, 0.52]) is None


def test_early_pruning_needs_a_cut():
    prune = EarlyPruning()
    assert prune([1.0, 0.8, 0.5, 0.4, 0.3]) is None
    assert prune([1.0, 0.8, 0.5, 0.2, 0.1]) is None  # the tail shrank, but no tenfold drop


def test_early_pruning_waits_while_a_tail_value_grows():
    """A weak direction growing below the cut keeps the tail from halving."""
    prune = EarlyPruning()
    prune([1.0, 0.8, 0.03, 0.02])
    assert prune([1.0, 0.8, 0.04, 0.001]) is None  # one value shrank, the other grew
    assert prune([1.0, 0.8, 0.02, 0.0005]) == 2


def test_early_pruning_waits_while_a_kept_value_fades():
    prune = EarlyPruning()
    prune([1.0, 0.5, 0.3, 0.02, 0.01])
    assert prune([1.0, 0.5, 0.26, 0.005, 0.002]) is None  # 0.3 → 0.26: still fading
    assert prune([1.0, 0.52, 0.25, 0.001, 0.0005]) == 3  # growth and ≤ 10% are fine


def test_early_pruning_cuts_again_after_a_drop():
    prune = EarlyPruning()
    prune([1.0, 0.5, 0.3, 0.02])
    assert prune([1.0, 0.5, 0.3, 0.005]) == 3
    assert prune([1.0, 0.5, 0.2]) is None  # the third one fades after all
    assert prune([1.0, 0.5, 0.03]) == 2  # now below a cut, its mass falling


def test_early_pruning_compares_the_same_number_of_smallest_values():
    prune = EarlyPruning()
    prune([1.0, 0.9, 0.8, 0.7])
    # Two values now sit below a cut; compared with the two smallest of the last call.
    assert prune([1.0, 0.92, 0.05, 0.01]) == 2


def test_early_pruning_ignores_values_at_the_floor():
    """A value at rounding level must not make a 'cut' above it."""
    before = [1.0, 0.4, 0.1, 0.09, 0.08, 0.07, 0.06, 0.001]
    values = [1.0, 0.4, 0.095, 0.085, 0.075, 0.065, 0.055, 1e-9]  # rounding, not a column
    floored = EarlyPruning(floor=1e-3)
    floored(before)
    assert floored(values) == 7  # only the column at the floor goes (no cut above it)
    unfloored = EarlyPruning()
    unfloored(before)
    assert unfloored(values) == 7  # the same column, but through a 'cut' at 1e-9


@pytest.mark.parametrize(("threshold", "expected"), [(0.1, 2), (0.0, None), (1e-3, None)])
def test_early_pruning_follows_a_numeric_threshold(threshold, expected):
    prune = EarlyPruning(threshold)
    prune([1.0, 0.5, 0.04, 0.03])
    assert prune([1.0, 0.5, 0.02, 0.01]) == expected


def test_early_pruning_compares_over_its_window():
    """With ``window=3`` each call is compared with the values of three calls earlier:
    a tail that shrinks slowly per call can still have halved over the window."""
    tails = [0.03, 0.026, 0.023, 0.02, 0.017, 0.015]  # -13% per call: 0.66x over three
    one, three = EarlyPruning(window=1), EarlyPruning(window=3)
    answers = {1: [], 3: []}
    for t in tails:
        values = [1.0, 0.6, 0.5, t, t / 2]
        answers[1].append(one(values))
        answers[3].append(three(values))
    assert answers[1] == [None] * 6  # never halves from one call to the next
    # Squared norm over three calls: (0.02/0.03)² = 0.44 ≤ 1/2 from the fourth call on.
    assert answers[3] == [None, None, None, 3, 3, 3]


def test_early_pruning_waits_for_a_full_window():
    """Nothing is proposed before ``window`` earlier calls exist, even when the tail
    collapsed by the second call."""
    prune = EarlyPruning(window=3)
    answers = [prune([1.0, 0.6, t, t / 2]) for t in (0.03, 0.01, 0.003, 0.001)]
    assert answers == [None, None, None, 2]


def test_early_pruning_is_scale_invariant():
    """The same sequence, its values and floor times 1000: the same answers."""
    sequence = [
        [1.0, 0.8, 0.5, 0.04, 0.03],
        [1.0, 0.8, 0.5, 0.035, 0.025],
        [1.0, 0.8, 0.5, 0.02, 0.01],
        [1.0, 0.81, 0.52],
    ]
    for threshold in ("auto", 0.1):
        plain, scaled = EarlyPruning(threshold, floor=1e-3), EarlyPruning(threshold, 1.0)
        answers = [plain(v) for v in sequence]
        assert answers == [scaled([1e3 * x for x in v]) for v in sequence]
        assert answers == [None, None, 3, None]


def test_early_pruning_limits_are_inclusive():
    """A tail that exactly halved cuts; a kept value that shrank by exactly ``fade``
    does not block (binary fractions, so the equalities are exact)."""
    halved = EarlyPruning()
    halved([1.0, 0.75, 0.03125, 0.03125])
    assert halved([1.0, 0.75, 0.03125, 0.0]) == 2
    faded = EarlyPruning(fade=0.25)
    faded([1.0, 0.5, 0.03125])
    assert faded([1.0, 0.375, 0.0078125]) == 2  # 0.5 → 0.375 is exactly 25 %


def test_early_pruning_keeps_a_value_equal_to_the_threshold():
    at_threshold = EarlyPruning(0.5)
    at_threshold([1.0, 0.5, 0.2])
    assert at_threshold([1.0, 0.5, 0.1]) == 2


def test_early_pruning_ignores_a_narrower_factor_than_last_time():
    prune = EarlyPruning()
    prune([1.0, 0.9])
    assert prune([1.0, 0.9, 0.01]) is None  # wider than last time: no comparison


@pytest.mark.parametrize("values", [[1.0], [0.0, 0.0], [1.0, 1.0]])
def test_early_pruning_never_cuts_degenerate_values(values):
    prune = EarlyPruning()
    assert prune(values) is None
    assert prune(values) is None


def test_select_columns_never_keeps_a_dropped_column():
    norms = np.array([1.0, 0.5, 0.4, 0.001])
    alive = np.array([True, True, False, True])
    support, _ = select_and_warn(norms, 0.1, alive=alive)
    np.testing.assert_array_equal(support, [True, True, False, False])
    with pytest.warns(UserWarning, match="kept no column"):
        support, _ = select_and_warn(
            norms, 0.1, alive=[False, False, False, True], floor=0.01
        )
    np.testing.assert_array_equal(support, [False, False, False, True])


# -------------------------------------------------------------------- ColumnPruner


def test_column_pruner_numbers_columns_as_in_the_start():
    """Drops at two alignments (or in two runs handed the same pruner) are recorded
    under the start's indices, and the norms of every column can be put back."""
    pruner = ColumnPruner(6, start_norm=1e-3, drop_ratio=0.1)
    keep = pruner.keep_after_drop(np.array([5.0, 4.0, 0.3, 0.2, 0.1, 0.01]))
    np.testing.assert_array_equal(keep, [0, 1])
    np.testing.assert_array_equal(pruner.columns, [0, 1])
    pruner = ColumnPruner(6, start_norm=1e-3, drop_ratio=0.1)
    # Aligned columns are reordered, largest first: drops follow positions.
    keep = pruner.keep_after_drop(np.array([5.0, 0.2, 4.0, 3.0, 0.1, 2.0]))
    np.testing.assert_array_equal(pruner.columns, [0, 2, 3, 5])
    keep = pruner.keep_after_drop(np.array([6.0, 5.0, 0.5, 0.3]), n_keep=2)
    np.testing.assert_array_equal(keep, [0, 1])
    np.testing.assert_array_equal(pruner.columns, [0, 2])
    assert pruner.dropped == {1: 0.2, 4: 0.1, 3: 0.5, 5: 0.3}
    norms = pruner.all_norms(np.array([7.0, 8.0]))
    np.testing.assert_array_equal(norms, [7.0, 0.2, 8.0, 0.5, 0.1, 0.3])


def test_column_pruner_waits_for_growth():
    """Nothing is dropped, and early pruning is not asked, before the largest singular
    value has grown more than tenfold past the start's largest column."""
    asked = []
    pruner = ColumnPruner(
        3, start_norm=0.1, drop_ratio=0.1, early_pruning=lambda v: asked.append(v) or 1
    )
    small = np.array([1.0, 0.01, 0.001])
    assert pruner.keep_after_drop(small) is None
    assert pruner.early_cut(np.diag(small**2)) is None and asked == []
    grown = np.array([1.01, 0.01, 0.001])
    assert pruner.early_cut(np.diag(grown**2)) == 1
    np.testing.assert_allclose(np.sort(asked[0]), np.sort(grown))
    np.testing.assert_array_equal(pruner.keep_after_drop(grown), [0])
    assert pruner.dropped == {1: 0.01, 2: 0.001}


def test_column_pruner_cuts_only_to_fewer_columns():
    """An early-pruning answer of all the columns, or none, is no cut; without a drop
    ratio only a cut drops."""
    gram = np.diag([4.0, 1.0, 1e-6])
    for answer in (3, None):
        pruner = ColumnPruner(3, start_norm=1e-3, early_pruning=lambda v, a=answer: a)
        assert pruner.early_cut(gram) is None
        assert pruner.keep_after_drop(np.sqrt(np.diag(gram))) is None
    assert ColumnPruner(3, start_norm=1e-3).early_cut(gram) is None


def _sorting_rotation(gram):
    """Stand-in for the penalty's best rotation: the eigenvectors, largest first."""
    return np.linalg.eigh(gram)[1][:, ::-1]


def test_column_pruner_aligns_every_few_iterations_and_at_a_cut():
    """The columns change only every ALIGN_EVERY iterations or at an early-pruning cut;
    the change carries the rotation, the positions kept after it and the new UᵀU."""
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 3)) @ np.diag([3.0, 1.0, 1e-3])
    gram = U.T @ U
    pruner = ColumnPruner(3, start_norm=1e-3, drop_ratio=0.1)
    assert all(pruner.change(i, gram, _sorting_rotation) is None for i in range(1, 10))
    change = pruner.change(ALIGN_EVERY, gram, _sorting_rotation)
    assert not change.cut
    aligned = U @ change.rotation
    norms = np.linalg.norm(aligned, axis=0)
    assert np.all(np.diff(norms) < 0)  # largest first: the drop ratio cut the last
    np.testing.assert_array_equal(change.keep, [0, 1])
    kept = aligned[:, change.keep]
    np.testing.assert_allclose(change.gram, kept.T @ kept, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pruner.columns, [0, 1])

    cutting = ColumnPruner(3, start_norm=1e-3, early_pruning=lambda values: 1)
    change = cutting.change(3, gram, _sorting_rotation)
    assert change.cut and change.keep.tolist() == [0] and change.gram.shape == (1, 1)
    # A single column has nothing to rotate or drop.
    assert cutting.change(ALIGN_EVERY, change.gram, _sorting_rotation) is None
    # Without a drop ratio or early pruning, it only aligns.
    change = ColumnPruner(3).change(2 * ALIGN_EVERY, gram, _sorting_rotation)
    assert change.keep is None and not change.cut and change.gram.shape == (3, 3)
