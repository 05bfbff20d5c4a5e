"""Array-module backend: which namespace computes, and moving data to it once.

The numerical core (operators, penalty, line search, solvers) only ever sees an
Array-API namespace ``xp`` and arrays of that namespace (the pruning rule works on host
numbers); this module is where that namespace is chosen and where arrays cross
between namespaces and devices: data once, outside every iteration loop, and inside
the loops only the few numbers the host needs, in one transfer each time
(:func:`fetch`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, TypeAlias

import numpy as np
from array_api_compat import (
    array_namespace,
    device,
    is_array_api_obj,
    is_cupy_namespace,
    is_numpy_array,
    is_numpy_namespace,
    is_torch_array,
)

__all__ = [
    "ROUNDING_LEVEL",
    "Array",
    "check_dtype_range",
    "check_writable",
    "cupy_namespace",
    "dtype_name",
    "fetch",
    "from_host",
    "has_float64",
    "holds_magnitude",
    "host_if_foreign",
    "move_to",
    "moved_dtype",
    "namespace_and_device",
    "resolve_namespace",
    "row_block",
    "to_host",
    "values_of",
    "widest_float",
]

#: Type hint for an array of any Array-API library (NumPy, CuPy, array_api_strict,
#: PyTorch, ...): no static type spans them all.
Array: TypeAlias = Any

#: A residual within this many ε of ``‖y‖`` is rounding noise (noiseless data: the
#: float32 floor measured 1.6-5ε): the solvers' stall test and the noise check read it.
ROUNDING_LEVEL = 16.0

_NUMPY = array_namespace(np.empty(0))
_device_of = device  # (from_host's parameter of that name shadows it)
# NumPy 2.1 added from_dlpack's device=: asking for "cpu" lets a producer on another
# device copy its data over; before 2.1 only arrays already on the host can be read.
_DLPACK_TAKES_DEVICE = np.lib.NumpyVersion(np.__version__) >= "2.1.0"
# Bytes of stored data a CPU pass reads per block when it needs two products with the
# same rows: about what a core's L2 plus its share of L3 hold, and large enough that
# the per-block call overhead stays small (measured on d=100, n=20000 packed data:
# 1.1-1.3 passes for both products, against 2.0 unblocked and 1.7-2.0 at 1 MiB).
_HOST_BLOCK_BYTES = 4 * 2**20


def namespace_and_device(x):
    """``(xp, device)`` of ``x``; NumPy for lists, DataFrames and other array-likes."""
    if is_array_api_obj(x) and not is_numpy_array(x):
        return array_namespace(x), device(x)
    return _NUMPY, "cpu"


def cupy_namespace():
    """CuPy's Array-API namespace, or a clear error when CuPy or a GPU is missing."""
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            "array_module='cupy' needs CuPy, which is not installed; install it with "
            '`pip install -e ".[gpu]"` in the repository (or `pip install '
            "cupy-cuda13x`, or the CuPy build matching your CUDA)."
        ) from exc
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA runtime or driver missing
        raise RuntimeError(
            f"array_module='cupy' but CuPy cannot reach a GPU: {exc}"
        ) from exc
    if n_gpus == 0:
        raise RuntimeError("array_module='cupy' but no GPU is visible to CuPy.")
    return array_namespace(cupy.empty(0))


def resolve_namespace(array_module: str, input_namespace):
    """Namespace that computes: ``input_namespace`` for "auto", else the forced module."""
    if array_module == "auto":
        return input_namespace
    if array_module == "numpy":
        return _NUMPY
    if array_module == "cupy":
        return cupy_namespace()
    raise ValueError(
        f"array_module must be 'auto', 'numpy' or 'cupy'; got {array_module!r}."
    )


def check_writable(xp, dev=None) -> None:
    """``TypeError`` unless arrays of ``xp`` can be written in place.

    The operators and solvers fill their buffers in place (the packed data, the
    L-BFGS ring buffer): rebuilding them would cost a concatenation per iteration, the
    most expensive small operation on a GPU. JAX's arrays are immutable; a one-entry
    probe finds that out before any work is done.
    """
    if is_numpy_namespace(xp):
        return
    probe = xp.zeros(1, device=dev)
    try:
        probe[0] = 1.0
    except (TypeError, ValueError, NotImplementedError) as exc:
        name = getattr(xp, "__name__", type(xp).__name__)
        raise TypeError(
            f"array_module='auto' computes with the namespace of X ({name}), whose "
            "arrays cannot be written in place, as the solvers need. Pass "
            "array_module='numpy' (or 'cupy') to compute there; the fitted attributes "
            f"and outputs still come back as {name} arrays."
        ) from exc


def row_block(xp, row_bytes: int) -> int | None:
    """Rows per block for a pass that multiplies the same rows by two vectors.

    On NumPy the two products run block by block, so the second finds its rows in the
    CPU cache: BLAS runs one two-column product far below bandwidth, and two full
    matrix-vector products read the data twice. Elsewhere (a GPU, or another namespace)
    ``None``: blocks would only multiply kernel launches, and device memory is fast.
    """
    if is_numpy_namespace(xp):
        return max(1, _HOST_BLOCK_BYTES // max(1, row_bytes))
    return None


def has_float64(xp, dev) -> bool:
    """Whether ``xp`` computes in float64 on device ``dev`` (Apple's Metal GPUs, say,
    do not; array_api_strict's ``"no_float64"`` device stands in for them in tests).
    Namespaces that cannot say are taken to have it. Asked once per namespace and
    device: the line search asks every iteration."""
    return _device_dtypes(xp, dev)[0]


def _index_dtype(xp, dev):
    """The dtype ``xp`` indexes with on ``dev`` (int64, or int32 on a device without
    64-bit integers, such as array_api_strict's ``"no_x64"``); ``None`` where the
    namespace cannot say, so that the index arrays keep NumPy's."""
    return _device_dtypes(xp, dev)[1]


def _device_dtypes(xp, dev) -> tuple[bool, Any]:
    try:
        return _asked_device_dtypes(xp, dev)
    except TypeError:  # an unhashable device
        return _asked_device_dtypes.__wrapped__(xp, dev)


@functools.lru_cache(maxsize=32)
def _asked_device_dtypes(xp, dev) -> tuple[bool, Any]:
    """``(has float64, indexing dtype)`` of ``xp`` on ``dev``, from its inspection
    namespace; a namespace that cannot answer is not refused."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return True, None
    try:
        has_float64 = "float64" in info().dtypes(device=dev)
    except Exception:
        has_float64 = True
    try:
        index_dtype = info().default_dtypes(device=dev)["indexing"]
    except Exception:
        index_dtype = None
    return has_float64, index_dtype


def widest_float(xp, dev):
    """float64 where the device has it, else float32: what non-float input becomes."""
    return xp.float64 if has_float64(xp, dev) else xp.float32


def host_if_foreign(x):
    """``x`` copied to the host if it is an array of a namespace other than NumPy (a
    CuPy or PyTorch array, say); anything else (NumPy arrays, lists, DataFrames) as it
    is, for scikit-learn's checks. Everything follows ``X``: a NumPy ``X`` takes its
    ``y`` and weights to the host, as any other ``X`` takes them to its namespace."""
    if is_array_api_obj(x) and not is_numpy_array(x):
        return to_host(x)
    return x


def values_of(x):
    """``x`` without an autograd history: the package reads values only. A PyTorch
    tensor that requires grad refuses DLPack export (a ``BufferError`` from inside the
    fit) and would record every operation a fit makes on it."""
    return x.detach() if is_torch_array(x) and x.requires_grad else x


def to_host(x) -> np.ndarray:
    """NumPy copy (or view) of ``x``, from any namespace and device."""
    if isinstance(x, np.ndarray):
        return x
    if not is_array_api_obj(x):  # lists, DataFrames, scalars
        return np.asarray(x)
    x = values_of(x)
    xp = array_namespace(x)
    if is_numpy_namespace(xp):
        return np.asarray(x)
    if is_cupy_namespace(xp):
        return x.get()
    if _DLPACK_TAKES_DEVICE:
        return np.from_dlpack(x, device="cpu")
    return np.from_dlpack(x)


def fetch(xp, *arrays) -> list[np.ndarray]:
    """Host float64 copies of small ``arrays`` of namespace ``xp``, in one transfer.

    Each transfer from a GPU synchronises with it and costs tens of µs whatever its
    size, so the numbers an iteration needs travel flattened into one array and are
    cut back into their shapes on the host. NumPy's arrays are already there: copied
    one by one, since a concatenation would only add a copy.
    """
    if len(arrays) == 1 or is_numpy_namespace(xp):
        return [to_host(a).astype(np.float64) for a in arrays]
    host = to_host(xp.concat([xp.reshape(a, (-1,)) for a in arrays]))
    host = host.astype(np.float64)
    out, start = [], 0
    for a in arrays:
        size = math.prod(a.shape)
        out.append(host[start : start + size].reshape(a.shape))
        start += size
    return out


def from_host(xp, host, *, dtype=None, device=None, like=None, index=False):
    """The NumPy array ``host`` as an array of ``xp`` on ``device``, or on the device of
    the array ``like``; with ``index``, integer indices in the device's indexing dtype
    (int32 on a device without int64).

    Made C-contiguous first: PyTorch refuses arrays with negative strides (such as the
    reversed eigenvector columns of ``eigh``), and contiguous data crosses to a device
    in one copy. The package's own float64 numbers travel as float32 to a device without
    float64 (users' data go through :func:`move_to`, which checks them first).
    """
    if like is not None:
        device = _device_of(like)
    # np.asarray, not np.ascontiguousarray, which turns a 0-d array into shape (1,).
    host = np.asarray(host, order="C")
    if dtype is None and host.dtype == np.float64 and not has_float64(xp, device):
        dtype = xp.float32
    if index:
        # The package's indices of entries and columns: below 2³¹ for any d the data
        # can hold.
        dtype = _index_dtype(xp, device)
    return xp.asarray(host, dtype=dtype, device=device)


def move_to(x, xp, dev=None, *, name: str = "X"):
    """``x`` as an array of ``xp`` on ``dev``; returned as is when already there.

    float64 data for a device without float64 are checked on the host, as ``name``,
    to be finite and within float32's range before they travel as float32.
    """
    if is_numpy_namespace(xp):
        return to_host(x)
    source, source_device = namespace_and_device(x)
    if source is xp and (dev is None or source_device == dev):
        return values_of(x)
    host = to_host(x)
    if host.dtype == np.float64 and not has_float64(xp, dev):
        host = _as_float32(host, name)
    return from_host(xp, host, device=dev)


def moved_dtype(x, xp, dev=None):
    """The dtype of ``x`` once :func:`move_to` has moved it to ``xp`` on ``dev``: its
    own, or float32 for float64 data and a device without float64."""
    name = dtype_name(x.dtype)
    return widest_float(xp, dev) if name == "float64" else getattr(xp, name)


def _as_float32(host, name: str) -> np.ndarray:
    """Host float64 ``host`` as float32 for a device without float64: finite and within
    float32's range, or a ``ValueError`` naming ``name``."""
    if not np.all(np.isfinite(host)):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    if host.size:
        check_dtype_range(
            host,
            np,
            np.dtype(np.float32),
            name=name,
            why="the widest float dtype of its device",
            remedy=f"rescale {name}",
        )
    return host.astype(np.float32)


def dtype_name(dtype) -> str:
    """``"float32"`` for NumPy's, CuPy's or array_api_strict's float32, in messages."""
    return str(dtype).rsplit(".", 1)[-1]


def _normal_range(xp, dtype) -> tuple[float, float]:
    """The smallest normal and the largest finite number of ``dtype``."""
    finfo = xp.finfo(dtype)
    return float(finfo.smallest_normal), float(finfo.max)


def holds_magnitude(xp, dtype, magnitude: float) -> bool:
    """Whether values whose largest magnitude is ``magnitude`` (a host float) keep it
    in ``dtype``: zero, or a normal number of its range (not inf, not subnormal)."""
    low, high = _normal_range(xp, dtype)
    return magnitude == 0 or low <= magnitude <= high


def check_dtype_range(
    x,
    xp,
    dtype,
    *,
    name: str,
    why: str = "the dtype X is computed in",
    remedy: str | None = None,
) -> None:
    """``ValueError`` unless the finite ``x`` keeps its values cast to ``dtype``.

    ``y`` (or sample weights) in float64 for float32 ``X`` is cast to float32: values
    beyond its range would become inf, and values all below its smallest normal number
    (1.2e-38) zeros or a few bits, and the model would be fitted to that. Only the
    largest magnitude matters: smaller values round to within one unit in the last
    place of it, as any cast rounds. ``why`` and ``remedy`` word the error for the
    caller's case.
    """
    # Not max(abs(x)): abs wraps an integer type's minimum (-128 for int8) around.
    high, low = fetch(xp, xp.max(x), xp.min(x))
    largest = max(float(high), -float(low))
    if not holds_magnitude(xp, dtype, largest):
        low, high = _normal_range(xp, dtype)
        remedy = remedy or f"rescale {name}, or pass X as float64"
        raise ValueError(
            f"{name} holds values of magnitude up to {largest:.3g}, outside the range "
            f"of {dtype_name(dtype)} ({low:.3g} to {high:.3g}), {why}: {remedy}."
        )
