"""Whitening of rank-one measurement vectors: an exact change of variables.

With ``XᵀX/n = V·diag(w)·Vᵀ`` and ``T = V·diag(w)^(-1/2)`` over the directions ``X``
varies along, ``x̃ᵢ = Tᵀxᵢ`` has an identity second moment and
``xᵢᵀMxᵢ = x̃ᵢᵀM̃x̃ᵢ`` with ``M = T·M̃·Tᵀ`` on the span of the ``xᵢ`` (the only part of
``M`` the measurements see), a matrix of the same rank. The theory assumes isotropic
``xᵢ``; features with a common mean, unequal scales or correlations are far from it, and
a fit on them found a wrong rank about half the time where one on ``x̃`` recovered ``M``
(see ``_three_phase._warn_if_anisotropic``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from array_api_compat import array_namespace, device

from ._backend import fetch, from_host, to_host

__all__ = ["whiten"]


def whiten(X) -> tuple[object, Callable | None]:
    """``(X̃, to_original)``: ``X̃ = X·T`` of identity second moment, and the map
    ``Ũ ↦ T·Ũ`` of a factor fitted on ``X̃`` back to ``X``'s coordinates.

    Directions whose eigenvalue is below ``d·ε`` times the largest (a repeated or
    all-zero feature) are left out: ``X`` never varies along them, so they measure
    nothing, and ``X̃`` has fewer columns. The decomposition runs on ``X`` divided by
    its largest entry, so that no scale of ``X`` over- or underflows ``XᵀX``. An ``X``
    of zeros (or NaN) comes back as it is, with ``None``, for the operator to report.
    Costs a pass over ``X``, a ``d × d`` eigen-decomposition and a copy of ``X`` (two
    while it is formed).
    """
    xp = array_namespace(X)
    n_samples, dim = X.shape
    (largest,) = fetch(xp, xp.max(xp.abs(X)))
    if not float(largest) > 0:
        return X, None
    unit = X / float(largest)
    eigenvalues, vectors = xp.linalg.eigh(unit.T @ unit / n_samples)
    host = to_host(eigenvalues).astype(np.float64)
    kept = np.flatnonzero(host > dim * float(xp.finfo(X.dtype).eps) * host[-1])
    index = from_host(xp, kept, device=device(X))
    T = xp.take(vectors, index, axis=1) / xp.sqrt(xp.take(eigenvalues, index))
    scale = float(largest)
    return unit @ T, lambda factor: (T @ factor) / scale
