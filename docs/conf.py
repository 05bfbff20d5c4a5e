"""Sphinx configuration for sklearn_lowrank.

Build (from the repository root, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery examples run during the build; ``-D plot_gallery=0`` skips them for a quick
look at the prose (the front page's picture is then missing, which is a warning).
"""

from __future__ import annotations

import sys
from pathlib import Path

import sklearn_lowrank

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

# -- Project ---------------------------------------------------------------------------
project = "sklearn_lowrank"
author = "sklearn_lowrank developers"
copyright = "sklearn_lowrank developers, BSD-3-Clause"
release = sklearn_lowrank.__version__
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "_intersphinx", "_templates", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"  # `x` renders as code rather than guessing a cross-reference
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc --------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # the numpydoc sections already give every type
# _templates/autosummary/class.rst documents the methods (autoclass :members:), so
# numpydoc's own member tables would repeat them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Link the types of the Parameters/Returns sections (``ndarray``, ``float``, ...).
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "dtype": "numpy.dtype",
    "RandomState": "numpy.random.RandomState",
    "array-like": ":term:`array-like <array_like>`",
    "array_like": ":term:`array_like`",
    "estimator": "sklearn.base.BaseEstimator",
    "PrunedFactorSensing": "sklearn_lowrank.PrunedFactorSensing",
}
# Words of the type descriptions that are not objects. Other unknown words (shape
# names such as ``n_samples``) become unresolved, unlinked references shown as code;
# that is silent because the build is not nitpicky.
numpydoc_xref_ignore = {"of", "or", "and", "shape", "default", "optional", "instance", "in"}
# Docstring validation runs in tests/test_docstrings.py, not here: the build also renders
# scikit-learn's inherited methods, whose docstrings follow scikit-learn's own rules.
numpydoc_validation_checks: set[str] = set()

# -- Intersphinx -----------------------------------------------------------------------
# The build machines reach no network but package registries, and Sphinx reports an
# unreachable inventory with a plain warning (it has no type, so ``suppress_warnings``
# cannot silence it) that ``-W`` turns into an error. Every inventory is therefore read
# from docs/_intersphinx/: NumPy's, SciPy's, scikit-learn's and Python's come out of
# Debian's documentation packages (same relative links as the upstream sites); CuPy's
# has no packaged inventory and is written by _intersphinx/make_cupy_inventory.py for
# the few names we cite. Only the local file is listed (no network fallback), so the
# build is the same offline and online and never waits on a time-out;
# _intersphinx/README.md says where each file comes from and how to refresh it.
_INV = HERE / "_intersphinx"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(_INV / "python.inv")),
    "numpy": ("https://numpy.org/doc/stable/", str(_INV / "numpy.inv")),
    "scipy": ("https://docs.scipy.org/doc/scipy/", str(_INV / "scipy.inv")),
    "sklearn": ("https://scikit-learn.org/stable/", str(_INV / "sklearn.inv")),
    "cupy": ("https://docs.cupy.dev/en/stable/", str(_INV / "cupy.inv")),
}

# -- Gallery ---------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Executed: plot_*.py. gpu_cupy.py needs a GPU; the user guide shows it as code.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"gpu_cupy\.py|__init__\.py",
    # Quickstart first, then the paper's claims, then tuning (sphinxext/gallery_order.py).
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("sklearn_lowrank",),
    "reference_url": {"sklearn_lowrank": None},
    # "Examples using ..." mini-galleries on the API pages.
    "backreferences_dir": "generated/backreferences",
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "default_thumb_file": None,
    # An example that raises fails the build (it is part of what the docs promise).
    "only_warn_on_example_error": False,
}

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_lowrank {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"install": [], "changelog": [], "bibliography": []}
html_show_sourcelink = False
