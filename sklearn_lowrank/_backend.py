"""Array-module backend: which namespace computes, and moving data to it once.

The numerical core (operators, penalty, line search, solvers, pruning) only ever sees an
Array-API namespace ``xp`` and arrays of that namespace; this module is where that
namespace is chosen.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, is_cupy_namespace, is_numpy_namespace

__all__ = ["get_namespace", "resolve_namespace", "to_host", "to_namespace"]


def get_namespace(*arrays):
    """Array-API compatible namespace of ``arrays`` (NumPy for lists and scalars)."""
    arrays = [a for a in arrays if a is not None and not isinstance(a, (list, tuple))]
    if not arrays:
        return array_namespace(np.empty(0))
    return array_namespace(*arrays)


def _cupy_namespace():
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            "array_module='cupy' needs CuPy, which is not installed; install it with "
            "`pip install 'sklearn_lowrank[gpu]'` (or the CuPy wheel matching your CUDA)."
        ) from exc
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA runtime missing or broken driver
        raise RuntimeError(
            f"array_module='cupy' but CuPy cannot reach a GPU: {exc}"
        ) from exc
    if n_gpus == 0:
        raise RuntimeError("array_module='cupy' but no GPU is visible to CuPy.")
    return array_namespace(cupy.empty(0))


def resolve_namespace(array_module: str, X):
    """Namespace that computes for ``array_module`` given the input ``X``.

    ``"auto"`` computes where ``X`` lives; ``"numpy"`` and ``"cupy"`` force a module.
    """
    if array_module == "auto":
        return get_namespace(X)
    if array_module == "numpy":
        return array_namespace(np.empty(0))
    if array_module == "cupy":
        return _cupy_namespace()
    raise ValueError(
        f"array_module must be 'auto', 'numpy' or 'cupy'; got {array_module!r}."
    )


def to_host(x):
    """NumPy copy of ``x`` (outside iteration loops only)."""
    if isinstance(x, np.ndarray):
        return x
    xp = array_namespace(x)
    if is_cupy_namespace(xp):
        return x.get()
    if is_numpy_namespace(xp):
        return np.asarray(x)
    # Any other Array-API library: go through DLPack on the CPU device when possible.
    try:
        return np.from_dlpack(x)
    except Exception:
        return np.asarray(xp.asarray(x, device="cpu") if hasattr(xp, "asarray") else x)


def to_namespace(x, xp, device=None):
    """``x`` as an array of ``xp`` (on ``device``), copying only when needed."""
    if x is None:
        return None
    if is_cupy_namespace(xp):
        import cupy

        return cupy.asarray(x)
    if is_numpy_namespace(xp) and not isinstance(x, np.ndarray):
        return to_host(x)
    if device is None:
        return xp.asarray(x)
    return xp.asarray(x, device=device)
