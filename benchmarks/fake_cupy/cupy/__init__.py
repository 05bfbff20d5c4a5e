"""A CuPy stand-in, to smoke-test the GPU scripts' control flow on a machine without a GPU.

    PYTHONPATH=benchmarks/fake_cupy python benchmarks/gpu_check.py --quick
    PYTHONPATH=benchmarks/fake_cupy python benchmarks/gpu_ops.py
    PYTHONPATH=benchmarks/fake_cupy python benchmarks/gpu_graph.py --quick
    PYTHONPATH=benchmarks/fake_cupy python benchmarks/gpu_profile.py --quick

"Device" arrays are a NumPy subclass with CuPy's ``.get()``; the package computes on them
as on NumPy arrays (its device path is tested under array_api_strict), streams, events and
graph captures do nothing. The numbers printed mean nothing: it only shows that the scripts
run to their last line, so that a GPU session is not spent on a typo.
"""

import numpy as np

__version__ = "fake"
float32, float64 = np.float32, np.float64


class ndarray(np.ndarray):
    def get(self):
        return np.asarray(self)


def asarray(x, dtype=None):
    return np.asarray(x, dtype=dtype).view(ndarray)


def asnumpy(x):
    return np.asarray(x)


empty, empty_like, copyto, ones, eye = np.empty, np.empty_like, np.copyto, np.ones, np.eye


class _Rng:
    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def standard_normal(self, shape, dtype=np.float64):
        return asarray(self.g.standard_normal(shape).astype(dtype))


class random:
    default_rng = _Rng


class _Pool:
    def free_all_blocks(self):
        pass

    def total_bytes(self):
        return 0


def get_default_memory_pool():
    return _Pool()


class _Graph:
    def launch(self, stream=None):
        pass


class _Stream:
    def __init__(self, non_blocking=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def synchronize(self):
        pass

    def begin_capture(self):
        pass

    def end_capture(self):
        return _Graph()


class _Event:
    done = False

    def record(self, stream=None):
        import time

        self.time = time.perf_counter()

    def synchronize(self):
        pass


class cuda:
    Stream = _Stream
    Event = _Event

    @staticmethod
    def get_elapsed_time(start, end):
        return 1e3 * (end.time - start.time)

    class Device:
        def synchronize(self):
            pass

    class runtime:
        @staticmethod
        def getDeviceProperties(i):
            return {"name": b"fake CPU stand-in"}

        @staticmethod
        def getDeviceCount():
            return 1


def __getattr__(name):
    # Anything else (arange, zeros, ...) as NumPy has it.
    return getattr(np, name)
