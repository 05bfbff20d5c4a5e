"""Warnings attributed to the caller's line rather than the package's."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# scikit-learn's wrappers whose frames sit between our methods and the caller:
# _fit_context around fit, set_output's around fit_transform and transform.
_WRAPPERS = (
    os.path.join("sklearn", "base.py"),
    os.path.join("sklearn", "utils", "_set_output.py"),
)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointed at the first frame outside this package (and outside
    scikit-learn's wrappers of ``fit`` and ``fit_transform``): the user's call, so that
    the printed line is theirs.

    A fixed ``stacklevel`` cannot do this: the depth from a solver to ``fit`` differs
    between phases and callers.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE)
        or frame.f_code.co_filename.endswith(_WRAPPERS)
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
