"""The data scale ``s`` that a fit divides ``y`` by, and the summary of ``y`` it reads.

``s`` is the top eigenvalue of the sensing matrix of the centred ``y``: the fit then
runs in units where the measurements and ``y/s`` are of order one, so its defaults
hold at any scale of ``X`` or ``y``. The summary (mean, spread, extremes, outsized
measurements) is reduced on the device and fetched in one transfer; the diagnostics
read it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._backend import fetch, to_host
from ._operators import MeasurementOperator

__all__ = ["SCALE_TRUNCATION", "DataSummary", "data_scale", "outsized", "summarize"]

# The data scale leaves out measurements more than this many times the mean size
# (see data_scale).
SCALE_TRUNCATION = 10.0


@dataclass(frozen=True)
class DataSummary:
    """The host numbers about ``y`` that a fit reads (the data scale, and the
    diagnostics: the centred-``y``, R² and noise checks, the advice on outsized
    measurements), reduced on the device and fetched in one transfer by
    :func:`summarize`."""

    mean: float
    spread: float  # mean |yᵢ − ȳ|
    # mean ((yᵢ − ȳ)/spread)²: the variance in units of the spread, which stays in the
    # float range whatever the magnitude of y (its variance itself overflows past 1e154)
    relative_variance: float
    low: float
    high: float
    n_outsized: int  # measurements over SCALE_TRUNCATION times the mean size


def summarize(op: MeasurementOperator, y) -> DataSummary:
    """The :class:`DataSummary` of ``y`` (and of ``op``'s outsized measurements): one
    transfer, two where ``y``'s sum leaves the dtype's range."""
    xp = op.xp
    mean, spread, relative_variance, n_outsized, low, high = (
        float(v)
        for v in fetch(
            xp,
            *_centred_moments(xp, y),
            xp.sum(xp.astype(outsized(op), y.dtype)),
            xp.min(y),
            xp.max(y),
        )
    )
    in_range = math.isfinite(low) and math.isfinite(high)
    if in_range and not (math.isfinite(mean) and math.isfinite(spread)):
        # Values in range whose sum is not (float32 y up to 2e37): in units of the
        # largest, the mean and spread are at most 1 and 2 (times it, on the host).
        peak = max(abs(low), abs(high))
        mean, spread, relative_variance = (
            float(v) for v in fetch(xp, *_centred_moments(xp, y / peak))
        )
        mean, spread = mean * peak, spread * peak
    return DataSummary(mean, spread, relative_variance, low, high, round(n_outsized))


def _centred_moments(xp, y) -> tuple:
    """``ȳ``, the spread ``mean |yᵢ − ȳ|`` and ``mean ((yᵢ − ȳ)/spread)²``, on the
    device."""
    mean = xp.mean(y)
    centred = y - mean
    spread = xp.mean(xp.abs(centred))
    relative = centred / xp.where(spread > 0, spread, xp.ones_like(spread))
    return mean, spread, xp.mean(relative * relative)


def outsized(op: MeasurementOperator):
    """Mask of the measurements more than ``SCALE_TRUNCATION`` times the mean size."""
    return op.sizes > SCALE_TRUNCATION * op.mean_size


def data_scale(xp, op: MeasurementOperator, y, summary: DataSummary | None = None) -> float:
    """``s = λ_max(S₀)``, ``S₀ = (1/n) Σᵢ wᵢ sym(Aᵢ)/g``, with ``wᵢ = yᵢ − ȳ`` on all
    but outsized measurements (``g`` the operator's gain: 1 unless it normalises).

    Centring ``y`` removes the isotropic part that rank-one measurements add: for
    Gaussian ``xᵢ``, ``E[yᵢ·xᵢxᵢᵀ/g] = g·(2M* + tr(M*)·I)`` and ``E[yᵢ] = g·tr(M*)``, so
    ``E[S₀] = 2g·M*``; for Gaussian ``Aᵢ``, ``ȳ ≈ 0`` and ``E[S₀] = g·M*``. Either way
    ``s`` tracks the top eigenvalue of ``M*``, whatever its rank. (Subtracting the median
    eigenvalue instead took a signal eigenvalue once ``r ≥ d/2``: with
    matrix measurements at ``d = 10``, ``r = 5-6``, ``s`` fell 2-5 times and the rank
    came out one or two too large.)

    ``wᵢ = 0`` where the measurement's size (``op.sizes``: ``‖xᵢ‖²`` or
    ``‖sym(Aᵢ)‖²_F``) exceeds ten times the mean: ``S₀`` is of fourth order in a
    rank-one ``xᵢ``, and one noiseless row ten times the typical norm among 3000 raised
    ``s`` 48-fold, which lost every direction but one. (Truncating on ``|yᵢ − ȳ|``
    instead, as in the truncated spectral method of Chen & Candès 2015, also removed
    the few rows that carry the signal in sparse designs: with single-entry ``Aᵢ`` and
    a spiky ``M*``, ``s`` fell 16-600 times and 10-15 noise columns were kept.) ``S₀``
    is formed from ``y`` in units of its mean absolute deviation, of order one
    whatever the units of ``y``; a constant ``y`` has none, and forms ``S₀`` uncentred,
    in units of ``|ȳ|`` (outsized measurements still left out), and ``y ≡ 0`` gives 1.
    ``s = max |λ(S₀)|`` where ``λ_max(S₀) ≤ 0``. ``summary``: :func:`summarize`'s, if
    already taken.
    """
    summary = summary or summarize(op, y)
    mean, spread = summary.mean, summary.spread
    if not (math.isfinite(mean) and math.isfinite(spread)):
        raise FloatingPointError(
            "The data scale is not finite: y holds values too large for the dtype; "
            "rescale it."
        )
    # Constant y, tested exactly: its rounded mean leaves a spread of an ulp or so,
    # which formed S₀ from rounding noise (y ≡ 0.1 gave s = 1.7e-17, not about 0.1).
    if summary.low < summary.high:
        weights, unit = y - mean, spread
    elif mean != 0:
        weights, unit = y, abs(mean)
    else:
        return 1.0
    if summary.n_outsized:
        weights = xp.where(outsized(op), xp.zeros_like(y), weights)
    S0 = op.sensing_matrix(weights / unit)
    if not bool(xp.all(xp.isfinite(S0))):
        raise FloatingPointError(
            "The data scale (1/n)·Σᵢ yᵢAᵢ is not finite: X holds values too large for "
            "the dtype; rescale it."
        )
    eigenvalues = to_host(xp.linalg.eigvalsh(S0))
    scale = float(eigenvalues[-1])
    if scale <= 0:
        scale = float(np.max(np.abs(eigenvalues)))
    return scale * unit if scale > 0 else 1.0
