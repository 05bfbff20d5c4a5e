"""GPU tests (``pytest -m gpu``): CuPy against NumPy. Skipped without CuPy or a GPU."""

import numpy as np
import pytest

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

cupy = pytest.importorskip("cupy")
try:
    _N_GPUS, _NO_GPU = cupy.cuda.runtime.getDeviceCount(), "no GPU is visible"
except Exception as exc:  # CUDA runtime or driver missing: say which
    _N_GPUS, _NO_GPU = 0, f"CuPy cannot reach a GPU ({type(exc).__name__}: {exc})"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(_N_GPUS == 0, reason=f"CuPy is installed but {_NO_GPU}"),
]

CASES = {
    "dense": dict(n_samples=600, n_features=40, rank=3, measurement="matrix"),
    "rank_one": dict(n_samples=5000, n_features=100, rank=5, measurement="rank_one"),
}
TOLERANCE = {"float64": 1e-8, "float32": 1e-3}


@pytest.mark.parametrize("finetune_solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_cupy_input_fits_like_numpy(case, dtype, finetune_solver):
    spec = CASES[case]
    X, y, factor = make_low_rank_sensing(**spec, condition_number=10, random_state=0)
    X, y = X.astype(dtype), y.astype(dtype)
    params = dict(
        measurement=spec["measurement"], finetune_solver=finetune_solver, random_state=0
    )
    on_cpu = PrunedFactorSensing(**params).fit(X, y)
    on_gpu = PrunedFactorSensing(**params).fit(cupy.asarray(X), cupy.asarray(y))
    assert isinstance(on_gpu.components_, cupy.ndarray)
    assert on_gpu.components_.dtype == np.dtype(dtype)
    assert on_gpu.n_components_ == on_cpu.n_components_ == spec["rank"]
    assert relative_error(on_gpu.components_.get().T, factor) <= 10 * TOLERANCE[dtype]
    prediction = on_gpu.predict(cupy.asarray(X))
    assert isinstance(prediction, cupy.ndarray)
    np.testing.assert_allclose(
        prediction.get(),
        on_cpu.predict(X),
        rtol=TOLERANCE[dtype],
        atol=TOLERANCE[dtype] * np.abs(y).max(),
    )


@pytest.mark.parametrize("case", CASES)
def test_array_module_cupy_keeps_numpy_attributes(case):
    """Forced GPU compute on NumPy data: the model stays NumPy (pickles without a GPU)."""
    spec = CASES[case]
    X, y, factor = make_low_rank_sensing(**spec, random_state=1)
    model = PrunedFactorSensing(
        measurement=spec["measurement"], array_module="cupy", random_state=0
    ).fit(X, y)
    assert isinstance(model.components_, np.ndarray)
    assert model.n_components_ == spec["rank"]
    assert relative_error(model.components_.T, factor) < 1e-8


def test_sensing_matrices_from_the_host_reach_the_gpu_packed():
    """array_module="cupy" on NumPy sensing matrices moves them a chunk of rows at a
    time as they are packed: the GPU holds their packed half and chunk-sized
    temporaries (it held X and the packed half, 1.5 times X, when X moved whole)."""
    from array_api_compat import array_namespace

    from sklearn_lowrank._operators import make_operator

    X, _, _ = make_low_rank_sensing(6400, 20, 2, measurement="matrix", random_state=3)
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    before = pool.total_bytes()  # the blocks of arrays still alive
    target = (array_namespace(cupy.empty(0)), None)
    op = make_operator("matrix", X, normalize=True, target=target)
    assert isinstance(op.packed, cupy.ndarray)
    assert pool.total_bytes() - before < 0.8 * X.nbytes


def test_cupy_model_methods_follow_their_input_and_pickle():
    """transform, score and get_matrix of a CuPy fit compute on the GPU and agree with
    the NumPy fit's; NumPy input to the CuPy model gives NumPy output (the factor moves
    to X); the fitted model pickles with its CuPy attributes."""
    import pickle

    X, y, _ = make_low_rank_sensing(**CASES["rank_one"], random_state=2)
    on_cpu = PrunedFactorSensing(random_state=0).fit(X, y)
    on_gpu = PrunedFactorSensing(random_state=0).fit(cupy.asarray(X), cupy.asarray(y))
    X_gpu, y_gpu = cupy.asarray(X), cupy.asarray(y)

    matrix = on_gpu.get_matrix()
    assert isinstance(matrix, cupy.ndarray)
    np.testing.assert_allclose(matrix.get(), on_cpu.get_matrix(), atol=1e-8)
    # ‖Uᵀxᵢ‖ does not depend on the rotation of the columns, which the fits may differ by.
    projected = on_gpu.transform(X_gpu)
    assert isinstance(projected, cupy.ndarray) and projected.shape == (X.shape[0], 5)
    np.testing.assert_allclose(
        np.linalg.norm(projected.get(), axis=1),
        np.linalg.norm(on_cpu.transform(X), axis=1),
        rtol=1e-6,
    )
    assert on_gpu.score(X_gpu, y_gpu) == pytest.approx(on_cpu.score(X, y), abs=1e-10)

    on_host = on_gpu.predict(X)
    assert isinstance(on_host, np.ndarray)
    np.testing.assert_allclose(on_host, on_cpu.predict(X), rtol=1e-6, atol=1e-8)

    restored = pickle.loads(pickle.dumps(on_gpu))
    assert isinstance(restored.components_, cupy.ndarray)
    np.testing.assert_array_equal(
        restored.predict(X_gpu).get(), on_gpu.predict(X_gpu).get()
    )
