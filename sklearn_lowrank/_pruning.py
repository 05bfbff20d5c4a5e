"""Greedy pruning: which columns of the regularised factor survive.

A column survives when its ℓ2 norm is at least ``threshold`` times the largest column
norm. With ``threshold="auto"`` the norms are sorted from the largest down and the cut is
placed in the first gap where consecutive norms differ by ``AUTO_MIN_GAP`` or more; the
group lasso drives the columns it does not need towards zero, so such a drop is the
signature of a found support. The first drop, not the widest: below the support the
tail mixes columns still shrinking with columns already dropped (at the norm they had
then), whose gaps can be wider but say nothing about the support; nor do the gaps
among columns under the floor, pruned anyway. Without such a drop the threshold is 0.
Whatever the threshold, :func:`select_columns` also prunes the columns that never grew
past the random start and those dropped during the regularised phase, which
:class:`ColumnPruner` decides and records (with :class:`EarlyPruning`'s cuts).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALIGN_EVERY",
    "AUTO_MIN_GAP",
    "ColumnChange",
    "ColumnPruner",
    "EarlyPruning",
    "auto_threshold",
    "passing",
    "relative_threshold",
    "select_columns",
]

#: ``threshold="auto"`` cuts only where consecutive sorted norms differ by this factor.
AUTO_MIN_GAP = 10.0
#: With a penalty, the columns are aligned with the factor's singular vectors (the free
#: rotation; some may then be dropped) every this many iterations of a run.
ALIGN_EVERY = 10
# During the regularised phase no column is dropped before the factor's largest singular
# value has grown this many times the largest column norm of the random start: until
# then the tiny columns of the start would be mistaken for collapsed ones.
_GROWTH = 10.0


def auto_threshold(norms: np.ndarray, floor: float = 0.0) -> float:
    """Relative threshold in the first wide gap of sorted ``norms``, or 0 if none.

    Only a gap whose upper norm is above ``floor`` counts: below it every column is
    pruned anyway, and a gap there says nothing about the support (measured: noisy,
    ill-conditioned fits with a weak penalty stopped the regularised phase with their
    only tenfold gap down there, and kept 11-16 columns for ranks 2-4 instead of
    going on).
    """
    ordered = np.sort(np.asarray(norms, dtype=float))[::-1]
    if ordered.size < 2 or ordered[0] <= 0:
        return 0.0
    tiny = ordered[0] * np.finfo(float).eps
    logs = np.log(np.maximum(ordered, tiny))
    wide = np.flatnonzero(
        (logs[:-1] - logs[1:] >= np.log(AUTO_MIN_GAP)) & (ordered[:-1] > floor)
    )
    if wide.size == 0:
        return 0.0
    cut = int(wide[0])
    # Geometric middle of the gap, relative to the largest norm.
    return float(np.exp(0.5 * (logs[cut] + logs[cut + 1]) - logs[0]))


def relative_threshold(norms, threshold="auto", floor: float = 0.0) -> float:
    """The cut ``select_columns`` applies, relative to the largest of ``norms``."""
    return auto_threshold(norms, floor) if threshold == "auto" else float(threshold)


def passing(norms, relative: float, floor: float) -> np.ndarray:
    """Which ``norms`` pass the rule: at least ``relative`` times the largest, and above
    ``floor`` (the one test of :func:`select_columns` and :class:`EarlyPruning`)."""
    largest = norms.max() if norms.size else 0.0
    return (norms >= relative * largest) & (norms > floor)


class EarlyPruning:
    """Drops, during the regularised phase, the columns the pruning rule will cut.

    Called with the factor's singular values (the column norms it has once aligned),
    it compares them with those of ``window`` calls earlier and answers with a number
    of columns to keep, or ``None``. It proposes a cut when

    - the rule cuts somewhere among the values above ``floor`` (values at or below it
      belong to columns that never grew, pruned whatever the rule says);
    - the values below the cut hold at most ``1/shrink`` of the squared norm that the
      values of the same ranks held ``window`` calls earlier (the smallest ones, unless
      columns were dropped since): the penalty is removing them.
      A weak direction still growing out of the small start would sit below the cut
      too, but its growth keeps the tail from shrinking that fast;
    - no kept value shrank by more than ``fade`` of itself (a column still fading
      would rather be cut later, with the rest).

    The solver aligns the columns and drops those below the cut, then goes on with the
    rest: the phase still runs to its tolerance and the final pruning still applies the
    rule, but the remaining iterations cost what the kept columns cost. Stopping the
    phase at such a cut instead was tried and kept too many columns near the
    sample-size threshold, where columns fade slowly above the first cut.

    Parameters
    ----------
    threshold : float or "auto"
        The pruning rule, as in :func:`select_columns`.
    floor : float, default=0.0
        Values at or below this are ignored when looking for the cut.
    shrink : float, default=2.0
        Factor by which the tail's squared norm must fall over ``window`` calls.
    fade : float, default=0.1
        Largest relative decrease of a kept value over ``window`` calls.
    window : int, default=1
        Calls between the two sets of values compared. :class:`ColumnPruner` calls
        every penalised iteration once the factor has grown tenfold past its start, and
        ``fit_three_phase`` compares over 5: a cut is taken at the first
        iteration where the last five show it settled, rather than only at every
        fifth (measured: 3-4 fewer iterations at full width at condition number 10).
    """

    def __init__(
        self,
        threshold="auto",
        floor: float = 0.0,
        shrink: float = 2.0,
        fade: float = 0.1,
        window: int = 1,
    ):
        self.threshold = threshold
        self.floor = floor
        self.shrink = shrink
        self.fade = fade
        self.window = window
        self._seen = deque(maxlen=window + 1)

    def __call__(self, values) -> int | None:
        ordered = np.sort(np.asarray(values, dtype=float))[::-1]
        self._seen.append(ordered)
        previous = self._seen[0] if len(self._seen) > self.window else None
        # After a drop, the earlier call's largest values are the same columns.
        if ordered[0] <= self.floor or previous is None or previous.size < ordered.size:
            return None
        relative = relative_threshold(ordered, self.threshold, self.floor)
        n_keep = int(np.sum(passing(ordered, relative, self.floor)))
        if n_keep == 0 or n_keep == ordered.size:
            return None
        if np.any(ordered[:n_keep] < (1.0 - self.fade) * previous[:n_keep]):
            return None
        tail = np.sum(ordered[n_keep:] ** 2)
        if tail * self.shrink > np.sum(previous[n_keep : ordered.size] ** 2):
            return None
        return n_keep


@dataclass
class ColumnChange:
    """What the solver does to its factor ``U``, from :meth:`ColumnPruner.change`."""

    # k × k: ``U @ rotation`` has the factor's scaled singular vectors as its columns,
    # largest first (the free rotation: ``UUᵀ`` is unchanged, only the penalty drops).
    rotation: np.ndarray
    # Positions, after the rotation, of the columns kept; None keeps them all.
    keep: np.ndarray | None
    # Whether early pruning asked for the cut.
    cut: bool
    # UᵀU of the changed factor.
    gram: np.ndarray


class ColumnPruner:
    """The regularised phase's columns: which of the start's remain, which were dropped
    (at what norm), and when to align and drop them.

    The solver hands it the host's ``UᵀU`` on each penalised iteration
    (:meth:`change`) and applies what it answers. Columns are numbered as in the start
    throughout, also across a resumed run that is handed the same pruner.

    Parameters
    ----------
    n_columns : int
        Width ``k`` of the start.
    start_norm : float, default=0.0
        Largest column norm of the start. Nothing is dropped before the factor's largest
        singular value has grown ten times past it.
    drop_ratio : float or None, default=None
        Drop the columns whose norm falls below this fraction of the largest.
    early_pruning : callable or None, default=None
        Called with the singular values of the factor (an :class:`EarlyPruning`); it
        answers with a number of columns to keep, or ``None``.

    Attributes
    ----------
    columns : ndarray of int
        The start's indices of the current columns, in their order.
    dropped : dict
        Start's index → norm at the moment it was dropped, of every dropped column.
    """

    def __init__(
        self,
        n_columns: int,
        *,
        start_norm: float = 0.0,
        drop_ratio: float | None = None,
        early_pruning=None,
    ):
        self.start_norm = start_norm
        self.drop_ratio = drop_ratio
        self.early_pruning = early_pruning
        self.n_columns = n_columns
        self.columns = np.arange(n_columns)
        self.dropped: dict[int, float] = {}

    def change(self, n_iter: int, gram: np.ndarray, best_rotation) -> ColumnChange | None:
        """The change to make to the columns after iteration ``n_iter`` of a run, if any.

        ``gram`` is ``UᵀU`` and ``best_rotation(gram)`` the penalty's best rotation of
        the columns. The columns are aligned every :data:`ALIGN_EVERY` iterations, or
        when early pruning asks for a cut; once aligned, their norms are the factor's
        singular values, and :meth:`keep_after_drop` says which to keep.
        """
        if gram.shape[0] < 2:
            return None
        n_keep = self.early_cut(gram)
        if n_keep is None and n_iter % ALIGN_EVERY != 0:
            return None
        rotation = best_rotation(gram)
        gram = rotation.T @ gram @ rotation
        keep = self.keep_after_drop(np.sqrt(np.clip(np.diag(gram), 0.0, None)), n_keep)
        if keep is not None:
            gram = gram[np.ix_(keep, keep)]
        return ColumnChange(rotation, keep, n_keep is not None, gram)

    def _grown(self, largest: float) -> bool:
        return largest > _GROWTH * self.start_norm

    def early_cut(self, gram: np.ndarray) -> int | None:
        """How many columns early pruning keeps now (fewer than there are), or ``None``.

        ``gram`` is ``UᵀU``; the columns to keep are the top singular directions.
        """
        if self.early_pruning is None:
            return None
        singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
        if not self._grown(singular.max()):
            return None
        n_keep = self.early_pruning(singular)
        return n_keep if n_keep is not None and n_keep < gram.shape[0] else None

    def keep_after_drop(
        self, norms: np.ndarray, n_keep: int | None = None
    ) -> np.ndarray | None:
        """Positions of the columns to keep, or ``None`` to keep them all.

        ``norms`` are the column norms once aligned with the singular vectors, largest
        first. With ``n_keep`` (from :meth:`early_cut`) the first ``n_keep`` are kept;
        otherwise those at least ``drop_ratio`` times the largest. The others are
        recorded in :attr:`dropped`, and :attr:`columns` keeps the rest.
        """
        if n_keep is not None:
            drop = np.arange(norms.size) >= n_keep
        elif self.drop_ratio is not None and self._grown(norms.max()):
            drop = norms < self.drop_ratio * norms.max()
            if not np.any(drop):
                return None
        else:
            return None
        for j in np.flatnonzero(drop):
            self.dropped[int(self.columns[j])] = float(norms[j])
        keep = np.flatnonzero(~drop)
        self.columns = self.columns[keep]
        return keep

    def all_norms(self, current: np.ndarray) -> np.ndarray:
        """Norms of all the start's columns: ``current`` (host norms of the current
        columns) and the dropped ones as recorded."""
        norms = np.zeros(self.n_columns)
        norms[self.columns] = current
        for column, norm in self.dropped.items():
            norms[column] = norm
        return norms


def select_columns(
    norms, threshold="auto", floor=0.0, alive=None
) -> tuple[np.ndarray, float]:
    """Boolean mask of kept columns and the relative threshold that was applied.

    The outcome's warnings (every column kept, or none passing) are
    :func:`~sklearn_lowrank._diagnostics.warn_about_pruning`'s.

    Parameters
    ----------
    norms : array-like of shape (k,)
        Column norms of the regularised factor.
    threshold : float in [0, 1] or "auto"
        Keep columns with ``norm >= threshold * max(norms)``.
    floor : float, default=0.0
        Columns with ``norm <= floor`` are never kept, whatever the threshold
        (``fit_three_phase`` passes the largest column norm of the random start,
        capped at ``_three_phase._FLOOR_CAP`` in the normalised units, in the units of
        ``norms``: a
        column that never grew past a small start picked up no signal), and
        ``"auto"`` ignores the gaps among them.
    alive : array-like of bool, shape (k,), or None
        Columns that may be kept; the others (dropped during the regularised phase, at
        the norms given) are pruned whatever the rule says. ``None``: all.

    Returns
    -------
    support : ndarray of shape (k,), dtype=bool
        Columns kept. Never empty: if nothing passes, the largest column is kept.
    relative_threshold : float
        The threshold applied, relative to the largest norm.
    """
    norms = np.asarray(norms, dtype=float)
    relative = relative_threshold(norms, threshold, floor)
    alive = np.ones(norms.shape, dtype=bool) if alive is None else np.asarray(alive)
    support = passing(norms, relative, floor) & alive
    if not support.any():
        support = np.zeros(norms.shape, dtype=bool)
        support[int(np.argmax(np.where(alive, norms, -np.inf)))] = True
    return support, relative
