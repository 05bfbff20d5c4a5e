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
    """Says when the pruning decision has settled, so the regularised phase can stop.

    Called every few iterations with the factor's singular values (the column norms it
    would have after the alignment rotation). The decision has settled when, compared
    with the previous call,

    - the rule cuts somewhere among the values above ``floor`` (values at or below it
      belong to columns that never grew, pruned whatever the rule says);
    - the values below the cut hold at most ``1/shrink`` of the squared norm that as
      many smallest values held before: the penalty is removing them. A weak direction
      still growing out of the small start would sit below the cut too, but its growth
      keeps the tail from shrinking that fast;
    - the smallest kept value moved by at most ``drift`` of itself: it is a direction
      the fit has converged on, not a column still shrinking (a cut above one would
      keep too many columns).

    Parameters
    ----------
    threshold : float or "auto"
        The pruning rule, as in :func:`select_columns`.
    floor : float, default=0.0
        Values at or below this are ignored when looking for the cut.
    shrink : float, default=2.0
        Factor by which the tail's squared norm must fall between two calls.
    drift : float, default=0.25
        Largest relative change of the smallest kept value between two calls.
    """

    def __init__(
        self, threshold="auto", floor: float = 0.0, shrink: float = 2.0, drift: float = 0.25
    ):
        self.threshold = threshold
        self.floor = floor
        self.shrink = shrink
        self.drift = drift
        self._previous = None

    def __call__(self, values) -> bool:
        ordered = np.sort(np.asarray(values, dtype=float))[::-1]
        previous, self._previous = self._previous, ordered
        above = ordered[ordered > self.floor]
        if above.size < 2 or previous is None or previous.size != ordered.size:
            return False
        n_kept = int(np.sum(above >= relative_threshold(above, self.threshold) * above[0]))
        if n_kept == above.size:
            return False
        tail_shrank = np.sum(ordered[n_kept:] ** 2) * self.shrink <= np.sum(
            previous[n_kept:] ** 2
        )
        smallest, before = ordered[n_kept - 1], previous[n_kept - 1]
        return bool(tail_shrank and abs(smallest - before) <= self.drift * before)


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
