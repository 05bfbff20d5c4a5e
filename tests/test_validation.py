"""Tests for the input checks beyond scikit-learn's (``sklearn_lowrank._validation``);
the estimator-level behaviour they give is tested in test_estimator and test_backend."""

import warnings

import array_api_strict as xps
import numpy as np
import pytest

from sklearn_lowrank._validation import check_foreign_array


def test_check_foreign_array_converts_and_rejects():
    dev = xps.Device("device1")
    ints = xps.asarray(np.arange(6).reshape(2, 3), device=dev)
    assert check_foreign_array(ints, xps, name="X", ndim=2).dtype == xps.float64
    f32 = xps.asarray(np.ones((2, 3), dtype=np.float32), device=dev)
    assert check_foreign_array(f32, xps, name="X", ndim=2).dtype == xps.float32
    with pytest.raises(ValueError, match="Expected a 2-D array for X"):
        check_foreign_array(xps.ones(3, device=dev), xps, name="X", ndim=2)
    with pytest.raises(ValueError, match="X contains NaN"):
        check_foreign_array(
            xps.asarray(np.array([[1.0, np.nan]]), device=dev), xps, name="X", ndim=2
        )
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        check_foreign_array(xps.asarray([1.0, -np.inf], device=dev), xps, name="y", ndim=1)
    # Finite entries whose sum overflows (the fast path's test) are accepted.
    huge = xps.full((2, 2), 3e38, dtype=xps.float32, device=dev)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and silently
        assert check_foreign_array(huge, xps, name="X", ndim=2).dtype == xps.float32
    with pytest.raises(ValueError, match="empty"):
        check_foreign_array(xps.ones((0, 3), device=dev), xps, name="X", ndim=2)
    one_column = xps.ones((3, 1), device=dev)
    assert check_foreign_array(one_column, xps, name="X", ndim=2).shape == (3, 1)
    # Complex y is refused even when it is to be cast to X's dtype.
    complex_y = xps.asarray(np.array([1.0 + 2.0j, 3.0]), device=dev)
    for dtype in (None, xps.float64):
        with pytest.raises(ValueError, match="Complex data not supported for y"):
            check_foreign_array(complex_y, xps, name="y", ndim=1, dtype=dtype)
