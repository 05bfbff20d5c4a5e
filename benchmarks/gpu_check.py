"""GPU check: per-iteration cost against the memory-bandwidth floor, and fit times.

Run through ``benchmarks/gpu_check.sh`` (which installs the checkout and runs
``pytest -m gpu`` first) or directly: ``python benchmarks/gpu_check.py``.

What it prints, for dense matrix sensing (d=100, n=20000, r=5) and rank-one sensing
(d=1000, n=10⁶, r=5), in float32 and float64:

- ``reg ms`` / ``fine ms``: time of one full iteration (directional pass, exact line
  search, adjoint pass, L-BFGS update) of the regularised phase (k columns) and of the
  fine-tuning phase (r columns), averaged over a fixed number of iterations;
- ``floor ms``: bytes that must be read per iteration (two passes over the stored data:
  the packed upper triangle for dense measurements, X for rank-one) divided by the
  device's bandwidth, measured here as a device-to-device copy counting bytes read and
  written; ``÷floor`` is the fine-tuning ratio ``fine ms / floor ms`` (target ≤ 1.1
  for the dense case, whose verdict below takes the larger of the two phases' ratios);
- ``fit s``: end-to-end ``PrunedFactorSensing.fit`` on CuPy arrays (after a warm-up fit
  that compiles the kernels), with the rank found and the relative error;
- ``numpy s``: the same fit on the host with NumPy (for the 10⁶ × 1000 case only the
  fine-tuning iteration is timed on the host and the ratio is per iteration);
- a larger dense problem (d=200, n=50000: 8 GB of packed float64 data), where the
  passes over the data outweigh the launches (no NumPy comparison: its 2·10⁹
  entries would have to be copied to the host and packed there);
- the small dense problem (d=40, n=600), where kernel-launch overhead dominates;
- the device memory of the dense operator built from host data (as
  ``array_module="cupy"`` builds it for NumPy input): what CuPy's memory pool holds
  afterwards, against the size of ``X`` (the packed half is 0.5×; moving ``X`` whole
  first would hold at least 1.5×);
- last, each GPU target with the number that decides it, met or missed.

Everything runs in one process; each section reports its own failure and the script
goes on. ``--quick`` divides n by 100 and d by 5 (the small case is kept): a smoke test
of the script itself, which takes seconds even under the CPU stand-in ``fake_cupy``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._operators import make_operator, measure
from sklearn_lowrank._scaling import data_scale
from sklearn_lowrank._solvers import minimize
from sklearn_lowrank._three_phase import (
    FINETUNE_SOLVERS,
    default_n_columns,
    regularized_solver,
)
from sklearn_lowrank.metrics import relative_error

ROWS = []
# (target, measured, met) for the summary at the end.
TARGETS = []


def sync():
    import cupy

    cupy.cuda.Device().synchronize()


def timed(fn, *, device=True):
    if device:
        sync()
    start = time.perf_counter()
    out = fn()
    if device:
        sync()
    return time.perf_counter() - start, out


def copy_bandwidth(nbytes=2**31, repeats=10):
    """Bytes read + written per second by a device-to-device copy."""
    import cupy

    a = cupy.empty(nbytes // 4, dtype=cupy.float32)
    a.fill(1.0)
    b = cupy.empty_like(a)
    cupy.copyto(b, a)
    seconds, _ = timed(lambda: [cupy.copyto(b, a) for _ in range(repeats)])
    return 2 * nbytes * repeats / seconds


def make_problem(kind, n, d, r, dtype, seed=0):
    """X, y on the GPU and the true factor on the host (noiseless, κ = 1)."""
    import cupy

    rng = np.random.default_rng(seed)
    factor, _ = np.linalg.qr(rng.standard_normal((d, r)))
    width = d * d if kind == "matrix" else d
    X = cupy.random.default_rng(seed).standard_normal((n, width), dtype=cupy.float64)
    y = measure(kind, X, cupy.asarray(factor))
    return X.astype(dtype), y.astype(dtype), factor


def iteration_ms(op, y, k, regularized, n_iter):
    """Mean time of one solver iteration with k columns (tol=0: no early stop)."""
    xp = op.xp
    scale = data_scale(xp, op, y)
    rng = np.random.default_rng(0)
    U = xp.asarray(
        (rng.standard_normal((op.dim, k)) / math.sqrt(op.dim)).astype(str(y.dtype))
    )
    kwargs = dict(max_iter=n_iter, tol=0.0)
    if regularized:
        kwargs.update(regularized_solver())  # the estimator's defaults
    else:
        kwargs.update(FINETUNE_SOLVERS["lbfgs"])  # the default fine-tuning solver
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minimize(op, y / scale, U, **dict(kwargs, max_iter=3))  # warm-up: compile kernels
        seconds, result = timed(lambda: minimize(op, y / scale, U, **kwargs))
    return 1e3 * seconds / result.n_iter


def fit_seconds(X, y, kind, device):
    model = PrunedFactorSensing(measurement=kind, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seconds, _ = timed(lambda: model.fit(X, y), device=device)
    return seconds, model


def operator_memory(n, d, dtype):
    """Bytes CuPy's pool holds after the dense operator is built from host data
    (moved a chunk at a time as it is packed), and the bytes of that data."""
    import cupy
    from array_api_compat import array_namespace

    X = np.random.default_rng(0).standard_normal((n, d * d)).astype(dtype)
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    xp = array_namespace(cupy.empty(0))
    op = make_operator("matrix", X, normalize=True, target=(xp, None))
    sync()
    held = pool.total_bytes()
    del op
    pool.free_all_blocks()
    return held, X.nbytes


def _iterations(model):
    return f"{model.n_iter_} iterations ({model.n_iter_finetune_} fine-tuning)"


def check_case(label, kind, n, d, r, dtype, bandwidth, target, seed=0, n_iter=20):
    """One row of the table and the verdict of its ``target``: "floor" (dense: an
    iteration within 1.1× the floor; "large" the same, without NumPy), "10 s"
    (rank-one: the fit time) or "2x cpu" (small: the GPU fit within twice the NumPy
    fit)."""
    import cupy

    X, y, factor = make_problem(kind, n, d, r, dtype, seed=seed)
    op = make_operator(kind, X)
    stored = op.packed if kind == "matrix" else op.X
    floor_ms = 1e3 * 2 * stored.nbytes / bandwidth
    k = default_n_columns(d)
    reg_ms = iteration_ms(op, y, k, True, n_iter)
    fine_ms = iteration_ms(op, y, r, False, n_iter)
    fit_seconds(X[: min(n, 2000)], y[: min(n, 2000)], kind, True)  # warm-up
    gpu_s, model = fit_seconds(X, y, kind, True)
    print(f"{label} {dtype}: GPU fit {gpu_s:.3f} s, {_iterations(model)}")
    error = relative_error(cupy.asnumpy(model.components_).T, factor)
    del op
    X_host, y_host = (None, None) if target == "large" else (X.get(), y.get())
    del X
    cupy.get_default_memory_pool().free_all_blocks()
    if target == "large":
        # No NumPy comparison: it would copy 16 GB (float64) to the host and pack it.
        cpu_text, ratio = "-", "-"
    elif target != "10 s":
        cpu_s, _ = fit_seconds(X_host, y_host, kind, False)
        ratio = f"{cpu_s / gpu_s:8.2f}x fit"
        cpu_text = f"{cpu_s:8.2f}"
    else:
        host_op = make_operator(kind, X_host)
        # Host fine-tuning iterations only: the data scale's d×d product over 10⁶ rows
        # alone takes minutes on the host.
        rng = np.random.default_rng(0)
        U = (rng.standard_normal((d, r)) / math.sqrt(d)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, res = timed(
                lambda: minimize(
                    host_op,
                    y_host / np.abs(y_host).mean(),
                    U,
                    max_iter=3,
                    tol=0.0,
                    **FINETUNE_SOLVERS["lbfgs"],
                ),
                device=False,
            )
        cpu_iter = 1e3 * seconds / res.n_iter
        ratio = f"{cpu_iter / fine_ms:8.1f}x iter"
        cpu_text = f"{cpu_iter:6.0f}ms/it"
    if target in ("floor", "large"):
        reg, fine = reg_ms / floor_ms, fine_ms / floor_ms
        verdict = (
            f"{label} {dtype}: a full iteration ≤ 1.1× the floor",
            f"regularised {reg:.2f}×, fine-tuning {fine:.2f}×",
            max(reg, fine) <= 1.1,
        )
    elif target == "10 s":
        verdict = (f"{label} {dtype}: fit < 10 s", f"{gpu_s:.2f} s", gpu_s < 10)
    else:
        verdict = (
            f"{label} {dtype}: GPU fit ≤ 2× the CPU fit",
            f"{gpu_s / cpu_s:.1f}× ({gpu_s:.3f} s against {cpu_s:.3f} s)",
            gpu_s <= 2 * cpu_s,
        )
    TARGETS.append(verdict)
    # The small case's floor (microseconds) is no yardstick: its target is the CPU's time.
    floor_text = (
        f"{floor_ms:>9.3f}{fine_ms / floor_ms:>8.2f}" if target != "2x cpu" else " " * 17
    )
    ROWS.append(
        f"{label:<22}{dtype:<8}{k:>4}{reg_ms:>9.3f}{fine_ms:>9.3f}{floor_text}"
        f"{gpu_s:>8.2f}{model.n_components_:>5}{error:>10.1e}{cpu_text:>12}{ratio:>14}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="n ÷ 100 and d ÷ 5: a smoke test of the script, not of the targets",
    )
    args = parser.parse_args()
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
    except Exception as exc:  # CuPy missing, or no CUDA device / driver
        raise SystemExit(f"gpu_check.py needs CuPy and a visible GPU: {exc!r}") from None
    print(
        f"device: {props['name'].decode()}, CuPy {cupy.__version__}, NumPy {np.__version__}"
    )
    bandwidth = copy_bandwidth(2**28 if args.quick else 2**31)
    print(f"device-to-device copy: {bandwidth / 1e12:.2f} TB/s (bytes read + written)")
    # --quick shrinks d as well as n: n alone ÷ 10 left 1.6 GB of dense and 0.8 GB of
    # rank-one data, many minutes of work for the CPU stand-in (fake_cupy).
    n_div, d_div = (100, 5) if args.quick else (1, 1)
    if args.quick:
        print(f"--quick: n ÷ {n_div}, d ÷ {d_div} (not the small case); labels: full sizes")
    cases = [  # label, kind, n, d, r, target, seed
        ("dense 100/20000", "matrix", 20000 // n_div, 100 // d_div, 5, "floor", 0),
        # Ten times the data, where the passes over it outweigh the launches.
        ("dense 200/50000", "matrix", 50000 // n_div, 200 // d_div, 5, "large", 0),
        ("rank-one 1000/1e6", "rank_one", 10**6 // n_div, 1000 // d_div, 5, "10 s", 0),
        ("small dense 40/600", "matrix", 600, 40, 3, "2x cpu", 1),
    ]
    failures = 0
    for label, kind, n, d, r, target, seed in cases:
        for dtype in ("float32", "float64"):
            try:
                check_case(label, kind, n, d, r, dtype, bandwidth, target, seed)
            except Exception:
                ROWS.append(f"{label:<22}{dtype:<8} FAILED")
                TARGETS.append((f"{label} {dtype}", "FAILED (traceback above)", False))
                failures += 1
                traceback.print_exc()
            print(ROWS[-1], flush=True)  # kept if a later case hangs or is killed
            cupy.get_default_memory_pool().free_all_blocks()
    print()
    print(
        f"{'case':<22}{'dtype':<8}{'k':>4}{'reg ms':>9}{'fine ms':>9}{'floor ms':>9}"
        f"{'÷floor':>8}{'fit s':>8}{'rank':>5}{'rel err':>10}{'numpy':>12}{'numpy/gpu':>14}"
    )
    for row in ROWS:
        print(row)
    print(
        "\nreg ms / fine ms: one iteration of the regularised (k columns, L-BFGS) and "
        "fine-tuning (r columns, scaled L-BFGS) phases; ÷floor = fine ms / floor ms."
    )
    n, d = 20000 // n_div, 100 // d_div
    try:
        held, data = operator_memory(n, d, "float32")
        print(
            f"\ndense {d}/{n} float32 operator built from host data: CuPy's pool holds "
            f"{held / 2**20:.0f} MiB, {held / data:.2f}× X ({data / 2**20:.0f} MiB; "
            "the packed half is 0.5×, X moved whole first would be ≥ 1.5×)"
        )
    except Exception:
        failures += 1
        traceback.print_exc()
    print_targets(quick=args.quick)
    if failures:
        raise SystemExit(f"{failures} case(s) failed: tracebacks above.")


def print_targets(quick=False):
    """Issue 3's targets, each with its deciding number and verdict."""
    note = " (--quick: the sizes are shrunk, so these are not verdicts)" if quick else ""
    print(f"\nTargets{note}")
    width = max((len(target) for target, _, _ in TARGETS), default=0)
    for target, measured, met in TARGETS:
        print(f"  {target:<{width}}  {measured:<44} {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
