"""Small sensing problems that several test modules share."""

from sklearn_lowrank._operators import MatrixOperator, RankOneOperator
from sklearn_lowrank.datasets import make_low_rank_sensing

KINDS = ["rank_one", "matrix"]


def problem(kind, n=200, d=6, rank=2, seed=0, noise=0.0):
    """``(op, X, y, truth)``: a noiseless (by default) problem and its raw operator."""
    X, y, truth = make_low_rank_sensing(
        n, d, rank, measurement=kind, noise=noise, random_state=seed
    )
    op = RankOneOperator(X) if kind == "rank_one" else MatrixOperator(X)
    return op, X, y, truth
