"""Diagnostics: the warnings a fit gives when its data or its result look wrong.

The design checks read the operator and the data summary before the solvers run;
:func:`warn_about_fit` runs the checks of the fitted factor in order, each only where
the ones before leave it something to say. Most read what the fit already has; the
second moment, the noise level (one to nine passes) and a missed direction's advice
(a pass per direction) each cost passes over the data, as their docstrings say. None
changes the fit. They are measured: each docstring says on which problems a check
fires and on which it stays quiet.
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._backend import ROUNDING_LEVEL, dtype_name, fetch, from_host, to_host
from ._operators import row_blocks
from ._pruning import passing
from ._scaling import SCALE_TRUNCATION, DataSummary
from ._tangent import degrees_of_freedom, tangent_ranks
from ._warnings import warn

__all__ = [
    "DesignFindings",
    "NoiseEstimate",
    "ResidualSpectrum",
    "VectorDesign",
    "estimate_noise",
    "outsized_advice",
    "residual_spectrum",
    "too_few_for_any_advice",
    "warn_about_design",
    "warn_about_fit",
    "warn_about_pruning",
    "warn_if_anisotropic",
    "warn_if_centred",
    "warn_if_direction_missed",
    "warn_if_no_better_than_the_mean",
    "warn_if_noise_was_kept",
    "warn_if_not_identified",
    "warn_if_not_psd",
    "warn_if_only_the_diagonal",
    "warn_if_unlinked",
]

# A rank-one y whose mean is within this fraction of its mean absolute deviation of 0
# was centred (see warn_if_centred): to rounding, in float32 too.
_CENTRED_RTOL = 1e-4
# Rank-one measurements one of whose directions holds more than this share of the
# second moment's trace, and this many times the mean eigenvalue, are far from isotropic
# (see warn_if_anisotropic).
_ANISOTROPY_SHARE, _ANISOTROPY_RATIO = 0.3, 3.5
# ...and this many times the top eigenvalue that sampling alone gives isotropic vectors.
_SAMPLING_MARGIN = 1.5
# An eigenvalue of that second moment below this many times ε of the largest is a
# direction no xᵢ reaches, to rounding (measured: 0.3-1.3ε; a float32 feature scaled
# by 0.003, which the fit recovers, stands at 60ε).
_SPAN_RTOL = 10.0
# Noise whose level in the residual's sensing matrix reaches this fraction of the
# penalty's pick-up level alpha/√beta may leave columns that only fit it: those whose
# eigenvalue, as it shows in a sensing matrix, is within _NOISE_MARGIN times that
# level (see warn_if_noise_was_kept). The advice puts the level at _NOISE_TARGET of
# the pick-up level.
_NOISE_SHARE, _NOISE_MARGIN, _NOISE_TARGET = 0.7, 2.0, 0.5
# A positive eigenvalue of the residuals' sensing matrix above this many times the
# level of their noise is a direction the fit lacks (see warn_if_direction_missed).
_MISSED_MARGIN = 1.5
# ...and this fraction of the largest kept one (or _MISSED_TOL times the solvers'
# tol, if larger: a loose stop leaves residuals several times tol);
_MISSED_SHARE, _MISSED_TOL = 1e-4, 10.0
# ...and no single measurement may make this fraction of it alone.
_MISSED_ONE_ROW = 0.5
# A negative eigenvalue beyond this many times the noise's level (and outweighing the
# largest) is a part of y no PSD matrix explains (see warn_if_not_psd): 1.5 had warned
# on about 1% of noisy PSD fits at d = 4-8; parts that are not PSD stood at 2.8 or
# more from 10 times the degrees of freedom on.
_NOT_PSD_MARGIN = 2.0
# The advice: a numeric threshold this fraction of the missed direction's estimated
# norm, with alpha divided by this (but not below where the noise's level would reach
# _NOISE_SHARE of the pick-up level).
_MISSED_ADVICE, _MISSED_ALPHA_CUT = 0.3, 10.0
# ...provided the measurements left beyond the fit's degrees of freedom are at least
# this fraction of them all (fewer make the residuals' σ unreliable).
_RESIDUAL_DOF = 0.1
# The noise's level is the median over this many draws of signs on data of n·d² up
# to _SMALL_DATA (one draw varies most there), from one draw above.
_LEVEL_DRAWS, _SMALL_DATA = 9, 1e7


def outsized_advice(op, summary: DataSummary, consequence: str) -> str:
    """What a ``ConvergenceWarning`` adds when some measurements are outsized, the
    likelier cause (empty when none are): ``consequence`` says what it does to the
    phase.

    A few rows of far larger norm dominate the squared loss and leave it
    ill-conditioned. With 1-2% of rank-one rows 30-100 times the others' norm
    (``d = 10``, ``r = 2``, noiseless), both phases used their budgets and the rank came
    out 3-7 (ten times the budgets: the right rank after 7700 iterations on one
    problem, rank 5 on another); dividing each row by its norm and ``yᵢ`` by its
    square took 22 iterations to the right rank and a relative error of 6e-11.
    """
    if not summary.n_outsized:
        return ""
    return (
        f". But {summary.n_outsized} of the {op.n_samples} measurements are over "
        f"{SCALE_TRUNCATION:g} times the mean {op.size_formula}: they dominate the "
        f"squared loss, so {consequence}. Rescaling a measurement and its yᵢ alike "
        "keeps yᵢ = ⟨Aᵢ, M⟩ (it reweights the loss): fit "
        f"{op.unit_rescaling} instead"
    )


def warn_if_centred(op, summary: DataSummary) -> bool:
    """A warning when measurements that are never negative for a PSD ``M`` (rank-one)
    come with a centred ``y``: a mean of 0 to rounding, or negative beyond three
    standard errors; whether it warned.

    ``E[yᵢ] = E[xᵢᵀMxᵢ] > 0`` for any PSD ``M ≠ 0``, whatever the noise: neither can
    come from such data but by chance (below 0.2 % for a ``y`` of pure noise, far
    less with any signal). A centred ``y`` (a StandardScaler on the target) otherwise
    fits silently, much of it out of reach (training R² 0.3-0.7).
    """
    if not op.nonnegative:
        return False
    mean, spread = summary.mean, summary.spread
    standard_error = spread * math.sqrt(summary.relative_variance / op.n_samples)
    if not (
        spread > 0 and (abs(mean) <= _CENTRED_RTOL * spread or mean < -3 * standard_error)
    ):
        return False
    warn(
        f"y has a mean of {mean:.3g} for a spread of {spread:.3g}, but rank-one "
        "measurements ⟨xᵢxᵢᵀ, M⟩ = xᵢᵀMxᵢ of a PSD M are never negative: y looks "
        "centred (a StandardScaler on the target, in TransformedTargetRegressor "
        "say) or shifted down. Fit the raw y, or scale it without centring "
        "(StandardScaler(with_mean=False)).",
        UserWarning,
    )
    return True


def warn_if_only_the_diagonal(op) -> bool:
    """A warning, and ``True``, when every measurement reaches only diagonal entries
    of ``M`` (``d > 1``): each rank-one vector ``xᵢ`` has a single nonzero feature
    (one-hot codes of a category, say), or each sensing matrix is diagonal.

    ``⟨Aᵢ, M⟩`` then measures only the diagonal of ``M``: its off-diagonal entries,
    and with them the rank and the factor found, are not identified, however many
    rows there are (predictions of such measurements are right whatever they are).
    One-hot codes of 300 categories with a rank-2 ``M*``, 20000 rows: rank 2 found,
    silently, the tangent check being too costly there (it catches such codes up to
    ``d`` of about 100). The links of :func:`warn_if_unlinked`, all of an index with
    itself, read until one is not: on most data the first sixteenth of the rows.
    """
    if op.dim == 1:
        return False
    for rows in row_blocks(op.n_samples):
        a, b = op.links(rows)
        if np.any(a != b):
            return False
    warn(
        "Every measurement reaches only diagonal entries of M: each vector xᵢ has a "
        "single nonzero feature (one-hot codes of a category, say: xᵢᵀMxᵢ = "
        "xᵢₐ²·Mₐₐ), or each sensing matrix Aᵢ is diagonal, so only the diagonal of M "
        "is measured. Its off-diagonal entries, and with them the rank and the factor "
        "found (components_, transform), are not identified, however many rows there "
        "are; predictions of such measurements are right whatever they are. To "
        "estimate interactions between features, measure vectors with several "
        "nonzero features (sensing matrices with off-diagonal entries).",
        UserWarning,
    )
    return True


def warn_if_unlinked(op) -> bool:
    """A warning, and ``True``, when no measurement links the indices of ``M`` that
    the measurements reach into one group: the graph whose edges are the entries
    ``(a, b)`` some ``sym(Aᵢ)`` has nonzero falls apart.

    The entries of ``M`` between two groups are then never measured, and how the
    estimate couples the groups is not identified: each group's part is fixed at most
    up to its own sign or rotation, however many rows there are. Sensing matrices in
    two diagonal 4 × 4 blocks with a rank-1 ``M*`` (200 rows) fitted with errors of
    0.95-1.41 and R² 1.0, silently: the tangent check, a first-order test, sees no
    free direction there (only a sign is free). Read by blocks of a sixteenth of the
    rows (:meth:`~sklearn_lowrank._operators.MeasurementOperator.links`) until every
    index is reached and linked: on dense data the first block, where a rank-one row
    with every feature nonzero links them all at once; on sparse rank-one features
    each row's nonzero features chained on the host, ``O(nnz)`` (a product of their
    nonzero patterns, ``n·d²``, had cost 0.64 s of a 7 s fit, d = 1000, n = 20000,
    with an unused column).
    """
    d = op.dim
    nodes = np.arange(d)
    # The groups so far, as each index's link to the first index of its group: the
    # next block's graph is these d links and its own, never all the pairs read.
    first_of_group = nodes
    on = np.zeros(d, dtype=bool)
    for rows in row_blocks(op.n_samples):
        a, b = op.links(rows)
        on[a] = on[b] = True
        count, labels = _groups(np.r_[nodes, a], np.r_[first_of_group, b], d)
        if on.all() and count == 1:
            return False
        firsts = np.empty(count, dtype=nodes.dtype)
        firsts[labels[::-1]] = nodes[::-1]
        first_of_group = firsts[labels]
    keep = np.flatnonzero(on)  # (indices never reached are not a group)
    groups, labels = np.unique(labels[keep], return_inverse=True)
    count = groups.size
    if count <= 1:
        return False
    named = [_index_set(keep[labels == group]) for group in range(min(count, 3))]
    more = f" and {count - 3} more" if count > 3 else ""
    warn(
        f"No measurement links the indices of M in {count} groups "
        f"({', '.join(named)}{more}): no sensing matrix Aᵢ has an entry between two "
        "groups (for rank-one vectors: no xᵢ has features of two groups nonzero "
        "together), so the entries of M between them are never measured. How the "
        "estimate couples the groups is not identified (each group's part is fixed at "
        "most up to its own sign or rotation), however many rows there are, and "
        "its error may be large with a training R² of 1.0. If M* couples them, "
        "collect measurements that involve several groups at once.",
        UserWarning,
    )
    return True


def _groups(first, second, d: int) -> tuple[int, np.ndarray]:
    """Connected components of the graph on ``d`` nodes with edges ``(first[i],
    second[i])``: their number and each node's label."""
    # (Repeated edges are summed: float weights cannot wrap around.)
    edges = np.ones(first.size)
    return connected_components(
        coo_matrix((edges, (first, second)), shape=(d, d)), directed=False
    )


def _index_set(indices) -> str:
    """``{0, 1, 2}``, or its first five and a count: a group in a message."""
    shown = ", ".join(str(i) for i in indices[:5])
    return f"{{{shown}{', …' if indices.size > 5 else ''}}}" + (
        f" ({indices.size} indices)" if indices.size > 5 else ""
    )


class VectorDesign(enum.Flag):
    """What :func:`warn_if_anisotropic` warned of (false when nothing)."""

    UNREACHED = enum.auto()  #: Directions no ``xᵢ`` reaches (the span warning).
    ANISOTROPIC = enum.auto()  #: Far from isotropic (the isotropy warning).


def warn_if_anisotropic(op) -> VectorDesign:
    """A warning, and what it warned of, when the vectors ``xᵢ`` of rank-one
    measurements span fewer dimensions than they could
    (:func:`_warn_if_span_deficient`) or are far from isotropic: the top eigenvalue of
    their second moment holds over ``_ANISOTROPY_SHARE`` of its trace and is over
    ``_ANISOTROPY_RATIO`` times the mean eigenvalue, and over the spread that sampling
    alone gives (which keeps Gaussian ``xᵢ`` in small ``d``, or few of them, quiet;
    ``d ≤ 3`` never warns).

    The fits then failed silently about half the time. On 137 noiseless problems
    (``d = 10, 20, 40``, ``r = 3``, 3 or 10 times the degrees of freedom; features
    Gaussian, shifted by 0.3-3, correlated (Toeplitz 0.3-0.9), of scales spread up to
    100-fold, or uniform on [0, 1]) 49 fits missed ``M*`` (relative error over 1e-3),
    47 of them without any warning. This one came on 48 of the 49, and on 37 fits that
    were right (12 of them with features shifted by 1, a share of 0.5). The share, not
    the ratio to the mean eigenvalue, is the test: a common mean ``s`` (in standard
    deviations) gives a share of about ``s²/(1 + s²)`` at any ``d`` but a ratio growing
    with ``d``; at ``d = 100`` shifts by 0.3-1 (ratios 9-50) all fitted. Whitened
    features recovered 45 of the 49; on the other 4 (``d = 10``) whitening raised the
    condition number of the matrix sought, ``T⁻¹M*T⁻ᵀ`` for ``x̃ = Tᵀx``, to 24-153, and
    ``alpha=1e-3`` recovered 3 of them. The check costs a pass over ``X`` and a
    ``d × d`` eigen-decomposition: 3-6% of a fit (n = 2000-20000, d = 100-1000).
    """
    moment = op.second_moment()
    if moment is None or not bool(op.xp.all(op.xp.isfinite(moment))):
        # (An overflowed moment: the fit reports the overflow later.)
        return VectorDesign(0)
    eigenvalues = to_host(op.xp.linalg.eigvalsh(moment))
    top, trace = float(eigenvalues[-1]), float(np.sum(eigenvalues))
    unreached = VectorDesign(0)
    if _warn_if_span_deficient(op, eigenvalues, moment.dtype):
        unreached = VectorDesign.UNREACHED
    # Sampling alone spreads the eigenvalues of isotropic vectors' second moment up to
    # about (1 + √(d/n))² times their mean (the Marchenko–Pastur edge; 1.5 times it
    # for the fluctuations of small n): with n ≤ d, a few Gaussian xᵢ held 47-100% of
    # the trace. From n = 5d on, 3.5 is the larger.
    edge = _SAMPLING_MARGIN * (1.0 + math.sqrt(op.dim / op.n_samples)) ** 2
    ratio = max(_ANISOTROPY_RATIO, edge)
    if not (top > _ANISOTROPY_SHARE * trace and top * op.dim > ratio * trace):
        return unreached
    warn(
        "The measurement vectors xᵢ are far from isotropic: one direction holds "
        f"{top / trace:.0%} of their second moment (1/n)·Σ xᵢxᵢᵀ (features with a "
        "common mean, of very different scales, or correlated). The theory "
        "assumes isotropic xᵢ; on such designs about half of our test fits found "
        "a wrong rank, with no other sign. Whitening is an exact change of "
        "variables: with XᵀX/n = V·diag(w)·Vᵀ, fit X @ T for T = V·diag(w)^(-1/2) "
        "(directions with w = 0 left out) and read U = T @ components_.T (see "
        "'When recovery fails' in the user guide; a lower alpha if the rank "
        "still looks low).",
        UserWarning,
    )
    return unreached | VectorDesign.ANISOTROPIC


def _warn_if_span_deficient(op, eigenvalues, dtype) -> bool:
    """A warning, and ``True``, when the rank-one measurement vectors span fewer than
    ``d`` dimensions: some ``eigenvalues`` of their second moment are zero to rounding.

    ``xᵢᵀMxᵢ`` then measures only ``P·M·P``, ``P`` the projection on their span: the
    part of ``M*`` outside it is not identified, whatever ``n``, and the fit (whose
    columns grow only inside the span) fits ``y`` with none of it. A feature that never
    varies from 0 among 12, with ``M*`` reaching it: relative error 0.64, training R²
    1.0, and no warning before.
    """
    d = op.dim
    cut = _SPAN_RTOL * float(op.xp.finfo(dtype).eps) * float(eigenvalues[-1])
    unreached = int(np.sum(eigenvalues <= cut))
    # n < d vectors span n dimensions at most, which the check of the degrees of
    # freedom names (and all-zero X is refused before the fit).
    if unreached == 0 or d - unreached >= min(op.n_samples, d) or unreached == d:
        return False
    warn(
        f"The measurement vectors xᵢ span only {d - unreached} of the d={d} "
        f"dimensions: their second moment (1/n)·Σ xᵢxᵢᵀ has {unreached} eigenvalue"
        f"{'' if unreached == 1 else 's'} of 0 to rounding (a feature that never "
        "varies from 0, linearly dependent features, or a feature too small beside "
        f"the others for {dtype_name(dtype)} to tell from 0). The measurements "
        "xᵢᵀM*xᵢ see only the part of M* inside that span, and the estimate holds "
        "none of what lies outside it; if M* may reach there, collect measurements "
        "that vary along those directions.",
        UserWarning,
    )
    return True


def warn_about_pruning(
    norms,
    support,
    relative: float,
    *,
    floor: float = 0.0,
    dim: int | None = None,
    penalized: bool = True,
    converged: bool = True,
) -> None:
    """A warning when pruning (:func:`~sklearn_lowrank._pruning.select_columns`, which
    gave ``support`` and ``relative`` for ``norms`` and ``floor``) kept every column,
    or kept the largest because none passed; its cause named in that order: the
    regularised fit's budget (``converged`` false; ``max_iter=1`` kept all 20 columns
    and had been told only that alpha was too weak), no penalty (``penalized``
    false: every column kept is the seed paper's negative result), full rank (``dim``
    the matrix's ``d``: the estimate has it), too narrow a factor or too weak a
    penalty.
    """
    norms = np.asarray(norms, dtype=float)
    if not np.any(passing(norms, relative, floor) & support):
        early = (
            "The regularized fit stopped at its max_iter (see its ConvergenceWarning), "
            "maybe before any column could grow: increase max_iter. Otherwise the"
        )
        warn(
            "Pruning kept no column (none grew past its small random start); keeping the "
            f"largest one. {'The' if converged else early} penalty alpha may be too "
            "strong for this data, or y carry no signal that a PSD matrix explains "
            "(with rank-one measurements, predictions ‖Uᵀxᵢ‖² are never negative: "
            "mostly negative y cannot be fitted)."
        )
        return
    if not (support.all() and (norms.size > 1 or (dim is not None and dim > 1))):
        return
    kept = "its only column" if norms.size == 1 else f"all {norms.size} columns"
    if not converged and penalized:
        warn(
            f"Pruning kept {kept}: the regularized fit stopped at its max_iter, "
            "maybe before the penalty had separated the columns (see its "
            "ConvergenceWarning): increase max_iter. Otherwise the penalty (alpha) "
            "is too weak, n_columns too small to reveal the rank, or y not "
            "⟨Aᵢ, M⟩ for a low-rank PSD M."
        )
    elif not penalized and norms.size > 1:
        warn(
            f"Pruning kept all {norms.size} columns: with alpha=0 there is no "
            "penalty, and without it the columns keep norms comparable to the "
            "largest, so no threshold separates them (the negative result of "
            "Rajaraman et al., 2023). Set alpha > 0 to reveal the rank."
        )
    elif dim is not None and norms.size >= dim:
        than = "as many as" if norms.size == dim else "more than"
        warn(
            f"Pruning kept all {norms.size} columns, {than} the dimension "
            f"d={dim}: the estimate has full rank. If M* should not, the penalty "
            "(alpha) is too weak to separate the columns, or y is not ⟨Aᵢ, M⟩ for a "
            "low-rank PSD M: shifted y, or features shifted or centred (a "
            "StandardScaler before this estimator, say), add terms that no such M "
            "explains."
        )
    else:
        weak = ", or the penalty (alpha) too weak to separate the columns"
        warn(
            f"Pruning kept {kept}: n_columns may be too small to reveal the "
            f"rank{weak if penalized else ''}."
        )


def warn_if_not_identified(op, V, *, tangent: bool = True) -> None:
    """A warning when the measurements do not identify the fitted factor ``V``'s
    rank-``k`` PSD matrix: no more measurements than its degrees of freedom (fewer,
    at full rank); or, below full rank, barely enough, fewer than ``_RESIDUAL_DOF`` of
    them beyond the ``dof + 1`` that identify it; or (with ``tangent``, where
    :func:`~sklearn_lowrank._tangent.tangent_ranks` is affordable) directions in which
    a matrix of that rank moves away from the estimate that change no measurement.

    As many measurements as unknowns are enough only at full rank (``rank = d``), where
    the matrices of that rank are an open set and the measurements a linear system;
    below it they admit finitely many solutions (two rank-one 2 × 2 matrices fit two
    rank-one measurements: the signs of ``xᵢᵀu`` are free).

    Just above that limit a fit nearly interpolates ``y``: noiseless rank-one fits at
    1.05 times the degrees of freedom found a wrong matrix with training R² 1.0 (d = 20,
    r = 2: 1 of 6 seeds), and noisy ones kept columns fitting the noise, where the
    residuals no longer tell how large it is (rank-one, d = 40-100, rank 1 at 3 times
    its degrees of freedom, noise 0.3: rank 3 found, 1.5-3 times the error of a fit
    told the rank, silently).

    Counting rows is not enough for structured designs, whose measurements can be
    many and distinct yet see only part of ``M``. Each of these fitted a wrong matrix
    (relative error 0.1-1.5) with training R² 1.0 and no warning before (d = 8-10,
    rank 2, 200-400 rows, 10-25 times the degrees of freedom): diagonal sensing
    matrices, entries of ``M`` sampled everywhere but in one row, Gaussian ``Aᵢ``
    restricted to a 6 × 6 block, ``Aᵢ`` drawn from a 10-dimensional span (the tangent
    check names the directions left unseen), and one-hot rank-one vectors, which
    measure only ``M``'s diagonal, ``d`` numbers (:func:`warn_if_only_the_diagonal`
    names them before the fit; the count reads such a rank of the measurements in
    place of their distinct rows). On 720 fits of Gaussian designs (both kinds,
    d = 5-40, rank 1-3, n from dof + 1 to 5·dof, float32 and float64, noise 0 and 0.1)
    and the 3642 of ``benchmarks/bench_warnings.py``'s grids neither warned.
    """
    # (A factor wider than d, kept whole with alpha=0, makes a rank-d matrix.)
    d = op.dim
    rank = min(V.shape[1], d)
    dof = degrees_of_freedom(rank, d)
    needed = dof if rank >= d else dof + 1
    enough = needed / (1.0 - _RESIDUAL_DOF)
    # Repeated measurements add no equations (a design repeated 20 times gave a wrong
    # estimate with training R² 1.0). Counted only when the rows alone would pass, and
    # first among 2·needed rows: a lower bound, which settles it unless rows repeat
    # (the pass over all the data is then left out).
    n_distinct = op.n_samples
    if n_distinct >= needed:
        head = 2 * needed
        n_distinct = op.distinct_measurements(rows=head)
        if n_distinct < enough and head < op.n_samples:
            n_distinct = op.distinct_measurements()
    independent = n_distinct
    ranks = None
    if tangent and n_distinct >= needed:
        ranks = tangent_ranks(op, V, wider_dim=enough)
    if ranks is not None:
        if ranks.unseen:
            _warn_of_unseen_directions(ranks, rank, d)
            return
        if ranks.wider < ranks.wider_dim:  # (else every measurement may count)
            independent = min(n_distinct, ranks.wider)
    counted = _measurements(
        independent,
        distinct=n_distinct < op.n_samples,
        independent=independent < n_distinct,
    )
    if independent < op.n_samples:
        counted += f" (in {op.n_samples} rows)"
    # One-hot rows, say: more of them would add rows, not measurements.
    more = " of other kinds" if independent < n_distinct else ""
    # (At full rank the measurements are a linear system and extra columns are moot.)
    if rank < d and needed <= independent < enough:
        warn(
            f"{counted} for a rank-{rank} estimate of a {d} x {d} matrix, which has "
            f"{dof} degrees of freedom: fewer than {_RESIDUAL_DOF:.0%} "
            f"of them are left beyond the {needed} that identify it, so the fit nearly "
            "interpolates y and may have found a wrong matrix, or fitted noise with "
            "extra columns (recovery needed 1.3-2 times the degrees of freedom in our "
            f"sweeps). Collect more measurements{more}, or ask for a lower rank "
            "(larger alpha).",
            UserWarning,
        )
    if independent < needed:
        warn(
            f"{counted} for a rank-{rank} estimate of a {d} x {d} matrix, which has "
            f"{dof} degrees of freedom: with "
            f"{'fewer' if rank >= d else 'no more'} measurements than unknowns, other "
            "matrices of that rank fit the data as well, so the estimate is not "
            f"identified. Recovery needs more measurements{more} (the theory: of the "
            "order of r·d), or a lower rank (larger alpha).",
            UserWarning,
        )


def _warn_of_unseen_directions(ranks, rank: int, d: int) -> None:
    """The warning of :func:`warn_if_not_identified` for directions of the estimate's
    tangent space that no measurement sees."""
    warn(
        f"The measurements do not identify the estimate: {ranks.unseen} of the "
        f"{ranks.local_dim} directions in which a rank-{rank} PSD {d} x {d} matrix "
        f"can move away from it change no measurement ⟨Aᵢ, M⟩ (to first order), so "
        "other matrices of that rank fit y as well, whatever the training R². The "
        "design sees only part of M: sensing matrices that never reach some rows and "
        "columns of M, or only its diagonal, or that span too few dimensions; one-hot "
        "(categorical) codes as the rank-one vectors xᵢ, which measure only M's "
        "diagonal. Collect measurements that combine the entries left unseen, or ask "
        "for a lower rank (larger alpha).",
        UserWarning,
    )


def _measurements(count: int, *, distinct: bool = False, independent: bool = False) -> str:
    """``"1 measurement"``, ``"3 distinct measurements"``, ``"10 linearly independent
    measurements"``: a count in a message."""
    kind = " linearly independent" if independent else " distinct" if distinct else ""
    return f"{count}{kind} measurement{'' if count == 1 else 's'}"


def too_few_for_any_advice(op) -> str:
    """What an error adds when the data hold no more distinct measurements than a
    rank-1 estimate has degrees of freedom (``d``), the likelier cause (empty
    otherwise): no parameter can help. One pass over the data, on an error's path.

    One dense matrix repeated 200 times (``y = 3`` plus noise) stalled the regularised
    phase at its start, and the error had blamed ``init_scale`` and ``alpha`` alone.
    """
    n_distinct = op.distinct_measurements()
    if n_distinct > degrees_of_freedom(1, op.dim):
        return ""
    return (
        f" The data hold only {_measurements(n_distinct, distinct=True)}, no more "
        f"than the d={op.dim} degrees of freedom of a rank-1 estimate: too few for any."
    )


def _variance(summary: DataSummary, scale: float) -> float:
    """The variance of ``y/scale``, from the spread in the units of ``y``."""
    return summary.relative_variance * (summary.spread / scale) ** 2


def warn_if_no_better_than_the_mean(
    V,
    loss: float,
    summary: DataSummary,
    scale: float,
    *,
    alpha: float,
    all_kept: bool,
) -> bool:
    """A warning when the fitted factor ``V``, of plain loss ``loss``, predicts
    ``y/scale`` no better than its mean (training R² ≤ 0); whether it warned.

    The true matrix fits better than the mean whenever ``y`` carries any signal, so
    such a fit kept too few columns (a penalty too strong) or ``y`` is not
    ``⟨Aᵢ, M⟩`` for a low-rank PSD ``M``: a centred ``y`` (rank-one measurements
    predict ``‖Uᵀxᵢ‖² ≥ 0``), centred features, matrices read as vectors. Those are
    silent otherwise when pruning keeps some but not all columns (a negative R² with
    19 of 20 columns kept, features centred by a StandardScaler). The penalty is
    named only where it pruned some column (``all_kept`` false, ``alpha > 0``).
    """
    variance = _variance(summary, scale)
    # min and max tell a constant y, whose variance is rounding noise, exactly.
    if not (summary.low < summary.high and 2.0 * loss >= variance):
        return False
    columns = "column" if V.shape[1] == 1 else "columns"
    cause = (
        "the penalty (alpha) may be too strong, or y not"
        if alpha > 0 and not all_kept
        else "y may not be"
    )
    warn(
        f"The fit explains none of the variance of y (training R² "
        f"{1.0 - 2.0 * loss / variance:.3g}) with the {V.shape[1]} {columns} kept: "
        f"{cause} ⟨Aᵢ, M⟩ for a low-rank PSD M. A centred or shifted y (a "
        "StandardScaler on the target, in TransformedTargetRegressor say), centred or "
        "shifted features (a StandardScaler before this estimator), or sensing "
        "matrices read as vectors (measurement='rank_one' on flattened matrices) add "
        "terms that no such M explains; see 'When recovery fails' in the user guide.",
        UserWarning,
    )
    return True


def _sensing_spectrum(op, weights) -> tuple:
    """The sensing matrix ``(1/n) Σᵢ wᵢ sym(Aᵢ)/g`` for ``weights`` in the array module
    and its eigenvalues, ascending, on the host: one pass over the data."""
    matrix = op.sensing_matrix(weights)
    return matrix, to_host(op.xp.linalg.eigvalsh(matrix))


def _top_eigenvalue(op, weights, like) -> float:
    """``λ_max((1/n) Σᵢ wᵢ sym(Aᵢ)/g)`` for host ``weights``: one pass over the data."""
    weights = from_host(op.xp, weights, dtype=like.dtype, like=like)
    return float(_sensing_spectrum(op, weights)[1][-1])


def _balanced_signs(n: int, draw: int = 0) -> np.ndarray:
    """``n`` random signs of mean exactly 0 (a fixed private generator, one seed per
    ``draw``). A mean left by chance adds ``z̄·I`` to a rank-one sensing matrix: plain
    signs of a fixed draw had a positive mean at every n from 20 to 3000, and put the
    noise's level up to 3.8 times too high at d = 10."""
    signs = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    signs = np.random.default_rng(draw).permutation(signs)
    return signs - np.mean(signs)


class NoiseEstimate:
    """What the residuals of a converged fine-tuning say about the noise.

    ``sigma`` is the noise's standard deviation, from the plain ``loss`` over the
    ``n − dof`` degrees of freedom the fit's ``rank`` leaves (in the normalised units).
    For noise of that size the residual's sensing matrix ``(1/n) Σᵢ rᵢ sym(Aᵢ)/g`` is
    about ``σ·N``, ``N = (1/n) Σᵢ zᵢ sym(Aᵢ)/g`` for random signs ``zᵢ``; its
    :attr:`level` is ``σ·λ_max(N)``, measured once for the checks that read it.
    """

    def __init__(self, op, sigma: float, like, *, rank: int):
        self.op, self.sigma, self._like, self.rank = op, sigma, like, rank

    @functools.cached_property
    def level(self) -> float:
        """``σ·λ_max(N)``: how high noise of this size stands in a sensing matrix.

        The signs come from a fixed private generator (the user's ``random_state`` is
        not drawn from, and a fit warns or not whatever its seed), one pass over the
        data per draw. Where the data are small (``n·d²`` up to ``_SMALL_DATA``) one
        draw varies most (matrix ``d = 4``, ``n = 40``: ``λ_max(N)`` from 0.106 to
        0.509 over 200 draws, 5-95%), and the level is the median over
        ``_LEVEL_DRAWS`` draws.
        """
        op = self.op
        draws = _LEVEL_DRAWS if op.n_samples * op.dim**2 <= _SMALL_DATA else 1
        tops = [
            _top_eigenvalue(op, _balanced_signs(op.n_samples, draw), like=self._like)
            for draw in range(draws)
        ]
        return self.sigma * float(np.median(tops))

    def level_without(self, residual, directions) -> float:
        """:attr:`level` once the residuals' least-squares share along the unit
        ``directions`` (d, m) is fitted away, as m more columns would fit it.

        The residuals of a fit that lacks a direction of ``M*`` hold its signal, which
        inflates ``σ``: ``σ'² = (σ²(n − dof) − rᵀZ(ZᵀZ)⁻¹Zᵀr)/(n − dof')``, with
        ``zᵢⱼ = ⟨Aᵢ, vⱼvⱼᵀ⟩/g`` and ``dof'`` the degrees of freedom of ``rank + m``
        columns: the directions were chosen from these residuals (the top of their
        sensing matrix), as m new columns would choose theirs. Never above
        :attr:`level` (near ``n = dof'`` that count overstates what is left). One pass
        over the data per direction.
        """
        op, xp = self.op, self.op.xp
        n, m = op.n_samples, directions.shape[1]
        dof = degrees_of_freedom(self.rank, op.dim)
        more = degrees_of_freedom(min(self.rank + m, op.dim), op.dim)
        if n <= more:
            return self.level
        Z = xp.stack([op.predict(directions[:, j : j + 1]) for j in range(m)], axis=1)
        gram, moment = fetch(xp, Z.T @ Z, Z.T @ residual)
        explained = float(moment @ np.linalg.lstsq(gram, moment, rcond=None)[0])
        remaining = max(self.sigma**2 * (n - dof) - explained, 0.0)
        return self.level * min(math.sqrt(remaining / (n - more)) / self.sigma, 1.0)


def estimate_noise(
    op, y_scaled, *, loss: float, rank: int, summary: DataSummary, scale: float
) -> NoiseEstimate | None:
    """The noise in the residuals of a converged plain fit of rank ``rank`` and plain
    ``loss``, or ``None`` where they tell nothing about it.

    With under ``_RESIDUAL_DOF`` of the measurements left beyond the fit's degrees of
    freedom the residuals misstate ``σ``: 5 times too large (rank-one) or too small
    (matrix), by a review's measurements. A constant ``y`` has no noise to speak of,
    and residuals at the rounding level of ``y`` (the solvers' stall test's) are none.
    """
    n = op.n_samples
    dof = degrees_of_freedom(rank, op.dim)
    if n - dof < _RESIDUAL_DOF * n or not summary.low < summary.high:
        return None
    sigma = math.sqrt(2.0 * n * loss / (n - dof))
    mean = summary.mean / scale
    mean_square = mean * mean + _variance(summary, scale)  # (no OverflowError: ** 2)
    eps = float(op.xp.finfo(y_scaled.dtype).eps)
    if sigma <= ROUNDING_LEVEL * eps * math.sqrt(mean_square):
        return None
    return NoiseEstimate(op, sigma, like=y_scaled, rank=rank)


def _alpha_for_noise(level: float, beta: float, share: float) -> float:
    """The ``alpha`` whose pick-up level ``alpha/√beta`` puts noise of ``level`` at
    ``share`` of it: what both residual warnings advise from."""
    return level * math.sqrt(beta) / share


def warn_if_noise_was_kept(
    noise: NoiseEstimate, gram, *, alpha: float, beta: float, scale: float
) -> bool:
    """A warning when the weakest directions kept are no stronger than the ``noise``,
    and the noise is near or above the level the penalty rejects: pruning may then
    have kept columns that only fit it. Whether it warned.

    A column grows out of the small start along a direction where the residual's
    sensing matrix exceeds the pick-up level ``alpha/√beta`` (in the normalised
    units); noise reaches :attr:`NoiseEstimate.level` there. A direction of ``VVᵀ``
    whose eigenvalue (from ``gram``, ``VᵀV`` on the host, which the fine-tuning's last
    report already holds), as a sensing matrix shows it (times
    ``op.matrix_response``), is within ``_NOISE_MARGIN`` times that level is what
    noise alone could have fitted. (Measured in the user guide, "Noise near the
    pick-up level".)
    """
    op, rank, sigma = noise.op, gram.shape[0], noise.sigma
    pickup = alpha / math.sqrt(beta)
    # The largest direction is never the one in question, so rank 1 has nothing to
    # name. |λ(N)| ≤ max|zᵢ|·(mean ‖sym(Aᵢ)‖_F/g), with |zᵢ| ≤ 2: far below the
    # level, the pass is skipped.
    if pickup <= 0 or rank < 2 or 2.0 * sigma * op.mean_norm < _NOISE_SHARE * pickup:
        return False
    level = noise.level
    if level < _NOISE_SHARE * pickup:
        return False
    shown = op.matrix_response * np.linalg.eigvalsh(gram)[:-1]  # as in a sensing matrix
    weak = int(np.sum(shown <= _NOISE_MARGIN * level))
    if weak == 0:
        return False
    ratio = level / pickup
    weakest, are = (
        ("direction", "it is") if weak == 1 else (f"{weak} directions", "they are")
    )
    warn(
        f"The weakest {weakest} of the {rank} kept (eigenvalues of UUᵀ) may only fit "
        f"noise: in the sensing matrix {are} within {_NOISE_MARGIN:g} times the level "
        f"that noise of the residuals' standard deviation ({sigma * scale:.3g} in the "
        f"units of y) reaches there, and that level is {ratio:.2g} times the penalty's "
        f"pick-up level alpha/√beta, so n_components_={rank} may be too large. Raise "
        f"alpha to about {_alpha_for_noise(level, beta, _NOISE_TARGET):.2g} (the noise "
        "then at half the pick-up level, and weaker directions of M* lost with it), or "
        "choose it by cross-validation; see 'When recovery fails', 'Noise near the "
        "pick-up level', in the user guide.",
        UserWarning,
    )
    return True


def _lowered_alpha(alpha: float, beta: float, level: float) -> float | None:
    """The ``alpha`` the missed-direction warning advises: tenfold lower, but no lower
    than where the rest of the residuals, noise of ``level``, reach ``_NOISE_SHARE``
    of the pick-up level ``alpha/√beta``; ``None`` where that leaves nothing to
    lower (as printed). Lower, a noisy refit keeps columns that fit noise, and the
    noise warning then advises the opposite: on noise 0.05-0.1 of std(y), tenfold
    lower put 62 of 92 refits over the rank, and this floor none."""
    lowered = max(alpha / _MISSED_ALPHA_CUT, _alpha_for_noise(level, beta, _NOISE_SHARE))
    return lowered if float(f"{lowered:.2g}") < alpha else None


def _missed_advice(alpha: float, lowered, threshold, relative_norm: float) -> str:
    """What the missed-direction warning blames and advises: the threshold where it
    cuts above the direction's estimated ``relative_norm``, else the penalty; a
    ``lowered`` alpha (:func:`_lowered_alpha`), or why alpha cannot go lower, and a
    numeric threshold of ``_MISSED_ADVICE`` times that norm."""
    below = (
        f"threshold below that norm (threshold={_MISSED_ADVICE * relative_norm:.2g}, say)"
    )
    stuck = (
        "alpha cannot go lower without fitting noise: the rest of the residuals "
        f"already reach {_NOISE_SHARE:g} of its pick-up level alpha/√beta"
    )
    if lowered is None:
        new_alpha = None
    elif lowered == alpha / _MISSED_ALPHA_CUT:
        new_alpha = f"alpha lowered tenfold (to {lowered:.2g})"
    else:
        new_alpha = (
            f"alpha lowered to {lowered:.2g} (not lower: below it the rest of the "
            f"residuals, at {_NOISE_SHARE:g} of the pick-up level alpha/√beta, would "
            "be fitted as noise)"
        )
    if threshold == "auto":
        cause = (
            "threshold='auto' cuts between needed directions whose eigenvalues are 100 "
            "times apart or more, and the penalty shrinks a weak column further. Refit "
        )
        if new_alpha:
            return cause + f"with {new_alpha} and a numeric {below}"
        return cause + f"with a numeric {below}; {stuck}"
    if threshold >= relative_norm:
        cause = f"threshold={threshold:g} cuts above it. Refit with a {below}"
        if new_alpha:
            return cause + f", and {new_alpha} if the column still does not survive"
        return cause
    cause = f"threshold={threshold:g} is below it, so the penalty kept the column out"
    if new_alpha:
        # A threshold far below the column lets noise columns through once alpha is
        # lower (1e-3 kept 7 for 2 at a tenth of alpha=0.02, noise 0.05).
        return cause + f". Refit with {new_alpha} and a {below}"
    return cause + f", and {stuck}: choose alpha by cross-validation"


@dataclass(frozen=True)
class ResidualSpectrum:
    """The sensing matrix of a converged fit's residuals and what its eigenvalues are
    compared with, for :func:`warn_if_not_psd` and :func:`warn_if_direction_missed`.

    At a converged fit the sensing matrix of the residuals ``rᵢ = yᵢ − ⟨Aᵢ, VVᵀ⟩``,
    ``G = (1/n) Σᵢ rᵢ sym(Aᵢ)/g``, vanishes on the kept directions (``G·V = 0`` is
    the fine-tuning's stationarity). A positive eigenvalue of ``G`` is a direction
    along which a new column would lower the loss; a negative one, a direction along
    which ``y`` asks for negative curvature, which no PSD matrix gives. Residuals of
    noise alone reach about :attr:`NoiseEstimate.level` there, either sign.

    What else makes such an eigenvalue is left out: one measurement that could make
    half of it alone (``one_row``: a heavy-tailed noise's outlier, an outsized row),
    and the residue of the fit's tolerance, below ``resolved``:
    ``max(_MISSED_SHARE, _MISSED_TOL·tol)`` times the largest kept eigenvalue (as a
    sensing matrix shows it): a noiseless fit of the right rank leaves residuals shaped
    by its stop (d = 4, r = 2: errors of 1e-11 to 1e-10 stood 2.2-3 times above their
    level; at tol=1e-3, errors of 2e-3).
    """

    noise: NoiseEstimate
    residual: object  # 𝒜(VVᵀ) − y, in the array module
    matrix: object  # G, in the array module
    eigenvalues: np.ndarray  # of G, ascending, on the host
    resolved: float
    one_row: float
    largest_kept: float

    def count_beyond(self, sign: float, margin: float) -> int:
        """How many eigenvalues of ``sign`` (±1) stand out: beyond ``margin`` times
        the noise's level and the fit's tolerance, where the extreme one of that sign
        does and no single measurement could make half of it; 0 otherwise."""
        cut = max(margin * self.noise.level, self.resolved)
        extreme = float(self.eigenvalues[-1] if sign > 0 else -self.eigenvalues[0])
        if not (extreme > cut and self.one_row <= _MISSED_ONE_ROW * extreme):
            return 0
        return int(np.sum(sign * self.eigenvalues > cut))


def residual_spectrum(noise: NoiseEstimate, residual, gram, *, tol: float):
    """The :class:`ResidualSpectrum` of a converged fit of residual ``residual``
    (``𝒜(VVᵀ) − y`` on the device) and ``gram`` (its ``VᵀV``, host), or ``None``
    where nothing in it could stand out: one more pass over the data (and the noise
    level's, 1 to 9), skipped when the residuals are that small everywhere."""
    op = noise.op
    xp = op.xp
    # Centred, as the noise's signs are: a mean r̄ adds r̄·(1/n) Σᵢ xᵢxᵢᵀ/g ≈ r̄·I to
    # a rank-one sensing matrix (a missed Δ gives r̄ ≈ tr Δ), which lifts every
    # eigenvalue (3 counted for 1 missed).
    weights = xp.mean(residual) - residual
    largest_kept = op.matrix_response * float(np.linalg.eigvalsh(gram)[-1])
    resolved = max(_MISSED_SHARE, _MISSED_TOL * tol) * largest_kept
    # |λ(G)| ≤ max|wᵢ|·(mean ‖sym(Aᵢ)‖_F/g): a fit that close to y skips the passes.
    top_weight, one_row = fetch(
        xp,
        xp.max(xp.abs(weights)),
        xp.max(xp.abs(weights) * op.spectral_bounds()) / op.n_samples,
    )
    if not largest_kept > 0 or float(top_weight) * op.mean_norm <= resolved:
        return None
    matrix, eigenvalues = _sensing_spectrum(op, weights)
    # (A level of 0: balanced signs cancel on a design of one repeated row.)
    if not noise.level > 0:
        return None
    return ResidualSpectrum(
        noise, residual, matrix, eigenvalues, resolved, float(one_row), largest_kept
    )


def warn_if_not_psd(spectrum: ResidualSpectrum) -> bool:
    """A warning when the residuals' sensing matrix has an eigenvalue below
    ``−_NOT_PSD_MARGIN`` times the noise's level: ``y`` holds a part that no PSD matrix
    explains. Whether it warned.

    ``M* = q₁q₁ᵀ − 0.5·q₂q₂ᵀ`` (noiseless, rank-one ``d = 10``, ``n = 400``) fitted
    rank 1 with R² 0.70 and no warning; with matrix measurements the negative part
    was read as noise ("may only fit noise", σ = 0.55 on noiseless data). The lowest
    eigenvalue must also outweigh the largest, where a missed direction shows.
    """
    count = spectrum.count_beyond(-1.0, _NOT_PSD_MARGIN)
    bottom, top = float(spectrum.eigenvalues[0]), float(spectrum.eigenvalues[-1])
    # A direction of M* that the fit lacks leaves negative eigenvalues too, about a
    # third of its own (rank-one, noiseless: 35 of 155 fits that lost one went past
    # the cut); a part of y that is not PSD leaves the lowest 2-160 times the top.
    if count == 0 or -bottom <= top:
        return False
    level = spectrum.noise.level
    which = "an eigenvalue" if count == 1 else f"{count} eigenvalues"
    warn(
        f"The residuals hold a part of y that no PSD matrix explains: their sensing "
        f"matrix has {which} below -{_NOT_PSD_MARGIN:g} times the level that noise of "
        f"their standard deviation reaches there (the lowest {-bottom / level:.2g} "
        "times), along which y asks for negative curvature. y may measure a matrix "
        "that is not PSD (a quadratic network with output weights of both signs, a "
        "difference of two covariances), which this estimator cannot represent: the "
        "fit is the PSD part it could reach; see 'When recovery fails' in the user "
        "guide.",
        UserWarning,
    )
    return True


def warn_if_direction_missed(
    spectrum: ResidualSpectrum, *, alpha: float, beta: float, threshold
) -> None:
    """A warning when the residuals' sensing matrix has an eigenvalue above
    ``_MISSED_MARGIN`` times the noise's level: pruning dropped a direction of
    ``M*``, which stands out as an isolated eigenvalue.

    On a warned fit, one pass over the data per missed direction (the advice's noise
    floor).
    """
    rank, eigenvalues = spectrum.noise.rank, spectrum.eigenvalues
    op = spectrum.noise.op
    # At full rank there is no direction left to miss.
    if rank >= op.dim:
        return
    missed = spectrum.count_beyond(1.0, _MISSED_MARGIN)
    if missed == 0:
        return
    top, level = float(eigenvalues[-1]), spectrum.noise.level
    what = "a direction" if missed == 1 else f"{missed} directions"
    # The column norms the threshold compares are square roots of eigenvalues.
    relative_norm = math.sqrt(top / spectrum.largest_kept)
    # The advice's floor is the noise the rest of the residuals hold: the signal of
    # the directions the fit lacks inflates σ. (eigh only here, on a warned fit.)
    directions = op.xp.linalg.eigh(spectrum.matrix)[1][:, -missed:]
    rest = spectrum.noise.level_without(spectrum.residual, directions)
    lowered = _lowered_alpha(alpha, beta, rest)
    cause = _missed_advice(alpha, lowered, threshold, relative_norm)
    warn(
        f"The residuals hold {what} of M* that the fit lacks: the sensing matrix of "
        f"the residuals has {missed} eigenvalue{'' if missed == 1 else 's'} above "
        f"{_MISSED_MARGIN:g} times the level that noise of their standard deviation "
        f"reaches there (the largest {top / level:.2g} times), so "
        f"n_components_={rank} may be too small. The strongest would have a column "
        f"of about {relative_norm:.2g} times the largest norm: {cause}; see 'Choosing "
        "alpha, beta and threshold' in the user guide.",
        UserWarning,
    )


@dataclass(frozen=True)
class DesignFindings:
    """What the design checks of :func:`warn_about_design` found."""

    #: A check warned: the residual checks, which assume the model fits, say nothing.
    suspect: bool
    #: One named what leaves directions of ``M`` unseen (only the diagonal measured,
    #: unlinked indices, a span too small, a centred ``y``): the tangent check would
    #: only repeat it. (It runs after the isotropy warning, which names another
    #: cause.)
    cause_named: bool


def warn_about_design(op, summary: DataSummary) -> DesignFindings:
    """The checks of the data before the fit, in order: a centred ``y``; only the
    diagonal of ``M`` measured, which leaves the second moment and the links nothing
    more to say; the rank-one vectors' span and isotropy; unlinked indices."""
    centred = warn_if_centred(op, summary)
    diagonal = warn_if_only_the_diagonal(op)
    vectors = VectorDesign(0) if diagonal else warn_if_anisotropic(op)
    unlinked = not diagonal and warn_if_unlinked(op)
    named = centred or diagonal or unlinked or bool(vectors & VectorDesign.UNREACHED)
    return DesignFindings(suspect=named or bool(vectors), cause_named=named)


def warn_about_fit(
    op,
    y_scaled,
    V,
    summary: DataSummary,
    *,
    scale: float,
    loss: float | None,
    gram,
    residual,
    grew: bool,
    all_kept: bool,
    design: DesignFindings,
    alpha: float,
    beta: float,
    threshold,
    tol: float,
) -> None:
    """The checks of the fitted factor ``V`` (normalised units), in order, each only
    where the ones before leave it something to say: the degrees of freedom; R²
    (unless no column ``grew``: pruning then kept the largest and named ``alpha``);
    then the noise in the residuals and the directions they hold.

    ``loss`` is ``V``'s plain loss (read only where a column grew); ``gram``
    (``VᵀV``, host) and ``residual`` those of a converged fine-tuning, else ``None``;
    ``design``: what the design checks found (:class:`DesignFindings`).
    """
    warn_if_not_identified(op, V, tangent=not design.cause_named)
    if not grew:
        return
    if warn_if_no_better_than_the_mean(
        V, loss, summary, scale, alpha=alpha, all_kept=all_kept
    ):
        return
    # Only the residuals of a converged plain fit estimate the noise (the penalty's
    # shrinkage, or an unfinished run, adds to them), and only on data the model
    # describes (a misfit is no noise: features shifted by 3 fitted rank 1 of 3, and
    # 'raise alpha' would have made it worse).
    if gram is None or design.suspect:
        return
    noise = estimate_noise(
        op, y_scaled, loss=loss, rank=V.shape[1], summary=summary, scale=scale
    )
    if noise is None:
        return
    spectrum = residual_spectrum(noise, residual, gram, tol=tol)
    # A part of y no PSD matrix explains inflates the σ the other two read.
    if spectrum is not None and warn_if_not_psd(spectrum):
        return
    # A fit named as keeping too many columns is not also told it has too few; one
    # that kept them all was told by pruning.
    if warn_if_noise_was_kept(noise, gram, alpha=alpha, beta=beta, scale=scale):
        return
    if spectrum is not None and not all_kept:
        warn_if_direction_missed(spectrum, alpha=alpha, beta=beta, threshold=threshold)
