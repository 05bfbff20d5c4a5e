"""GPU check, part two: what one array operation costs on the host and on the device.

Run by ``benchmarks/gpu_check.sh`` after the table of ``gpu_check.py``, or directly:
``python benchmarks/gpu_ops.py``. Each line times 1000 repetitions of one operation on
the small arrays of a solver iteration (a 40 × 30 factor, float64), through the
``array_api_compat`` namespace the package uses: ``host`` is the time until Python gets
control back, ``total`` until the device has finished. When the two agree, the device
waits for the host: the cost is the launch, whatever the array's size. This is why an
iteration of some tens of such operations stays far above the memory-bandwidth floor on
small and medium problems (see benchmarks/README.md).
"""

from __future__ import annotations

import time

import numpy as np


def main():
    import cupy as cp
    from array_api_compat import array_namespace

    def bench(name, fn, repeats=1000):
        fn()
        cp.cuda.Device().synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        host = (time.perf_counter() - start) / repeats
        cp.cuda.Device().synchronize()
        total = (time.perf_counter() - start) / repeats
        print(f"{name:34s} host {host * 1e6:7.1f} µs   total {total * 1e6:7.1f} µs")

    rng = np.random.default_rng(0)
    U = cp.asarray(rng.standard_normal((40, 30)))
    V = cp.asarray(rng.standard_normal((40, 30)))
    G = U.T @ U + 40 * cp.eye(30)
    rows = cp.asarray(rng.standard_normal((11, 1200)))
    row = cp.asarray(rng.standard_normal(1200))
    host_matrix = np.eye(30)
    xp = array_namespace(U)
    scalar = xp.sum(U * V)

    def write_row():
        rows[3] = row

    print(f"one operation, {xp.__name__}, float64 (1000 repetitions)")
    bench("U * V (element-wise)", lambda: U * V)
    bench("xp.sum(U * V)", lambda: xp.sum(U * V))
    bench("xp.sum(U * U, axis=0)", lambda: xp.sum(U * U, axis=0))
    bench("U.T @ U (30 x 30 product)", lambda: U.T @ U)
    bench("rows @ rows.T (11 x 1200)", lambda: rows @ rows.T)
    bench("xp.concat([U, V])", lambda: xp.concat([U, V]))
    bench("xp.take(U, index, axis=1)", lambda: xp.take(U, cp.arange(5), axis=1))
    bench("rows[3] = row (row write)", write_row)
    bench("xp.where(scalar > 0, U, V)", lambda: xp.where(scalar > 0, U, V))
    bench("xp.linalg.inv (30 x 30)", lambda: xp.linalg.inv(G))
    bench("xp.linalg.eigvalsh (30 x 30)", lambda: xp.linalg.eigvalsh(G))
    bench("device -> host, 30 numbers", lambda: U[0, :].get())
    bench("host -> device, 30 x 30", lambda: xp.asarray(host_matrix, device=U.device))


if __name__ == "__main__":
    main()
