"""scikit-learn helpers across the supported releases (1.6 and newer).

The fallback for ``check_same_namespace`` (scikit-learn 1.9) is tested directly, beside
the installed release's own helper, so both are held to the same behaviour whichever
release CI runs.
"""

import array_api_strict as xps
import numpy as np
import pytest
from _backends import needs_dispatch
from sklearn import config_context

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._compat import _check_same_namespace_fallback, check_same_namespace
from sklearn_lowrank.datasets import make_low_rank_sensing

CHECKS = [
    pytest.param(check_same_namespace, id="installed"),
    pytest.param(_check_same_namespace_fallback, id="fallback"),
]
DEVICE1 = xps.Device("device1")


class _Fitted:
    def __init__(self, components):
        self.components_ = components


def _call(check, X, fitted):
    check(X, _Fitted(fitted), attribute="components_", method="predict")


@needs_dispatch
@pytest.mark.parametrize("check", CHECKS)
def test_same_namespace_and_device_pass(check):
    with config_context(array_api_dispatch=True):
        _call(check, np.ones((2, 3)), np.ones((3, 1)))
        _call(check, [[1.0, 2.0, 3.0]], np.ones((3, 1)))
        strict = xps.asarray(np.ones((3, 1)), device=DEVICE1)
        _call(check, xps.asarray(np.ones((2, 3)), device=DEVICE1), strict)


@needs_dispatch
@pytest.mark.parametrize("check", CHECKS)
def test_other_namespace_or_device_is_refused_under_dispatch(check):
    message = "must use the same namespace and the same device"
    with config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match=message):
            _call(check, xps.asarray(np.ones((2, 3))), np.ones((3, 1)))
        with pytest.raises(ValueError, match=message):
            _call(
                check,
                xps.asarray(np.ones((2, 3))),
                xps.asarray(np.ones((3, 1)), device=DEVICE1),
            )


@pytest.mark.parametrize("check", CHECKS)
def test_nothing_is_checked_without_dispatch(check):
    _call(check, xps.asarray(np.ones((2, 3)), device=DEVICE1), np.ones((3, 1)))


@needs_dispatch
def test_predict_under_dispatch_refuses_another_namespace():
    X, y, _ = make_low_rank_sensing(60, 6, 1, measurement="rank_one", random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    with config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match=r"PrunedFactorSensing\.predict\(\)"):
            model.predict(xps.asarray(X, device=DEVICE1))
