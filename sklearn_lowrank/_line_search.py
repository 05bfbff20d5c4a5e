"""Exact line search along a direction, priced without re-reading the data.

Along ``U - tD`` the predictions move on a parabola, ``p - t·a + t²·b`` (see the
operators' ``directional``), so the data term is a quartic in ``t`` fixed by the six
entries of the Gram matrix of ``(r, a, b)``. The penalty along the line needs three
numbers per column, ``‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²``. Those ``6 + 3k`` coefficients are all
the search needs: they are reduced inside the array module and copied to the host in one
small transfer, where the one-dimensional problem is solved in float64. Without the
penalty the exact minimiser is a root of the cubic derivative; with it, a wide geometric
grid of steps, a linear grid around the best one and a few Newton steps. (On a GPU the
search used to run on the device too, as a few hundred kernel launches per iteration:
measured on an H200, that made a fine-tuning iteration 12 to 25 times its bandwidth
floor, and the regularised phase ten times slower than the host search.)
"""

from __future__ import annotations

import numpy as np

from ._backend import to_host

__all__ = ["exact_step", "quartic_step"]

# Trial steps are step_guess * 4**k for these k, plus t = 0 so a search never goes uphill.
_GRID = np.array([0.0] + [4.0**k for k in range(-6, 7)])
# Points of the linear grid between the best geometric trial's neighbours.
_REFINE = np.linspace(0.0, 1.0, 33)
_NEWTON_STEPS = 4
# Newton stops once a step moves t by less than this fraction: it converges quadratically
# from the linear grid (measured: moves of about 2e-2, then 1e-5, then 1e-12), so the
# next move would be far below anything the objective can resolve.
_NEWTON_RTOL = 1e-4


def _coefficients(xp, residual, a, b, n_samples, U=None, D=None):
    """Host copies of the Gram matrix of ``(r, a, b)`` / 2n and, with ``U``, ``D``, of
    the per-column ``‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²``: one transfer of ``6 + 3k`` numbers."""
    vecs = xp.stack([residual, a, b], axis=1)
    parts = [xp.reshape(vecs.T @ vecs, (-1,))]
    if U is not None:
        parts += [xp.sum(U * U, axis=0), xp.sum(U * D, axis=0), xp.sum(D * D, axis=0)]
    host = to_host(xp.concat(parts) if len(parts) > 1 else parts[0]).astype(np.float64)
    gram = host[:9].reshape(3, 3) / (2.0 * n_samples)
    columns = host[9:].reshape(3, -1) if U is not None else None
    return gram, columns


class _Line:
    """``φ(t) = ‖r - t·a + t²·b‖²/(2n) + α·Σⱼ h(‖uⱼ - t·dⱼ‖²)`` and its derivatives."""

    def __init__(self, gram, columns, penalty, alpha):
        rr, ra, rb, aa, ab, bb = (
            gram[0, 0],
            gram[0, 1],
            gram[0, 2],
            gram[1, 1],
            gram[1, 2],
            gram[2, 2],
        )
        self.quartic = (rr, -2.0 * ra, aa + 2.0 * rb, -2.0 * ab, bb)
        self.penalty = penalty if alpha > 0 and columns is not None else None
        self.alpha = alpha
        if self.penalty is not None:
            self.p, self.q, self.s = columns

    def _sq_norms(self, t):
        """``‖uⱼ - t·dⱼ‖²`` along the last axis, at one step or an array of steps."""
        tt = np.asarray(t)[..., None]
        return np.maximum(self.p - tt * (2.0 * self.q - tt * self.s), 0.0)

    def value(self, t):
        """φ at the steps ``t`` (shape (m,))."""
        c0, c1, c2, c3, c4 = self.quartic
        val = c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))
        if self.penalty is not None:
            val = val + self.alpha * self.penalty.value_from_sq_norms(np, self._sq_norms(t))
        return val

    def value_and_derivatives(self, t: float):
        """φ(t), φ'(t) and φ''(t) at one step ``t``: what a Newton step needs."""
        c0, c1, c2, c3, c4 = self.quartic
        val = c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))
        d1 = c1 + t * (2.0 * c2 + t * (3.0 * c3 + t * (4.0 * c4)))
        d2 = 2.0 * c2 + t * (6.0 * c3 + t * (12.0 * c4))
        if self.penalty is not None:
            z = self._sq_norms(t)
            dz = 2.0 * (t * self.s - self.q)
            h1, h2 = self.penalty.derivative(np, z)
            val += self.alpha * float(self.penalty.value_from_sq_norms(np, z))
            d1 += self.alpha * float(h1 @ dz)
            d2 += self.alpha * float(h2 @ (dz * dz) + 2.0 * (h1 @ self.s))
        return float(val), float(d1), float(d2)


def exact_step(
    xp, residual, a, b, n_samples, U, D, step_guess=1.0, penalty=None, alpha=0.0
):
    """Step ``t ≥ 0`` that minimises the objective along ``U - tD``.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays.
    residual, a, b : arrays of shape (n_samples,)
        Residual ``𝒜(UUᵀ) - y`` and the operator's directional terms.
    n_samples : int
        Number of measurements (the loss is a mean).
    U, D : arrays of shape (d, k)
        Current factor and search direction.
    step_guess : float, default=1.0
        Centre of the geometric trial grid (typically the previous step); only used
        with a penalty.
    penalty : SmoothGroupLasso or None
        Penalty added with weight ``alpha``.
    alpha : float
        Penalty strength.

    Returns
    -------
    step : float
        Best step found; ``0.0`` when no step decreases the objective.
    value : float
        Objective at ``U - step·D``, from the line model.
    """
    with_penalty = penalty is not None and alpha > 0
    gram, columns = _coefficients(
        xp, residual, a, b, n_samples, *((U, D) if with_penalty else ())
    )
    line = _Line(gram, columns, penalty, alpha)
    if not with_penalty:
        step = _quartic_minimiser(line.quartic)
        return step, float(line.value(np.array([step]))[0])
    grid = _GRID * float(step_guess)
    values = line.value(grid)
    best = int(np.argmin(values))
    # A linear grid between the best trial's neighbours, then Newton from the best point.
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    if best == grid.size - 1:
        hi = 4.0 * hi
    fine = lo + (hi - lo) * _REFINE
    fine_values = line.value(fine)
    candidates = np.concatenate([grid, fine])
    candidate_values = np.concatenate([values, fine_values])
    best = int(np.argmin(candidate_values))
    best_t, best_val = float(candidates[best]), float(candidate_values[best])
    t = best_t
    _, d1, d2 = line.value_and_derivatives(t)
    for _ in range(_NEWTON_STEPS):
        # Newton where φ is convex, otherwise move by a factor 2 downhill.
        if d2 > 0 and t - d1 / d2 > 0:
            new = t - d1 / d2
        else:
            new = 2.0 * t if d1 < 0 else 0.5 * t
        val, d1, d2 = line.value_and_derivatives(new)
        if val < best_val:
            best_t, best_val = new, val
        settled = abs(new - t) <= _NEWTON_RTOL * new
        t = new
        if settled:
            break
    return best_t, best_val


def _quartic_minimiser(quartic) -> float:
    """Minimiser over ``t ≥ 0`` of ``c0 + c1·t + … + c4·t⁴`` (0 if nothing decreases)."""
    coefficients = np.array(quartic[::-1])  # highest degree first
    if not np.all(np.isfinite(coefficients)):
        return 0.0
    roots = np.roots(np.polyder(coefficients)) if np.any(coefficients[:-1]) else []
    candidates = [0.0] + [
        float(t.real) for t in roots if abs(t.imag) <= 1e-12 * (1 + abs(t)) and t.real > 0
    ]
    values = np.polyval(coefficients, candidates)
    return candidates[int(np.argmin(values))]


def quartic_step(xp, residual, a, b, n_samples) -> float:
    """Exact minimiser ``t ≥ 0`` of the plain loss along ``U - tD`` (no penalty).

    The loss along the line is the quartic ``‖r - t·a + t²·b‖²/(2n)``, fixed by six
    scalars; the roots of its cubic derivative give the exact minimiser.
    """
    return exact_step(xp, residual, a, b, n_samples, None, None)[0]
