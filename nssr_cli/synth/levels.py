"""The blur levels of the kernel bank, the degradations real inputs add on top (JPEG, noise), and
the prior each bank kernel was solved under.

The one definition of these names: the bank (``weights/bank/x{s}-{prior}.npy``), the run-time
choice, the command line's ``--blur`` and ``nssr eval`` all read them from here. Imports nothing,
so the command line can list the levels without loading numpy.

A prior's name is a blur level, optionally followed by a degradation: ``medium`` (blur only),
``none-q85`` (the classic sharp downscale, then JPEG at a quality drawn from 80–90),
``none-n5`` (then Gaussian noise of σ drawn from 2.5–4.5 on the 8-bit luminance scale).
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = ("none", "light", "medium", "heavy")

# DIV2KRK recipe (synth.degradations.recipe_kernel): covariance eigenvalues of the ×2 kernel,
# HR pixels².
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

# What a real input adds after the blur: JPEG at a quality drawn uniformly from a range (the
# IJG scale, greyscale, so the luma table), or Gaussian noise of a σ drawn uniformly from a range
# (8-bit luminance scale: noise of σ on each RGB channel is ≈ 0.67σ on the luminance, so `n2`
# and `n5` cover RGB σ ≈ 1.5–3 and 3.7–6.7).
DEGRADATIONS: dict[str, tuple[str, float, float]] = {
    "q95": ("jpeg", 90, 98),
    "q85": ("jpeg", 80, 90),
    "q75": ("jpeg", 65, 80),
    "n2": ("noise", 1.0, 2.0),
    "n5": ("noise", 2.5, 4.5),
}


def split_prior(name: str) -> tuple[str, str | None]:
    """``"medium-q85"`` → ``("medium", "q85")``; ``"light"`` → ``("light", None)``. Raises
    :class:`ValueError` for a name that is not a blur prior, optionally with a degradation."""
    blur, _, degradation = name.partition("-")
    if blur not in BLUR_PRIORS or (degradation and degradation not in DEGRADATIONS):
        known = ", ".join(BLUR_PRIORS)
        raise ValueError(
            f"unknown prior {name!r}: a blur level ({known}), optionally followed by one of "
            f"{', '.join('-' + d for d in DEGRADATIONS)}"
        )
    return blur, degradation or None
