"""Synthetic low-rank sensing problems."""

from __future__ import annotations

import math
import operator
from numbers import Integral, Real

import numpy as np
from numpy.typing import DTypeLike
from sklearn.utils import check_random_state

from ._operators import measure

__all__ = ["make_low_rank_sensing"]

# Checked by hand, not with scikit-learn's validate_params: its Integral admits True
# (and so does its Real), which the tests refuse with a TypeError.


def _check_positive_integer(name, value):
    """``value`` as a Python int: a real integer (not a bool), at least 1."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{name} must be a positive integer; got {value!r} of type "
            f"{type(value).__name__}."
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return operator.index(value)


def _check_finite_real(name, value, low):
    """``value`` as a Python float: a real number (not a bool), finite and >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a real number; got {value!r} of type {type(value).__name__}."
        )
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond float's range
        as_float = math.inf
    if not (math.isfinite(as_float) and as_float >= low):
        raise ValueError(f"{name} must be >= {low} and finite; got {value!r}.")
    return as_float


def make_low_rank_sensing(
    n_samples: int = 600,
    n_features: int = 40,
    rank: int = 3,
    *,
    measurement: str = "rank_one",
    condition_number: float = 1.0,
    noise: float = 0.0,
    dtype: DTypeLike = np.float64,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate measurements ``yᵢ = ⟨Aᵢ, U*U*ᵀ⟩ + noise`` of a random low-rank PSD matrix.

    The true factor is ``U* = Q·diag(√σ)`` with ``Q`` a random ``n_features × rank``
    orthonormal basis and eigenvalues ``σ`` spaced geometrically from 1 down to
    ``1/condition_number``.

    Parameters
    ----------
    n_samples : int, default=600
        Number of measurements ``n``.
    n_features : int, default=40
        Side ``d`` of the unknown ``d × d`` matrix.
    rank : int, default=3
        Rank ``r`` of the unknown matrix.
    measurement : {"rank_one", "matrix"}, default="rank_one"
        ``"rank_one"``: ``Aᵢ = xᵢxᵢᵀ`` with ``xᵢ ~ N(0, I_d)`` and ``X`` holds the
        ``xᵢ``, shape ``(n_samples, d)``. ``"matrix"``: each ``Aᵢ`` has i.i.d. standard
        normal entries and ``X`` holds it flattened row-major, shape
        ``(n_samples, d*d)``. The default is the estimator's, so that
        ``PrunedFactorSensing().fit(X, y)`` reads the data as they were generated.
    condition_number : float, default=1.0
        Ratio ``κ = σ_max / σ_min`` of the nonzero eigenvalues; at least 1 and at most
        the largest number of ``dtype`` (3.4e38 for float32).
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``; at least 0 and at most
        a tenth of the largest number of ``dtype`` (3.4e37 for float32).
    dtype : {np.float64, np.float32}, default=np.float64
        Floating dtype of ``X``, ``y`` and the factor, in any spelling NumPy reads as
        float64 or float32 in native byte order (``"float32"``, ``np.dtype("float32")``,
        ...).
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, d*d) or (n_samples, d)
        Measurements, packed as :class:`~sklearn_lowrank.PrunedFactorSensing` expects for
        ``measurement``.
    y : ndarray of shape (n_samples,)
        Observations.
    factor : ndarray of shape (n_features, rank)
        The true factor ``U*``; the matrix is ``factor @ factor.T``.

    Raises
    ------
    TypeError
        If ``n_samples``, ``n_features`` or ``rank`` is not an integer (a bool or a
        float such as ``2.0`` is not), or ``condition_number`` or ``noise`` is not a
        real number.
    ValueError
        If ``measurement`` is unknown, an integer is below 1, ``rank > n_features``,
        ``condition_number`` is below 1, NaN or beyond ``dtype``'s range, ``noise`` is
        negative, NaN or beyond a tenth of that range, ``dtype`` is not float32 or
        float64, or ``random_state`` cannot seed a generator. All arguments are checked
        before anything is drawn.

    See Also
    --------
    sklearn_lowrank.PrunedFactorSensing : Recovers the factor from ``X`` and ``y``.
    sklearn_lowrank.metrics.relative_error : Compares a recovered factor with ``factor``.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_low_rank_sensing
    >>> X, y, factor = make_low_rank_sensing(100, 10, 2, random_state=0)
    >>> X.shape, y.shape, factor.shape
    ((100, 10), (100,), (10, 2))
    """
    if not isinstance(measurement, str) or measurement not in ("matrix", "rank_one"):
        raise ValueError(
            f"measurement must be 'matrix' or 'rank_one'; got {measurement!r}."
        )
    n_samples = _check_positive_integer("n_samples", n_samples)
    n_features = _check_positive_integer("n_features", n_features)
    rank = _check_positive_integer("rank", rank)
    if rank > n_features:
        raise ValueError(f"rank={rank} cannot exceed n_features={n_features}.")
    condition_number = _check_finite_real("condition_number", condition_number, 1)
    noise = _check_finite_real("noise", noise, 0)
    try:
        resolved_dtype = np.dtype(dtype)
    except (TypeError, ValueError):  # not a dtype at all
        resolved_dtype = np.dtype(object)
    if resolved_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        swapped = resolved_dtype.kind == "f" and not resolved_dtype.isnative
        why = ", whose byte order is not native" if swapped else ""
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}{why}.")
    # Beyond it the smallest eigenvalue's column leaves the dtype: in float32 it became
    # subnormal, then exactly zero past κ ≈ 1e90, a factor of lower rank.
    largest = float(np.finfo(resolved_dtype).max)
    if condition_number > largest:
        raise ValueError(
            f"condition_number must be at most {largest:.3g} for {resolved_dtype}; got "
            f"{condition_number!r}."
        )
    # Ten standard deviations stay in range (a larger draw has probability 1.5e-23):
    # float32 y otherwise held ±inf.
    if noise > largest / 10:
        raise ValueError(
            f"noise must be at most {largest / 10:.3g} for {resolved_dtype}; got {noise!r}."
        )
    try:
        rng = check_random_state(random_state)
    except ValueError as exc:
        raise ValueError(
            "random_state must be None, an integer in [0, 2**32 - 1] or a "
            f"numpy.random.RandomState instance; got {random_state!r}."
        ) from exc
    d = n_features
    basis, _ = np.linalg.qr(rng.standard_normal((d, rank)))
    eigenvalues = np.geomspace(1.0, 1.0 / condition_number, rank)
    factor = basis * np.sqrt(eigenvalues)
    X = rng.standard_normal((n_samples, d * d if measurement == "matrix" else d))
    y = measure(measurement, X, factor)
    if noise > 0:
        y = y + noise * rng.standard_normal(n_samples)
    return (
        X.astype(resolved_dtype, copy=False),
        y.astype(resolved_dtype, copy=False),
        factor.astype(resolved_dtype),
    )
