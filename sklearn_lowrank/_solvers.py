"""Solvers: descent with an exact line search, written once against the array module.

``minimize`` runs L-BFGS (``memory > 0``) or plain gradient descent (``memory=0``),
optionally in ScaledGD's metric ``(UᵀU)⁻¹`` or its damped form
``(UᵀU + δ‖U‖²_F·I)⁻¹`` (``scaled=True``, ``damping=δ``), on

    f(U) = (1/2n)·‖𝒜(UUᵀ) - y‖² + α·R_β(U),

every step exact along its direction (:func:`~sklearn_lowrank._line_search.exact_step`).
Each iteration reads the data only to price its direction and to apply the adjoint (see
the operators). Two small transfers cross to the host per iteration: the line search's
``6 + 3k`` reduced coefficients (k columns) and three scalars for the stopping test,
joined by the k eigenvalues of ``UᵀU`` when ``early_pruning`` looks at them; every ten
iterations the regularised phase adds the k column norms (the alignment check).
Everything with a dimension n or d stays in the array module.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from array_api_compat import device
from sklearn.exceptions import ConvergenceWarning

from ._backend import to_host
from ._line_search import exact_step

__all__ = ["SolverResult", "minimize"]

# Stop when the objective has not decreased by more than this fraction for this many
# iterations in a row: further steps only shuffle rounding errors.
_STALL_RTOL = 1e-15
_STALL_PATIENCE = 5
# Columns are re-aligned (and collapsed ones dropped) every this many iterations.
_ALIGN_EVERY = 10
# ...and only once the largest column has grown this much from its initial norm, so that
# the tiny columns of the random start are not mistaken for collapsed ones. A step that
# grows ‖U‖ this much is an escape too: L-BFGS forgets its curvature pair.
_ESCAPE_GROWTH = 10.0


@dataclass
class SolverResult:
    """What a call to :func:`minimize` produced."""

    U: object
    n_iter: int
    converged: bool
    objective: list = field(default_factory=list)
    # Original index and norm, at the moment it was dropped, of each collapsed column.
    dropped: dict = field(default_factory=dict)
    columns: np.ndarray | None = None
    seconds: float = 0.0


def _frob(xp, A, B):
    return xp.sum(A * B)


def _one(xp, like):
    """A 0-d array holding 1 with the dtype and device of ``like``."""
    return xp.asarray(1.0, dtype=like.dtype, device=device(like))


def _identity(G):
    """The Euclidean metric: plain gradients."""
    return G


def _scaled_metric(xp, U, damping=0.0):
    """Right-multiplication by ``(UᵀU + δ‖U‖²_F·I)⁻¹``, ``δ = max(damping, ε)``.

    Undamped, the metric of ScaledGD (Tong, Ma, Chi 2021): in it gradient descent on the
    factor converges at a rate free of the condition number of ``UUᵀ``, and the ridge
    of relative size ε only keeps the inverse finite if a kept column is tiny. Damped,
    PrecGD's metric (Zhang, Fattahi, Zhang 2021) for an over-parameterised factor:
    directions with singular values far below ``√δ·‖U‖_F`` move ``1/δ`` times faster
    than in the Euclidean metric, not without bound.
    """
    gram = U.T @ U
    eye = xp.eye(gram.shape[0], dtype=gram.dtype, device=device(gram))
    ridge = max(damping, float(xp.finfo(gram.dtype).eps)) * xp.sum(U * U)
    inverse = xp.linalg.inv(gram + ridge * eye)
    return lambda G: G @ inverse


def _two_loop(xp, g, history, gamma, metric):
    """L-BFGS direction ``H·g`` from ``(s, y, ρ)`` pairs (pairs with ρ = 0 are inert).

    ``metric`` applies the initial inverse Hessian, up to the scalar ``gamma``.
    """
    if not history:
        return metric(g)
    q = g
    coefs = []
    for s, yv, rho in reversed(history):
        c = rho * _frob(xp, s, q)
        q = q - c * yv
        coefs.append(c)
    r = gamma * metric(q)
    for (s, yv, rho), c in zip(history, reversed(coefs), strict=True):
        r = r + (c - rho * _frob(xp, yv, r)) * s
    return r


def minimize(
    op,
    y,
    U,
    *,
    penalty=None,
    alpha: float = 0.0,
    memory: int = 0,
    max_iter: int = 100,
    tol: float = 1e-8,
    scaled: bool = False,
    damping: float = 0.0,
    drop_ratio: float | None = None,
    early_pruning=None,
    start_norm: float | None = None,
    verbose: int = 0,
    phase: str = "",
    callback=None,
) -> SolverResult:
    """Minimise the (penalised) sensing loss from ``U``.

    Parameters
    ----------
    op : operator
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
        L-BFGS memory; 0 is gradient descent. L-BFGS drops the curvature pair of a
        step that grew ``‖U‖`` tenfold (the escape from a small start), which
        describes no curvature near the new point.
    scaled : bool
        Measure gradients in the metric ``(UᵀU + δ‖U‖²_F·I)⁻¹``: the direction of
        gradient descent, or L-BFGS's initial inverse Hessian. It costs a k × k
        inverse per iteration.
    damping : float
        ``δ`` of ``scaled``. 0 is ScaledGD's metric, for the plain loss on a factor of
        full column rank (fine-tuning); a positive ``δ`` keeps the metric bounded on
        the tiny columns of an over-parameterised factor (the regularised phase).
    max_iter : int
        Iteration budget.
    tol : float
        Stop when ``‖∇f(U)‖_F ≤ tol·max(‖U‖_F, 1)``.
    drop_ratio : float or None
        If set, columns whose norm falls below ``drop_ratio`` times the largest are
        removed during the run (checked every few iterations).
    early_pruning : callable or None
        With a penalty: called every iteration with the singular values of ``U`` (a
        host array, once the factor has grown; a k × k ``eigvalsh``). It returns
        ``None``, or a number of columns to keep: the columns are then aligned with
        the singular vectors, largest first (the free rotation below), and the others
        dropped and recorded in ``dropped`` (see
        :class:`~sklearn_lowrank._pruning.EarlyPruning`). Every kept column then
        carries signal, so the run goes on in ScaledGD's metric, undamped, which
        removes the slowdown of an ill-conditioned ``UUᵀ`` (measured: 3–4 fewer
        iterations after the cut at condition number 10).
    start_norm : float or None
        Largest column norm of the start the factor grew from, against which the
        growth that enables ``drop_ratio`` and ``early_pruning`` is measured; ``None``
        takes ``U``'s (pass the original start's when resuming a run).
    verbose : int
        Print progress every 10 iterations when ``verbose >= 2``.
    phase : str
        Name printed with progress lines.
    callback : callable or None
        Called as ``callback(U)`` after every iteration.

    Returns
    -------
    SolverResult
    """
    xp = op.xp
    n = op.n_samples
    use_penalty = penalty is not None and alpha > 0
    start_time = time.perf_counter()
    columns = np.arange(U.shape[1])
    dropped = {}

    def loss_terms(U, state):
        """Residual, loss and loss gradient: the one pass over the data (adjoint)."""
        residual = state.predictions - y
        loss = _frob(xp, residual, residual) / (2.0 * n)
        return residual, loss, 2.0 * op.adjoint_times(U, state, residual)

    def with_penalty(U, loss, loss_grad):
        """Objective and gradient: the loss terms plus the (cheap) penalty terms."""
        if not use_penalty:
            return loss, loss_grad
        value, gradient = penalty.value_and_gradient(xp, U)
        return loss + alpha * value, loss_grad + alpha * gradient

    def align(U, state, loss_grad):
        """Free step: the rotation of the columns best for the penalty (same ``UUᵀ``)."""
        W = penalty.best_rotation(xp, U)
        return U @ W, op.rotate(state, W), loss_grad @ W

    state = op.start(U)
    residual, loss, loss_grad = loss_terms(U, state)
    value, grad = with_penalty(U, loss, loss_grad)
    value_host = float(value)
    _check_finite(value_host, phase, 0)
    if start_norm is None:
        start_norm = float(xp.max(xp.sqrt(xp.sum(U * U, axis=0))))
    u_sq_host = float(_frob(xp, U, U))
    history = deque(maxlen=memory) if memory > 0 else None
    gamma = _one(xp, U)
    metric = _identity
    pruned_early = False
    step_guess = 1.0
    objective = []
    stalled = 0
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if scaled or pruned_early:
            metric = _scaled_metric(xp, U, 0.0 if pruned_early else damping)
        if history is None:
            direction = metric(grad)
        else:
            direction = _two_loop(xp, grad, history, gamma, metric)
            # Fall back to the gradient if the quasi-Newton direction is not downhill.
            direction = xp.where(_frob(xp, grad, direction) > 0, direction, grad)
        a, b, extra = op.directional(U, state, direction)
        step, _ = exact_step(
            xp,
            residual,
            a,
            b,
            n,
            U,
            direction,
            step_guess,
            penalty if use_penalty else None,
            alpha,
        )
        # Centre the next search on this step, but never on 0.
        step_guess = step if step > 0 else 1.0
        U_new = U - step * direction
        state = op.advance(state, a, b, extra, step)
        residual, loss, loss_grad = loss_terms(U_new, state)
        value_new, grad_new = with_penalty(U_new, loss, loss_grad)
        if history is not None:
            s_vec, y_vec = U_new - U, grad_new - grad
            sy = _frob(xp, s_vec, y_vec)
            yy = _frob(xp, y_vec, y_vec)
            curved = sy > 1e-12 * xp.sqrt(_frob(xp, s_vec, s_vec) * yy)
            history.append(
                (s_vec, y_vec, xp.where(curved, 1.0 / xp.where(curved, sy, 1.0), 0.0))
            )
            # Initial scaling sᵀy / yᵀHy, with H the metric (Nocedal & Wright, 7.20).
            y_metric = yy if metric is _identity else _frob(xp, y_vec, metric(y_vec))
            gamma = xp.where(curved, sy / xp.where(y_metric > 0, y_metric, 1.0), gamma)
        U, grad = U_new, grad_new

        # One small transfer per iteration: objective, ‖∇f‖², ‖U‖² for the stopping test
        # and, for early pruning, the eigenvalues of the k × k Gram matrix UᵀU.
        reported = xp.stack([value_new, _frob(xp, grad, grad), _frob(xp, U, U)])
        looking = early_pruning is not None and use_penalty and U.shape[1] > 1
        if looking:
            reported = xp.concat([reported, xp.linalg.eigvalsh(U.T @ U)])
        reported = to_host(reported)
        new_value, grad_sq, u_sq = (float(v) for v in reported[:3])
        _check_finite(new_value, phase, n_iter)
        if history is not None and u_sq > _ESCAPE_GROWTH**2 * u_sq_host:
            # The step escaped the small start: its pair measured no curvature near the
            # new point, and keeping it made the next direction nearly parallel to U
            # (a step that only rescaled U).
            history.clear()
            gamma = _one(xp, U)
        u_sq_host = u_sq
        objective.append(new_value)
        if callback is not None:
            callback(U)
        if verbose >= 2 and n_iter % 10 == 0:
            print(
                f"  [{phase}] iter {n_iter:5d}  objective {new_value:.6e}  "
                f"grad {grad_sq**0.5:.2e}  columns {U.shape[1]}"
            )
        if grad_sq <= tol**2 * max(u_sq, 1.0):
            converged = True
            break
        decrease = value_host - new_value
        stalled = stalled + 1 if decrease <= _STALL_RTOL * abs(new_value) else 0
        value_host = new_value
        if stalled >= _STALL_PATIENCE:
            converged = True
            break

        if not use_penalty or U.shape[1] < 2:
            continue
        aligned, drop = False, None
        if looking:
            singular = np.sqrt(np.clip(reported[3:], 0.0, None))
            n_keep = None
            if singular.max() > _ESCAPE_GROWTH * start_norm:
                n_keep = early_pruning(singular)
            if n_keep is not None and n_keep < U.shape[1]:
                # Columns along the singular vectors, largest first (the free step
                # below): their norms are the singular values, in decreasing order.
                U, state, loss_grad = align(U, state, loss_grad)
                aligned = pruned_early = True
                norms = np.sort(singular)[::-1]
                drop = np.arange(U.shape[1]) >= n_keep
        if drop is None and n_iter % _ALIGN_EVERY == 0:
            if not aligned:
                U, state, loss_grad = align(U, state, loss_grad)
                aligned = True
            if drop_ratio is not None:
                # The columns are now the factor's scaled singular vectors, so their
                # norms are its singular values (a k-vector to the host); the tiny
                # columns of the random start say nothing until the factor grows.
                norms = to_host(xp.sqrt(xp.sum(U * U, axis=0)))
                if norms.max() > _ESCAPE_GROWTH * start_norm:
                    collapsed = norms < drop_ratio * norms.max()
                    drop = collapsed if np.any(collapsed) else None
        if drop is not None:
            U, state, columns = _drop_collapsed(
                xp, op, U, state, columns, drop, norms, dropped
            )
            residual, loss, loss_grad = loss_terms(U, state)
        if aligned or drop is not None:
            # After a rotation the residual and loss are unchanged and the loss gradient
            # has turned with U (∇L(UW) = ∇L(U)·W): only the penalty is re-priced.
            value, grad = with_penalty(U, loss, loss_grad)
            value_host = float(value)
            if history is not None:
                history.clear()
                gamma = _one(xp, U)

    if not converged:
        warnings.warn(
            f"{phase or 'solver'}: did not converge in max_iter={max_iter} iterations "
            f"(gradient norm {float(_frob(xp, grad, grad)) ** 0.5:.2e}); increase max_iter "
            "or tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return SolverResult(
        U=U,
        n_iter=n_iter,
        converged=converged,
        objective=objective,
        dropped=dropped,
        columns=columns,
        seconds=time.perf_counter() - start_time,
    )


def _drop_collapsed(xp, op, U, state, columns, collapsed, norms, dropped):
    """Remove the ``collapsed`` columns (host mask), recording their ``norms``."""
    for j in np.flatnonzero(collapsed):
        dropped[int(columns[j])] = float(norms[j])
    keep_host = np.flatnonzero(~collapsed)
    keep = xp.asarray(keep_host, device=device(U))
    U = xp.take(U, keep, axis=1)
    return U, op.keep_columns(U, state, keep), columns[keep_host]


def _check_finite(value: float, phase: str, n_iter: int) -> None:
    if not np.isfinite(value):
        raise FloatingPointError(
            f"{phase or 'solver'}: the objective became {value} at iteration {n_iter}; "
            "the data may contain extreme values, or float32 may be too coarse for it "
            "(try float64)."
        )
