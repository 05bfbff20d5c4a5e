"""Per-iteration cost against the memory-bandwidth floor, and peak memory.

Dense matrix sensing with d=100, n=20000 (r=5, κ=1), in float64 and float32.

Iteration cost. Each solver iteration must read the stored measurements twice: one
``directional`` pass prices the search direction, one adjoint pass gives the gradient.
The matrix operator stores the packed upper triangle of ``Aᵢ + Aᵢᵀ`` (d(d+1)/2 of the d²
columns, about half of X), so the floor is ``2 × bytes(packed) ÷ bandwidth``. The
bandwidth is measured in the same run as a large NumPy copy, counting bytes read and
written (STREAM "copy" convention, as ``gpu_check.py`` does on the GPU); the read rate of
a BLAS matrix-vector product over an array of the same size is printed beside it. An
iteration's time is the mean interval between the solver's callbacks over 20 iterations
(so the one-off start-up passes are not counted, the periodic column alignment of the
regularised phase is), best of 5 runs as the bandwidth is, for the regularised
phase (k = default width, L-BFGS, penalty) and the fine-tuning phase (k = r, L-BFGS in
the ScaledGD metric, the default ``finetune_solver``). Target: ≤ 1.1× the floor.

Peak memory. ``PrunedFactorSensing(measurement="matrix").fit(X, y)`` on an X that the
caller already holds, measured two ways: (1) ``tracemalloc``, which sees every NumPy
buffer allocated during fit (NumPy reports its allocations to it) but not BLAS's own
work buffers; (2) the process's peak resident memory (``VmHWM``, reset through
``/proc/self/clear_refs`` just before fit) minus the resident memory before fit ("n/a"
without ``/proc``). The ratio is (X + peak extra) ÷ X, i.e. the footprint of the fit
including X itself; the RSS one only for X of 64 MiB or more (see ``RSS_MIN_BYTES``).
Target: ≤ 1.6×.

    python benchmarks/bench_iteration.py [--n-samples 20000] [--n-features 100]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import time
import tracemalloc
import warnings

import numpy as np
from _common import header, table
from sklearn.utils import check_random_state

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._operators import make_operator
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._solvers import minimize
from sklearn_lowrank._three_phase import (
    FINETUNE_SOLVERS,
    default_n_columns,
    regularized_solver,
)
from sklearn_lowrank.datasets import make_low_rank_sensing

N_ITER = 20
RANK = 5


def copy_bandwidth(nbytes=2**30, repeats=5):
    """Bytes read + written per second by ``np.copyto`` (best of ``repeats``)."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - start)
    return 2 * a.nbytes / best


def gemv_bandwidth(rows, cols, dtype, repeats=5):
    """Bytes read per second by ``v @ A`` (the adjoint pass's kernel), best of repeats."""
    A = np.ones((rows, cols), dtype=dtype)
    v = np.ones(rows, dtype=dtype)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        v @ A
        best = min(best, time.perf_counter() - start)
    return A.nbytes / best


def seconds_per_iteration(op, y, k, regularized, repeats=5):
    """Mean interval between callbacks over ``N_ITER`` iterations, best of ``repeats``.

    ``tol=0`` so no run stops early; the best of a few runs, like the bandwidth's, keeps
    other load on the machine out of the ratio.
    """
    scale = data_scale(op.xp, op, y)
    d = op.dim
    U = check_random_state(0).standard_normal((d, k)) / math.sqrt(d)
    kwargs = {"max_iter": N_ITER + 1, "tol": 0.0}
    if regularized:
        kwargs.update(regularized_solver())  # the estimator's defaults
    else:
        kwargs.update(FINETUNE_SOLVERS["lbfgs"])
    best = math.inf
    for _ in range(repeats):
        stamps = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minimize(
                op,
                y / scale,
                U.astype(y.dtype),
                callback=lambda V, stamps=stamps: stamps.append(time.perf_counter()),
                **kwargs,
            )
        best = min(best, (stamps[-1] - stamps[0]) / (len(stamps) - 1))
    return best


# The RSS ratio is printed only from this size of X. glibc serves blocks under its mmap
# threshold (which rises to 32 MiB once large blocks are freed) from heap memory that the
# first (traced) fit left resident, so smaller buffers barely move the second fit's peak:
# 0 MiB extra for X = 1.5 MiB, 14 against 22 MiB traced for X = 38 MiB. From 64 MiB the
# large buffers (the packed X is half of X) are mapped afresh and counted.
RSS_MIN_BYTES = 64 * 2**20


def _rss_kib(field):
    """``field`` of ``/proc/self/status`` in KiB, or None (no /proc: not Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the peak-RSS counter (Linux); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_memory(X, y):
    """Extra bytes at the peak of a fit: (tracemalloc, resident-set or None) measurements,
    the second fit's seconds and the model."""
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del model
    gc.collect()
    before = _rss_kib("VmRSS") if _reset_peak_rss() else None
    model = PrunedFactorSensing(measurement="matrix", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y)
        fit_seconds = time.perf_counter() - start
    peak = _rss_kib("VmHWM")
    rss = None if before is None or peak is None else 1024 * (peak - before)
    return traced, rss, fit_seconds, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--n-features", type=int, default=100)
    args = parser.parse_args(argv)
    n, d = args.n_samples, args.n_features
    print(header())

    X64, y64, _ = make_low_rank_sensing(n, d, RANK, measurement="matrix", random_state=0)
    speed_rows, memory_rows = [], []
    for dtype in (np.float64, np.float32):
        X = X64 if dtype == np.float64 else X64.astype(np.float32)
        y = y64.astype(dtype)
        if dtype == np.float32:
            del X64  # keep only the float32 copy from here on
            gc.collect()
        op = make_operator("matrix", X)
        packed = op.packed.nbytes
        copy_bw = copy_bandwidth()  # measured next to the iterations it is compared with
        floor = 2 * packed / copy_bw
        gemv_bw = gemv_bandwidth(*op.packed.shape, dtype)
        k = default_n_columns(d)
        for phase, width, regularized in (
            (f"regularised (k={k})", k, True),
            (f"fine-tuning (k={RANK})", RANK, False),
        ):
            per_iter = seconds_per_iteration(op, y, width, regularized)
            speed_rows.append(
                [
                    np.dtype(dtype).name,
                    phase,
                    f"{packed / 2**20:.0f} MiB",
                    f"{copy_bw / 1e9:.1f}",
                    f"{1e3 * per_iter:.1f}",
                    f"{1e3 * floor:.1f}",
                    f"{per_iter / floor:.2f}×",
                    f"{1e3 * 2 * packed / gemv_bw:.1f}",
                    f"{gemv_bw / 1e9:.1f}",
                ]
            )
        del op
        gc.collect()
        traced, rss, fit_seconds, model = peak_memory(X, y)
        if rss is None:
            rss_ratio = "n/a"
        elif X.nbytes < RSS_MIN_BYTES:
            rss_ratio = f"n/a (X < {RSS_MIN_BYTES // 2**20} MiB)"
        else:
            rss_ratio = f"{(X.nbytes + rss) / X.nbytes:.2f}×"
        memory_rows.append(
            [
                np.dtype(dtype).name,
                f"{X.nbytes / 2**20:.0f} MiB",
                f"{traced / 2**20:.0f} MiB",
                f"{(X.nbytes + traced) / X.nbytes:.2f}×",
                "n/a" if rss is None else f"{rss / 2**20:.0f} MiB",
                rss_ratio,
                f"{fit_seconds:.1f} s ({model.n_iter_} it, rank {model.n_components_})",
            ]
        )
        del X, model
        gc.collect()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"\n## Per-iteration cost, dense d={d}, n={n} (target ≤ 1.1× the floor)\n")
    print(
        table(
            [
                "dtype",
                "phase",
                "packed X",
                "copy GB/s",
                "ms / iteration",
                "floor ms (copy bw)",
                "÷ floor",
                "floor ms (gemv read bw)",
                "gemv GB/s",
            ],
            speed_rows,
        )
    )
    print(f"\n## Peak memory of fit, dense d={d}, n={n} (target ≤ 1.6×)\n")
    print(
        table(
            [
                "dtype",
                "X",
                "peak extra (tracemalloc)",
                "(X + extra) ÷ X",
                "peak extra (RSS)",
                "(X + extra) ÷ X (RSS)",
                "fit",
            ],
            memory_rows,
        )
    )


if __name__ == "__main__":
    main()
