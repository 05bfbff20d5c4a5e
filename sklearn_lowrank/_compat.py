"""The one place that imports scikit-learn's private helpers.

scikit-learn does not promise to keep these names stable; if it moves them, this is the
only file to change.
"""

from sklearn.base import _fit_context
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

__all__ = [
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_same_namespace",
    "validate_data",
]
