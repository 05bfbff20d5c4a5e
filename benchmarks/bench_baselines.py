"""The estimator against the baselines: time to 1e-6, rank, size, figures.

Problems: dense matrix sensing (d=40, r=3, n=600) and rank-one sensing (d=100, r=5,
n=5000), κ ∈ {1, 10}, plus a larger rank-one case (d=200, r=10, n=20000, κ=10), all
noiseless (the noisy comparison is ``bench_noisy.py``). Methods (see ``baselines.py`` for
each one's reference): the estimator; GD with the estimator's default width and no
regulariser; GD and ScaledGD told the true rank; PrecGD over-parameterised;
nuclear-norm minimisation with cvxpy/SCS (dense problems only). Every first-order
baseline takes its steps with the same exact line search.

Prints the time to relative error 1e-6, iterations, the ratio to the estimator (median
over repeats of the ratio within each repeat), the rank and parameter count of the
model, and the targets. Saves to ``benchmarks/results/``: error against time and
against iterations for each problem, and the sorted column norms of the
over-parameterised factor with and without the group-lasso penalty.

Each repeat draws a new problem and start (seed = repeat index) and runs the methods one
after the other. A method that uses up its time budget in the first repeat is not
repeated (its row says so).

Targets: time to 1e-6 ≤ 0.25× PrecGD's and ≤ 2× the rank oracle's (GD told the
true rank).

    python benchmarks/bench_baselines.py [--repeats 3] [--budget 10] [--no-large]
"""

from __future__ import annotations

import math
import os
import time
import warnings

import baselines
import matplotlib
import numpy as np
from _common import (
    TARGET,
    Trace,
    blas_threads,
    fmt_ratio,
    fmt_time,
    header,
    make_problem,
    median,
    method_rows,
    paired_time_ratio,
    results_path,
    run_arguments,
    table,
    verdict,
)
from baselines import run_all
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CASES = [
    ("dense", 1),
    ("dense", 10),
    ("rank-one", 1),
    ("rank-one", 10),
    ("rank-one large", 10),
]
EST, ORACLE, PREC = "estimator", "GD (k=r)", "PrecGD (k=default)"


def _time(run):
    return run.time_to(TARGET)


def noiseless_table(runs, cases):
    def cells(method, results, est):
        t = median([_time(r) for r in results])
        if math.isinf(t):
            when = f"not reached ({results[0].final_error:.1e} after budget)"
            its = "—"
        else:
            when = fmt_time(t)
            its = f"{median([r.iters_to() for r in results]):.0f}"
        note = "" if len(results) > 1 else " (1 run)"
        return [method + note, when, its, fmt_ratio(*paired_time_ratio(results, est))]

    rows = method_rows(runs, cases, baselines.METHODS, EST, cells)
    headers = ["problem", "method", "time to 1e-6", "iters", "÷ estimator"]
    return table([*headers, "rank (eff.)", "params"], rows)


def targets(runs, cases):
    rows = []
    for name, kappa in cases:
        est = runs[(name, kappa, EST)]
        checks = [
            (paired_time_ratio(est, runs[(name, kappa, PREC)]), 0.25),
            (paired_time_ratio(est, runs[(name, kappa, ORACLE)]), 2.0),
        ]
        cells = [
            f"{fmt_ratio(v, bound)} {verdict(v, goal, bound)}"
            for (v, bound), goal in checks
        ]
        scaled = paired_time_ratio(est, runs[(name, kappa, "ScaledGD (k=r)")])
        rows.append([f"{name} κ={kappa}", *cells, fmt_ratio(*scaled)])
    return table(
        [
            "problem",
            "est ÷ PrecGD (target ≤ 0.25×)",
            "est ÷ GD k=r (target ≤ 2×)",
            "est ÷ ScaledGD k=r (no target)",
        ],
        rows,
    )


# ---------------------------------------------------------------------------- figures
def plot_curves(runs, cases):
    paths = []
    for name, kappa in cases:
        fig, (by_time, by_iter) = plt.subplots(1, 2, figsize=(11, 4))
        for method in baselines.METHODS:
            results = runs.get((name, kappa, method))
            if not results:
                continue
            r = results[0]
            if r.times.size == 1:  # a convex solve: one point
                by_time.plot(r.times, r.errors, "*", ms=12, label=method)
                continue
            by_time.semilogy(r.times, r.errors, label=method)
            by_iter.semilogy(np.arange(1, r.errors.size + 1), r.errors, label=method)
        for ax, xlabel in ((by_time, "time (s)"), (by_iter, "iteration")):
            ax.set_yscale("log")
            ax.axhline(TARGET, color="grey", ls=":", lw=1)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("relative error ‖UUᵀ − M*‖_F / ‖M*‖_F")
            ax.grid(True, which="major", alpha=0.3)
        by_time.set_xscale("log")
        by_iter.set_xscale("log")
        by_iter.legend(fontsize=8)
        fig.suptitle(f"{name}, κ={kappa}, noiseless (first repeat)")
        fig.tight_layout()
        path = results_path(f"curves_{name.replace(' ', '_')}_kappa{kappa}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_column_norms(cases):
    """Sorted column norms before pruning, with the default penalty and with alpha=0."""
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4))
    for ax, (name, kappa) in zip(np.atleast_1d(axes), cases, strict=True):
        problem = make_problem(name, kappa, seed=0)
        for alpha, style in ((None, "o-"), (0.0, "s--")):
            params = {} if alpha is None else {"alpha": alpha}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = baselines.estimator(problem, 0, Trace(), **params)
            norms = np.sort(run.extra["column_norms"])[::-1]
            label = "default alpha" if alpha is None else "alpha = 0 (no regulariser)"
            ax.semilogy(np.arange(1, norms.size + 1), norms / norms[0], style, label=label)
            if alpha is None:
                ax.axhline(run.extra["threshold"], color="tab:red", lw=1, ls=":")
        ax.axvline(problem.rank + 0.5, color="grey", lw=1)
        ax.set_title(f"{name}, κ={kappa}: true rank {problem.rank}")
        ax.set_xlabel("column (sorted by norm)")
        ax.set_ylabel("norm / largest norm")
        ax.legend(fontsize=8)
    fig.suptitle("Column norms after the regularised phase (dotted red: pruning threshold)")
    fig.tight_layout()
    path = results_path("column_norms.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None):
    parser = run_arguments(__doc__.splitlines()[0], repeats=3)
    parser.add_argument("--no-large", action="store_true", help="skip the larger case")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    cases = CASES[:-1] if args.no_large else CASES
    start = time.perf_counter()
    print(header(args.blas_threads))
    with blas_threads(args.blas_threads):
        runs = run_all(cases, noise=0.0, repeats=args.repeats, budget=args.budget)
        figures = plot_curves(runs, cases)
        figures.append(plot_column_norms([("dense", 10), ("rank-one", 10)]))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(
        f"\n## Noiseless: time to relative error {TARGET:g} "
        f"(median of {args.repeats}; budget {args.budget:g} s per run)\n"
    )
    print(noiseless_table(runs, cases))
    print(
        "\n÷ estimator: median over repeats of (method's time ÷ estimator's time in the "
        "same repeat). rank: columns of the model (nuclear norm: eigenvalues of M above "
        "1e-3× the largest); eff.: eigenvalues of UUᵀ above 1e-3× the largest."
    )
    print("\n## Targets for the estimator (time to 1e-6, paired ratios)\n")
    print(targets(runs, cases))
    print("\nfigures:\n" + "\n".join(f"  {os.path.relpath(p)}" for p in figures))
    print(f"\ntotal time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
