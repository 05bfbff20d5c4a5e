"""GPU check, part four: where the host time of a launch-bound iteration goes.

Run by ``benchmarks/gpu_check.sh`` last, or directly: ``python benchmarks/gpu_profile.py``.
On small and medium problems the GPU waits for the host (``gpu_ops.py``), so the cost of
an iteration is the Python and launch time of its array operations. This script runs
the solver's iterations under :mod:`cProfile` and prints, per iteration, the host time
spent in each function of the package, of ``array_api_compat``'s wrappers and of CuPy's
Python layer. CuPy's compiled (Cython) calls do not appear on their own: their time is
counted in the Python function that calls them, which is what locates a costly line.
The profiler adds its own overhead per Python call, so compare rows with each other,
not with ``gpu_check.py``'s timings (the unprofiled time is printed for that).
``--quick`` shrinks the dense problem.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from gpu_check import make_problem, sync

from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._solvers import minimize
from sklearn_lowrank._three_phase import (
    FINETUNE_SOLVERS,
    default_n_columns,
    regularized_solver,
)


def _origin(filename):
    """Which layer a profiled function belongs to."""
    path = filename.replace("\\", "/")
    for marker in ("sklearn_lowrank/", "array_api_compat/", "cupy/", "cupyx/", "numpy/"):
        if marker in path:
            if marker == "sklearn_lowrank/":
                return "sklearn_lowrank." + path.rsplit("/", 1)[-1].removesuffix(".py")
            return marker.rstrip("/")
    return "builtins" if filename.startswith("~") else "other"


def profile_case(label, kind, n, d, r, dtype, regularized, n_iter=40, top=18):
    X, y, _ = make_problem(kind, n, d, r, dtype, seed=1)
    op = make_operator(kind, X)
    xp = op.xp
    y = y / data_scale(xp, op, y)
    k = default_n_columns(d) if regularized else r
    rng = np.random.default_rng(0)
    U = xp.asarray((rng.standard_normal((d, k)) / np.sqrt(d)).astype(dtype))
    kwargs = dict(regularized_solver() if regularized else FINETUNE_SOLVERS["lbfgs"])
    kwargs.update(max_iter=n_iter, tol=0.0)

    def run():
        return minimize(op, y, U, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()  # warm-up: compile the kernels
        sync()
        start = time.perf_counter()
        result = run()
        sync()
        plain_us = 1e6 * (time.perf_counter() - start) / result.n_iter
        profiler = cProfile.Profile()
        profiler.enable()
        result = run()
        sync()
        profiler.disable()
    stats = pstats.Stats(profiler).stats
    per_iter = 1e6 / result.n_iter
    phase = "regularised" if regularized else "fine-tuning"
    print(
        f"\n{label} {dtype}, {phase} ({k} columns): {plain_us:.0f} µs per iteration "
        f"unprofiled; host µs per iteration under the profiler:"
    )
    by_origin = {}
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.items():
        origin = _origin(filename)
        by_origin[origin] = by_origin.get(origin, 0.0) + tottime
        rows.append((tottime, ncalls, cumtime, origin, f"{name}:{line}"))
    total = sum(by_origin.values())
    print(
        "  by layer (own time): "
        + ", ".join(
            f"{origin} {per_iter * t:.0f}"
            for origin, t in sorted(by_origin.items(), key=lambda item: -item[1])
            if per_iter * t >= 5
        )
        + f"; total {per_iter * total:.0f}"
    )
    print(f"  {'own µs':>8} {'calls':>6} {'cum µs':>8}  function")
    for tottime, ncalls, cumtime, origin, where in sorted(rows, reverse=True)[:top]:
        print(
            f"  {per_iter * tottime:8.1f} {ncalls / result.n_iter:6.1f} "
            f"{per_iter * cumtime:8.1f}  {origin}.{where}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    profile_case("small dense 40/600", "matrix", 600, 40, 3, "float64", True)
    profile_case("small dense 40/600", "matrix", 600, 40, 3, "float64", False)
    profile_case("dense 100/20000", "matrix", 20000 // scale, 100, 5, "float32", False)


if __name__ == "__main__":
    main()
