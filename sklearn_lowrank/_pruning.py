"""Greedy pruning: which columns of the regularised factor survive.

A column survives when its ℓ2 norm is at least ``threshold`` times the largest column
norm. With ``threshold="auto"`` the norms are sorted from the largest down and the cut is
placed in the first gap where consecutive norms differ by more than ``AUTO_MIN_GAP``; the
group lasso drives the columns it does not need towards zero, so such a drop is the
signature of a found support. The first drop, not the widest: below the support the
tail mixes columns still shrinking with columns already dropped (at the norm they had
then), whose gaps can be wider but say nothing about the support. Without such a drop
every column is kept.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["AUTO_MIN_GAP", "SupportWatch", "select_columns"]

#: ``threshold="auto"`` cuts only where consecutive sorted norms differ by this factor.
AUTO_MIN_GAP = 10.0


def auto_threshold(norms: np.ndarray) -> float:
    """Relative threshold in the first wide gap of sorted ``norms``, or 0 if none."""
    ordered = np.sort(np.asarray(norms, dtype=float))[::-1]
    if ordered.size < 2 or ordered[0] <= 0:
        return 0.0
    floor = ordered[0] * np.finfo(float).eps
    logs = np.log(np.maximum(ordered, floor))
    wide = np.flatnonzero(logs[:-1] - logs[1:] >= np.log(AUTO_MIN_GAP))
    if wide.size == 0:
        return 0.0
    cut = int(wide[0])
    # Geometric middle of the gap, relative to the largest norm.
    return float(np.exp(0.5 * (logs[cut] + logs[cut + 1]) - logs[0]))


def relative_threshold(norms, threshold="auto") -> float:
    """The cut ``select_columns`` applies, relative to the largest of ``norms``."""
    return auto_threshold(norms) if threshold == "auto" else float(threshold)


class SupportWatch:
    """Decides, during the regularised phase, when the pruning decision has settled.

    Called every few iterations with the factor's singular values (the column norms it
    has once aligned), it compares them with those of the previous call and answers
    with a number of columns to keep, or ``None`` to go on. It proposes a cut when

    - the rule cuts somewhere among the values above ``floor`` (values at or below it
      belong to columns that never grew, pruned whatever the rule says);
    - the values below the cut hold at most ``1/shrink`` of the squared norm that as
      many smallest values held before: the penalty is removing them. A weak direction
      still growing out of the small start would sit below the cut too, but its growth
      keeps the tail from shrinking that fast;
    - no kept value shrank by more than ``fade`` of itself: the kept columns are
      directions the fit has found (they hold still, or still grow), not columns the
      penalty is still fading out (a cut above one would keep it).

    The solver then drops the columns below the cut and goes on with the rest, so the
    proposal is checked at the next call at the cost of the smaller factor: if the rule
    finds no further cut there and the kept values held still, the decision has
    settled (the call returns the current width and :attr:`settled` becomes True);
    a further cut is proposed the same way. Near the sample-size threshold a first
    proposal can keep columns that are still fading; the check lets them go.

    Parameters
    ----------
    threshold : float or "auto"
        The pruning rule, as in :func:`select_columns`.
    floor : float, default=0.0
        Values at or below this are ignored when looking for the cut.
    shrink : float, default=2.0
        Factor by which the tail's squared norm must fall between two calls.
    fade : float, default=0.1
        Largest relative decrease of a kept value between two calls.

    Attributes
    ----------
    settled : bool
        Whether a proposal has been confirmed.
    cut : float or None
        The last cut proposed, relative to the largest value.
    """

    def __init__(
        self, threshold="auto", floor: float = 0.0, shrink: float = 2.0, fade: float = 0.1
    ):
        self.threshold = threshold
        self.floor = floor
        self.shrink = shrink
        self.fade = fade
        self.settled = False
        self.cut = None
        self._previous = None
        self._proposed = False

    def __call__(self, values) -> int | None:
        ordered = np.sort(np.asarray(values, dtype=float))[::-1]
        previous, self._previous = self._previous, ordered
        proposed, self._proposed = self._proposed, False
        above = ordered[ordered > self.floor]
        # After a drop, the previous call's largest values are the same columns.
        if above.size == 0 or previous is None or previous.size < ordered.size:
            return None
        relative = relative_threshold(above, self.threshold)
        n_keep = int(np.sum(above >= relative * above[0]))
        if n_keep == 0:
            return None
        if np.any(ordered[:n_keep] < (1.0 - self.fade) * previous[:n_keep]):
            return None
        if n_keep == ordered.size:
            self.settled = proposed
            return n_keep if proposed else None
        tail = np.sum(ordered[n_keep:] ** 2)
        if tail * self.shrink > np.sum(previous[n_keep : ordered.size] ** 2):
            return None
        self._proposed = True
        self.cut = relative
        return n_keep


def select_columns(norms, threshold="auto", floor=0.0):
    """Boolean mask of kept columns and the relative threshold that was applied.

    Parameters
    ----------
    norms : array-like of shape (k,)
        Column norms of the regularised factor.
    threshold : float in [0, 1] or "auto"
        Keep columns with ``norm >= threshold * max(norms)``.
    floor : float, default=0.0
        Columns with ``norm <= floor`` are never kept, whatever the threshold (the
        estimator passes the norm of the random start, capped at 1e-2 of the data
        scale's square root: a column that never grew past a small start picked up no
        signal).

    Returns
    -------
    support : ndarray of shape (k,), dtype=bool
        Columns kept. Never empty: if nothing passes, the largest column is kept.
    relative_threshold : float
        The threshold applied, relative to the largest norm.
    """
    norms = np.asarray(norms, dtype=float)
    relative = relative_threshold(norms, threshold)
    largest = norms.max() if norms.size else 0.0
    support = (norms >= relative * largest) & (norms > floor)
    if not support.any():
        support = np.zeros(norms.shape, dtype=bool)
        support[int(np.argmax(norms))] = True
        warnings.warn(
            "Pruning kept no column (none grew past its small random start); keeping the "
            "largest one. The penalty alpha may be too strong for this data, or y carry "
            "no signal.",
            UserWarning,
            stacklevel=3,
        )
    elif support.all() and norms.size > 1:
        warnings.warn(
            f"Pruning kept all {norms.size} columns: n_columns may be too small to "
            "reveal the rank, or the penalty (alpha) too weak to separate the columns.",
            UserWarning,
            stacklevel=3,
        )
    return support, relative
