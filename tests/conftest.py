"""Test-session setup shared by every test module."""

import builtins
import os

import pytest

# scikit-learn's array-API checks need SciPy's array-API mode, which SciPy reads once at
# import: set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")


@pytest.fixture
def without_cupy(monkeypatch):
    """Make ``import cupy`` fail, as on a machine without CuPy."""
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
