"""The blur levels of the kernel bank and the degradation prior each one was solved under.

The one definition of these names: the bank (``weights/bank/x{s}-{level}.npy``), the run-time
choice, the command line's ``--blur`` and ``nssr eval`` all read them from here. Imports nothing,
so the command line can list the levels without loading numpy.
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = ("none", "light", "medium", "heavy")

# DIV2KRK recipe (DESIGN §4): covariance eigenvalues of the ×2 kernel, HR pixels².
DIV2KRK_EIGEN_RANGE = (0.6, 5.0)

# The blur prior of each bank level: DIV2KRK-recipe eigenvalue ranges (×2 units; ×3 scales them
# by 2.25, ×4 composes two ×2 kernels), or None for the classic antialiased bicubic downscale.
BLUR_PRIORS: dict[str, tuple[float, float] | None] = {
    "none": None,
    "light": (0.25, 1.2),
    "medium": (0.6, 3.0),
    "heavy": (1.5, 5.0),
    "div2krk": DIV2KRK_EIGEN_RANGE,
}
