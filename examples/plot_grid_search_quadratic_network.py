r"""
Tuning ``alpha`` and ``threshold`` with GridSearchCV: a quadratic network
=========================================================================

A two-layer neural network with ``r`` hidden units, quadratic activation and unit output
weights computes

.. math:: f(x) = \sum_{j=1}^r (w_j^\top x)^2 = \|W^\top x\|^2 ,

which is rank-one matrix sensing of ``M* = WWᵀ``: with ``measurement="rank_one"`` each
row of ``X`` is an input ``x``, ``components_`` holds the learned hidden weights and
``n_components_`` the number of hidden units the data supports.

We learn such a network from noisy samples whose features come in wildly different
units, and let cross-validation choose the penalty ``alpha`` and the pruning
``threshold``. The model sits in a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler` with ``with_mean=False``: dividing each
feature by its spread is a fixed linear map, under which ``f`` is still exactly a
quadratic network, while centring would add linear terms that no PSD quadratic form
can fit.
"""

import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing

# %%
# The teacher: 20 inputs, 3 hidden units of decreasing strength, Gaussian label noise
# of about a third of the signal's spread. Each feature is then expressed in its own
# unit (scales from 0.1 to 10), as raw measurements often are.
n_hidden = 3
Z, y, W = make_low_rank_sensing(
    n_samples=500,
    n_features=20,
    rank=n_hidden,
    measurement="rank_one",
    condition_number=3,
    noise=0.5,
    random_state=0,
)
rng = np.random.default_rng(0)
units = np.exp(rng.uniform(np.log(0.1), np.log(10), Z.shape[1]))
X = Z * units
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

# %%
# The grid: no penalty up to a very strong one, and the gap rule ``"auto"`` against a
# fixed relative threshold. ``finetune_iter=300`` caps the cost of the candidates that
# keep too many columns; a well-pruned factor converges long before. Besides R² we
# record the rank each candidate finds, through a scorer that returns it.
pipe = make_pipeline(
    StandardScaler(with_mean=False), PrunedFactorSensing(finetune_iter=300, random_state=0)
)
grid = {
    "prunedfactorsensing__alpha": [0.0, 1e-3, 1e-2, 1e-1, 1.0],
    "prunedfactorsensing__threshold": ["auto", 0.3],
}


def rank_found(pipeline, X, y):
    """Number of hidden units kept (a "score" GridSearchCV can average)."""
    return pipeline[-1].n_components_


search = GridSearchCV(
    pipe, grid, cv=3, scoring={"r2": "r2", "rank": rank_found}, refit="r2"
)
start = time.perf_counter()
# alpha=0 with threshold="auto" keeps every column (with 0.3 it still prunes: 19 of 20
# on the training set) and does not converge in 300 iterations; alpha=1
# removes every column and keeps only the largest: the estimator warns about both.
# alpha=1e-3 with "auto" keeps extra columns, and warns that its weakest directions may
# only fit noise.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    search.fit(X_train, y_train)
print(
    f"grid search: {len(search.cv_results_['params'])} candidates x 3 folds "
    f"in {time.perf_counter() - start:.1f} s"
)

results = pd.DataFrame(search.cv_results_)[
    [
        "param_prunedfactorsensing__alpha",
        "param_prunedfactorsensing__threshold",
        "mean_test_r2",
        "mean_test_rank",
    ]
].rename(columns=lambda c: c.replace("param_prunedfactorsensing__", ""))
print(results.to_string(index=False, float_format="{:.3f}".format))

# %%
# The selected model, refit on the whole training set, and its R² on held-out data
# next to the teacher's own R² (the best any model can do with this noise).
best = search.best_estimator_
teacher = np.sum((X_test / units @ W) ** 2, axis=1)
teacher_r2 = 1 - np.mean((teacher - y_test) ** 2) / np.var(y_test)
print(f"best parameters: {search.best_params_}")
print(f"hidden units found: {best[-1].n_components_} (teacher: {n_hidden})")
print(f"test R²: {best.score(X_test, y_test):.3f} (teacher: {teacher_r2:.3f})")

# %%
# Too little penalty keeps spurious hidden units that fit the noise; too much removes
# real ones. The gap rule is conservative on noisy data, where the gap between needed
# and unneeded columns narrows, and a fixed threshold can prune more cleanly:
# cross-validation sorts this out.
alphas = grid["prunedfactorsensing__alpha"]
positions = np.arange(len(alphas))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
for threshold, marker in [("auto", "o-"), (0.3, "s--")]:
    rows = results[results["threshold"].astype(str) == str(threshold)]
    label = f"threshold={threshold!r}"
    axes[0].plot(positions, rows["mean_test_r2"], marker, label=label)
    axes[1].plot(positions, rows["mean_test_rank"], marker, label=label)
axes[0].axhline(teacher_r2, color="k", ls=":", lw=1, label="teacher (test set)")
axes[0].set_ylabel("mean cross-validated R²")
axes[0].set_ylim(0, 1)
axes[1].axhline(n_hidden, color="k", ls=":", lw=1, label="teacher width")
axes[1].set_ylabel("mean hidden units kept")
axes[1].set_yscale("log")
axes[1].set_yticks([1, 2, 3, 5, 10, 20], labels=["1", "2", "3", "5", "10", "20"])
for ax in axes:
    ax.set_xticks(positions, labels=[f"{a:g}" for a in alphas])
    ax.set_xlabel("alpha")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
