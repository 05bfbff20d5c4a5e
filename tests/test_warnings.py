"""Warnings point at the caller's line, not at a line of the package."""

import importlib.machinery
import os
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

import sklearn_lowrank
from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._diagnostics import warn_about_pruning
from sklearn_lowrank.datasets import make_low_rank_sensing

PACKAGE = os.path.dirname(sklearn_lowrank.__file__)


def test_direct_call_points_here():
    with pytest.warns(UserWarning, match="kept all 3 columns") as record:
        warn_about_pruning(np.array([1.0, 0.9, 0.8]), np.ones(3, dtype=bool), 0.0)
    assert record[0].filename == __file__


def test_fit_through_a_pipeline_points_outside_the_package():
    """Through scikit-learn's Pipeline the first frame outside the package (and its
    fit wrapper) is the Pipeline's: not a line of ours, whatever the depth."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    model = make_pipeline(PrunedFactorSensing(n_columns=2, random_state=0))
    with pytest.warns(UserWarning, match="kept all 2 columns") as record:
        model.fit(X, y)
    assert not record[0].filename.startswith(PACKAGE)
    assert not record[0].filename.endswith(os.path.join("sklearn", "base.py"))


def test_fit_transform_points_at_the_caller():
    """set_output wraps fit_transform (and a Pipeline fits every step but the last
    with it): that wrapper's frame in scikit-learn was taken for the caller."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    with pytest.warns(UserWarning, match="kept all 2 columns") as record:
        PrunedFactorSensing(n_columns=2, random_state=0).fit_transform(X, y)
    assert record[0].filename == __file__
    model = make_pipeline(PrunedFactorSensing(n_columns=2, random_state=0), Ridge())
    with pytest.warns(UserWarning, match="kept all 2 columns") as record:
        model.fit(X, y)
    # The Pipeline's own line, not set_output's wrapper.
    assert record[0].filename.endswith(os.path.join("sklearn", "pipeline.py"))


@pytest.mark.parametrize("module", ["numpy", "array_api_strict"])
def test_every_fit_from_the_same_line_warns_anew(module):
    """Under Python's default filter a warning is shown once per line. scikit-learn's
    input checks reset that memory, but only for NumPy input: Array-API input fitted
    three times from one line warned on the first fit only."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    if module == "array_api_strict":
        X, y = xps.asarray(X), xps.asarray(y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        for _ in range(3):
            PrunedFactorSensing(n_columns=2, random_state=0).fit(X, y)
    assert sum("kept all 2 columns" in str(w.message) for w in record) == 3
    assert {w.filename for w in record} == {__file__}


def test_the_users_filters_still_apply():
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    X, y = xps.asarray(X), xps.asarray(y)
    model = PrunedFactorSensing(n_columns=2, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert not record
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="kept all 2"):
        warnings.simplefilter("error")
        model.fit(X, y)


def test_a_fit_from_execd_code_warns():
    """Code exec'd in a script's namespace: asking the script's loader for the
    warning's line, as ``warn_explicit(module_globals=...)`` does, had raised an
    IndexError inside the warning (the line being past the end of the script)."""
    X, y, _ = make_low_rank_sensing(300, 8, 2, random_state=0)
    model = PrunedFactorSensing(n_columns=2, random_state=0)
    code = compile("\n" * 10_000 + "model.fit(X, y)", "<string>", "exec")
    loader = importlib.machinery.SourceFileLoader("__main__", __file__)
    namespace = {"__name__": "__main__", "__loader__": loader}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        exec(code, {**namespace, "model": model, "X": X, "y": y})
    assert [w.filename for w in record if "kept all 2" in str(w.message)] == ["<string>"]
