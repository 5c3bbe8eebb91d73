"""How sparse an image's gradients are: whether its detail sits in a few edges on smooth ground,
as photographs' mostly does, or spreads evenly over the frame, as a texture's, a fog's or a
random field's does (:func:`gradient_sparsity`; the JPEG rules weigh the two kinds apart:
:data:`~nssr_cli.kernels.rule_table.SPARSE_GATE`).

For a Gaussian field, whatever its power spectrum, the squared gradient magnitude is
exponentially distributed, so the strongest tenth of the pixels holds ``0.1·(1 + ln 10) ≈ 0.33``
of the gradient energy; a few steps on flat ground put nearly all of it there. The calibration's
fields, stochastic textures, skies, text and gratings read 0.27–0.50, its dead leaves 0.43–0.67
and its graphics 0.67–1; photographs mostly 0.5–0.95.
"""

from __future__ import annotations

import cv2
import numpy as np

TOP_SHARE = 0.1  # the strongest tenth of the pixels


def gradient_sparsity(luma: np.ndarray) -> float:
    """The share of the squared Sobel gradient energy of ``luma`` (``H×W``, any real dtype) that
    lies in its strongest :data:`TOP_SHARE` of pixels, the border left out: about 0.33 for a
    Gaussian field, up to 1 for isolated edges; 0 for a flat image or one under 3 px a side.
    Unchanged by scaling the contrast or adding a constant."""
    y = np.asarray(luma, dtype=np.float32)
    if min(y.shape[:2]) < 3:
        return 0.0
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
    energy = (gx * gx + gy * gy).ravel().astype(np.float64)
    total = float(energy.sum())
    if total <= 0.0:
        return 0.0
    k = max(1, int(len(energy) * TOP_SHARE))
    top = np.partition(energy, len(energy) - k)[len(energy) - k :]
    return float(top.sum() / total)
