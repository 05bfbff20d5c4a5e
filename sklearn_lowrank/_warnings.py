"""Warnings attributed to the caller's line rather than the package's."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# scikit-learn's _fit_context wraps fit: its frame sits between fit and the caller.
_WRAPPER = os.path.join("sklearn", "base.py")


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointed at the first frame outside this package (and outside
    scikit-learn's ``fit`` wrapper): the user's ``fit`` call, so that the printed line
    is theirs and Python's once-per-location filter tells their calls apart.

    A fixed ``stacklevel`` cannot do this: the depth from a solver to ``fit`` differs
    between phases and callers.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE)
        or frame.f_code.co_filename.endswith(_WRAPPER)
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
