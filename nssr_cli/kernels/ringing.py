"""How far a kernel would overshoot on an image (:func:`~nssr_cli.kernels.estimate.ringing`):
the part of a sharpening's change that lands outside the range plain bicubic spans nearby, on a
centre crop of the upscale, in OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

RINGING_OUT = 512  # output pixels a side of the centre crop the ringing is measured on


def overshoot_fraction(y: np.ndarray, kernel: np.ndarray, scale: int) -> float:
    """:func:`~nssr_cli.kernels.estimate.ringing` of ``y`` (``H×W`` float32 luminance, at most
    ``RINGING_OUT // scale`` pixels a side) for ``kernel`` at integer ``scale``."""
    if min(y.shape) < 16:
        return 1.0
    # The reference upscale's two steps (bicubic with half-pixel centres, then the kernel as a
    # correlation), in OpenCV: inside the trimmed border they agree with the engine's.
    smooth = cv2.resize(y, (y.shape[1] * scale, y.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
    sharp = cv2.filter2D(smooth, -1, np.asarray(kernel, np.float32))
    reach = np.ones((2 * scale + 3, 2 * scale + 3), np.uint8)  # ±(s + 1) output pixels
    hi, lo = cv2.dilate(smooth, reach), cv2.erode(smooth, reach)
    m = 2 * scale + 2 + np.shape(kernel)[0] // 2  # where padding reaches the windows or kernel
    hi, lo, smooth, sharp = (a[m:-m, m:-m] for a in (hi, lo, smooth, sharp))
    if sharp.size == 0:
        return 1.0
    # the overshoot is how far the sharpened value lies outside [lo, hi]: its distance to its
    # clamp into that range, summed (in double) like the change
    inside = cv2.min(cv2.max(sharp, lo), hi)
    change = float(cv2.norm(sharp, smooth, cv2.NORM_L1))
    return float(cv2.norm(sharp, inside, cv2.NORM_L1)) / change if change > 1e-6 else 1.0
