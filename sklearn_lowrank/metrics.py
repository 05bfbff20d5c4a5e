"""Metrics for recovered low-rank matrices."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

from ._backend import Array, to_host
from ._estimator import PrunedFactorSensing

__all__ = ["relative_error"]


def relative_error(
    estimate: ArrayLike | Array | PrunedFactorSensing, truth: ArrayLike | Array
) -> float:
    """Relative Frobenius error ``‖UUᵀ − VVᵀ‖_F / ‖VVᵀ‖_F`` between two factors.

    No ``d × d`` matrix is formed: both factors are expressed in one orthonormal basis of
    their joint column space (a thin QR of ``[U, V]``), where the difference is a small
    ``(k + r) × (k + r)`` matrix. Unlike expanding the squared norm
    (``‖UᵀU‖² − 2‖UᵀV‖² + ‖VᵀV‖²``, which loses everything below about 1e-8), this keeps
    the accuracy of a dense computation: a few digits even at errors of 1e-12.

    Both factors are divided by the largest entry of ``truth`` first: the ratio does
    not change, and factors of any magnitude in the float64 range keep it (their
    squared entries would over- or underflow past about 1e±154).

    Parameters
    ----------
    estimate : array-like of shape (d, k), or a fitted PrunedFactorSensing
        Estimated factor ``U``, from any array library (copied to the host); a fitted
        model stands for its ``components_.T``. Passing the model is the safe way:
        ``components_`` itself is ``(k, d)``, scikit-learn's layout, and when the
        model kept ``k = d`` columns it cannot be told from its transpose (the error
        of ``components_`` then comes out wrong, without an error: 1.16 for 1e-10).
    truth : array-like of shape (d, r)
        True factor ``V``.

    Returns
    -------
    float
        The relative error; 0 means the matrices are equal.

    Raises
    ------
    ValueError
        If a factor is not 2-D, the two have different ``d``, an entry is complex, NaN
        or infinite, or ``truth`` is zero.
    sklearn.exceptions.NotFittedError
        If ``estimate`` is a model that is not fitted.

    See Also
    --------
    sklearn_lowrank.datasets.make_low_rank_sensing : Problems with a known true factor.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import relative_error
    >>> V = np.array([[1.0], [0.0]])
    >>> relative_error(-V, V)
    0.0
    >>> round(relative_error(2 * V, V), 6)
    3.0
    """
    if isinstance(estimate, PrunedFactorSensing):
        check_is_fitted(estimate)
        estimate = estimate.components_.T
    U, V = _factor(estimate, "estimate"), _factor(truth, "truth")
    if U.shape[0] != V.shape[0]:
        # The estimator's components_ is (r, d), as scikit-learn lays them out.
        hint = (
            " (pass the model or components_.T, not components_)"
            if U.shape[1] == V.shape[0]
            else ""
        )
        raise ValueError(
            "estimate and truth must be factors of shape (d, k) and (d, r) with the same "
            f"d; got {U.shape} and {V.shape}{hint}."
        )
    unit = float(np.max(np.abs(V))) if V.size else 0.0
    if unit == 0:
        raise ValueError("truth is the zero factor; the relative error is undefined.")
    U, V = U / unit, V / unit
    _, R = np.linalg.qr(np.hstack([U, V]))
    RU, RV = R[:, : U.shape[1]], R[:, U.shape[1] :]
    diff = np.linalg.norm(RU @ RU.T - RV @ RV.T)
    return float(diff / np.linalg.norm(V.T @ V))


def _factor(x, name: str) -> np.ndarray:
    """``x`` as a finite real 2-D float64 host array."""
    x = to_host(x)
    if np.iscomplexobj(x):
        raise ValueError(f"{name} is complex; a real factor is expected.")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(
            "estimate and truth must be factors of shape (d, k) and (d, r) with the "
            f"same d; got {x.shape} for {name}."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return x
