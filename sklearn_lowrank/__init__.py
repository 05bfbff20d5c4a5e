"""Low-rank PSD matrix sensing: group-lasso fit, greedy pruning, fine-tuning.

The package is one scikit-learn estimator, :class:`PrunedFactorSensing`, plus helpers:
:mod:`sklearn_lowrank.datasets` (synthetic problems) and :mod:`sklearn_lowrank.metrics`
(recovery error). The algorithm's parts live in private modules named after them:
``_three_phase`` (the algorithm: fit, prune, fine-tune), ``_scaling`` (the data
scale), ``_operators`` (measurement kinds), ``_penalty`` (smooth group lasso),
``_line_search``, ``_solvers``, ``_pruning``, ``_diagnostics`` (the fit's warnings),
``_tangent`` (which directions of ``M`` the measurements see), ``_backend`` (array
module), ``_validation`` (input checks), ``_warnings`` (how they
are issued) and ``_compat`` (scikit-learn's private names, imported in one place).
"""

from ._estimator import PrunedFactorSensing

__all__ = ["PrunedFactorSensing", "__version__"]
__version__ = "0.1.0.dev0"
