"""The estimator and its baselines, each a function ``run(problem, seed, trace) -> Run``.

Every factored method starts from the estimator's small random start (same seed, same
scale), works on the normalised data ``y/s`` and takes its steps with the one shared
exact line search (:func:`_common.descend`); only the search direction differs. Each
returns a :class:`_common.Run` whose clock includes building the operator and the data
scale.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import (
    INIT_SCALE,
    TARGET,
    Run,
    StopRun,
    Trace,
    descend,
    effective_rank,
    finish,
    make_problem,
)
from sklearn.utils import check_random_state

from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._three_phase import default_n_columns, fit_three_phase
from sklearn_lowrank.metrics import relative_error


def _start(problem, n_columns, seed, trace):
    """Start the clock, then build the operator, the data scale and the random start."""
    trace.start()
    op = make_operator(problem.measurement, problem.X)
    scale = data_scale(op.xp, op, problem.y)
    trace.unit = math.sqrt(scale)
    d = problem.dim
    # The estimator's own start: same generator, same draw for the same seed and width.
    U0 = check_random_state(seed).standard_normal((d, n_columns)) * (
        INIT_SCALE / math.sqrt(d)
    )
    return op, scale, problem.y / scale, U0.astype(problem.X.dtype)


def _descend_run(name, problem, seed, trace, n_columns, precondition=None):
    op, scale, y, U = _start(problem, n_columns, seed, trace)
    try:
        direction = None if precondition is None else precondition(scale)
        U = descend(op, y, U, direction, callback=trace)
    except StopRun:
        U = trace.factors[-1]
    return finish(name, trace, problem.truth, U)


def estimator(problem, seed, trace, **params):
    """This package: group-lasso L-BFGS fit, greedy pruning, GD fine-tuning (defaults)."""
    trace.start()
    result = None
    try:
        op = make_operator(problem.measurement, problem.X, normalize=True)
        result = fit_three_phase(
            op,
            problem.y,
            random_state=seed,
            callback=lambda phase, U: trace(U, phase),
            **params,
        )
        U = result.factor
    except StopRun:
        U = trace.factors[-1]
    extra = {}
    if result is not None:
        extra = {"column_norms": result.column_norms, "threshold": result.threshold}
    return finish("estimator", trace, problem.truth, U, extra=extra)


def gd_overparameterized(problem, seed, trace):
    """Gradient descent on ``U`` (d × k, k = the estimator's default width), no penalty.

    Small random initialisation; known to converge only sublinearly once ``k > r``
    (Zhuo, Kwon, Ho, Caramanis, "On the computational and statistical complexity of
    over-parameterized matrix sensing", JMLR 2024; Xiong, Ding, Du, "Over-parameterization
    exponentially slows down gradient descent for learning a single neuron", COLT 2023).
    """
    k = default_n_columns(problem.dim)
    return _descend_run("GD (k=default)", problem, seed, trace, k)


def gd_rank_oracle(problem, seed, trace):
    """Gradient descent told the true rank (k = r), from the same small random start.

    Linear convergence at a rate that degrades with the condition number κ (Tu, Boczar,
    Simchowitz, Soltanolkotabi, Recht, "Low-rank solutions of linear matrix equations via
    Procrustes flow", ICML 2016; Stöger & Soltanolkotabi, "Small random initialization is
    akin to spectral learning", NeurIPS 2021).
    """
    return _descend_run("GD (k=r)", problem, seed, trace, problem.rank)


def _scaled(U, grad, value):
    return np.linalg.solve(U.T @ U, grad.T).T


def scaled_gd(problem, seed, trace):
    """ScaledGD told the true rank: direction ``∇f(U)(UᵀU)⁻¹``, k = r.

    T. Tong, C. Ma, Y. Chi, "Accelerating ill-conditioned low-rank matrix estimation via
    scaled gradient descent", JMLR 22(150), 2021. The paper starts from a spectral
    initialisation; here it starts from the same small random start as every other
    factored method so that only the direction differs.
    """
    return _descend_run(
        "ScaledGD (k=r)", problem, seed, trace, problem.rank, lambda s: _scaled
    )


def prec_gd(problem, seed, trace):
    """PrecGD, over-parameterised (k = default width): direction ``∇f(U)(UᵀU + δI)⁻¹``.

    J. Zhang, S. Fattahi, R. Y. Zhang, "Preconditioned gradient descent for
    over-parameterized nonconvex matrix factorization", NeurIPS 2021: noiseless damping
    ``δ = √(2f(U))``, which tracks ``‖UUᵀ − M*‖_F`` under RIP (constant 1 in the
    normalised units). With noise of known level σ the residual plateaus at σ, so the
    damping instead tracks the estimated signal error, ``δ = √|2f(U) − σ²|`` (our reading
    of the noise-aware damping of G. Zhang, H.-M. Chiu, R. Y. Zhang, "Fast and accurate
    estimation of low-rank matrices from noisy measurements via preconditioned non-convex
    gradient descent", AISTATS 2024).
    """
    k = default_n_columns(problem.dim)

    def precondition(scale):
        noise2 = (problem.noise / scale) ** 2

        def direction(U, grad, value):
            delta = math.sqrt(abs(2.0 * value - noise2))
            gram = U.T @ U
            gram[np.diag_indices_from(gram)] += delta
            return np.linalg.solve(gram, grad.T).T

        return direction

    return _descend_run("PrecGD (k=default)", problem, seed, trace, k, precondition)


def nuclear_norm(problem, seed, trace, eps=1e-9):
    """Convex relaxation over PSD matrices, solved by cvxpy with SCS.

    Noiseless: ``min tr(M) s.t. 𝒜(M) = y, M ⪰ 0`` (for PSD ``M`` the nuclear norm is the
    trace): exact recovery without a parameter to tune (Recht, Fazel, Parrilo,
    "Guaranteed minimum-rank solutions of linear matrix equations via nuclear norm
    minimization", SIAM Review 2010). Noisy: ``min (1/2n)‖𝒜(M) − y‖² + λ tr(M), M ⪰ 0``
    with ``λ = σ√(2d/n)``, the expected spectral norm of the noise gradient
    ``(1/n) Σ εᵢ sym(Aᵢ)`` for Gaussian ``Aᵢ`` (Candès & Plan, "Tight oracle inequalities
    for low-rank matrix recovery from a minimal number of noisy random measurements",
    IEEE Trans. IT 2011). Matrix measurements only, and only small ``d``: the problem has
    ``d(d+1)/2`` unknowns. The clock covers building and solving; ``seed`` is unused
    (SCS is deterministic), and there is one point per solve.
    """
    import cvxpy as cp

    if problem.measurement != "matrix":
        raise ValueError("nuclear_norm is run on matrix measurements only.")
    d, n = problem.dim, problem.y.shape[0]
    trace.start()
    M = cp.Variable((d, d), PSD=True)
    predictions = problem.X @ cp.vec(M, order="C")
    if problem.noise == 0:
        prob = cp.Problem(cp.Minimize(cp.trace(M)), [predictions == problem.y])
    else:
        lam = problem.noise * math.sqrt(2.0 * d / n)
        loss = cp.sum_squares(predictions - problem.y) / (2.0 * n)
        prob = cp.Problem(cp.Minimize(loss + lam * cp.trace(M)))
    start = time.perf_counter()
    prob.solve(solver="SCS", eps_abs=eps, eps_rel=eps, max_iters=200_000)
    seconds = trace.elapsed()
    solve_seconds = time.perf_counter() - start
    value = np.asarray(M.value, dtype=np.float64)
    w, V = np.linalg.eigh(0.5 * (value + value.T))
    U = V * np.sqrt(np.clip(w, 0.0, None))
    error = relative_error(U, problem.truth)
    return Run(
        method="nuclear norm (SCS)",
        times=np.array([seconds]),
        errors=np.array([error]),
        factor=U,
        n_params=d * (d + 1) // 2,
        rank=effective_rank(U),
        seconds=seconds,
        extra={"solve_seconds": solve_seconds, "status": prob.status, "eps": eps},
    )


METHODS = {
    "estimator": estimator,
    "GD (k=default)": gd_overparameterized,
    "GD (k=r)": gd_rank_oracle,
    "ScaledGD (k=r)": scaled_gd,
    "PrecGD (k=default)": prec_gd,
    "nuclear norm (SCS)": nuclear_norm,
}


def applicable(method, problem):
    """The convex baseline needs matrix measurements (and a small d)."""
    return method != "nuclear norm (SCS)" or problem.measurement == "matrix"


def run_all(cases, *, noise, repeats, budget, methods=METHODS):
    """``{(name, kappa, method): [Run, ...]}`` over repeats, methods back to back.

    Repeat ``i`` draws problem and start with seed ``i``. Noiseless runs stop at the
    target error; every run, the large case's too, stops after ``budget`` seconds. A
    method that used up the budget in the first repeat is not run again (it would use
    it up again).
    """
    runs = {}
    for name, kappa in cases:
        for rep in range(repeats):
            problem = make_problem(name, kappa, noise=noise, seed=rep)
            for method, run in methods.items():
                if not applicable(method, problem):
                    continue
                done = runs.setdefault((name, kappa, method), [])
                if done and done[0].stopped_by_budget:
                    continue
                stop = TARGET if noise == 0 else None
                result = run(
                    problem, rep, Trace(problem.truth, stop_below=stop, budget=budget)
                )
                result.extra["floor"] = problem.statistical_floor()
                done.append(result)
    return runs
