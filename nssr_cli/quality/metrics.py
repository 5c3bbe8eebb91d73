"""Image quality metrics of the benchmark protocol (README, "Quality"): Y-channel PSNR and SSIM.

Inputs are ``(H, W, 3)`` RGB or ``(H, W)`` grey arrays on the 8-bit scale (``uint8``, or float in
``[0, 255]``). Y is ITU-R BT.601 studio range: ``16 + (65.481 R + 128.553 G + 24.966 B)/255``,
kept in float64 (not rounded). ``border`` pixels are cropped from every side before scoring
(the scale factor, by convention). SSIM is Wang et al. 2004: Gaussian window σ = 1.5,
population covariances, K₁ = 0.01, K₂ = 0.03, peak 255 — scikit-image's implementation.
PSNR is capped at :data:`MAX_PSNR` (100 dB; libvmaf caps its 8-bit PSNR likewise, at 60): an
output equal to its reference scores that, not infinity, so one exactly reproduced image (a flat
graphic) cannot make a whole mean infinite or a gain −∞.
"""

from __future__ import annotations

import numpy as np

from nssr_cli.errors import UsageError

PEAK = 255.0
MAX_PSNR = 100.0  # dB: an MSE of 6.5e-6 (one pixel a level off in a megapixel scores more)


def require_scikit_image() -> None:
    """:class:`UsageError` with the install command if scikit-image (the ``eval`` extra) is
    missing, before any work starts."""
    try:
        import skimage.metrics  # noqa: F401
    except ImportError:
        raise UsageError(
            "nssr eval scores with scikit-image, which is not installed; "
            "install it with: pip install 'nssr[eval]'"
        ) from None


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` or ``(H, W)`` on the 8-bit scale → ``(H, W)`` float64 Y in [16, 235]."""
    x = np.asarray(img, dtype=np.float64)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    x = x[:, :, :3]
    return 16.0 + (65.481 * x[:, :, 0] + 128.553 * x[:, :, 1] + 24.966 * x[:, :, 2]) / 255.0


def _y_pair(out: np.ndarray, ref: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """The Y channels of ``out`` and ``ref`` (same shape), ``border`` pixels cropped."""
    if out.shape != ref.shape:
        raise ValueError(f"shape mismatch {out.shape} vs {ref.shape}")

    def cropped_y(img: np.ndarray) -> np.ndarray:
        y = rgb_to_y(img)
        return y[border : y.shape[0] - border, border : y.shape[1] - border]

    return cropped_y(out), cropped_y(ref)


def psnr_y(out: np.ndarray, ref: np.ndarray, border: int = 0) -> float:
    """PSNR (dB, peak 255) between the Y channels of ``out`` and ``ref`` (same shape), at most
    :data:`MAX_PSNR` (identical images score that)."""
    from skimage.metrics import peak_signal_noise_ratio

    a, b = _y_pair(out, ref, border)
    with np.errstate(divide="ignore"):  # identical images: infinite before the cap, no warning
        return min(float(peak_signal_noise_ratio(b, a, data_range=PEAK)), MAX_PSNR)


def ssim_y(out: np.ndarray, ref: np.ndarray, border: int = 0) -> float:
    """SSIM (Wang 2004, Gaussian σ = 1.5) between the Y channels of ``out`` and ``ref``."""
    from skimage.metrics import structural_similarity

    a, b = _y_pair(out, ref, border)
    return float(
        structural_similarity(
            a, b, data_range=PEAK, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )
