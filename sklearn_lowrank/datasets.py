"""Synthetic low-rank sensing problems."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._operators import measure

__all__ = ["make_low_rank_sensing"]


def make_low_rank_sensing(
    n_samples: int = 600,
    n_features: int = 40,
    rank: int = 3,
    *,
    measurement: str = "rank_one",
    condition_number: float = 1.0,
    noise: float = 0.0,
    dtype=np.float64,
    random_state=None,
):
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
        Ratio ``κ = σ_max / σ_min`` of the nonzero eigenvalues.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``.
    dtype : numpy dtype, default=np.float64
        Floating dtype of ``X``, ``y`` and the factor.
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
    if measurement not in ("matrix", "rank_one"):
        raise ValueError(
            f"measurement must be 'matrix' or 'rank_one'; got {measurement!r}."
        )
    for name, value in (
        ("n_samples", n_samples),
        ("n_features", n_features),
        ("rank", rank),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    if rank > n_features:
        raise ValueError(f"rank={rank} cannot exceed n_features={n_features}.")
    if not condition_number >= 1:
        raise ValueError(f"condition_number must be >= 1; got {condition_number!r}.")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}.")
    rng = check_random_state(random_state)
    d = n_features
    basis, _ = np.linalg.qr(rng.standard_normal((d, rank)))
    eigenvalues = np.geomspace(1.0, 1.0 / condition_number, rank)
    factor = basis * np.sqrt(eigenvalues)
    X = rng.standard_normal((n_samples, d * d if measurement == "matrix" else d))
    y = measure(measurement, X, factor)
    if noise > 0:
        y = y + noise * rng.standard_normal(n_samples)
    return X.astype(dtype, copy=False), y.astype(dtype, copy=False), factor.astype(dtype)
