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

__all__ = ["AUTO_MIN_GAP", "select_columns"]

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
    relative = auto_threshold(norms) if threshold == "auto" else float(threshold)
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
