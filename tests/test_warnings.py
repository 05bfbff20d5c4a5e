"""Warnings point at the caller's line, not at a line of the package."""

import os

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

import sklearn_lowrank
from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._pruning import select_columns
from sklearn_lowrank.datasets import make_low_rank_sensing

PACKAGE = os.path.dirname(sklearn_lowrank.__file__)


def test_direct_call_points_here():
    with pytest.warns(UserWarning, match="kept all 3 columns") as record:
        select_columns(np.array([1.0, 0.9, 0.8]), "auto")
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
