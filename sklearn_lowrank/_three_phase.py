"""The three phases, end to end: regularised fit, greedy pruning, fine-tuning.

This is the whole algorithm on an already-built operator; the estimator validates
input, builds the operator and stores what :func:`fit_three_phase` returns, and
benchmarks call it directly (with a ``callback``) to time the way to a target error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._backend import fetch, from_host, holds_magnitude, to_host
from ._diagnostics import (
    outsized_advice,
    too_few_for_any_advice,
    warn_about_design,
    warn_about_fit,
    warn_about_pruning,
)
from ._operators import MeasurementOperator
from ._penalty import SmoothGroupLasso
from ._pruning import ColumnPruner, EarlyPruning, relative_threshold, select_columns
from ._scaling import DataSummary, data_scale, summarize
from ._solvers import SolverResult, minimize, plain_loss, with_factor
from ._warnings import warn

__all__ = [
    "FINETUNE_SOLVERS",
    "ThreePhaseResult",
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
# The fine-tuning looks for directions below the pruning threshold every this many
# iterations (see fit_three_phase), as the regularised phase aligns its columns.
_PRUNE_EVERY = 10
# A top eigenvalue within this fraction above the pick-up level makes no saddle worth
# escaping: growth that slow would spend the budget.
_SADDLE_MARGIN = 0.01
# A run resumed at that saddle starts from a factor of at least this norm per column
# (the default init_scale's), where the line search resolves its steps.
_RESOLVED_START = 1e-3
# During the regularised phase, columns below this fraction of the largest norm are
# dropped (never above a tenth of a numeric threshold, so they would be pruned anyway).
_DROP_RATIO = 1e-3


@dataclass
class ThreePhaseResult:
    """Output of :func:`fit_three_phase`: the factor and its norms in the units of
    ``y`` and ``X`` (``√s/√g`` times the normalised ones), the support and the
    relative threshold, the data scale ``s`` and the objective in the units of ``y``."""

    factor: object  # (d, r) array of the operator's namespace
    column_norms: np.ndarray
    support: np.ndarray
    threshold: float
    data_scale: float
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
        f"{progress.objective(result.objective[-1]):.4e}, {result.seconds:.3f} s"
    )


def _factor_in_units_of_y(xp, V, factor_unit: float):
    """``V·factor_unit``, or a ``FloatingPointError`` where that leaves the dtype's range
    (checked on the host first, so no overflow warning precedes the error)."""
    (normalised,) = fetch(xp, xp.max(xp.abs(V)))
    if not holds_magnitude(xp, V.dtype, float(normalised) * factor_unit):
        raise FloatingPointError(
            f"The fitted factor, {factor_unit:.3g} times its normalised values in the "
            f"units of y and X, is not representable in {V.dtype}: rescale y or X (the "
            "fit in normalised units does not depend on their scale)."
        )
    return V * factor_unit


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


class _Progress:
    """What a fit shows while it runs: ``verbose`` messages and the ``callback``, with
    objectives and factors in the units of ``y`` (the solvers see normalised ones)."""

    def __init__(self, verbose: int, callback, scale: float, factor_unit: float):
        self.verbose, self.callback = verbose, callback
        self.scale, self.factor_unit = scale, factor_unit

    def say(self, message: str) -> None:
        """``verbose >= 1``: a line per phase, the pruning and the total."""
        if self.verbose >= 1:
            print(f"[PrunedFactorSensing] {message}")

    def objective(self, value: float) -> float:
        """A normalised objective ``value`` in the units of ``y``."""
        return value * self.scale * self.scale

    def callback_for(self, phase: str):
        """The solver's ``callback`` for ``phase``: the user's, on the factor in the
        units of ``y``."""
        if self.callback is None:
            return None
        return lambda V: self.callback(phase, V * self.factor_unit)

    def lines_for(self, phase: str, done: int = 0):
        """``verbose=2``: the solver's ``progress``, a line every tenth iteration,
        numbered from the phase's start (a resumed run goes on counting from ``done``)."""
        if self.verbose < 2:
            return None

        def line(n_iter, value, gradient, n_columns):
            if (done + n_iter) % 10 == 0:
                print(
                    f"  [{phase}] iter {done + n_iter:5d}  objective "
                    f"{self.objective(value):.6e}  relative gradient {gradient:.2e}  "
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
    summary = summarize(op, y)
    design = warn_about_design(op, summary)
    scale = data_scale(xp, op, y, summary)
    # Solved in units where the (normalised) measurements and y/s are of order one:
    # op(VVᵀ) = y/s with op = 𝒜/g, so U = V·√(s/g) in the units of y and X: √s/√g,
    # since s/g itself can leave the float range where its root does not (X·1e-150
    # with y·1e100: s/g ≈ 1e400, the factor ≈ 1e200).
    factor_unit = math.sqrt(scale) / math.sqrt(op.gain)
    y_scaled = y / scale
    progress = _Progress(verbose, callback, scale, factor_unit)
    # Drawn on the host so a seed gives the same start on every backend.
    init = rng.standard_normal((d, k)) * (init_scale / math.sqrt(d))
    U = from_host(xp, init, dtype=y.dtype, like=y)

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
    norms *= factor_unit

    # Phase 2: greedy pruning.
    # A column that never grew past a small random start picked up no signal; with a
    # large start that test says nothing, so the floor is capped well below the norms
    # (≥ √(alpha/√beta) of the largest) that signal columns reach.
    # Columns dropped during phase 1 stay pruned, whatever the rule says of their norms.
    alive = np.zeros(k, dtype=bool)
    alive[pruner.columns] = True
    support, relative = select_columns(
        norms, threshold, floor=floor * factor_unit, alive=alive
    )
    warn_about_pruning(
        norms,
        support,
        relative,
        floor=floor * factor_unit,
        dim=d,
        penalized=alpha > 0,
        converged=regularized.converged,
    )
    keep = np.flatnonzero(support[pruner.columns])
    V = xp.take(regularized.U, from_host(xp, keep, like=y, index=True), axis=1)
    progress.say(
        f"pruning: kept {int(support.sum())} of {k} columns "
        f"(threshold {relative:.3g} x largest norm)"
    )

    # Phase 3: fine-tuning on the plain loss.
    curve = list(regularized.objective)
    n_finetune, loss, gram, residual = 0, None, None, None
    if finetune_iter > 0:
        # Pruning kept columns that the regularised fit had not yet shrunk, and the
        # fine-tuning did (the missed-direction advice's small numeric threshold at
        # κ = 1e4 kept 13 for a rank-3 M*, 10 of them below 1e-5 of the largest): the
        # rule, applied to the fitted directions, prunes them, and the fine-tuning goes
        # on within its budget, as often as directions fall below (a second run had
        # left 6 of 9 at 1e-6 with threshold=1e-4). It looks every _PRUNE_EVERY
        # iterations: shrinking them to the end had taken 1266 of 1267 iterations. Not
        # without a penalty: greedy pruning then fails, and the package shows it
        # rather than mending it.
        relative_after = relative if alpha > 0 else 0.0

        def below(n_iter, gram):
            if n_iter % _PRUNE_EVERY != 0:
                return False
            return bool(_below(np.linalg.eigvalsh(gram), relative_after).any())

        def finetune(V, budget, done=0):
            return _finetuning_phase(
                op, y_scaled, V, progress, budget, finetune_solver, tol, done, below
            )

        finetuned = finetune(V, finetune_iter)
        while True:
            principal = _principal_directions(xp, finetuned, relative_after)
            if principal is None:
                break
            progress.say(
                f"pruning after {finetuned.n_iter} fine-tuning iterations: kept "
                f"{principal.shape[1]} of {finetuned.U.shape[1]} directions (threshold "
                f"{relative:.3g} x largest)"
            )
            left = finetune_iter - finetuned.n_iter
            if left == 0:  # the budget is spent: the pruned factor as it stands
                finetuned = with_factor(op, y_scaled, finetuned, principal)
                break
            finetuned = _resumed(finetuned, finetune(principal, left, finetuned.n_iter))
        _end_phase(
            finetuned,
            "fine-tuning",
            progress,
            budget=f"finetune_iter={finetune_iter}",
            advice="increase finetune_iter or tol"
            + outsized_advice(op, summary, "the fine-tuning converges slowly"),
            quantity="loss",
        )
        V, n_finetune = finetuned.U, finetuned.n_iter
        curve += finetuned.objective
        loss = finetuned.objective[-1]
        if finetuned.converged:
            gram, residual = finetuned.gram, finetuned.residual

    # When no column grew, pruning kept the largest anyway and said so.
    grew = bool(np.any(norms[support] > floor * factor_unit))
    if loss is None and grew:  # no fine-tuning: the R² check reads the plain loss
        loss = plain_loss(op, y_scaled, V)
    warn_about_fit(
        op,
        y_scaled,
        V,
        summary,
        scale=scale,
        loss=loss,
        gram=gram,
        residual=residual,
        grew=grew,
        all_kept=bool(support.all()),
        design=design,
        alpha=alpha,
        beta=beta,
        threshold=threshold,
        tol=tol,
    )
    return ThreePhaseResult(
        factor=_factor_in_units_of_y(xp, V, factor_unit),
        column_norms=norms,
        support=support,
        threshold=relative,
        data_scale=scale,
        objective=_curve_in_units_of_y(curve, scale),
        n_iter_finetune=n_finetune,
    )


def _regularized_phase(
    op,
    y_scaled,
    U,
    pruner: ColumnPruner,
    progress: _Progress,
    summary: DataSummary,
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
    normalised units), run on to ``√tol`` when the support is not found yet, and on
    from the saddle ``U = 0`` when it stopped there."""
    xp = op.xp

    def regularized_fit(V, tol, max_iter, done=0, scale_floor=1.0):
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
            scale_floor=scale_floor,
        )

    final_tol = math.sqrt(tol)
    # Whatever tol, the phase runs to _SUPPORT_TOL: a looser stop loses the support
    # (measured: tol=1e-3, i.e. √tol = 0.03, kept all 20 columns of a rank-3 problem).
    support_tol = _SUPPORT_TOL if finetune_iter > 0 else min(final_tol, _SUPPORT_TOL)
    regularized = regularized_fit(U, support_tol, max_iter)
    norms = _column_norms(xp, regularized.U, pruner)
    # The resumed runs below end at √tol where the threshold waits for a gap.
    waits = threshold == "auto" and alpha > 0 and support_tol > final_tol
    if (
        waits
        and regularized.moved
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
    if _stopped_at_saddle(
        op, regularized, norms, alpha=alpha, beta=beta, max_iter=max_iter
    ):
        # The stopping test's floor on ‖U‖, there for runs whose columns all collapse,
        # ended a start whose growing part the gradient had not yet found (matrix d=4,
        # alpha=0.08-0.09 against a top eigenvalue of 1: rank 1 of 2, R² 0.55, "alpha
        # may be too strong", from init_scale=1e-8, and from 1e-3 with a numeric
        # threshold), or whose steps the line search could not resolve. Near 0 the
        # iterates only scale with the start: the run goes on from the same factor
        # at the default start's size at least, with a relative test. (Tried first,
        # it also caught runs that going on above would have ended at rank 2, and
        # ended some at rank 1: 5 of 960 fits near the pick-up level.)
        progress.say("regularized fit: stopped at the saddle U = 0; going on")
        more = regularized_fit(
            _resolved(xp, regularized.U),
            final_tol if waits else support_tol,
            max_iter - regularized.n_iter,
            regularized.n_iter,
            scale_floor=0.0,
        )
        regularized = _resumed(regularized, more)
        norms = _column_norms(xp, regularized.U, pruner)
    if not regularized.moved:
        # Every search found no decrease, and no column could grow from 0: the
        # penalty shrinks every column (float64, init_scale 1e-10 with alpha=1), or
        # the start's effect on the objective is below the dtype's resolution, and
        # five zero steps passed the stall test. Pruning would return columns of the
        # random start. (A design of a few repeated measurements stalls too.)
        dtype = y_scaled.dtype
        raise FloatingPointError(
            "regularized fit: no step from the random start changed the objective; "
            f"init_scale={init_scale:g} may be too small for {dtype} (raise it"
            f"{', or use float64' if dtype == xp.float32 else ''}), or alpha="
            f"{alpha:g} too strong for any column to grow (lower it)."
            + too_few_for_any_advice(op)
        )
    slow = "the fit converges slowly and may keep too many columns"
    _end_phase(
        regularized,
        "regularized fit",
        progress,
        budget=f"max_iter={max_iter}",
        advice="increase max_iter" + outsized_advice(op, summary, slow),
        quantity="objective",
    )
    return regularized, norms


def _resolved(xp, U):
    """``U`` scaled up to the norm of the default random start (``_RESOLVED_START``
    per column) if smaller."""
    largest = float(xp.max(xp.abs(U)))
    if largest == 0:
        return U
    # In units of the largest entry: a start of 1e-200 squares to 0, and one of
    # 1e-320 times the factor up overflows.
    unit = U / largest
    unit_size = float(xp.sqrt(xp.sum(unit * unit)))
    resolved = _RESOLVED_START * math.sqrt(U.shape[1])
    return unit * (resolved / unit_size) if largest * unit_size < resolved else U


def _stopped_at_saddle(
    op, result: SolverResult, norms, *, alpha: float, beta: float, max_iter: int
) -> bool:
    """Whether the regularised run ``result`` (column ``norms``) stopped near ``U = 0``,
    every column far below the ``√(alpha/√beta)`` that signal columns reach, with
    budget left, while ``U = 0`` is a saddle: the sensing matrix of ``y − 𝒜(UUᵀ)``
    has an eigenvalue above the penalty's pick-up level ``alpha/√beta`` (by
    ``_SADDLE_MARGIN``), the objective's Hessian at 0 being
    ``2(alpha/√beta·I − (1/n) Σᵢ yᵢ sym(Aᵢ))``. One pass, only near 0."""
    if not (
        alpha > 0
        and result.converged
        and result.n_iter < max_iter
        and not np.any(norms > _FLOOR_CAP)
    ):
        return False
    top = to_host(op.xp.linalg.eigvalsh(op.sensing_matrix(-result.residual)))[-1]
    return float(top) > (1.0 + _SADDLE_MARGIN) * alpha / math.sqrt(beta)


def _finetuning_phase(
    op,
    y_scaled,
    V,
    progress: _Progress,
    max_iter: int,
    finetune_solver: str,
    tol,
    done: int = 0,
    stop=None,
) -> SolverResult:
    """Phase 3: the plain loss from the pruned factor ``V``, for at most ``max_iter``
    iterations after the ``done`` of earlier runs, ended early where ``stop`` says
    (its end reported by the caller, who may run it again)."""
    return minimize(
        op,
        y_scaled,
        V,
        **FINETUNE_SOLVERS[finetune_solver],
        max_iter=max_iter,
        tol=tol,
        phase="fine-tuning",
        callback=progress.callback_for("fine-tuning"),
        progress=progress.lines_for("fine-tuning", done),
        stop=stop,
    )


def _below(eigenvalues: np.ndarray, relative: float) -> np.ndarray:
    """Which of a factor's directions, given the ascending ``eigenvalues`` of its
    ``UᵀU``, have a singular value below ``relative`` times the largest (none where
    ``relative`` is 0: rounding leaves eigenvalues a little below 0)."""
    return (relative > 0) & (eigenvalues < relative * relative * eigenvalues[-1])


def _principal_directions(xp, finetuned: SolverResult, relative: float):
    """The fine-tuned factor rotated onto its principal directions, less those whose
    singular value is below ``relative`` times the largest, strongest first; ``None``
    where none is (the factor stays as it is)."""
    eigenvalues, vectors = np.linalg.eigh(finetuned.gram)
    below = _below(eigenvalues, relative)
    if not below.any():
        return None
    U = finetuned.U
    rotation = from_host(xp, vectors[:, ~below][:, ::-1], dtype=U.dtype, like=U)
    return U @ rotation


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
