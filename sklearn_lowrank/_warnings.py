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
    between phases and callers. The warning keeps no once-per-location record: under
    Python's default filter a second fit from the same line would otherwise be
    silent. scikit-learn's input checks reset those records, but only for the NumPy
    input they check; every fit warns anew whatever array library ``X`` comes from.
    The user's filters (``"ignore"``, ``"error"``, ``"once"``) still apply; with no
    record to consult, ``"default"`` and ``"module"`` show every warning.
    """
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE)
        or frame.f_code.co_filename.endswith(_WRAPPERS)
    ):
        frame = frame.f_back
    if frame is None:  # no caller outside the package
        warnings.warn(message, category, stacklevel=2)
        return
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__"),
    )
