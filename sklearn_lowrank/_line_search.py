"""Exact line search along a direction, priced without re-reading the data.

Along ``U - tD`` the predictions move on a parabola, ``p - t·a + t²·b`` (see the
operators' ``directional``), so the data term is a quartic in ``t`` fixed by the six
entries of the Gram matrix of ``(r, a, b)``. The penalty along the line needs three
numbers per column, ``‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²`` (the diagonals of the Gram matrix of
``[U D]``). That is all the search needs: it is reduced inside the array module and
copied to the host in one small transfer, where the one-dimensional problem is solved
in float64. Without the penalty the exact minimiser is a root of the cubic derivative
(in closed form); with it, wide geometric grids of steps around the previous step and
around that loss-alone minimiser, a linear grid around the best one and a few Newton
steps. (On a GPU the same search on the device is a few hundred kernel launches per
iteration: measured on an H200, a fine-tuning iteration 12 to 25 times its bandwidth
floor, and a regularised phase ten times slower than with the host search.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device

from ._backend import Array, fetch, has_float64
from ._penalty import SmoothGroupLasso, penalized

__all__ = ["exact_step", "quartic_step"]

# Trial steps are step_guess * 4**k for these k, plus t = 0 so a search never goes uphill,
# and the same multiples of the loss-alone minimiser (see exact_step).
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
    the per-column ``‖uⱼ‖², ⟨uⱼ, dⱼ⟩, ‖dⱼ‖²``: one transfer.

    The per-column numbers are the diagonals of the Gram matrix of ``[U D]``: one
    matrix product rather than three reductions (each a kernel launch of tens of µs on
    a GPU), for a transfer of ``4k²`` numbers instead of ``3k``.

    Both products are formed so that small columns do not underflow (:func:`_gram`):
    in float32, ``a`` and ``b`` of a factor of norm 1e-12 are about 1e-23, their squares
    underflow, and the quartic lost its leading coefficient: unbounded below, it priced
    a step of 7e22 at a negative loss, and the fit overflowed where float64 fits.
    """
    blocks = [xp.stack([residual, a, b], axis=1)]
    if U is not None:
        blocks.append(xp.concat([U, D], axis=1))
    grams, scales = zip(*(_gram(xp, block) for block in blocks), strict=True)
    if scales[0] is None:  # formed in float64: as they are
        gram, *pairs = fetch(xp, *grams)
    else:  # on unit-scaled columns (no float64 on the device): scaled back here
        host = fetch(xp, *grams, *scales)
        halves = host[: len(grams)], host[len(grams) :]
        gram, *pairs = [g * np.outer(s, s) for g, s in zip(*halves, strict=True)]
    gram = gram / (2.0 * n_samples)
    if not pairs:
        return gram, None
    k, pairs = U.shape[1], pairs[0]
    diagonal = pairs.diagonal()
    return gram, np.stack([diagonal[:k], pairs.diagonal(k), diagonal[k:]])


def _gram(xp, x):
    """``(g, s)`` on the device with ``xᵀx = g ⊙ s·sᵀ``, without underflow for small
    columns of float32 ``x``: formed in float64 where the device has it (``s`` is
    ``None``; float64 ``x`` as it is, no call, one launch less per GPU iteration;
    in float32 one cast, reading vectors of length ``n``, not the data), else in
    float32 on the columns divided by their largest magnitude ``s``. Which of the two
    depends on the device alone, so every block of one search takes the same."""
    if x.dtype == xp.float64:
        return x.T @ x, None
    if has_float64(xp, device(x)):
        wide = xp.astype(x, xp.float64)
        return wide.T @ wide, None
    largest = xp.max(xp.abs(x), axis=0)
    scales = xp.where(largest > 0, largest, xp.ones_like(largest))
    unit = x / scales
    return unit.T @ unit, scales


def _quartic_at(quartic, t):
    """``c0 + c1·t + … + c4·t⁴`` (Horner), at one step or an array of steps.

    A trial step far beyond the minimiser (from a start of norm 1e-80, say) can
    overflow to ±inf: a value no step is chosen for, and no NaN (each coefficient is
    finite, so no ∞ - ∞), so the overflow is silenced rather than warned about.
    """
    c0, c1, c2, c3, c4 = quartic
    if isinstance(t, float):
        # One step in Python floats (a NumPy scalar made one): they overflow to ±inf
        # without a warning, so no errstate, which costs 1 µs (2-4 steps an iteration).
        t = float(t)
        return c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))
    with np.errstate(over="ignore"):
        return c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))


def _overflow() -> FloatingPointError:
    return FloatingPointError(
        "The line search's coefficients are not finite: the search direction "
        "overflowed. A parameter (alpha, beta, init_scale) or the data is too large "
        "for the dtype."
    )


class _Line:
    """``φ(t) = ‖r - t·a + t²·b‖²/(2n) + α·Σⱼ h(‖uⱼ - t·dⱼ‖²)`` and its derivatives."""

    def __init__(self, gram, columns, penalty, alpha):
        # Python floats: the single-step evaluations (the cubic's candidates, Newton's
        # steps) then cost no NumPy scalar arithmetic.
        (rr, ra, rb), (_, aa, ab), (_, _, bb) = gram.tolist()
        self.quartic = (rr, -2.0 * ra, aa + 2.0 * rb, -2.0 * ab, bb)
        # Checked once here, on what the search reads (the quartic takes every Gram
        # entry, and can overflow where they do not, within a factor 2 of the largest
        # float): else every trial step prices as NaN, the search returns 0, and five
        # zero steps pass for convergence, the run ending at its start, silently.
        finite = all(math.isfinite(c) for c in self.quartic)
        if not (finite and (columns is None or np.isfinite(columns).all())):
            raise _overflow()
        # The per-column numbers are only fetched when the penalty counts.
        self.penalty = penalty if columns is not None else None
        self.alpha = alpha
        if self.penalty is not None:
            self.p, self.q, self.s = columns

    def _sq_norms(self, t):
        """``‖uⱼ - t·dⱼ‖²`` along the last axis, at one step or an array of steps."""
        tt = np.asarray(t)[..., None]
        return np.maximum(self.p - tt * (2.0 * self.q - tt * self.s), 0.0)

    def value(self, t):
        """φ at the steps ``t`` (shape (m,))."""
        val = _quartic_at(self.quartic, t)
        if self.penalty is not None:
            val = val + self.alpha * self.penalty.value_from_sq_norms(np, self._sq_norms(t))
        return val

    def value_and_derivatives(self, t: float):
        """φ(t), φ'(t) and φ''(t) at one step ``t``: what a Newton step needs."""
        _, c1, c2, c3, c4 = self.quartic
        val = _quartic_at(self.quartic, t)
        d1 = c1 + t * (2.0 * c2 + t * (3.0 * c3 + t * (4.0 * c4)))
        d2 = 2.0 * c2 + t * (6.0 * c3 + t * (12.0 * c4))
        if self.penalty is not None:
            z = self._sq_norms(t)
            dz = 2.0 * (t * self.s - self.q)
            root = np.sqrt(z + self.penalty.beta)  # shared by the value and the slopes
            h1, h2 = self.penalty.derivatives(np, z, root)
            val += self.alpha * float(self.penalty.value_from_sq_norms(np, z, root))
            d1 += self.alpha * float(h1 @ dz)
            d2 += self.alpha * float(h2 @ (dz * dz) + 2.0 * (h1 @ self.s))
        return float(val), float(d1), float(d2)


def exact_step(
    xp: Any,
    residual: Array,
    a: Array,
    b: Array,
    n_samples: int,
    U: Array | None,
    D: Array | None,
    step_guess: float = 1.0,
    penalty: SmoothGroupLasso | None = None,
    alpha: float = 0.0,
) -> tuple[float, float]:
    """Step ``t ≥ 0`` that minimises the objective along ``U - tD``.

    Without a penalty the exact minimiser. With one, the best of geometric grids four
    apart, refined around the best trial: that is the minimiser unless the penalised
    line has several minima far apart (at ``alpha = 5`` one such line gave the step
    taken 5e-5 of the decrease available; with ``alpha ≤ 3`` on 1500 random lines, at
    most 1.6e-8 of it was missed).

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays.
    residual, a, b : arrays of shape (n_samples,)
        Residual ``𝒜(UUᵀ) - y`` and the operator's directional terms.
    n_samples : int
        Number of measurements (the loss is a mean).
    U, D : arrays of shape (d, k), or None
        Current factor and search direction; read only with a penalty (``None``
        without one).
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
        Objective at ``U - step·D``, from the line model. The solver discards it; it
        is returned for the tests.
    """
    with_penalty = penalized(penalty, alpha)
    gram, columns = _coefficients(
        xp, residual, a, b, n_samples, *((U, D) if with_penalty else ())
    )
    line = _Line(gram, columns, penalty, alpha)
    if not with_penalty:
        step = _quartic_minimiser(line.quartic)
        return step, _quartic_at(line.quartic, float(step))
    # Trials around the guess and around the exact minimiser of the loss alone: from a
    # start of norm 1e-20 the escape step is some 1e20 times the guess, past any grid.
    grid = _GRID * float(step_guess)
    loss_step = _quartic_minimiser(line.quartic)
    if loss_step > 0:
        grid = np.unique(np.concatenate([grid, _GRID[1:] * loss_step]))
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
    """Minimiser over ``t ≥ 0`` of the finite ``c0 + c1·t + … + c4·t⁴`` (0 if
    nothing decreases)."""
    c0, c1, c2, c3, c4 = (float(c) for c in quartic)
    roots = _cubic_roots(4.0 * c4, 3.0 * c3, 2.0 * c2, c1)
    candidates = [0.0] + [t for t in roots if t > 0]
    values = [_quartic_at((c0, c1, c2, c3, c4), t) for t in candidates]
    return candidates[values.index(min(values))]


def _quadratic_roots(a, b, c) -> list:
    """Real roots of ``a·t² + b·t + c`` (the form without cancellation)."""
    if a == 0.0:
        return [] if b == 0.0 else [-c / b]
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return []
    q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
    return [q / a] + ([c / q] if q != 0.0 else [])


def _cubic_roots(a, b, c, d) -> list:
    """Real roots of ``a·t³ + b·t² + c·t + d``: a few microseconds of float arithmetic,
    where ``numpy.roots`` (the eigenvalues of the companion matrix) costs about 40 µs,
    once per iteration.

    The closed form gives the root of largest magnitude accurately (the others can
    lose every digit when the roots span many orders of magnitude); after Newton
    polishing, dividing it out leaves a quadratic for the other two.
    """
    if a == 0.0:
        return _quadratic_roots(b, c, d)
    if d == 0.0:
        return [0.0, *_quadratic_roots(a, b, c)]
    try:
        return _cubic_roots_closed_form(a, b, c, d)
    except (ArithmeticError, ValueError):
        # Coefficients spanning hundreds of orders of magnitude over- or underflow.
        return _companion_roots(a, b, c, d)


def _companion_roots(a, b, c, d) -> list:
    """Real roots of the cubic by ``numpy.roots``: slower, but it scales its matrix."""
    return [float(t.real) for t in np.roots([a, b, c, d]) if t.imag == 0.0]


def _cubic_roots_closed_form(a, b, c, d) -> list:
    """:func:`_cubic_roots` for ``a ≠ 0``, ``d ≠ 0``."""
    B, C, D = b / a, c / a, d / a
    # t = x - B/3 gives x³ + p·x + q. Products, not powers: a Python float's ** raises
    # OverflowError where * gives inf, which sends the cubic to numpy.roots below.
    p, q = C - B * B / 3.0, (2.0 * B * B / 27.0 - C / 3.0) * B + D
    disc = (q / 2.0) * (q / 2.0) + (p / 3.0) * (p / 3.0) * (p / 3.0)
    if not math.isfinite(disc):
        return _companion_roots(a, b, c, d)
    if disc > 0.0:  # one real root (Cardano, in the form that avoids cancellation)
        big = -math.copysign((abs(q) / 2.0 + math.sqrt(disc)) ** (1.0 / 3.0), q)
        xs = [big - p / (3.0 * big)]
    else:  # three real roots (trigonometric form)
        # max(): p ≥ 0 with disc ≤ 0 only when both terms underflowed to zero.
        r = math.sqrt(max(-p / 3.0, 0.0))
        theta = math.acos(max(-1.0, min(1.0, -q / (2.0 * r * r * r)))) if r > 0 else 0.0
        xs = [2.0 * r * math.cos((theta - 2.0 * math.pi * j) / 3.0) for j in range(3)]
    t = max((x - B / 3.0 for x in xs), key=abs)
    for _ in range(3):
        slope = (3.0 * a * t + 2.0 * b) * t + c
        if slope == 0.0:
            break
        t -= (((a * t + b) * t + c) * t + d) / slope
    if t == 0.0:
        return [0.0, *_quadratic_roots(a, b, c)]
    # a·t³ + … + d = (t - r)(a·t² + b'·t + c'), the quotient computed from the constant
    # term up: stable when r is the root of largest magnitude.
    c_rest = -d / t
    b_rest = (c_rest - c) / t
    return [t, *_quadratic_roots(a, b_rest, c_rest)]


def quartic_step(xp: Any, residual: Array, a: Array, b: Array, n_samples: int) -> float:
    """Exact minimiser ``t ≥ 0`` of the plain loss along ``U - tD`` (no penalty).

    The loss along the line is the quartic ``‖r - t·a + t²·b‖²/(2n)``, fixed by six
    scalars; the roots of its cubic derivative give the exact minimiser.

    Kept for the tests and benchmarks (``benchmarks/_common.py``'s baseline gradient
    descent): the package itself calls :func:`exact_step`.
    """
    return exact_step(xp, residual, a, b, n_samples, None, None)[0]
