"""Exact line search along a direction, priced without re-reading the data.

Along ``U - tD`` the predictions move on a parabola, ``p - t·a + t²·b`` (see the
operators' ``directional``), so the data term is a quartic in ``t`` fixed by six dot
products of ``r, a, b``. The penalty along the line needs three numbers per column,
``‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²``. The search evaluates a wide geometric grid of steps at once,
then polishes the best one with a few Newton steps, keeping the best point seen. It runs
entirely inside the array module: nothing is copied to the host.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import device

from ._backend import to_host

__all__ = ["exact_step", "quartic_step"]

# Trial steps are step_guess * 4**k for these k, plus t = 0 so a search never goes uphill.
_GRID_EXPONENTS = range(-6, 7)
_NEWTON_STEPS = 4
# Points of the linear grid between the best geometric trial's neighbours.
_REFINE = 33


class _Line:
    """``φ(t) = ‖r - t·a + t²·b‖²/(2n) + α·Σⱼ h(‖uⱼ - t·dⱼ‖²)`` and its derivatives."""

    def __init__(self, xp, residual, a, b, n_samples, penalty, alpha, U, D):
        self.xp = xp
        vecs = xp.stack([residual, a, b], axis=1)
        gram = (vecs.T @ vecs) / (2.0 * n_samples)
        rr, ra, rb, aa, ab, bb = (
            gram[0, 0],
            gram[0, 1],
            gram[0, 2],
            gram[1, 1],
            gram[1, 2],
            gram[2, 2],
        )
        self.quartic = (rr, -2.0 * ra, aa + 2.0 * rb, -2.0 * ab, bb)
        self.penalty = penalty if alpha > 0 else None
        self.alpha = alpha
        if self.penalty is not None:
            self.p = xp.sum(U * U, axis=0)
            self.q = xp.sum(U * D, axis=0)
            self.s = xp.sum(D * D, axis=0)

    def value(self, t):
        """φ at the steps ``t`` (shape (m,))."""
        xp = self.xp
        c0, c1, c2, c3, c4 = self.quartic
        val = c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))
        if self.penalty is not None:
            tt = t[:, None]
            z = xp.clip(self.p - tt * (2.0 * self.q - tt * self.s), min=0.0)
            val = val + self.alpha * self.penalty.value_from_sq_norms(xp, z)
        return val

    def derivatives(self, t):
        """φ'(t) and φ''(t) at the steps ``t`` (shape (m,))."""
        xp = self.xp
        _, c1, c2, c3, c4 = self.quartic
        d1 = c1 + t * (2.0 * c2 + t * (3.0 * c3 + t * (4.0 * c4)))
        d2 = 2.0 * c2 + t * (6.0 * c3 + t * (12.0 * c4))
        if self.penalty is not None:
            tt = t[:, None]
            z = xp.clip(self.p - tt * (2.0 * self.q - tt * self.s), min=0.0)
            dz = 2.0 * (tt * self.s - self.q)
            h1, h2 = self.penalty.derivative(xp, z)
            d1 = d1 + self.alpha * xp.sum(h1 * dz, axis=1)
            d2 = d2 + self.alpha * xp.sum(h2 * dz * dz + 2.0 * h1 * self.s, axis=1)
        return d1, d2


def exact_step(xp, residual, a, b, n_samples, U, D, step_guess, penalty=None, alpha=0.0):
    """Step ``t ≥ 0`` that (nearly) minimises the objective along ``U - tD``.

    Parameters
    ----------
    xp : namespace
        Array namespace of all arrays.
    residual, a, b : arrays of shape (n_samples,)
        Residual ``𝒜(UUᵀ) - y`` and the operator's directional terms.
    n_samples : int
        Number of measurements (the loss is a mean).
    U, D : arrays of shape (d, k)
        Current factor and search direction.
    step_guess : 0-d array or float
        Centre of the geometric trial grid (typically the previous step).
    penalty : SmoothGroupLasso or None
        Penalty added with weight ``alpha``.
    alpha : float
        Penalty strength.

    Returns
    -------
    step : 0-d array
        Best step found; ``0`` when no trial step decreases the objective.
    value : 0-d array
        Objective at ``U - step·D``, predicted by the line model.
    """
    line = _Line(xp, residual, a, b, n_samples, penalty, alpha, U, D)
    dtype = residual.dtype
    factors = xp.asarray(
        [0.0] + [4.0**k for k in _GRID_EXPONENTS], dtype=dtype, device=device(residual)
    )
    grid = factors * step_guess
    values = line.value(grid)
    best = xp.reshape(xp.argmin(values), (1,))
    # Refine between the best trial's neighbours with one vectorised evaluation of a
    # linear grid, so that the Newton steps start close to the minimiser.
    last = grid.shape[0] - 1
    lo = xp.take(grid, xp.clip(best - 1, min=0, max=last))[0]
    hi = xp.take(grid, xp.clip(best + 1, min=0, max=last))[0]
    hi = xp.where(best[0] == last, 4.0 * hi, hi)
    fine = lo + (hi - lo) * xp.linspace(
        0.0, 1.0, _REFINE, dtype=dtype, device=device(residual)
    )
    fine_values = line.value(fine)
    fine_best = xp.reshape(xp.argmin(fine_values), (1,))
    best_t, best_val = xp.take(grid, best)[0], xp.take(values, best)[0]
    t_fine, v_fine = xp.take(fine, fine_best)[0], xp.take(fine_values, fine_best)[0]
    better = v_fine < best_val
    best_t = xp.where(better, t_fine, best_t)
    best_val = xp.where(better, v_fine, best_val)
    t = best_t
    for _ in range(_NEWTON_STEPS):
        d1, d2 = line.derivatives(xp.reshape(t, (1,)))
        d1, d2 = d1[0], d2[0]
        # Newton where φ is convex, otherwise move by a factor 2 downhill.
        newton = t - d1 / xp.where(d2 > 0, d2, 1.0)
        fallback = xp.where(d1 < 0, 2.0 * t, 0.5 * t)
        t = xp.where((d2 > 0) & (newton > 0), newton, fallback)
        val = line.value(xp.reshape(t, (1,)))[0]
        better = val < best_val
        best_t = xp.where(better, t, best_t)
        best_val = xp.where(better, val, best_val)
    return best_t, best_val


def quartic_step(xp, residual, a, b, n_samples):
    """Exact minimiser ``t ≥ 0`` of the plain loss along ``U - tD``.

    Without a penalty the objective along the line is the quartic
    ``‖r - t·a + t²·b‖²/(2n)``, fixed by the six entries of the Gram matrix of
    ``(r, a, b)``: those six scalars are the only numbers that cross to the host, where
    the roots of the cubic derivative give the exact minimiser. This costs two kernels on
    a GPU instead of a device-side search.

    Returns
    -------
    step : float
        The minimising step (0 when no step decreases the loss).
    """
    vecs = xp.stack([residual, a, b], axis=1)
    gram = to_host(vecs.T @ vecs) / (2.0 * n_samples)
    rr, ra, rb, aa, ab, bb = (
        gram[0, 0],
        gram[0, 1],
        gram[0, 2],
        gram[1, 1],
        gram[1, 2],
        gram[2, 2],
    )
    quartic = np.array([bb, -2.0 * ab, aa + 2.0 * rb, -2.0 * ra, rr])  # highest first
    if not np.all(np.isfinite(quartic)):
        return 0.0
    roots = np.roots(np.polyder(quartic)) if np.any(quartic[:-1]) else np.array([])
    candidates = [0.0] + [
        float(t.real) for t in roots if abs(t.imag) <= 1e-12 * (1 + abs(t)) and t.real > 0
    ]
    values = np.polyval(quartic, candidates)
    return candidates[int(np.argmin(values))]
