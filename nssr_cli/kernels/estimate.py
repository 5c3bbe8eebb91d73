"""A fast, image-free estimate of how blurred an input already is (DESIGN §5).

Natural images have a power spectrum falling off as a power law, ``P(f) ∝ f^−β`` (β ≈ 2, but
photographs vary: 1.5–3). Blur multiplies it by ``|H(f)|²``; for a Gaussian of width σ, ``log|H|² =
−4π²σ²f²``. So fitting ``log P(f) = a − β·log f − c·f²`` over the radial spectrum (0.03–0.42
cycles/pixel, 8-bit rounding noise subtracted) separates the image's own fall-off (β, free) from
blur (``c``), and ``σ̂ = √(c / 4π²)`` is a Gaussian-equivalent width in input pixels. Leaving β
free matters: a first version that assumed β = 2 read smooth photographs as blurred. The estimate
runs on a ≤512×512 centre crop of the luminance, as a Welch average of 64×64 tiles (a few small
FFTs), far cheaper than the upscale itself.

On small inputs (a ×4 LR is often under 128 px a side: one or a few tiles) the spectral fit is
noisy and content-dependent: smooth photographs read blurred, textured ones sharp. A second,
independent estimate looks only at the strongest edges instead (:func:`edge_sigma`): how much their
gradient drops when the image is re-blurred by a known Gaussian (a step edge of width σ loses a
factor ``√(σ² + σ_r²)/σ``), which does not depend on the spectrum's slope. The two fail on
different images, so :func:`blur_score` averages them with per-scale weights.

How the score becomes a bank level is calibrated on synthetic scenes only
(:mod:`nssr_cli.quality.calibrate`; ``python -m nssr_cli.quality.calibrate`` reruns it), never on
photographs: an even mix of sharp inputs (the classic bicubic downscale) and DIV2KRK-recipe blurs
with fresh seeds, every bank kernel applied to each, and the level chosen that maximises the
*expected* PSNR gain over bicubic among calibration inputs of similar score. Over-sharpening a
sharp image costs 5–12 dB, under-sharpening a blurred one a fraction of the gain, so the thresholds
come out cautious.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BAND = (0.03, 0.42)  # cycles per pixel
BINS = 16
CROP = 512
TILE = 64


def luminance(image: np.ndarray) -> np.ndarray:
    """``H×W`` or ``H×W×C`` (uint8/uint16/float in [0, 1]) → ``H×W`` float64 on the 8-bit scale."""
    x = np.asarray(image)
    peak = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0}.get(x.dtype, 255.0)
    x = x.astype(np.float64) * peak
    if x.ndim == 3:
        x = x[:, :, :3] @ np.array([0.299, 0.587, 0.114]) if x.shape[2] >= 3 else x[:, :, 0]
    return x


def radial_spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welch estimate of the power of ``y`` ``(H, W)``: Hann-windowed :data:`TILE`² tiles at half
    overlap, averaged, then in :data:`BINS` rings across :data:`BAND`, rounding noise (variance
    1/12) subtracted. Returns ``(rms f, power)`` per non-empty ring."""
    t = min(TILE, *y.shape)
    step = max(1, t // 2)
    win = np.outer(np.hanning(t), np.hanning(t))
    tiles = np.lib.stride_tricks.sliding_window_view(y, (t, t))[::step, ::step].reshape(-1, t, t)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    p = (np.abs(np.fft.rfft2(tiles * win)) ** 2).mean(axis=0) / (win**2).sum()
    f2 = np.fft.fftfreq(t)[:, None] ** 2 + np.fft.rfftfreq(t)[None, :] ** 2
    ring = np.digitize(np.sqrt(f2), np.linspace(*BAND, BINS + 1)) - 1
    ok = (ring >= 0) & (ring < BINS)
    count = np.bincount(ring[ok], minlength=BINS)
    power = np.bincount(ring[ok], p[ok], minlength=BINS) / np.maximum(count, 1) - 1.0 / 12.0
    freq = np.sqrt(np.bincount(ring[ok], f2[ok], minlength=BINS) / np.maximum(count, 1))
    keep = (count > 0) & (power > 1e-3)
    return freq[keep], power[keep]


def _centre_crop(image: np.ndarray) -> np.ndarray:
    h, w = np.shape(image)[:2]
    ch, cw = min(h, CROP), min(w, CROP)
    return np.asarray(image)[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]


def estimate_sigma(image: np.ndarray) -> float:
    """Gaussian-equivalent blur width of ``image`` in its own pixels, from its spectrum (≈ 0.3–0.45
    for sharp synthetic scenes after an antialiased downscale). ``image``: ``H×W`` or ``H×W×C``;
    images under 16 px (or without enough signal) return 0."""
    if min(np.shape(image)[:2]) < 16:
        return 0.0
    f, p = radial_spectrum(luminance(_centre_crop(image)))
    if len(f) < 6:
        return 0.0
    design = np.stack([np.ones_like(f), -np.log(f), -(f**2)], axis=1)
    c = np.linalg.lstsq(design, np.log(p), rcond=None)[0][2]
    return math.sqrt(max(float(c), 0.0) / (4 * math.pi**2))


EDGE_REBLUR = 1.0  # σ_r of the re-blur, input pixels
EDGE_QUANTILE = 98.0  # the strongest 2 % of gradients count as edges


def _gradient(y: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of ``y`` ``(H, W)``, valid region ``(H−2, W−2)``."""
    rows = y[:-2] + 2 * y[1:-1] + y[2:]
    cols = y[:, :-2] + 2 * y[:, 1:-1] + y[:, 2:]
    return np.hypot(rows[:, 2:] - rows[:, :-2], cols[2:] - cols[:-2])


def edge_sigma(image: np.ndarray) -> float:
    """Blur width of ``image``'s strongest edges, in its own pixels: the Sobel gradient at the top
    :data:`EDGE_QUANTILE` percent of edge pixels drops by ``R`` when the image is re-blurred with
    a Gaussian of σ_r = :data:`EDGE_REBLUR`; a Gaussian-blurred step edge gives
    ``σ = σ_r / √(R² − 1)``. Same crop and input types as :func:`estimate_sigma`; flat or tiny
    images return 0."""
    if min(np.shape(image)[:2]) < 16:
        return 0.0
    y = luminance(_centre_crop(image)).astype(np.float32)
    r = 3
    taps = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float32) / EDGE_REBLUR) ** 2)
    taps /= taps.sum()
    h, w = y.shape
    yb = sum(t * y[i : h - 2 * r + i] for i, t in enumerate(taps))
    yb = sum(t * yb[:, i : w - 2 * r + i] for i, t in enumerate(taps))
    g = _gradient(y)[r:-r, r:-r].ravel()
    gb = _gradient(yb).ravel()
    k = int(len(g) * EDGE_QUANTILE / 100)
    edges = np.argpartition(g, k)[k:]
    top, low = float(g[edges].sum(dtype=np.float64)), float(gb[edges].sum(dtype=np.float64))
    if top <= 1e-6 * len(edges):
        return 0.0
    ratio = top / max(low, 1e-12)
    return EDGE_REBLUR / math.sqrt(max(ratio * ratio - 1.0, 1e-6))


def blur_parts(image: np.ndarray, *, need_edge: bool = True) -> dict[str, float]:
    """The blur estimates the kernel choice weighs: ``{"spectral": σ̂, "edge": σ̂}`` (input
    pixels; :func:`estimate_sigma`, :func:`edge_sigma`), the edge one only if ``need_edge``."""
    parts = {"spectral": estimate_sigma(image)}
    if need_edge:
        parts["edge"] = edge_sigma(image)
    return parts


# The IJG (libjpeg) base luminance table, JPEG Annex K, natural row-major order.
_IJG_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _ijg_tables() -> np.ndarray:
    """``(100, 64)``: the IJG luma table libjpeg writes at each quality 1…100."""
    q = np.arange(1, 101, dtype=np.float64)[:, None]
    factor = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    return np.clip(np.floor((_IJG_LUMA * factor + 50.0) / 100.0), 1, 255)


def jpeg_quality(luma_table: Sequence[int] | None) -> float | None:
    """The IJG quality (1…100) whose luma table is closest to ``luma_table`` (a JPEG's 64 luma
    quantization steps, natural order; ``files.decode`` puts them in ``Picture.info``), by mean
    absolute log ratio, so encoders with their own tables still map to a comparable quality.
    None without a table."""
    if luma_table is None or len(luma_table) != 64:
        return None
    t = np.log(np.clip(np.asarray(luma_table, dtype=np.float64), 1, None))
    err = np.abs(np.log(_ijg_tables()) - t).mean(axis=1)
    return float(1 + int(np.argmin(err)))


NOISE_BLOCK = 8  # pixels a side of the blocks the noise estimate ranks by flatness
NOISE_FLATTEST = 0.1  # the flattest tenth of blocks count
# The flattest blocks are also those where the noise happened to be weakest: on pure white
# noise the estimate reads 0.74 of the truth, so it is scaled back.
NOISE_BIAS = 1.35


def noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of white noise in ``image``, on the 8-bit luminance scale (noise of σ
    on each RGB channel reads ≈ 0.67σ). Immerkær's estimator (1996): the mean absolute response
    to a 3×3 Laplacian-difference mask, which cancels linear ramps, times √(π/2)/6 — over the
    flattest :data:`NOISE_FLATTEST` of 8×8 blocks only, so edges and texture count as little as
    they can (a finely textured image still reads a little noisy). Blocks touching black or
    white are skipped (clipping hides noise). Same crop and input types as
    :func:`estimate_sigma`; tiny images return 0."""
    y = luminance(_centre_crop(image))
    if min(y.shape) < 3 * NOISE_BLOCK:
        return 0.0
    lap = (
        y[:-2, :-2] - 2 * y[:-2, 1:-1] + y[:-2, 2:]
        - 2 * y[1:-1, :-2] + 4 * y[1:-1, 1:-1] - 2 * y[1:-1, 2:]
        + y[2:, :-2] - 2 * y[2:, 1:-1] + y[2:, 2:]
    )  # fmt: skip
    b = NOISE_BLOCK
    h, w = (lap.shape[0] // b) * b, (lap.shape[1] // b) * b
    blocks = np.abs(lap[:h, :w]).reshape(h // b, b, w // b, b).mean(axis=(1, 3)).ravel()
    inner = y[1 : h + 1, 1 : w + 1].reshape(h // b, b, w // b, b)
    ok = ((inner.min(axis=(1, 3)) > 2) & (inner.max(axis=(1, 3)) < 253)).ravel()
    blocks = blocks[ok] if ok.sum() >= 4 else blocks
    k = max(1, int(len(blocks) * NOISE_FLATTEST))
    flat = np.partition(blocks, k - 1)[:k].mean()
    return float(NOISE_BIAS * math.sqrt(math.pi / 2) / 6 * flat)
