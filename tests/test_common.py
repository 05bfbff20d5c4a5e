"""scikit-learn's common estimator checks, plus those it runs separately."""

import pytest
from _backends import NO_DISPATCH_REASON
from sklearn.utils.estimator_checks import (
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from sklearn_lowrank import PrunedFactorSensing

ESTIMATORS = [
    # The defaults, seeded: a few checks fit without setting a seed themselves.
    PrunedFactorSensing(random_state=0),
    # A tuned rank-one instance: narrower factor, stronger penalty, short fine-tuning.
    PrunedFactorSensing(
        n_columns=6,
        alpha=2e-2,
        beta=1e-1,
        threshold=0.05,
        finetune_iter=50,
        max_iter=200,
        tol=1e-8,
        random_state=0,
    ),
]

# Every check must pass: no expected failures.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def test_array_api_checks_are_not_skipped():
    """scikit-learn runs its array-API checks only for estimators with this tag; without
    it they would all skip and this suite would still pass."""
    assert PrunedFactorSensing().__sklearn_tags__().array_api_support is True


def test_three_d_input_is_tagged_for_matrix_measurements():
    """(n, d, d) input is read for matrix measurements only."""
    for measurement, three_d in (("rank_one", False), ("matrix", True)):
        tags = PrunedFactorSensing(measurement=measurement).__sklearn_tags__()
        assert tags.input_tags.three_d_array is three_d


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_estimator(estimator, check):
    name = getattr(check, "func", check).__name__
    if name.startswith("check_array_api") and NO_DISPATCH_REASON:
        pytest.skip(NO_DISPATCH_REASON)
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=["default", "tuned"])
@pytest.mark.parametrize(
    "check",
    [
        check_param_validation,
        check_set_output_transform,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
    ],
)
def test_separately_run_checks(estimator, check):
    check(type(estimator).__name__, estimator)
