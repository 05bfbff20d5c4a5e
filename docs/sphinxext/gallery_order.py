"""Order of the examples in the gallery: the quickstart, the paper's claims, tuning."""

from __future__ import annotations

import os

ORDER = [
    "plot_quickstart.py",
    "plot_regularizer_vs_none.py",
    "plot_finetune_linear_rate.py",
    "plot_phase_transition.py",
    "plot_grid_search_quadratic_network.py",
]


class ExampleOrder:
    """Sphinx-gallery sort key: files in ``ORDER`` first, in that order, then by name.

    Sphinx-gallery imports it by name (``"gallery_order.ExampleOrder"``), which keeps
    the configuration picklable.
    """

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = os.path.basename(filename)
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self) -> str:
        return f"ExampleOrder({ORDER!r})"
