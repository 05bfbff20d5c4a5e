"""Write ``cupy.inv``: a small intersphinx inventory for the CuPy names the docs cite.

No package registry ships CuPy's ``objects.inv`` (Debian has no CuPy documentation
package and the PyPI wheels carry no docs), so this one is written by hand. It lists only
the objects our pages and docstrings link to, at the addresses CuPy's documentation has
used for years (``reference/generated/<name>.html``). Add a line here, then rerun
``python docs/_intersphinx/make_cupy_inventory.py``, to link another CuPy name.
"""

import zlib
from pathlib import Path

# name, role, relative URI (``$`` stands for the name), as in Sphinx's inventory format.
ENTRIES = [
    ("cupy.ndarray", "py:class", "reference/generated/cupy.ndarray.html#$"),
    ("cupy.ndarray.get", "py:method", "reference/generated/cupy.ndarray.html#$"),
    ("cupy.asarray", "py:function", "reference/generated/cupy.asarray.html#$"),
    ("cupy.asnumpy", "py:function", "reference/generated/cupy.asnumpy.html#$"),
    ("cupy.cuda.Device", "py:class", "reference/generated/cupy.cuda.Device.html#$"),
    (
        "cupy.cuda.Device.synchronize",
        "py:method",
        "reference/generated/cupy.cuda.Device.html#$",
    ),
]

HEADER = (
    "# Sphinx inventory version 2\n"
    "# Project: CuPy\n"
    "# Version: 13\n"
    "# The remainder of this file is compressed using zlib.\n"
)


def main() -> None:
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in ENTRIES)
    target = Path(__file__).with_name("cupy.inv")
    target.write_bytes(HEADER.encode() + zlib.compress(body.encode()))
    print(f"wrote {target} ({len(ENTRIES)} entries)")


if __name__ == "__main__":
    main()
