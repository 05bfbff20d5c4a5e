"""GPU check, part three: what a fused or graph-captured iteration could reach.

Run by ``benchmarks/gpu_check.sh`` after ``gpu_ops.py``, or directly:
``python benchmarks/gpu_graph.py [--quick]``. Needs CuPy and a GPU.

The dense case of ``gpu_check.py`` (d=100, n=20000, r=5) misses its target of one
iteration within 1.1× the memory-bandwidth floor, and its small case (d=40, n=600) its
target of a fit within 2× the CPU's, because each of the iteration's array operations
costs 7-35 µs of Python and launch time. For both cases this script measures what
the alternatives would buy, on the device work of one fine-tuning iteration, the
package's own calls: the direction (a row combination times the metric), the
``directional`` pass, the line search's Gram matrix, the update, the adjoint pass and
the report's two Gram matrices. Each row is one way of running that work:

- ``eager``: as the solver launches it, without its host round trips;
- ``eager + sync``: with two device-to-host copies per iteration, as the solver's
  line search and report make;
- ``device only``: the device time of ``eager`` without its launch gaps (the calls
  queued behind a long matrix product, then timed on the device by two events): the
  least a CuPy-specific fused or graph-captured iteration of these kernels could cost
  before its host step (``nan`` if the queue drained before the host had launched
  them all);
- ``graph``: the same kernels captured once in a CUDA graph
  (``cupy.cuda.Stream.begin_capture``) and replayed: the device time alone, the least
  a CuPy-specific fused or graph-captured iteration could cost before its host step;
- ``graph + sync``: the replay with the same two round trips (both ``nan`` where CuPy
  refuses to capture matrix products, which CuPy 13 and 14 do: it calls cuBLAS);
- ``2 products``, ``(P,2) C-order``, ``(P,2) F-order`` and ``(2,P) @ packedᵀ``: the
  ``directional`` pass as two matrix-vector products or as one product with a
  two-column matrix (which reads the data once), in three memory layouts that cuBLAS
  runs with different kernels; ``adjoint pass``: the adjoint's vector-matrix product;
  ``adjoint (3,n)`` and ``adjoint (n,3)ᵀ``: the adjoint of the residual and the
  directional pass's two outputs at once, as C-ordered rows or as the transpose of the
  line search's ``(n, 3)`` stack. By linearity, ``𝒜*(r − t·a + t²·b)`` is their
  combination, so such a pass could be launched before the host knows the step ``t``
  and run while it computes it: worth it only if it costs about one ``adjoint pass``.

The replays reuse fixed buffers, so their results are not an iteration's results:
only their times matter here. A failure is printed and the script goes on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sklearn_lowrank._backend import to_host
from sklearn_lowrank._operators import make_operator


def _per_call_ms(fn, stream, repeats):
    fn()
    stream.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    stream.synchronize()
    return 1e3 * (time.perf_counter() - start) / repeats


def _device_ms(fn, stream, repeats):
    """Device time of ``fn`` alone, per call, or ``nan`` if it could not be isolated.

    The calls are queued behind blocking matrix products, long enough for the host to
    launch them all before the device reaches them; the device then runs them back to
    back, and two events around them time the device's work without the host's launch
    gaps: what a fused or graph-replayed iteration of the same kernels would cost.
    """
    import cupy

    launch_s = 1e-3 * repeats * _per_call_ms(fn, stream, repeats)
    block = cupy.ones((4096, 4096), dtype=cupy.float32)
    block @ block
    stream.synchronize()
    start = time.perf_counter()
    block @ block
    stream.synchronize()
    block_s = max(time.perf_counter() - start, 1e-6)
    before, after = cupy.cuda.Event(), cupy.cuda.Event()
    for _ in range(math.ceil(2 * launch_s / block_s) + 1):
        block @ block
    before.record(stream)
    for _ in range(repeats):
        fn()
    queued = not before.done  # the device had not reached the calls yet
    after.record(stream)
    after.synchronize()
    if not queued:
        return math.nan
    return cupy.cuda.get_elapsed_time(before, after) / repeats


def _iteration(xp, op, y, U, state, grad, inverse, buffer, weights, step=1e-3):
    """The device work of one fine-tuning iteration: the solver's calls, with the
    direction simplified to one combination of the stored rows times the metric."""
    n, rows = op.n_samples, buffer.shape[0]
    flat = xp.reshape(buffer, (rows, -1))
    direction = xp.reshape(weights @ flat, U.shape) @ inverse
    a, b, extra = op.directional(U, state, direction)
    residual = state.predictions - y
    vecs = xp.stack([residual, a, b], axis=1)
    line = vecs.T @ vecs
    U_new = U - step * direction
    new_state = op.advance(state, a, b, extra, step)
    r = new_state.predictions - y
    loss = (r @ r) / (2.0 * n)
    new_grad = 2.0 * op.adjoint_times(U_new, new_state, r)
    buffer[0, ...] = U_new - U
    buffer[1, ...] = new_grad - grad
    buffer[2, ...] = new_grad
    report = xp.concat(
        [
            xp.reshape(loss, (1,)),
            xp.reshape(U_new.T @ U_new, (-1,)),
            xp.reshape(flat @ flat.T, (-1,)),
        ]
    )
    return line, report


def run_case(n, d, r, dtype, bandwidth, repeats):
    import cupy
    from array_api_compat import array_namespace

    rng = cupy.random.default_rng(0)
    X = rng.standard_normal((n, d * d), dtype=cupy.float64).astype(dtype)
    U = cupy.asarray(np.random.default_rng(1).standard_normal((d, r)), dtype=dtype)
    op = make_operator("matrix", X)
    del X
    xp = array_namespace(U)
    y = op.predict(U) * 1.01
    state = op.start(U)
    grad = 2.0 * op.adjoint_times(U, state, state.predictions - y)
    memory = 5
    buffer = xp.zeros((2 * memory + 1, d, r), dtype=U.dtype)
    weights = cupy.asarray(np.linspace(0.1, 1.0, 2 * memory + 1), dtype=dtype)
    inverse = cupy.eye(r, dtype=dtype)
    floor = 1e3 * 2 * op.packed.nbytes / bandwidth
    stream = cupy.cuda.Stream(non_blocking=True)
    results = {}

    def work():
        return _iteration(xp, op, y, U, state, grad, inverse, buffer, weights)

    def work_synced():
        line, report = work()
        to_host(line)
        to_host(report)

    with stream:
        results["eager"] = _per_call_ms(work, stream, repeats)
        results["eager + sync"] = _per_call_ms(work_synced, stream, repeats)
        # Few calls: the launch queue holds about a thousand kernels, and a full queue
        # would make the host wait for the device again.
        results["device only"] = _device_ms(work, stream, min(repeats, 10))
        capturing = False
        try:
            work()  # the pool now holds every block the capture will ask for
            stream.synchronize()
            stream.begin_capture()
            capturing = True
            line, report = work()
            graph = stream.end_capture()
            capturing = False
            results["graph"] = _per_call_ms(lambda: graph.launch(stream), stream, repeats)

            def replay_synced():
                graph.launch(stream)
                to_host(line)
                to_host(report)

            results["graph + sync"] = _per_call_ms(replay_synced, stream, repeats)
        except NotImplementedError as exc:
            # CuPy (13 and 14 at least) refuses every cuBLAS call, so every matrix
            # product, while a stream captures: the iteration cannot be captured.
            results["graph"] = results["graph + sync"] = math.nan
            print(f"graph capture refused by CuPy ({dtype}): {exc}")
        except Exception as exc:  # capture is CuPy/driver-version dependent
            print(f"graph capture failed ({dtype}): {exc!r}")
            traceback.print_exc()
        finally:
            if capturing:  # leave capture mode, or every later launch fails
                stream.end_capture()
        D = U * 0.5
        first = op._pack(U @ D.T + D @ U.T)
        second = op._pack(D @ D.T)
        both = xp.stack([first, second], axis=1)
        pair = xp.stack([first, second])
        residual = state.predictions - y
        results["2 products"] = _per_call_ms(
            lambda: (op.packed @ first, op.packed @ second), stream, repeats
        )
        results["(P,2) C-order"] = _per_call_ms(lambda: op.packed @ both, stream, repeats)
        results["(P,2) F-order"] = _per_call_ms(lambda: op.packed @ pair.T, stream, repeats)
        results["(2,P) @ packedᵀ"] = _per_call_ms(
            lambda: pair @ op.packed.T, stream, repeats
        )
        results["adjoint pass"] = _per_call_ms(
            lambda: residual @ op.packed, stream, repeats
        )
        a, b = pair @ op.packed.T
        results["adjoint (3,n)"] = _per_call_ms(
            lambda: xp.stack([residual, a, b]) @ op.packed, stream, repeats
        )
        results["adjoint (n,3)ᵀ"] = _per_call_ms(
            lambda: xp.stack([residual, a, b], axis=1).T @ op.packed, stream, repeats
        )
    one_pass = floor / 2
    print(
        f"\ndense d={d}, n={n}, {dtype}: floor {floor:.3f} ms (one pass {one_pass:.3f} ms)"
    )
    print(f"{'how':<18}{'ms':>10}{'÷ floor':>10}{'÷ one pass':>12}")
    for how, ms in results.items():
        print(f"{how:<18}{ms:>10.3f}{ms / floor:>10.2f}{ms / one_pass:>12.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    import cupy

    nbytes = 2**31 if not args.quick else 2**26
    a = cupy.ones(nbytes // 4, dtype=cupy.float32)
    b = cupy.empty_like(a)
    cupy.copyto(b, a)
    cupy.cuda.Device().synchronize()
    start = time.perf_counter()
    for _ in range(10):
        cupy.copyto(b, a)
    cupy.cuda.Device().synchronize()
    bandwidth = 2 * nbytes * 10 / (time.perf_counter() - start)
    del a, b
    print(f"device-to-device copy: {bandwidth / 1e9:.0f} GB/s (read + written)")
    # gpu_check.py's dense cases: the medium one, a large data-bound one, the small one.
    sizes = [(20000, 100, 5), (50000, 200, 5), (600, 40, 3)]
    if args.quick:
        sizes = [(2000, 30, 5)]
    for n, d, r in sizes:
        for dtype in ("float32", "float64"):
            try:
                run_case(n, d, r, dtype, bandwidth, repeats=200 if not args.quick else 20)
            except Exception:
                traceback.print_exc()


if __name__ == "__main__":
    main()
