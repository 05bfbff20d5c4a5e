"""Array backends the core's unit tests run on: NumPy, array_api_strict (default and
non-default device) and, when it is installed, PyTorch on the CPU, each in float64 and
float32."""

import array_api_strict as xps
import numpy as np
import pytest
import scipy
from array_api_compat import array_namespace, device

from sklearn_lowrank._backend import to_host
from sklearn_lowrank._operators import MatrixOperator

try:
    import torch
except ImportError:  # the PyTorch backends skip
    torch = None


# What the issue asks of another namespace's results against NumPy's: relative
# agreement to these, per dtype.
NUMPY_AGREEMENT = {"float64": 1e-10, "float32": 1e-6}


class Backend:
    """How a test builds its input arrays: namespace, dtype and device."""

    def __init__(self, module, dtype, device):
        self.module, self.dtype, self.device = module, dtype, device
        self.rtol = 1e-10 if dtype == "float64" else 1e-5

    def _put(self, values):
        if self.module == "numpy":
            return values
        if self.module == "torch":
            return torch.asarray(values)
        device = None if self.device is None else xps.Device(self.device)
        return xps.asarray(values, device=device)

    def asarray(self, values):
        return self._put(np.asarray(values, dtype=self.dtype))

    def index(self, values):
        return self._put(np.asarray(values, dtype=np.int64))

    def rounded(self, values):
        """``values`` as the backend sees them, in float64 for the reference."""
        return np.asarray(values, dtype=self.dtype).astype(np.float64)

    def numpy_twin(self):
        """The NumPy backend of the same dtype."""
        return Backend("numpy", self.dtype, None)


# scikit-learn refuses array_api_dispatch with SciPy older than 1.14 (its rule, not the
# package's: the estimator fits Array-API input without dispatch). None where it works.
NO_DISPATCH_REASON = (
    "scikit-learn's array_api_dispatch needs SciPy 1.14 or newer"
    if np.lib.NumpyVersion(scipy.__version__) < "1.14.0"
    else None
)
needs_dispatch = pytest.mark.skipif(
    NO_DISPATCH_REASON is not None, reason=str(NO_DISPATCH_REASON)
)

# The namespace the package computes in for NumPy input: NumPy itself lacks parts of the
# standard before 2.0 (concat, for one).
NUMPY_XP = array_namespace(np.empty(0))

BACKENDS = [
    pytest.param(Backend("numpy", "float64", None), id="numpy-float64"),
    pytest.param(Backend("numpy", "float32", None), id="numpy-float32"),
    pytest.param(Backend("strict", "float64", None), id="strict-float64"),
    pytest.param(Backend("strict", "float32", None), id="strict-float32"),
    pytest.param(Backend("strict", "float64", "device1"), id="strict-float64-device1"),
    pytest.param(Backend("strict", "float32", "device1"), id="strict-float32-device1"),
    *(
        pytest.param(
            Backend("torch", dtype, None),
            id=f"torch-{dtype}",
            marks=pytest.mark.skipif(torch is None, reason="PyTorch is not installed"),
        )
        for dtype in ("float64", "float32")
    ),
]
BACKENDS_FLOAT64 = [p for p in BACKENDS if p.values[0].dtype == "float64"]
STRICT_BACKENDS = [p for p in BACKENDS if p.values[0].module == "strict"]


def to_numpy(x):
    """Host float64 copy of an array of any backend (any device)."""
    if isinstance(x, np.ndarray | np.generic | float):
        return np.asarray(x, dtype=np.float64)
    return to_host(x).astype(np.float64)


def assert_close(actual, expected, rtol):
    """Norm-wise relative comparison (robust to entries that cancel to ~0)."""
    actual, expected = to_numpy(actual), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = max(np.linalg.norm(expected), np.finfo(np.float64).tiny)
    error = np.linalg.norm(actual - expected) / scale
    assert error <= rtol, f"relative error {error:.3e} > {rtol:.1e}"


def assert_same_kind(out, like):
    """``out`` lives in the namespace, dtype and device of ``like``."""
    assert array_namespace(out) is array_namespace(like)
    assert out.dtype == like.dtype
    assert device(out) == device(like)


def unblocked(op_class, X, **kwargs):
    """``op_class(X)``, computing its passes as every namespace but NumPy does.

    On NumPy the matrix operator's directional pass runs block by block, two products
    per block (cache-friendly there); elsewhere it is one product with both packed
    matrices, which reads the data once on a GPU. Each pass agrees to rounding, but
    over a run the last bits can move a stopping test by an iteration or be amplified
    by a rotation of nearly equal columns (whole fits: up to 4.5e-9 in float64 and 2e-4
    in float32 where converged, more where not), so a NumPy reference for another
    namespace's run takes the same route.
    """
    if op_class is MatrixOperator:
        kwargs.setdefault("row_block", None)
    return op_class(X, **kwargs)
