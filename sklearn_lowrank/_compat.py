"""The one place that imports scikit-learn's private helpers.

scikit-learn does not promise to keep these names stable; if it moves them, this is the
only file to change. The package supports scikit-learn 1.6 and newer: what an older
release lacks is written here, with the behaviour of the release that added it.
"""

from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _get_feature_names, validate_data

from ._backend import namespace_and_device


def _check_same_namespace_fallback(X, estimator, *, attribute, method):
    """Under ``array_api_dispatch``, refuse ``X`` outside the namespace and device of
    ``estimator.<attribute>``: scikit-learn 1.9's ``check_same_namespace``, in short."""
    if not get_config()["array_api_dispatch"]:
        return
    fit_xp, fit_device = namespace_and_device(getattr(estimator, attribute))
    X_xp, X_device = namespace_and_device(X)
    if X_xp is fit_xp and X_device == fit_device:
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        "namespace and the same device as those passed to fit(). Fitted in "
        f"{fit_xp.__name__} on {fit_device!r}, {method} got {X_xp.__name__} on "
        f"{X_device!r}."
    )


try:  # scikit-learn >= 1.9
    from sklearn.utils._array_api import check_same_namespace
except ImportError:
    check_same_namespace = _check_same_namespace_fallback


__all__ = [
    "Interval",
    "StrOptions",
    "_fit_context",
    "_get_feature_names",
    "check_same_namespace",
    "validate_data",
]
