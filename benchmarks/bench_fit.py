"""Time to relative error 1e-6: the estimator against plain gradient descent.

For dense matrix sensing (d=40, r=3, n=600) and rank-one sensing (d=100, r=5, n=5000),
condition numbers 1 and 10, noiseless, this times

- the estimator: ``fit_three_phase`` with its defaults, operator construction and data
  scale included;
- GD with the estimator's default width ``k`` from the same small random start, no
  regulariser (``minimize``, ``memory=0``);
- GD told the true rank (``k = r``), same start, same solver.

All three share the library's exact line search. Each repeat uses a new problem and start
(seed = repeat index) and runs the methods one after the other, so that a busy machine
slows them alike; times are medians over repeats and ratios are medians of the ratios
within each repeat. A run ends once its error is below the target (checked every 10
iterations, off the clock) or after ``--budget`` seconds; a method that used up the
budget is not repeated.

Target: estimator ≤ 3× GD told the true rank.

    python benchmarks/bench_fit.py [--repeats 5] [--budget 10]
"""

from __future__ import annotations

import math
import os
import warnings

import baselines
from _common import (
    TARGET,
    blas_threads,
    fmt_ratio,
    fmt_time,
    header,
    median,
    paired_time_ratio,
    run_arguments,
    table,
    verdict,
)
from baselines import run_all
from sklearn.exceptions import ConvergenceWarning

METHODS = {
    "estimator": baselines.estimator,
    "GD (k=default)": baselines.gd_overparameterized,
    "GD (k=r)": baselines.gd_rank_oracle,
}
CASES = [("dense", 1), ("dense", 10), ("rank-one", 1), ("rank-one", 10)]
TARGET_RATIO = 3.0


def _time(run):
    return run.time_to(TARGET)


def _cell(runs):
    """Median time and iterations, or the error left when the budget ran out."""
    if runs[0].stopped_by_budget and math.isinf(_time(runs[0])):
        return f"not reached (error {runs[0].final_error:.1e} at budget)"
    times = [_time(r) for r in runs]
    return f"{fmt_time(median(times))} ({median([r.iters_to() for r in runs]):.0f} it)"


def main(argv=None):
    parser = run_arguments(__doc__.splitlines()[0], repeats=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)

    print(header(args.blas_threads))
    with blas_threads(args.blas_threads):
        runs = run_all(
            CASES, noise=0.0, repeats=args.repeats, budget=args.budget, methods=METHODS
        )
    rows = []
    for name, kappa in CASES:
        r = {m: runs[(name, kappa, m)] for m in METHODS}
        est = r["estimator"]
        ratio, bound = paired_time_ratio(est, r["GD (k=r)"])
        rows.append(
            [
                f"{name} κ={kappa}",
                *(_cell(r[m]) for m in METHODS),
                fmt_ratio(*paired_time_ratio(r["GD (k=default)"], est)),
                fmt_ratio(*paired_time_ratio(r["GD (k=r)"], est)),
                f"{fmt_ratio(ratio, bound)} {verdict(ratio, TARGET_RATIO, bound)}",
            ]
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(
        f"\nTime to relative error {TARGET:g} (median of {args.repeats}; "
        f"budget {args.budget:g} s per run; ratios: median over repeats of the ratio "
        "within a repeat)\n"
    )
    print(
        table(
            [
                "problem",
                "estimator",
                "GD k=default",
                "GD k=r",
                "GD k=default ÷ est",
                "GD k=r ÷ est",
                f"est ÷ GD k=r (target ≤ {TARGET_RATIO:g}×)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
