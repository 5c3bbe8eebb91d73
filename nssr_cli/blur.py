"""A fast, image-free estimate of how blurred an input already is (DESIGN §5).

Natural images have a power spectrum falling off as a power law, ``P(f) ∝ f^−β`` (β ≈ 2, but
photographs vary: 1.5–3). Blur multiplies it by ``|H(f)|²``; for a Gaussian of width σ,
``log|H|² = −4π²σ²f²``. So fitting ``log P(f) = a − β·log f − c·f²`` over the radial spectrum
(0.03–0.42 cycles/pixel, 8-bit rounding noise subtracted) separates the image's own fall-off
(β, free) from blur (``c``), and ``σ̂ = √(c / 4π²)`` is a Gaussian-equivalent width in input
pixels. Leaving β free matters: a first version that assumed β = 2 read smooth photographs as
blurred. The estimate runs on a ≤512×512 centre crop of the luminance, as a Welch average of
64×64 tiles (a few small FFTs), far cheaper than the upscale itself.

The thresholds that turn ``σ̂`` into a bank level are calibrated on synthetic scenes
(:func:`calibrate`; ``python -m nssr_cli.blur`` reruns it), never on photographs.
"""

from __future__ import annotations

import math

import numpy as np

BAND = (0.03, 0.42)  # cycles per pixel
BINS = 16
CROP = 512
TILE = 64
LEVELS = ("none", "light", "medium", "heavy")


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


def estimate_sigma(image: np.ndarray) -> float:
    """Gaussian-equivalent blur width of ``image`` in its own pixels (≈ 0.3–0.45 for sharp
    synthetic scenes after an antialiased downscale). ``image``: ``H×W`` or ``H×W×C``;
    images under 16 px (or without enough signal) return 0."""
    h, w = np.shape(image)[:2]
    if min(h, w) < 16:
        return 0.0
    ch, cw = min(h, CROP), min(w, CROP)
    crop = np.asarray(image)[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
    f, p = radial_spectrum(luminance(crop))
    if len(f) < 6:
        return 0.0
    design = np.stack([np.ones_like(f), -np.log(f), -(f**2)], axis=1)
    c = np.linalg.lstsq(design, np.log(p), rcond=None)[0][2]
    return math.sqrt(max(float(c), 0.0) / (4 * math.pi**2))


# σ̂ thresholds between consecutive LEVELS, per integer scale (from `python -m nssr_cli.blur`).
THRESHOLDS: dict[int, tuple[float, ...]] = {
    2: (0.485, 0.567, 0.756),
    3: (0.539, 0.658, 0.775),
    4: (0.552, 0.704, 0.847),
}


def level_for(sigma: float, scale: float) -> str:
    """The bank level for an estimated width ``sigma`` at ``scale`` (nearest calibrated scale)."""
    t = THRESHOLDS[min(THRESHOLDS, key=lambda s: abs(s - scale))]
    return LEVELS[sum(sigma >= v for v in t)]


def calibrate(
    scales: tuple[int, ...] = (2, 3, 4), per_level: int = 24, size: int = 264, seed: int = 0
) -> dict[int, dict[str, np.ndarray]]:
    """σ̂ of ``per_level`` synthetic scenes per (scale, level), degraded under each level's prior
    (``none``: the classic bicubic downscale). Returns ``{scale: {level: (per_level,) σ̂}}``."""
    from nssr_cli.degrade import degrade, modcrop
    from nssr_cli.scenes import scene

    rng = np.random.default_rng([seed, 0xB10B])
    out: dict[int, dict[str, np.ndarray]] = {}
    for s in scales:
        out[s] = {}
        for level in LEVELS:
            est = [
                estimate_sigma(degrade(modcrop(scene(size, rng)[:, :, None], s), s, level, rng))
                for _ in range(per_level)
            ]
            out[s][level] = np.array(est)
    return out


def thresholds_from(samples: dict[str, np.ndarray], quantile: float = 90.0) -> tuple[float, ...]:
    """Each threshold: the ``quantile``-th percentile of the weaker level's σ̂ (but at least the
    midpoint of the two medians). Asymmetric on purpose: sharpening a sharp input too hard
    costs several dB, sharpening a blurred one too gently only part of the gain."""
    out = []
    for weak, strong in zip(LEVELS, LEVELS[1:], strict=False):
        mid = (np.median(samples[weak]) + np.median(samples[strong])) / 2
        out.append(round(float(max(mid, np.percentile(samples[weak], quantile))), 3))
    return tuple(out)


def accuracy(samples: dict[str, np.ndarray], scale: int) -> dict[str, float]:
    """Fraction of each level's samples that :func:`level_for` assigns to that level."""
    return {
        lvl: float(np.mean([level_for(v, scale) == lvl for v in samples[lvl]])) for lvl in LEVELS
    }


if __name__ == "__main__":  # python -m nssr_cli.blur [--check]: recalibrate, or test held-out data
    import sys

    held_out = "--check" in sys.argv
    for s, samples in calibrate(seed=1 if held_out else 0).items():
        print(
            f"x{s}: thresholds {thresholds_from(samples)}  "
            f"accuracy with current {THRESHOLDS[s]}: {accuracy(samples, s)}"
        )
