"""Array operations per solver iteration, counted on the CPU: a GPU's launch cost.

On a GPU, small and medium problems are bound by kernel launches, not by memory: every
array operation costs 7-35 µs of host time (``gpu_ops.py``), whatever the size of the
array. So the number of operations per iteration predicts the GPU iteration time there,
and it can be counted without a GPU: this script runs the solver on ``array_api_strict``
arrays (which, like CuPy, refuse silent host conversion) and counts, through a profiling
hook, every call the package makes into the array namespace, by kind. The ``~µs``
column weights each kind by the host cost ``gpu_ops.py`` measured on an H200 (CuPy 14.2;
views cost nothing on the device but a few µs of Python).

Counts depend on the code, not on the machine or the problem's size, so rows from
different runs compare directly.

    python benchmarks/count_ops.py [--iterations 30] [--sites]

``--sites`` also lists, for each case, the operations by the package line that makes
them: where to look for the next one to remove.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings

import array_api_strict as xps
import numpy as np
from _common import table

from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._solvers import minimize
from sklearn_lowrank._three_phase import FINETUNE_SOLVERS, regularized_solver
from sklearn_lowrank.datasets import make_low_rank_sensing

_STRICT_DIR = os.path.dirname(xps.__file__)
# Host cost (µs) of one operation of each kind, from gpu_ops.py on an H200 (CuPy 14.2).
_COST_US = {
    "element-wise": 10,
    "reduction": 25,
    "matmul": 16,
    "gather/concat": 30,
    "row write": 7,
    "to device": 17,
    "to host": 25,
    "view": 3,
}
_KIND = {
    "sum": "reduction",
    "max": "reduction",
    "min": "reduction",
    "vecdot": "reduction",
    "__matmul__": "matmul",
    "__rmatmul__": "matmul",
    "matmul": "matmul",
    "take": "gather/concat",
    "concat": "gather/concat",
    "stack": "gather/concat",
    "__setitem__": "row write",
    "asarray": "to device",
    "__dlpack__": "to host",
    "__float__": "to host",
    "__bool__": "to host",
    "__int__": "to host",
    "__getitem__": "view",
    "reshape": "view",
    "T": "view",
    "mT": "view",
}
# Attribute reads, not operations.
_IGNORED = {
    "shape",
    "dtype",
    "device",
    "ndim",
    "size",
    "__array_namespace__",
    "__dlpack_device__",
    "__len__",
    "__hash__",
    "__eq__",  # of dtypes and devices
    "__repr__",
    "finfo",
    "isdtype",
}


class OpCounter:
    """Counts the package's calls into ``array_api_strict`` while active; ``sites``
    also counts them by the package line that made them."""

    def __init__(self):
        self.counts = collections.Counter()
        self.sites = collections.Counter()

    def _hook(self, frame, event, arg):
        if event != "call" or not frame.f_code.co_filename.startswith(_STRICT_DIR):
            return
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename.startswith(_STRICT_DIR):
            return  # array_api_strict calling itself
        name = frame.f_code.co_name
        if name.startswith("_") and not name.startswith("__"):
            return
        if name not in _IGNORED:
            self.counts[name] += 1
            if caller is not None:
                where = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
                self.sites[where, caller.f_code.co_name, name] += 1

    def __enter__(self):
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)

    def by_kind(self):
        kinds = collections.Counter()
        for name, count in self.counts.items():
            kinds[_KIND.get(name, "element-wise")] += count
        return kinds


def _problem(measurement, n, d, rank, seed=0):
    X, y, _ = make_low_rank_sensing(
        n, d, rank, measurement=measurement, noise=0.0, random_state=seed
    )
    return X, y


def count(measurement, n, d, rank, k, phase, n_iter):
    """Operations per iteration of ``phase`` ("regularised" or "fine-tuning"), by kind
    and by site, the mean over iterations 2 … n_iter of one run (the start is not
    counted)."""
    X, y = _problem(measurement, n, d, rank)
    Xs, ys = xps.asarray(X), xps.asarray(y)
    op = make_operator(measurement, Xs, normalize=True)
    ys = ys / data_scale(xps, op, ys)
    rng = np.random.default_rng(1)
    settings = regularized_solver() if phase == "regularised" else FINETUNE_SOLVERS["lbfgs"]
    U = xps.asarray(rng.standard_normal((d, k)) * (1e-3 if phase == "regularised" else 0.5))
    counter = OpCounter()
    marks = []

    def callback(_):
        marks.append((counter.by_kind(), counter.sites.copy()))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with counter:
            minimize(op, ys, U, **settings, max_iter=n_iter, tol=0.0, callback=callback)
    (first, first_sites), (last, last_sites) = marks[0], marks[-1]
    iterations = len(marks) - 1
    per_kind = {kind: (last[kind] - first[kind]) / iterations for kind in _COST_US}
    per_site = {
        site: (n_calls - first_sites[site]) / iterations
        for site, n_calls in last_sites.items()
    }
    return per_kind, per_site


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=30,
        help="iterations per run, at least 2 (the first, with the start, is not counted)",
    )
    parser.add_argument(
        "--sites", action="store_true", help="also list the operations by package line"
    )
    args = parser.parse_args()
    if args.iterations < 2:
        parser.error(
            f"--iterations must be at least 2 (got {args.iterations}): the counts are "
            "the mean over iterations 2 … n, the first one including the start"
        )
    cases = [
        ("dense d=100", "matrix", 400, 100, 5, 30),
        ("rank-one d=200", "rank_one", 4000, 200, 5, 38),
    ]
    rows, site_tables = [], []
    for label, measurement, n, d, rank, k in cases:
        for phase, width in (("regularised", k), ("fine-tuning", rank)):
            per_kind, per_site = count(
                measurement, n, d, rank, width, phase, args.iterations
            )
            total = sum(per_kind.values())
            micro = sum(_COST_US[kind] * c for kind, c in per_kind.items())
            detail = ", ".join(f"{kind} {c:.1f}" for kind, c in per_kind.items() if c > 0)
            rows.append([label, phase, f"{total:.1f}", f"{micro:.0f}", detail])
            site_rows = [
                [where, function, name, f"{c:.2f}"]
                for (where, function, name), c in sorted(per_site.items())
                if c >= 0.05  # not the rare ones (rotations, resets)
            ]
            site_tables.append((f"{label}, {phase}", site_rows))
    print("Array operations per iteration (array_api_strict, counted on the CPU)")
    print(table(["case", "phase", "ops", "~µs", "by kind"], rows))
    if args.sites:
        for title, site_rows in site_tables:
            print(f"\n{title}: operations per iteration by package line")
            print(table(["line", "function", "operation", "per iteration"], site_rows))


if __name__ == "__main__":
    main()
