"""The three phases, end to end: regularised fit, greedy pruning, fine-tuning.

This is the whole algorithm on an already-built operator; the estimator validates
input, builds the operator and stores what :func:`fit_three_phase` returns, and
benchmarks call it directly (with a ``callback``) to time the way to a target error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from array_api_compat import device
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._backend import fetch, from_host, holds_magnitude, to_host
from ._operators import MeasurementOperator
from ._penalty import SmoothGroupLasso
from ._pruning import ColumnPruner, EarlyPruning, relative_threshold, select_columns
from ._solvers import _ROUNDING_LEVEL, SolverResult, minimize
from ._warnings import warn

__all__ = [
    "FINETUNE_SOLVERS",
    "ThreePhaseResult",
    "data_scale",
    "default_n_columns",
    "fit_three_phase",
    "regularized_solver",
]

# The estimator's default penalty weight and smoothing (a test ties the two signatures).
_ALPHA, _BETA = 5e-3, 1e-2
# L-BFGS memory of both phases. In the regularised phase the alignment step resets the
# history every 10 iterations, so a memory of 10 was never full: 5 gives the same
# iteration counts (measured on the acceptance problems) with half the worst-case
# two-loop work; the fine-tuning, which never resets, took 11-25 iterations on the
# benchmark problems.
_LBFGS_MEMORY = 5
#: ``minimize`` settings of each ``finetune_solver`` (benchmarks time the same ones).
FINETUNE_SOLVERS = {
    "lbfgs": {"memory": _LBFGS_MEMORY, "scaled": True},
    "gd": {"memory": 0, "scaled": False},
}
# When fine-tuning follows, the regularised phase only has to find the support: it stops
# at this relative gradient (measured: same support and error as at 1e-5, 20-40% fewer
# iterations; 1e-2 lost the support on noisy, ill-conditioned problems).
_SUPPORT_TOL = 1e-3
# Cap, in the normalised units (U measured in √(s/g)), of the norm below which pruning
# never keeps a column.
_FLOOR_CAP = 1e-2
# The regularised phase runs L-BFGS in the metric (UᵀU/‖U‖²_F + δ·I)⁻¹ with this δ (PrecGD's
# damped metric): the columns the penalty is removing, far smaller than the rest, move
# up to 1/δ times faster. Measured: 20-30% fewer iterations to the support (a third
# fewer with alpha=1e-3), same ranks on every problem of a near-threshold sweep;
# δ = 0.05 was as fast, δ = 0.01 slower on the large rank-one problem.
_DAMPING = 0.1
# Early pruning compares the singular values with those this many iterations earlier.
_EARLY_PRUNING_WINDOW = 5
# The data scale leaves out measurements more than this many times the mean size
# (see data_scale).
_SCALE_TRUNCATION = 10.0
# A rank-one y whose mean is within this fraction of its mean absolute deviation of 0
# was centred (see _warn_if_centred): to rounding, in float32 too.
_CENTRED_RTOL = 1e-4
# Rank-one measurements one of whose directions holds more than this share of the
# second moment's trace, and this many times the mean eigenvalue, are far from isotropic
# (see _warn_if_anisotropic).
_ANISOTROPY_SHARE, _ANISOTROPY_RATIO = 0.3, 3.5
# ...and this many times the top eigenvalue that sampling alone gives isotropic vectors.
_SAMPLING_MARGIN = 1.5
# During the regularised phase, columns below this fraction of the largest norm are
# dropped (never above a tenth of a numeric threshold, so they would be pruned anyway).
_DROP_RATIO = 1e-3
# Noise whose level in the residual's sensing matrix reaches this fraction of the
# penalty's pick-up level alpha/√beta may leave columns that only fit it (see
# _warn_if_noise_was_kept); the advice puts it at _NOISE_TARGET of the level.
_NOISE_SHARE, _NOISE_TARGET = 0.7, 0.5


@dataclass
class ThreePhaseResult:
    """Output of :func:`fit_three_phase`, in the units of ``y``."""

    factor: object  # (d, r) array of the operator's namespace
    column_norms: np.ndarray
    support: np.ndarray
    threshold: float
    scale: float
    objective: np.ndarray
    n_iter_finetune: int


def _column_norms(xp, U, pruner: ColumnPruner) -> np.ndarray:
    """Host norms of all the start's columns: ``U``'s, and the dropped ones as recorded."""
    return pruner.all_norms(to_host(xp.sqrt(xp.sum(U**2, axis=0))))


def _resumed(first: SolverResult, second: SolverResult) -> SolverResult:
    """One result for a run of ``second`` resumed from ``first.U`` (with the same pruner,
    which numbers the columns as in the start)."""
    return replace(
        second,
        n_iter=first.n_iter + second.n_iter,
        objective=first.objective + second.objective,
        seconds=first.seconds + second.seconds,
        moved=first.moved or second.moved,
    )


def _end_phase(
    result: SolverResult,
    phase: str,
    progress: _Progress,
    *,
    budget: str,
    advice: str,
    quantity: str,
) -> None:
    """A phase's ``ConvergenceWarning`` if it used its budget, named as the user set it
    (the solver only knows what it was handed), and its ``verbose`` line."""
    if not result.converged:
        warn(
            f"{phase}: did not converge in {budget} iterations (gradient norm "
            f"{result.gradient_norm:.2e} in normalised units); {advice}.",
            ConvergenceWarning,
        )
    progress.say(
        f"{phase}: {result.n_iter} iterations, {quantity} "
        f"{progress.in_units_of_y(result.objective[-1]):.4e}, {result.seconds:.3f} s"
    )


def _outsized_advice(op, summary: _DataSummary, consequence: str) -> str:
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
        f"{_SCALE_TRUNCATION:g} times the mean {op.size_formula}: they dominate the "
        f"squared loss, so {consequence}. Rescaling a measurement and its yᵢ alike "
        "keeps yᵢ = ⟨Aᵢ, M⟩ (it reweights the loss): fit "
        f"{op.unit_rescaling} instead"
    )


def _in_units_of_y(xp, V, root: float):
    """``V·root``, or a ``FloatingPointError`` where that leaves the dtype's range
    (checked on the host first, so no overflow warning precedes the error)."""
    (normalised,) = fetch(xp, xp.max(xp.abs(V)))
    if not holds_magnitude(xp, V.dtype, float(normalised) * root):
        raise FloatingPointError(
            f"The fitted factor, {root:.3g} times its normalised values in the units of "
            f"y and X, is not representable in {V.dtype}: rescale y or X (the fit in "
            "normalised units does not depend on their scale)."
        )
    return V * root


def regularized_solver(alpha: float = _ALPHA, beta: float = _BETA) -> dict:
    """``minimize`` settings of the regularised phase (benchmarks time the same ones)."""
    return {
        "penalty": SmoothGroupLasso(beta),
        "alpha": alpha,
        "memory": _LBFGS_MEMORY,
        "scaled": True,
        "damping": _DAMPING,
    }


def default_n_columns(n_features: int) -> int:
    """Default width ``k = min(d, 10 + 2⌈√d⌉)``: roomy for low ranks, far below ``d²``."""
    return min(n_features, 10 + 2 * math.ceil(math.sqrt(n_features)))


@dataclass(frozen=True)
class _DataSummary:
    """The host numbers about ``y`` that a fit reads (the data scale, the centred-``y``
    and the no-better-than-the-mean checks), reduced on the device and fetched in one
    transfer by :func:`_summarize`."""

    mean: float
    spread: float  # mean |yᵢ − ȳ|
    # mean ((yᵢ − ȳ)/spread)²: the variance in units of the spread, which stays in the
    # float range whatever the magnitude of y (its variance itself overflows past 1e154)
    relative_variance: float
    low: float
    high: float
    n_outsized: int  # measurements over _SCALE_TRUNCATION times the mean size


def _summarize(xp, op: MeasurementOperator, y) -> _DataSummary:
    device_mean = xp.mean(y)
    centred = y - device_mean
    spread = xp.mean(xp.abs(centred))
    relative = centred / xp.where(spread > 0, spread, xp.ones_like(spread))
    mean, n_outsized, low, high, spread, relative_variance = (
        float(v)
        for v in fetch(
            xp,
            device_mean,
            xp.sum(xp.astype(_outsized(op), y.dtype)),
            xp.min(y),
            xp.max(y),
            spread,
            xp.mean(relative * relative),
        )
    )
    return _DataSummary(mean, spread, relative_variance, low, high, round(n_outsized))


def _outsized(op: MeasurementOperator):
    """Mask of the measurements more than ``_SCALE_TRUNCATION`` times the mean size."""
    return op.sizes > _SCALE_TRUNCATION * op.mean_size


def data_scale(
    xp, op: MeasurementOperator, y, summary: _DataSummary | None = None
) -> float:
    """``s = λ_max(S₀)``, ``S₀ = (1/n) Σᵢ wᵢ sym(Aᵢ)/g``, with ``wᵢ = yᵢ − ȳ`` on all
    but outsized measurements (``g`` the operator's gain: 1 unless it normalises).

    Centring ``y`` removes the isotropic part that rank-one measurements add: for
    Gaussian ``xᵢ``, ``E[yᵢ·xᵢxᵢᵀ/g] = g·(2M* + tr(M*)·I)`` and ``E[yᵢ] = g·tr(M*)``, so
    ``E[S₀] = 2g·M*``; for Gaussian ``Aᵢ``, ``ȳ ≈ 0`` and ``E[S₀] = g·M*``. Either way
    ``s`` tracks the top eigenvalue of ``M*``, whatever its rank. (Subtracting the median
    eigenvalue instead took a signal eigenvalue once ``r ≥ d/2``: with
    matrix measurements at ``d = 10``, ``r = 5-6``, ``s`` fell 2-5 times and the rank
    came out one or two too large.)

    ``wᵢ = 0`` where the measurement's size (``op.sizes``: ``‖xᵢ‖²`` or
    ``‖sym(Aᵢ)‖²_F``) exceeds ten times the mean: ``S₀`` is of fourth order in a
    rank-one ``xᵢ``, and one noiseless row ten times the typical norm among 3000 raised
    ``s`` 48-fold, which lost every direction but one. (Truncating on ``|yᵢ − ȳ|``
    instead, as in the truncated spectral method of Chen & Candès 2015, also removed
    the few rows that carry the signal in sparse designs: with single-entry ``Aᵢ`` and
    a spiky ``M*``, ``s`` fell 16-600 times and 10-15 noise columns were kept.) ``S₀``
    is formed from ``y`` in units of its mean absolute deviation, of order one
    whatever the units of ``y``; a constant ``y`` has none, and forms ``S₀`` uncentred,
    in units of ``|ȳ|`` (outsized measurements still left out), and ``y ≡ 0`` gives 1.
    ``s = max |λ(S₀)|`` where ``λ_max(S₀) ≤ 0``. ``summary``: :func:`_summarize`'s, if
    already taken.
    """
    summary = summary or _summarize(xp, op, y)
    mean, spread = summary.mean, summary.spread
    if not (math.isfinite(mean) and math.isfinite(spread)):
        raise FloatingPointError(
            "The data scale is not finite: y holds values too large for the dtype; "
            "rescale it."
        )
    # Constant y, tested exactly: its rounded mean leaves a spread of an ulp or so,
    # which formed S₀ from rounding noise (y ≡ 0.1 gave s = 1.7e-17, not about 0.1).
    if summary.low < summary.high:
        centred = y - mean
        weights = xp.where(_outsized(op), xp.zeros_like(y), centred) / spread
        unit = spread
    elif mean != 0:
        weights = xp.where(_outsized(op), xp.zeros_like(y), y) / abs(mean)
        unit = abs(mean)
    else:
        return 1.0
    S0 = op.sensing_matrix(weights)
    if not bool(xp.all(xp.isfinite(S0))):
        raise FloatingPointError(
            "The data scale (1/n)·Σᵢ yᵢAᵢ is not finite: X holds values too large for "
            "the dtype; rescale it."
        )
    eigenvalues = to_host(xp.linalg.eigvalsh(S0))
    scale = float(eigenvalues[-1])
    if scale <= 0:
        scale = float(np.max(np.abs(eigenvalues)))
    return scale * unit if scale > 0 else 1.0


class _Progress:
    """What a fit shows while it runs: ``verbose`` messages and the ``callback``, with
    objectives and factors in the units of ``y`` (the solvers see normalised ones)."""

    def __init__(self, verbose: int, callback, scale: float, root: float):
        self.verbose, self.callback = verbose, callback
        self.scale, self.root = scale, root

    def say(self, message: str) -> None:
        """``verbose >= 1``: a line per phase, the pruning and the total."""
        if self.verbose >= 1:
            print(f"[PrunedFactorSensing] {message}")

    def in_units_of_y(self, objective: float) -> float:
        return objective * self.scale * self.scale

    def callback_for(self, phase: str):
        """The solver's ``callback`` for ``phase``: the user's, on the factor in the
        units of ``y``."""
        if self.callback is None:
            return None
        return lambda V: self.callback(phase, V * self.root)

    def lines_for(self, phase: str, done: int = 0):
        """``verbose=2``: the solver's ``progress``, a line every tenth iteration,
        numbered from the phase's start (a resumed run goes on counting from ``done``)."""
        if self.verbose < 2:
            return None

        def line(n_iter, value, gradient, n_columns):
            if (done + n_iter) % 10 == 0:
                print(
                    f"  [{phase}] iter {done + n_iter:5d}  objective "
                    f"{self.in_units_of_y(value):.6e}  relative gradient {gradient:.2e}  "
                    f"columns {n_columns}"
                )

        return line


def fit_three_phase(
    op: MeasurementOperator,
    y,
    *,
    n_columns=None,
    alpha=_ALPHA,
    beta=_BETA,
    threshold="auto",
    finetune_iter=2000,
    finetune_solver="lbfgs",
    max_iter=1000,
    tol=1e-10,
    init_scale=1e-3,
    random_state=None,
    verbose=0,
    callback=None,
) -> ThreePhaseResult:
    """Run the three phases on operator ``op`` and targets ``y`` (same namespace).

    Parameters are those of :class:`~sklearn_lowrank.PrunedFactorSensing`, already
    validated. ``callback(phase, U)``, if given, is called after every iteration with the
    phase name and the current factor in the units of ``y``.
    """
    xp = op.xp
    d = op.dim
    # int(): scikit-learn's Integral constraint admits True, which NumPy's shapes refuse.
    k = int(n_columns) if n_columns is not None else default_n_columns(d)
    rng = check_random_state(random_state)
    summary = _summarize(xp, op, y)
    _warn_if_centred(op, summary)
    scale = data_scale(xp, op, y, summary)
    _warn_if_anisotropic(op)
    # Solved in units where the (normalised) measurements and y/s are of order one:
    # op(VVᵀ) = y/s with op = 𝒜/g, so U = V·√(s/g) in the units of y and X: √s/√g,
    # since s/g itself can leave the float range where the root does not (X·1e-150
    # with y·1e100: s/g ≈ 1e400, the factor ≈ 1e200).
    root = math.sqrt(scale) / math.sqrt(op.gain)
    y_scaled = y / scale
    progress = _Progress(verbose, callback, scale, root)
    # Drawn on the host so a seed gives the same start on every backend.
    init = rng.standard_normal((d, k)) * (init_scale / math.sqrt(d))
    U = from_host(xp, init, dtype=y.dtype, device=device(y))

    # Phase 1: regularised fit (plain loss when alpha == 0, and then no column is
    # dropped during it), in units where the random start's columns have norm about
    # init_scale. The floor is the start's largest column, not init_scale: columns of
    # a start that never moved (a penalty too strong to let any grow) reach 1.1-1.8
    # times init_scale.
    start_norm = float(np.max(np.linalg.norm(init, axis=0)))
    floor = min(start_norm, _FLOOR_CAP)
    # One pruner for the phase, resumed run included: it numbers the columns as in the
    # start, measures growth from the start and compares with the singular values of
    # earlier iterations, whichever run they were in.
    drop_ratio = _DROP_RATIO if threshold == "auto" else min(_DROP_RATIO, 0.1 * threshold)
    pruner = ColumnPruner(
        k,
        start_norm=start_norm,
        drop_ratio=drop_ratio,
        early_pruning=EarlyPruning(threshold, floor=floor, window=_EARLY_PRUNING_WINDOW),
    )
    regularized, norms = _regularized_phase(
        op,
        y_scaled,
        U,
        pruner,
        progress,
        summary,
        alpha=alpha,
        beta=beta,
        threshold=threshold,
        floor=floor,
        max_iter=max_iter,
        tol=tol,
        finetune_iter=finetune_iter,
        init_scale=init_scale,
    )
    norms *= root

    # Phase 2: greedy pruning.
    # A column that never grew past a small random start picked up no signal; with a
    # large start that test says nothing, so the floor is capped well below the norms
    # (≥ √(alpha/√beta) of the largest) that signal columns reach.
    # Columns dropped during phase 1 stay pruned, whatever the rule says of their norms.
    alive = np.zeros(k, dtype=bool)
    alive[pruner.columns] = True
    support, relative = select_columns(
        norms, threshold, floor=floor * root, alive=alive, dim=d, penalized=alpha > 0
    )
    keep = np.flatnonzero(support[pruner.columns])
    V = xp.take(regularized.U, from_host(xp, keep, device=device(y)), axis=1)
    progress.say(
        f"pruning: kept {int(support.sum())} of {k} columns "
        f"(threshold {relative:.3g} x largest norm)"
    )

    # Phase 3: fine-tuning on the plain loss.
    curve = list(regularized.objective)
    n_finetune, loss, settled = 0, None, False
    if finetune_iter > 0:
        finetuned = _finetuning_phase(
            op, y_scaled, V, progress, summary, finetune_iter, finetune_solver, tol
        )
        V, n_finetune = finetuned.U, finetuned.n_iter
        curve += finetuned.objective
        loss, settled = finetuned.objective[-1], finetuned.converged

    rank = int(support.sum())
    _warn_if_not_identified(op, rank)
    # When no column grew, pruning kept the largest anyway and said so (naming alpha):
    # the fit's R² then says nothing more about y.
    if np.any(norms[support] > floor * root):
        loss = _plain_loss(op, y_scaled, V) if loss is None else loss
        explained = not _warn_if_no_better_than_the_mean(
            op, V, loss, summary, scale, alpha=alpha
        )
        # Only the residuals of a converged plain fit estimate the noise (the penalty's
        # shrinkage, or an unfinished run, adds to them).
        if explained and settled:
            _warn_if_noise_was_kept(
                op, y_scaled, rank, loss, rng, alpha, beta, summary, scale
            )
    return ThreePhaseResult(
        factor=_in_units_of_y(xp, V, root),
        column_norms=norms,
        support=support,
        threshold=relative,
        scale=scale,
        objective=_curve_in_units_of_y(curve, scale),
        n_iter_finetune=n_finetune,
    )


def _regularized_phase(
    op,
    y_scaled,
    U,
    pruner: ColumnPruner,
    progress: _Progress,
    summary: _DataSummary,
    *,
    alpha,
    beta,
    threshold,
    floor: float,
    max_iter: int,
    tol: float,
    finetune_iter: int,
    init_scale: float,
) -> tuple[SolverResult, np.ndarray]:
    """Phase 1 from the start ``U``: its result and the start's column norms (in the
    normalised units), run on to ``√tol`` when the support is not found yet."""
    xp = op.xp

    def regularized_fit(V, tol, max_iter, done=0):
        return minimize(
            op,
            y_scaled,
            V,
            **regularized_solver(alpha, beta),
            max_iter=max_iter,
            tol=tol,
            pruner=pruner,
            phase="regularized fit",
            callback=progress.callback_for("regularized fit"),
            progress=progress.lines_for("regularized fit", done),
        )

    final_tol = math.sqrt(tol)
    # Whatever tol, the phase runs to _SUPPORT_TOL: a looser stop loses the support
    # (measured: tol=1e-3, i.e. √tol = 0.03, kept all 20 columns of a rank-3 problem).
    support_tol = _SUPPORT_TOL if finetune_iter > 0 else min(final_tol, _SUPPORT_TOL)
    regularized = regularized_fit(U, support_tol, max_iter)
    if not regularized.moved:
        # Every search found no decrease: the start's effect on the objective is below
        # the dtype's resolution (float32, init_scale 1e-25; or float64, init_scale
        # 1e-10 with alpha=1, whose penalty shrinks every column), and five zero steps
        # passed the stall test. Pruning would return columns of the random start.
        dtype = y_scaled.dtype
        raise FloatingPointError(
            "regularized fit: no step from the random start changed the objective; "
            f"init_scale={init_scale:g} may be too small for {dtype} (raise it"
            f"{', or use float64' if dtype == xp.float32 else ''}), or alpha="
            f"{alpha:g} too strong for any column to grow (lower it)."
        )
    norms = _column_norms(xp, regularized.U, pruner)
    if (
        threshold == "auto"
        and alpha > 0
        and support_tol > final_tol
        and regularized.n_iter < max_iter
        and relative_threshold(norms, floor=floor) == 0.0
    ):
        # No gap among the norms yet (weak penalty, ill-conditioned M*): the support is
        # not found, so the phase goes on to the tolerance it has without fine-tuning.
        # The resumed run starts in the damped metric again, even after an early cut
        # (measured on 5 such runs, rank-one d=20, n=1500, κ=50, alpha=1e-3: undamped,
        # the phase took 41-59 iterations instead of 26-29, for the same rank).
        progress.say("regularized fit: no gap among the column norms yet; going on")
        more = regularized_fit(
            regularized.U, final_tol, max_iter - regularized.n_iter, regularized.n_iter
        )
        regularized = _resumed(regularized, more)
        norms = _column_norms(xp, regularized.U, pruner)
    slow = "the fit converges slowly and may keep too many columns"
    _end_phase(
        regularized,
        "regularized fit",
        progress,
        budget=f"max_iter={max_iter}",
        advice="increase max_iter" + _outsized_advice(op, summary, slow),
        quantity="objective",
    )
    return regularized, norms


def _finetuning_phase(
    op,
    y_scaled,
    V,
    progress: _Progress,
    summary: _DataSummary,
    finetune_iter: int,
    finetune_solver: str,
    tol,
) -> SolverResult:
    """Phase 3: the plain loss from the pruned factor ``V``."""
    finetuned = minimize(
        op,
        y_scaled,
        V,
        **FINETUNE_SOLVERS[finetune_solver],
        max_iter=finetune_iter,
        tol=tol,
        phase="fine-tuning",
        callback=progress.callback_for("fine-tuning"),
        progress=progress.lines_for("fine-tuning"),
    )
    slow = "the fine-tuning converges slowly"
    _end_phase(
        finetuned,
        "fine-tuning",
        progress,
        budget=f"finetune_iter={finetune_iter}",
        advice="increase finetune_iter or tol" + _outsized_advice(op, summary, slow),
        quantity="loss",
    )
    return finetuned


def _curve_in_units_of_y(curve: list, scale: float) -> np.ndarray:
    """The objectives ``curve`` (normalised units) in the units of ``y``; a warning
    where they leave the float64 range."""
    # (scale * scale, not scale**2: a Python float's power raises on overflow; the
    # warning below replaces NumPy's.)
    with np.errstate(over="ignore"):
        objective = np.asarray(curve) * scale * scale
    if not np.all(np.isfinite(objective)):
        warn(
            f"The objective exceeds the float64 range in the units of y (data scale "
            f"{scale:.3g}): loss_curve_ holds inf. The fit, computed in normalised "
            "units, is unaffected; rescale y to read the curve.",
            RuntimeWarning,
        )
    return objective


def _warn_if_centred(op, summary: _DataSummary) -> None:
    """A warning when measurements that are never negative for a PSD ``M`` (rank-one)
    come with a centred ``y``: a mean of 0 to rounding, or negative beyond three
    standard errors.

    ``E[yᵢ] = E[xᵢᵀMxᵢ] > 0`` for any PSD ``M ≠ 0``, whatever the noise: neither can
    come from such data but by chance (below 0.2 % for a ``y`` of pure noise, far
    less with any signal). A centred ``y`` (a StandardScaler on the target) otherwise
    fits silently, much of it out of reach (training R² 0.3-0.7).
    """
    if not op.nonnegative:
        return
    mean, spread = summary.mean, summary.spread
    standard_error = spread * math.sqrt(summary.relative_variance / op.n_samples)
    if spread > 0 and (abs(mean) <= _CENTRED_RTOL * spread or mean < -3 * standard_error):
        warn(
            f"y has a mean of {mean:.3g} for a spread of {spread:.3g}, but rank-one "
            "measurements ⟨xᵢxᵢᵀ, M⟩ = xᵢᵀMxᵢ of a PSD M are never negative: y looks "
            "centred (a StandardScaler on the target, in TransformedTargetRegressor "
            "say) or shifted down. Fit the raw y, or scale it without centring "
            "(StandardScaler(with_mean=False)).",
            UserWarning,
        )


def _warn_if_anisotropic(op) -> None:
    """A warning when the vectors ``xᵢ`` of rank-one measurements are far from
    isotropic: the top eigenvalue of their second moment holds over
    ``_ANISOTROPY_SHARE`` of its trace and is over ``_ANISOTROPY_RATIO`` times the mean
    eigenvalue, and over the spread that sampling alone gives (which keeps Gaussian
    ``xᵢ`` in small ``d``, or few of them, quiet; ``d ≤ 3`` never warns).

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
        return  # (an overflowed moment: the fit reports the overflow later)
    eigenvalues = to_host(op.xp.linalg.eigvalsh(moment))
    top, trace = float(eigenvalues[-1]), float(np.sum(eigenvalues))
    # Sampling alone spreads the eigenvalues of isotropic vectors' second moment up to
    # about (1 + √(d/n))² times their mean (the Marchenko–Pastur edge; 1.5 times it
    # for the fluctuations of small n): with n ≤ d, a few Gaussian xᵢ held 47-100% of
    # the trace. From n = 5d on, 3.5 is the larger.
    edge = _SAMPLING_MARGIN * (1.0 + math.sqrt(op.dim / op.n_samples)) ** 2
    ratio = max(_ANISOTROPY_RATIO, edge)
    if top > _ANISOTROPY_SHARE * trace and top * op.dim > ratio * trace:
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


def _warn_if_not_identified(op, rank: int) -> None:
    """A warning when the distinct measurements are too few to identify a rank-``rank``
    PSD matrix: no more than its degrees of freedom (fewer, at full rank).

    As many measurements as unknowns are enough only at full rank (``rank = d``), where
    the matrices of that rank are an open set and the measurements a linear system;
    below it they admit finitely many solutions (two rank-one 2 × 2 matrices fit two
    rank-one measurements: the signs of ``xᵢᵀu`` are free)."""
    d = op.dim
    degrees_of_freedom = rank * d - rank * (rank - 1) // 2
    needed = degrees_of_freedom if rank >= d else degrees_of_freedom + 1
    # Repeated measurements add no equations (a design repeated 20 times gave a wrong
    # estimate with training R² 1.0). Counted only when the rows alone would pass, and
    # first among 2·needed rows: a lower bound, which settles it unless rows repeat
    # (the pass over all the data is then left out).
    n_distinct = op.n_samples
    if n_distinct >= needed:
        head = 2 * needed
        n_distinct = op.distinct_measurements(rows=head)
        if n_distinct < needed and head < op.n_samples:
            n_distinct = op.distinct_measurements()
    if n_distinct < needed:
        plural = "" if n_distinct == 1 else "s"
        counted = f"{n_distinct} measurement{plural}"
        if n_distinct < op.n_samples:
            counted = f"{n_distinct} distinct measurement{plural} (in {op.n_samples} rows)"
        warn(
            f"{counted} for a rank-{rank} estimate of a {d} x {d} matrix, which has "
            f"{degrees_of_freedom} degrees of freedom: with "
            f"{'fewer' if rank >= d else 'no more'} measurements than unknowns, other "
            "matrices of that rank fit the data as well, so the estimate is not "
            "identified. Recovery needs more measurements "
            "(the theory: of the order of r·d), or a lower rank (larger alpha).",
            UserWarning,
        )


def _variance(summary: _DataSummary, scale: float) -> float:
    """The variance of ``y/scale``, from the spread in the units of ``y``."""
    return summary.relative_variance * (summary.spread / scale) ** 2


def _plain_loss(op, y_scaled, V) -> float:
    """The plain loss ``‖𝒜(VVᵀ) − y_scaled‖²/2n`` of ``V``: one pass."""
    residual = op.predict(V) - y_scaled
    (loss,) = fetch(op.xp, op.xp.mean(residual * residual) / 2.0)
    return float(loss)


def _warn_if_no_better_than_the_mean(
    op, V, loss: float, summary: _DataSummary, scale: float, *, alpha: float
) -> bool:
    """A warning when the fitted factor ``V``, of plain loss ``loss``, predicts
    ``y/scale`` no better than its mean (training R² ≤ 0); whether it warned.

    The true matrix fits better than the mean whenever ``y`` carries any signal, so
    such a fit kept too few columns (a penalty too strong) or ``y`` is not
    ``⟨Aᵢ, M⟩`` for a low-rank PSD ``M``: a centred ``y`` (rank-one measurements
    predict ``‖Uᵀxᵢ‖² ≥ 0``), centred features, matrices read as vectors. Those are
    silent otherwise when pruning keeps some but not all columns (a negative R² with
    19 of 20 columns kept, features centred by a StandardScaler).
    """
    variance = _variance(summary, scale)
    # min and max tell a constant y, whose variance is rounding noise, exactly.
    if not (summary.low < summary.high and 2.0 * loss >= variance):
        return False
    columns = "column" if V.shape[1] == 1 else "columns"
    cause = (
        "the penalty (alpha) may be too strong, or y not" if alpha > 0 else "y may not be"
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


def _top_eigenvalue(op, weights, like) -> float:
    """``λ_max((1/n) Σᵢ wᵢ sym(Aᵢ)/g)`` for host ``weights``: one pass over the data."""
    xp = op.xp
    weights = from_host(xp, weights, dtype=like.dtype, device=device(like))
    return float(to_host(xp.linalg.eigvalsh(op.sensing_matrix(weights)))[-1])


def _warn_if_noise_was_kept(
    op, y_scaled, rank: int, loss: float, rng, alpha, beta, summary: _DataSummary, scale
) -> None:
    """A warning when the noise in ``y`` is near or above the level the penalty
    rejects, so that pruning may have kept columns that only fit it.

    A column grows out of the small start along a direction where the residual's
    sensing matrix ``(1/n) Σᵢ rᵢ sym(Aᵢ)/g`` exceeds the pick-up level
    ``alpha/√beta`` (in the normalised units). For noise of standard deviation ``σ``,
    that matrix is about ``σ·N``, ``N = (1/n) Σᵢ zᵢ sym(Aᵢ)/g`` for standard normal
    ``zᵢ``: ``σ`` is estimated from the fit's residuals (``loss``, over the
    ``n − dof`` degrees of freedom the rank-``rank`` fit leaves) and ``λ_max(N)``
    from one draw, one pass over the data. Over 216 noisy fits (d = 20, r = 3, both
    kinds, 2-15 times the degrees of freedom, noise 0.01-0.5 of the standard
    deviation of the noiseless y) 70 kept a wrong rank, silently: this warning now
    comes on 63 of them (the other 7 say they explain none of the variance, which
    skips it) and on 15 of the 146 others, all with noise of 0.1 or more.
    """
    n, d = op.n_samples, op.dim
    dof = rank * d - rank * (rank - 1) // 2
    pickup = alpha / math.sqrt(beta)
    if pickup <= 0 or n <= dof:
        return
    sigma = math.sqrt(2.0 * n * loss / (n - dof))
    # Residuals at rounding level, as the solvers' stall test counts them, are no noise.
    mean = summary.mean / scale
    mean_square = mean * mean + _variance(summary, scale)  # (no OverflowError: ** 2)
    eps = float(op.xp.finfo(y_scaled.dtype).eps)
    if sigma <= _ROUNDING_LEVEL * eps * math.sqrt(mean_square):
        return
    z = rng.standard_normal(n)
    # |λ(N)| ≤ max|zᵢ|·(mean ‖sym(Aᵢ)‖_F/g): noise far below the level skips the pass.
    if sigma * float(np.max(np.abs(z))) * op.mean_norm < _NOISE_SHARE * pickup:
        return
    ratio = sigma * _top_eigenvalue(op, z, like=y_scaled) / pickup
    if ratio < _NOISE_SHARE:
        return
    warn(
        f"The residuals are near the level the penalty rejects: in their sensing "
        f"matrix, noise of their standard deviation ({sigma * scale:.3g} in the units "
        f"of y) reaches {ratio:.2g} times the pick-up level alpha/√beta. If they are "
        f"noise, columns that only fit it may have survived pruning, and "
        f"n_components_={rank} may be too large: raise alpha to about "
        f"{alpha * ratio / _NOISE_TARGET:.2g} (the noise then at half that level, and "
        "weaker directions of M* lost with it), or choose it by cross-validation; see "
        "'Noise near the pick-up level' in the user guide.",
        UserWarning,
    )
