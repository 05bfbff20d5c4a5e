"""Solvers: descent with an exact line search, written once against the array module.

``minimize`` runs L-BFGS (``memory > 0``) or plain gradient descent (``memory=0``),
optionally in ScaledGD's metric ``(UᵀU)⁻¹`` or its damped form
``(UᵀU + δ‖U‖²_F·I)⁻¹``, both times ``‖U‖²_F`` (``scaled=True``, ``damping=δ``), on

    f(U) = (1/2n)·‖𝒜(UUᵀ) - y‖² + α·R_β(U),

every step the exact minimiser along its direction for the plain loss, and the best of
a grid-and-Newton search with the penalty
(:func:`~sklearn_lowrank._line_search.exact_step`).
Each iteration reads the data only to price its direction and to apply the adjoint (see
the operators). Everything with a dimension n or d stays in the array module; what is
k × k or m × m (k columns, m curvature pairs) runs on the host in float64, where it
costs microseconds, while each such call on a GPU (a cuSOLVER inverse or eigensolver,
or one of the two-loop recursion's 10·m small reductions) costs tens to hundreds of
microseconds of kernel launches (measured on an H200). Per iteration, three small
transfers cross:

- after the step, one report: the objective, the Gram matrix ``UᵀU`` (from which the
  host takes the metric's inverse, the singular values early pruning looks at and the
  best rotation) and the Gram matrix of the L-BFGS pairs and the gradient;
- the line search's reduced coefficients (see its module);
- with L-BFGS in a metric, the ``(m+1)²`` inner products of the metric-scaled pairs.
  (Folding it into the report gains nothing on an H200, measured two ways: an
  iteration there pays for its launches, not its round trips; ``benchmarks/README.md``.)

Every ten iterations of the regularised phase (the rotation of the columns) and at an
early-pruning cut, the re-priced objective is one more scalar transfer.

The matrices going up to the device are the k × k inverse and rotation, the indices of
the kept columns after a drop, and the ``3m + 2`` weights (zero off the stored pairs'
rows) that combine the buffer's rows into the L-BFGS direction.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from array_api_compat import device

from ._backend import ROUNDING_LEVEL, Array, fetch, from_host
from ._line_search import exact_step
from ._operators import MeasurementOperator, OperatorState
from ._penalty import SmoothGroupLasso, penalized
from ._pruning import ColumnChange, ColumnPruner

__all__ = ["SolverResult", "minimize", "plain_loss", "with_factor"]

# Stop when the objective has not decreased by more than this many ε (of the dtype) of
# itself for this many iterations in a row: further steps only shuffle rounding errors.
_STALL_EPS = 5.0
_STALL_PATIENCE = 5
# Once the residual is rounding noise, ‖r‖ ≤ ROUNDING_LEVEL·ε·‖y‖, a decrease must
# exceed this fraction to count: there the objective jitters by ±0.01-0.8 % per
# iteration (float32, n = 600-20000), while gradient descent still approaching the
# floor gains 5-30 %.
_FLOOR_RTOL = 1e-2
# A step that grows ‖U‖ this much escaped the small start: L-BFGS forgets its pairs.
_ESCAPE_GROWTH = 10.0
# A pair (s, y) carries curvature when sᵀy exceeds this fraction of ‖s‖‖y‖, and this
# many ε of the dtype, which its inner products are formed in: in float32 a pair at
# 7e-8 (below ε) passed 1e-12, its weight 1/sᵀy reached 6e20 and the direction
# overflowed where float64 fits.
_CURVATURE_RTOL = 1e-12
_CURVATURE_EPS = 100.0


@dataclass
class SolverResult:
    """What a call to :func:`minimize` produced."""

    U: Array
    n_iter: int
    converged: bool
    objective: list = field(default_factory=list)
    seconds: float = 0.0
    # ‖∇f(U)‖_F at the end, measured only when the run did not converge (one transfer).
    gradient_norm: float | None = None
    # Whether any step was taken: a run that stalls without one never left its start.
    moved: bool = True
    # UᵀU of the final U, on the host (the last report's: no further transfer).
    gram: np.ndarray | None = None
    # 𝒜(UUᵀ) − y of the final U, in the array module.
    residual: Array | None = None


def _rows(xp, A):
    """``A`` of shape (..., d, k) as rows of length d·k."""
    return xp.reshape(A, (-1, A.shape[-2] * A.shape[-1]))


def _metric_inverse(gram, damping, eps):
    """``(UᵀU/‖U‖²_F + δ·I)⁻¹`` from ``gram = UᵀU`` (host), ``δ = max(damping, eps)``.

    Undamped, the metric of ScaledGD (Tong, Ma, Chi 2021): in it gradient descent on the
    factor converges at a rate free of the condition number of ``UUᵀ``, and the ridge
    of relative size ε only keeps the inverse finite if a kept column is tiny. Damped,
    PrecGD's metric (Zhang, Fattahi, Zhang 2021) for an over-parameterised factor:
    directions with singular values far below ``√δ·‖U‖_F`` move ``1/δ`` times faster
    than in the Euclidean metric, not without bound.

    It is the metric of ``U/‖U‖_F``: ``(UᵀU + δ‖U‖²_F·I)⁻¹`` times ``‖U‖²_F``, a scale
    the exact line search and L-BFGS's initial scaling absorb. Unscaled, a direction
    from a start of norm ``ε₀`` was ``1/ε₀`` long, and its line-search coefficients
    overflowed float32 below ``init_scale ≈ 3e-9``.
    """
    size = float(np.trace(gram))
    if not size > 0:
        return np.eye(gram.shape[0])
    return np.linalg.inv(gram / size + max(damping, eps) * np.eye(gram.shape[0]))


class _Memory:
    """L-BFGS memory of ``size`` pairs ``(s, y)`` in one buffer of the array module.

    Its rows: ``size`` slots of ``s``, ``size`` slots of ``y``, the gradient, then the
    ``y`` slots and the gradient times the metric. A new pair overwrites the oldest
    slot and the host keeps the slots' order, so nothing is ever shifted or
    concatenated: the report's Gram matrix and the direction are one matrix product
    each (a concatenation costs about 40 µs on a GPU, a row write 7 µs).
    """

    def __init__(self, xp, size: int, U):
        self.xp, self.size = xp, size
        eps = float(xp.finfo(U.dtype).eps)
        self.curvature_rtol = max(_CURVATURE_RTOL, _CURVATURE_EPS * eps)
        self.resize(U)

    def resize(self, U):
        """Forget every pair and size the buffer for a factor shaped like ``U``."""
        xp, m = self.xp, self.size
        shape = (3 * m + 2, *U.shape)
        self.buffer = B = xp.zeros(shape, dtype=U.dtype, device=device(U))
        # The views an iteration reads, made once per buffer (writes to the buffer
        # show through them): on a GPU each view costs a few µs of Python, several of
        # them on the way to the directional pass.
        first = 2 * m + 1
        self._stored = _rows(xp, B[:first, ...])  # s, y slots and the gradient
        self._unscaled = B[m:first, ...]  # y slots and the gradient
        self._scaled_rows = _rows(xp, B[first:, ...])  # the same times the metric
        self._unscaled_rows_t = _rows(xp, self._unscaled).T
        self._all_rows = _rows(xp, B)
        self.clear()

    def clear(self):
        """Forget every pair (the slots are overwritten later)."""
        self.order = []

    def append(self, s, y):
        if self.size == 0:
            return
        slot = len(self.order) if len(self.order) < self.size else self.order.pop(0)
        self.order.append(slot)
        self.buffer[slot, ...] = s
        self.buffer[self.size + slot, ...] = y

    def store_gradient(self, grad):
        """Store ``grad`` in the buffer (where :meth:`direction` reads it back) and
        return the flattened ``s`` slots, ``y`` slots and ``grad``, in buffer order."""
        self.buffer[2 * self.size, ...] = grad
        return self._stored

    def direction(self, grad, pairs, inverse):
        """L-BFGS direction ``H·∇f`` (or ``∇f·P`` without pairs), ``P`` the metric
        ``inverse`` (``None``: Euclidean); ``∇f·P`` if that is not downhill.

        ``pairs`` is the Gram matrix of the rows :meth:`store_gradient` returned, from
        the last report. With pairs stored, the gradient combined is the one it stored
        last, which the solver passes as ``grad`` too.
        """
        xp, m = self.xp, self.size
        if not self.order:
            return _in_metric(grad, inverse)
        B = self.buffer
        if inverse is None:
            first = m  # the y slots and the gradient serve as their scaled versions
            metric_pairs = pairs[m:, m:]
        else:
            first = 2 * m + 1
            B[first:, ...] = self._unscaled @ inverse
            (metric_pairs,) = fetch(xp, self._scaled_rows @ self._unscaled_rows_t)
        order = self.order
        slots = np.array(order)
        chronological = np.array([*order, *(m + slot for slot in order), 2 * m])
        scaled = np.array([*order, m])
        # Broadcast indices, not np.ix_, whose 2 µs exceed the gathers themselves.
        weights, slope = _two_loop_weights(
            pairs[chronological[:, None], chronological],
            metric_pairs[scaled[:, None], scaled],
            slots.size,
            self.curvature_rtol,
        )
        if not slope > 0:
            return _in_metric(grad, inverse)
        on_rows = np.zeros(B.shape[0])
        on_rows[first + scaled] = weights[: slots.size + 1]
        on_rows[slots] = weights[slots.size + 1 :]
        on_rows = from_host(xp, on_rows, dtype=grad.dtype, like=grad)
        return xp.reshape(on_rows @ self._all_rows, grad.shape)


def _in_metric(grad, inverse):
    """The gradient ``∇f·P`` in the metric ``P = inverse`` (``None``: Euclidean)."""
    return grad if inverse is None else grad @ inverse


@dataclass
class _Report:
    """The host's view of an iterate, fetched in one transfer by :func:`_report`."""

    value: float
    gram: np.ndarray  # UᵀU
    # Gram matrix of the memory's rows: its s and y slots and the gradient (last);
    # None after the columns changed, when the memory holds no pair.
    pairs: np.ndarray | None

    @property
    def grad_sq(self) -> float:
        return float(self.pairs[-1, -1])

    @property
    def u_sq(self) -> float:
        return float(np.trace(self.gram))


def _report(xp, value, U, rows) -> _Report:
    """Objective, ``UᵀU`` and the Gram matrix of ``rows``: one transfer."""
    value, gram, pairs = fetch(xp, value, U.T @ U, rows @ rows.T)
    return _Report(float(value), gram, pairs)


def _two_loop_weights(pairs, metric_pairs, m, curvature_rtol=_CURVATURE_RTOL):
    """L-BFGS's two-loop recursion (Nocedal & Wright, Algorithm 7.4) on inner products.

    With ``P`` the metric, the direction ``H·g`` is a combination of the rows
    ``Y₁P … Y_mP, gP, s₁ … s_m``. ``pairs`` is the Gram matrix of ``[S; Y; g]`` and
    ``metric_pairs[a, b] = ⟨Vₐ, Z_b⟩`` with ``V = [YP; gP]``, ``Z = [Y; g]``. Each loop
    of the recursion is a triangular recurrence on m scalars; a pair without curvature
    (``sᵀy ≤ curvature_rtol·‖s‖‖y‖``) gets ``ρ = 0`` and takes no part. The initial scaling
    ``γ = sᵀy / yᵀPy`` (Nocedal & Wright, 7.20) comes from the newest curved pair.

    Returns the ``2m + 1`` weights and the slope ``⟨g, H·g⟩``. The solver passes
    its dtype's ``curvature_rtol`` (:class:`_Memory`); the default serves the tests.
    """
    # Python floats: with m ≤ 5 every NumPy call here would cost more than its
    # arithmetic (measured: 45 µs per call with NumPy slices, on the critical path of
    # every GPU iteration).
    G, V = pairs.tolist(), metric_pairs.tolist()
    sy = [G[i][m : 2 * m] for i in range(m)]  # ⟨sᵢ, yⱼ⟩
    sg = [G[i][2 * m] for i in range(m)]
    rho, newest = [0.0] * m, None
    for i in range(m):
        if sy[i][i] > curvature_rtol * math.sqrt(G[i][i] * G[m + i][m + i]):
            rho[i], newest = 1.0 / sy[i][i], i
    gamma = 1.0
    if newest is not None and V[newest][newest] > 0:
        gamma = sy[newest][newest] / V[newest][newest]
    # First loop, newest pair first: cᵢ = ρᵢ⟨sᵢ, q⟩ with q = g - Σ_{j>i} cⱼyⱼ.
    c = [0.0] * m
    for i in reversed(range(m)):
        c[i] = rho[i] * (sg[i] - sum(sy[i][j] * c[j] for j in range(i + 1, m)))
    # r₀ = γ·(g - Σ cⱼyⱼ)P; second loop, oldest first: r += (cᵢ - ρᵢ⟨yᵢ, r⟩)·sᵢ.
    e = [0.0] * m
    for i in range(m):
        y_r = gamma * (V[m][i] - sum(c[j] * V[j][i] for j in range(m)))
        e[i] = c[i] - rho[i] * (y_r + sum(sy[j][i] * e[j] for j in range(i)))
    weights = [-gamma * ci for ci in c] + [gamma] + e
    slope = sum(w * V[a][m] for a, w in enumerate(weights[: m + 1]))
    slope += sum(ei * sgi for ei, sgi in zip(e, sg, strict=True))
    return np.asarray(weights), slope


@dataclass
class _Point:
    """An iterate and what the solver prices from it, in the array module."""

    U: Array
    state: OperatorState
    residual: Array  # 𝒜(UUᵀ) − y
    loss: Array  # (1/2n)·‖residual‖², a 0-d array
    loss_grad: Array
    value: Array  # the objective: the loss plus α·R_β(U) when the penalty counts
    grad: Array


def _loss(residual, n: int):
    """The plain loss ``‖residual‖²/2n``, a 0-d array."""
    return (residual @ residual) / (2.0 * n)


def plain_loss(op: MeasurementOperator, y, U) -> float:
    """The plain loss ``‖𝒜(UUᵀ) − y‖²/2n`` of ``U``, as the solver prices it: one
    pass over the data (no adjoint)."""
    (loss,) = fetch(op.xp, _loss(op.predict(U) - y, op.n_samples))
    return float(loss)


class _Objective:
    """The objective of one run, priced at a factor: the loss (one pass over the data,
    for the adjoint) plus, when it counts, the penalty."""

    def __init__(
        self,
        op: MeasurementOperator,
        y: Array,
        penalty: SmoothGroupLasso | None,
        alpha: float,
    ):
        self.op, self.y = op, y
        self.penalty = penalty if penalized(penalty, alpha) else None
        self.alpha = alpha

    def at(self, U: Array, state: OperatorState) -> _Point:
        """The point ``U`` whose operator state is ``state``."""
        residual = state.predictions - self.y
        # The pass first: on a GPU the loss's launches then overlap it.
        loss_grad = 2.0 * self.op.adjoint_times(U, state, residual)
        loss = _loss(residual, self.op.n_samples)
        return self.priced(U, state, residual, loss, loss_grad)

    def priced(
        self,
        U: Array,
        state: OperatorState,
        residual: Array,
        loss: Array,
        loss_grad: Array,
    ) -> _Point:
        """The point ``U`` whose loss terms are known: only the (cheap) penalty terms
        are added."""
        if self.penalty is None:
            return _Point(U, state, residual, loss, loss_grad, loss, loss_grad)
        value, gradient = self.penalty.value_and_gradient(self.op.xp, U)
        value, gradient = loss + self.alpha * value, loss_grad + self.alpha * gradient
        return _Point(U, state, residual, loss, loss_grad, value, gradient)


def _line_step(
    objective: _Objective, point: _Point, direction: Array, step_guess: float
) -> tuple[float, _Point]:
    """The exact line search along ``-direction`` from ``point``, and the point it
    reaches: one pass over the data to price the direction, one for the new gradient."""
    op = objective.op
    a, b, extra = op.directional(point.U, point.state, direction)
    step, _ = exact_step(
        op.xp,
        point.residual,
        a,
        b,
        n_samples=op.n_samples,
        U=point.U,
        D=direction,
        step_guess=step_guess,
        penalty=objective.penalty,
        alpha=objective.alpha,
    )
    U = point.U - step * direction
    return step, objective.at(U, op.advance(point.state, a, b, extra, step))


def _apply_column_change(
    objective: _Objective, point: _Point, change: ColumnChange, history: _Memory
) -> tuple[_Point, _Report]:
    """The point after the pruner's ``change`` (rotate, then drop columns), its report,
    and ``history`` emptied for it."""
    op, xp = objective.op, objective.op.xp
    # The free step. UUᵀ is the same, so the residual and loss are too, and the loss
    # gradient turns with U (∇L(UW) = ∇L(U)·W).
    W = from_host(xp, change.rotation, dtype=point.U.dtype, like=point.U)
    U, state, loss_grad = point.U @ W, op.rotate(point.state, W), point.loss_grad @ W
    if change.keep is not None:
        keep = from_host(xp, change.keep, like=U, index=True)
        U = xp.take(U, keep, axis=1)
        point = objective.at(U, op.keep_columns(U, state, keep))
    else:
        # Only the penalty is re-priced.
        point = objective.priced(U, state, point.residual, point.loss, loss_grad)
    report = _Report(float(point.value), change.gram, pairs=None)
    # The pairs describe the old columns: a new width needs a new buffer, the same
    # width only forgets them.
    if change.keep is not None:
        history.resize(point.U)
    else:
        history.clear()
    return point, report


def minimize(
    op: MeasurementOperator,
    y: Array,
    U: Array,
    *,
    penalty: SmoothGroupLasso | None = None,
    alpha: float = 0.0,
    memory: int = 0,
    max_iter: int = 100,
    tol: float = 1e-8,
    scaled: bool = False,
    damping: float = 0.0,
    pruner: ColumnPruner | None = None,
    phase: str = "",
    callback: Callable[[Array], None] | None = None,
    progress: Callable[[int, float, float, int], None] | None = None,
    stop: Callable[[int, np.ndarray], bool] | None = None,
    scale_floor: float = 1.0,
) -> SolverResult:
    """Minimise the (penalised) sensing loss from ``U``.

    Parameters
    ----------
    op : MeasurementOperator
        Measurement operator (see :mod:`sklearn_lowrank._operators`).
    y : array of shape (n_samples,)
        Targets, in the namespace of ``op``.
    U : array of shape (d, k)
        Starting factor.
    penalty : SmoothGroupLasso or None
        Penalty, weighted by ``alpha``.
    alpha : float
        Penalty strength (0 or ``penalty=None`` gives the plain loss).
    memory : int
        L-BFGS memory; 0 is gradient descent. L-BFGS forgets its pairs after a
        step that grew ``‖U‖`` tenfold (the escape from a small start): they
        describe no curvature near the new point.
    scaled : bool
        Measure gradients in the metric ``(UᵀU + δ‖U‖²_F·I)⁻¹`` (times ``‖U‖²_F``, so
        that it does not depend on ``U``'s size): the direction of gradient descent,
        or L-BFGS's initial inverse Hessian. It costs a k × k inverse per iteration,
        on the host.
    damping : float
        ``δ`` of ``scaled``. 0 is ScaledGD's metric, for the plain loss on a factor of
        full column rank (fine-tuning); a positive ``δ`` keeps the metric bounded on
        the tiny columns of an over-parameterised factor (the regularised phase).
    max_iter : int
        Iteration budget.
    tol : float
        Stop when ``‖∇f(U)‖_F ≤ tol·max(‖U‖_F, scale_floor)``.
    pruner : ColumnPruner or None
        With a penalty, it decides when the columns are aligned with the factor's
        singular vectors (the free rotation, which only changes the penalty) and
        which are then dropped, and may ask for a cut (early pruning) on any
        iteration; the solver applies what it decides. Every kept column then carries
        signal, so after such a cut the run goes on in ScaledGD's metric, undamped,
        which removes the slowdown of an ill-conditioned ``UUᵀ`` (measured: half an
        iteration fewer per run at condition numbers 10 and 50, the same ranks).
        ``pruner.columns`` must number ``U``'s columns. ``None``: a pruner that only
        aligns, every :data:`~sklearn_lowrank._pruning.ALIGN_EVERY` iterations.
    phase : str
        Name of the run in error messages.
    callback : callable or None
        Called as ``callback(U)`` after every iteration.
    progress : callable or None
        Called as ``progress(n_iter, objective, relative_gradient, n_columns)`` after
        every iteration, with the host numbers the stopping test uses
        (``relative_gradient = ‖∇f(U)‖_F / max(‖U‖_F, scale_floor)``, compared with
        ``tol``).
    stop : callable or None
        Called as ``stop(n_iter, gram)`` with ``gram = UᵀU`` (host) after every
        iteration that did not converge; true ends the run there, unconverged (the
        caller changes the factor and starts another).
    scale_floor : float
        The stopping test's floor on ``‖U‖_F``. 1, the scale of a solution in the
        normalised units, lets a run whose columns all collapse (a penalty too strong
        for any to grow) stop near ``U = 0``, where a relative test never passes. 0
        makes the test relative: a run resumed at the saddle ``U = 0`` must not stop
        there before its columns grow.

    Returns
    -------
    SolverResult
        ``converged`` is false when the budget ran out; the caller, which knows the
        public name of that budget, warns. A stall (five iterations without a decrease
        beyond the dtype's resolution, see :class:`_StallTest`) counts as converged:
        with the default ``tol`` below what float32 resolves, it is how such fits end.
    """
    xp = op.xp
    eps = float(xp.finfo(U.dtype).eps)
    floor_sq = max(scale_floor * scale_floor, sys.float_info.min)  # (U = 0 divides)
    start_time = time.perf_counter()
    if pruner is None:
        pruner = ColumnPruner(U.shape[1])
    elif pruner.columns.size != U.shape[1]:
        raise ValueError(
            f"pruner numbers {pruner.columns.size} columns, U has {U.shape[1]}"
        )
    objective = _Objective(op, y, penalty, alpha)
    point = objective.at(U, op.start(U))
    history = _Memory(xp, memory, U)
    report = _report(xp, point.value, point.U, history.store_gradient(point.grad))
    _check_finite(report.value, phase, 0)
    stall = _StallTest(xp, y, U.dtype, report.value)
    pruned_early = False
    step_guess = 1.0
    moved = False
    values = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # Direction.
        inverse = None
        if scaled or pruned_early:
            damped = 0.0 if pruned_early else damping
            inverse = _metric_inverse(report.gram, damped, eps)
            inverse = from_host(xp, inverse, dtype=point.U.dtype, like=point.U)
        direction = history.direction(point.grad, report.pairs, inverse)

        # Step.
        step, new = _line_step(objective, point, direction, step_guess)
        # Successive steps are of similar length: the next grid is centred on this one
        # (on 1 after a zero step, which a grid centred on 0 would never leave).
        step_guess = step if step > 0 else 1.0
        moved = moved or step > 0
        history.append(new.U - point.U, new.grad - point.grad)
        point = new

        # Report. (After columns were dropped, the last one measured the kept ones.)
        previous_u_sq = report.u_sq
        report = _report(xp, point.value, point.U, history.store_gradient(point.grad))
        value, grad_sq, u_sq = report.value, report.grad_sq, report.u_sq
        _check_finite(value, phase, n_iter)
        if u_sq > _ESCAPE_GROWTH**2 * previous_u_sq:
            # The step escaped the small start: its pair measured no curvature near the
            # new point, and keeping it made the next direction nearly parallel to U
            # (a step that only rescaled U).
            history.clear()
        values.append(value)
        if callback is not None:
            callback(point.U)
        if progress is not None:
            relative = math.sqrt(grad_sq / max(u_sq, floor_sq))
            progress(n_iter, value, relative, point.U.shape[1])

        # Stop? tol * tol: a Python float's ** raises OverflowError past tol = 1.3e154.
        if grad_sq <= tol * tol * max(u_sq, floor_sq) or stall(value):
            converged = True
            break
        if stop is not None and stop(n_iter, report.gram):
            break

        # Change the columns, if the pruner asks to.
        if objective.penalty is None:
            continue
        change = pruner.change(n_iter, report.gram, objective.penalty.best_rotation)
        if change is None:
            continue
        pruned_early = pruned_early or change.cut
        point, report = _apply_column_change(objective, point, change, history)
        stall.reprice(report.value)

    return SolverResult(
        U=point.U,
        n_iter=n_iter,
        converged=converged,
        objective=values,
        seconds=time.perf_counter() - start_time,
        gradient_norm=None if converged else float(xp.sum(point.grad * point.grad)) ** 0.5,
        moved=moved,
        gram=report.gram,
        residual=point.residual,
    )


class _StallTest:
    """Called with each new objective; true once it has not decreased for
    ``_STALL_PATIENCE`` iterations in a row.

    A decrease counts when it exceeds ``_STALL_EPS·ε`` of the objective (float64:
    1.1e-15), or ``_FLOOR_RTOL`` of it once the objective is no more than that of a
    residual at rounding level (noiseless data fitted). Without the dtype's ε a
    float32 fit waited, at its floor, for five non-decreases in a row among jitter of
    a few ε: 10-30 iterations that only moved the error at random (measured).
    """

    def __init__(self, xp, y, dtype, value: float):
        eps = float(xp.finfo(dtype).eps)
        level = ROUNDING_LEVEL * eps
        # The objective ‖r‖²/2n of a residual at rounding level.
        self.floor = level * level * float(y @ y) / (2.0 * y.shape[0])
        self.rtol = _STALL_EPS * eps
        self.value, self.count = value, 0

    def reprice(self, value: float) -> None:
        """Compare the next objective with ``value``, the objective re-priced after the
        columns changed (the count of non-decreases goes on)."""
        self.value = value

    def __call__(self, new_value: float) -> bool:
        rtol = _FLOOR_RTOL if new_value <= self.floor else self.rtol
        decrease = self.value - new_value
        self.count = self.count + 1 if decrease <= rtol * abs(new_value) else 0
        self.value = new_value
        return self.count >= _STALL_PATIENCE


def _check_finite(value: float, phase: str, n_iter: int) -> None:
    if not np.isfinite(value):
        raise FloatingPointError(
            f"{phase or 'solver'}: the objective became {value} at iteration {n_iter}; "
            "the data or a parameter may leave the dtype's range (alpha, beta or "
            "init_scale too large, or, in the first iterations, init_scale too small), "
            "or float32 be too coarse for the data (try float64)."
        )


def with_factor(op: MeasurementOperator, y, result: SolverResult, U) -> SolverResult:
    """``result`` with its factor replaced by ``U`` (a caller's change after the run,
    with no budget left to run on): residual, Gram matrix and gradient norm measured
    anew, as the solver prices a point (one pass over the data), and unconverged,
    which the caller reports, although the run itself may have converged."""
    point = _Objective(op, y, None, 0.0).at(U, op.start(U))
    xp = op.xp
    gram, grad_sq = fetch(xp, U.T @ U, xp.sum(point.grad * point.grad))
    return replace(
        result,
        U=U,
        residual=point.residual,
        gram=gram,
        converged=False,
        gradient_norm=float(grad_sq) ** 0.5,
    )
