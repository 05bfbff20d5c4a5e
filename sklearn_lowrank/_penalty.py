"""The smooth group lasso ``R_β(U) = Σⱼ ‖uⱼ‖² / √(‖uⱼ‖² + β)`` over U's columns.

For ``‖uⱼ‖² ≫ β`` a column costs about ``‖uⱼ‖`` (group lasso, which favours few columns);
for ``‖uⱼ‖² ≪ β`` about ``‖uⱼ‖²/√β`` (weight decay, which makes the penalty smooth).
Everything here is written in terms of the squared column norms ``z = ‖uⱼ‖²`` so that the
line search can price trial steps from three numbers per column.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SmoothGroupLasso", "penalized"]


class SmoothGroupLasso:
    """Smooth group lasso over columns with smoothing parameter ``beta > 0``."""

    def __init__(self, beta: float):
        self.beta = beta

    def value_from_sq_norms(self, xp, z, root=None):
        """Penalty of columns with squared norms ``z`` (summed over the last axis);
        ``root`` is ``√(z + β)`` when the caller has it already."""
        if root is None:
            root = xp.sqrt(z + self.beta)
        return xp.sum(z / root, axis=-1)

    def _slope(self, zb, root):
        """``2h'(z) = (z + 2β) / (z + β)^{3/2}`` from ``zb = z + β`` and ``root = √zb``.

        As ``(1 + β/zb) / root``: the product ``zb·root`` overflows once ``β`` passes
        the dtype's largest number to the power 2/3 (1e205 in float64, 5e25 in
        float32), where the slope itself is merely small. As many operations.
        """
        return (1.0 + self.beta / zb) / root

    def value_and_gradient(self, xp, U):
        """``R_β(U)`` and ``∇R_β(U)``, whose column j is ``2h'(‖uⱼ‖²)·uⱼ``.

        The value and the slope share ``√(z + β)``: each array operation is a kernel
        launch on a GPU."""
        z = xp.sum(U * U, axis=0)
        zb = z + self.beta
        root = xp.sqrt(zb)
        return self.value_from_sq_norms(xp, z, root), U * self._slope(zb, root)

    def derivatives(self, xp, z, root=None):
        """``h'(z)`` and ``h''(z)`` of ``h(z) = z / √(z + β)``; ``root`` is ``√(z + β)``
        when the caller has it already (the line search always does: ``None`` serves
        the tests)."""
        zb = z + self.beta
        if root is None:
            root = xp.sqrt(zb)
        # -(zb + 3β) / (4·zb²·root), with every intermediate bounded (zb² overflows).
        second = -((1.0 + 3.0 * self.beta / zb) / (4.0 * zb)) / root
        return 0.5 * self._slope(zb, root), second

    def best_rotation(self, gram):
        """Orthogonal ``W`` minimising ``R_β(U·W)``, from ``gram = UᵀU`` (NumPy).

        ``UW`` has orthogonal columns. The loss depends on ``U`` only through ``UUᵀ``,
        which every ``U·Q`` (``Q`` orthogonal) shares, so this step lowers the objective
        for free. It is exact: the squared column norms of ``U·Q`` are the diagonal of
        ``QᵀUᵀUQ``, which the eigenvalues of ``UᵀU`` majorise (Schur-Horn), and ``h`` is
        concave, so the sum is smallest when the columns are the scaled singular
        vectors. Columns come out sorted by decreasing norm. It takes the k × k Gram
        matrix, which the solvers hold on the host, rather than ``U``: a k × k
        eigensolver is microseconds there and a slow library call on a GPU.
        """
        _, vectors = np.linalg.eigh(np.asarray(gram, dtype=np.float64))
        return vectors[:, ::-1]


def penalized(penalty: SmoothGroupLasso | None, alpha: float) -> bool:
    """Whether the objective carries ``alpha·penalty``: a penalty, and ``alpha > 0``.

    The one place this is decided, for the solver and the line search: with
    ``alpha = 0`` a penalty passed along is ignored, and the plain loss minimised.
    """
    return penalty is not None and alpha > 0
