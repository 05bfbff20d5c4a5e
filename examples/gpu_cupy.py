"""
Fitting on a GPU with CuPy
==========================

This script needs CuPy and a CUDA GPU (``pip install -e ".[gpu]"`` in the repository),
so the documentation build shows it without running it.

Everything follows ``X``: with CuPy input the estimator computes on that GPU, stores its
fitted attributes there, and ``predict``/``transform``/``score`` take and return CuPy
arrays. ``array_module="cupy"`` instead moves NumPy input to the GPU once for the fit
and hands the fitted attributes back as NumPy arrays.

float32 data is computed in float32, which is where GPUs are fastest; the recovery error
then bottoms out near float32's resolution (about 1e-6) instead of 1e-10.
"""

import sys
import time

import numpy as np

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

try:
    import cupy as cp
except ImportError:
    sys.exit("This example needs CuPy: pip install -e '.[gpu]' in the repository.")

X, y, true_factor = make_low_rank_sensing(
    n_samples=20_000,
    n_features=200,
    rank=5,
    measurement="rank_one",
    condition_number=10,
    dtype=np.float32,
    random_state=0,
)


def timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    cp.cuda.Device().synchronize()  # GPU work is asynchronous: wait before timing
    return model, time.perf_counter() - start


# 1. Data on the GPU: the default array_module="auto" computes where X lives.
X_gpu, y_gpu = cp.asarray(X), cp.asarray(y)
# The first fit in a process compiles CuPy's kernels (about 9 s on an H200, measured);
# a small warm-up fit keeps that out of the timing below.
PrunedFactorSensing(random_state=0).fit(X_gpu[:2000], y_gpu[:2000])
on_gpu, gpu_seconds = timed_fit(PrunedFactorSensing(random_state=0), X_gpu, y_gpu)
print(type(on_gpu.components_))  # cupy.ndarray: fitted attributes stay on the GPU
print("R² (computed on the GPU):", on_gpu.score(X_gpu, y_gpu))

# 2. NumPy data, GPU compute: X and y are copied to the GPU once, results come back.
forced, forced_seconds = timed_fit(
    PrunedFactorSensing(array_module="cupy", random_state=0), X, y
)
print(type(forced.components_))  # numpy.ndarray

# 3. The same fit on the CPU, for comparison.
start = time.perf_counter()
on_cpu = PrunedFactorSensing(random_state=0).fit(X, y)
cpu_seconds = time.perf_counter() - start

for name, model, seconds in [
    ("GPU, CuPy input  ", on_gpu, gpu_seconds),
    ("GPU, NumPy input ", forced, forced_seconds),
    ("CPU              ", on_cpu, cpu_seconds),
]:
    # relative_error copies the factor to the host, wherever it lives.
    error = relative_error(model.components_.T, true_factor)
    print(
        f"{name}: rank {model.n_components_}, relative error {error:.1e}, "
        f"{seconds:.2f} s ({model.n_iter_} iterations)"
    )
