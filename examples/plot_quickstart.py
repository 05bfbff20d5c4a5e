"""
Quickstart: recover a low-rank matrix without knowing its rank
===============================================================

We sense an unknown rank-5 PSD matrix ``M* = U* U*ᵀ`` (100 × 100) through 5,000 rank-one
measurements ``yᵢ = ‖U*ᵀxᵢ‖²``, fit :class:`~sklearn_lowrank.PrunedFactorSensing` with
its defaults, and look at what it found: the rank, the recovery error, and the column
norms of the over-parameterised factor before pruning, where the group lasso leaves a
gap of more than tenfold between the columns it needs and the rest.
"""

import time

import matplotlib

matplotlib.use("Agg")  # also runs without a display (the README's demo command)
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

X, y, true_factor = make_low_rank_sensing(
    n_samples=5000,
    n_features=100,
    rank=5,
    measurement="rank_one",
    condition_number=10,
    random_state=0,
)

start = time.perf_counter()
model = PrunedFactorSensing(random_state=0).fit(X, y)
seconds = time.perf_counter() - start

error = relative_error(model.components_.T, true_factor)
print(f"rank found: {model.n_components_} (true rank 5)")
print(f"relative error ||UUᵀ - M*||_F / ||M*||_F: {error:.2e}")
print(
    f"fit time: {seconds:.2f} s ({model.n_iter_} iterations, "
    f"{model.n_iter_finetune_} of them fine-tuning)"
)

# %%
# The column norms before pruning: five columns carry the matrix (the smallest at 0.3 of
# the largest), the group lasso has pushed the others down to 2.2% of it or less (a 14×
# drop below the smallest needed one), and pruning cuts in that gap.
norms = np.sort(model.column_norms_)[::-1]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(np.arange(1, norms.size + 1), norms / norms[0], "o-", label="column norms")
ax.axhline(model.threshold_, color="tab:red", ls="--", label="pruning threshold")
ax.set_xlabel("column (sorted by norm)")
ax.set_ylabel("norm / largest norm")
ax.set_title(f"{model.n_components_} of {norms.size} columns kept")
ax.legend()
fig.tight_layout()
fig.savefig("quickstart_column_norms.png", dpi=100)
print("saved the column-norm plot to quickstart_column_norms.png")

# %%
# Where next: :ref:`sphx_glr_auto_examples_plot_regularizer_vs_none.py` shows why the
# gap needs the group lasso, :ref:`sphx_glr_auto_examples_plot_finetune_linear_rate.py`
# the fast convergence of the fine-tuning, and the :ref:`user_guide` how to choose the
# parameters.
