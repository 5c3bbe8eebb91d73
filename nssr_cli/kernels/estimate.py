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
from functools import cached_property, lru_cache

import cv2
import numpy as np

BAND = (0.03, 0.42)  # cycles per pixel
BINS = 16
CROP = 512
TILE = 64
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(image: np.ndarray) -> np.ndarray:
    """``H×W`` or ``H×W×C`` (uint8/uint16/float in [0, 1]) → ``H×W`` float32 on the 8-bit scale."""
    x = np.asarray(image)
    peak = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0}.get(x.dtype, 255.0)
    if x.ndim == 3:
        if x.shape[2] >= 3:
            x = np.ascontiguousarray(x[:, :, :3]).astype(np.float32)
            y = cv2.transform(x, _LUMA[None, :]).reshape(x.shape[:2])
        else:
            y = x[:, :, 0].astype(np.float32)
    else:
        y = x.astype(np.float32)
    return y if peak == 1.0 else y * np.float32(peak)


def _centre_crop(image: np.ndarray) -> np.ndarray:
    h, w = np.shape(image)[:2]
    ch, cw = min(h, CROP), min(w, CROP)
    return np.asarray(image)[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]


def _packed_dft(x: np.ndarray) -> np.ndarray:
    """The real DFT of each row of ``x`` (float32, length ``t``), in OpenCV's packed layout
    (CCS: ``Re0, Re1, Im1, Re2, Im2, …``, then ``Re(t/2)`` if ``t`` is even), same shape."""
    t = x.shape[-1]
    return cv2.dft(np.ascontiguousarray(x).reshape(-1, t), flags=cv2.DFT_ROWS).reshape(x.shape)


@lru_cache(maxsize=16)
def _plan(t: int) -> dict[str, np.ndarray]:
    """What :func:`radial_spectrum` needs for ``t``×``t`` tiles: the 1-D Hann window ``hann``
    (the 2-D one is its outer product) and its transform ``hann1``, packed; the ring
    of every ``(v, u)`` frequency of a real 2-D transform (−1 outside :data:`BAND`), the rms
    frequency and size of each ring; ``pack``: the 0/1 matrix that adds up the packed real and
    imaginary parts of each frequency; ``fold``: ``v`` → ``min(v, t − v)``."""
    hann = np.hanning(t).astype(np.float32)
    f2 = np.fft.fftfreq(t)[:, None] ** 2 + np.fft.rfftfreq(t)[None, :] ** 2
    ring = np.digitize(np.sqrt(f2), np.linspace(*BAND, BINS + 1)) - 1
    ring[(ring < 0) | (ring >= BINS)] = -1
    ok = ring >= 0
    count = np.bincount(ring[ok], minlength=BINS)
    freq = np.sqrt(np.bincount(ring[ok], f2[ok], minlength=BINS) / np.maximum(count, 1))
    pack = np.zeros((t // 2 + 1, t))
    pack[0, 0] = 1
    for k in range(1, t // 2 + 1):
        pack[k, 2 * k - 1] = 1
        if 2 * k < t:
            pack[k, 2 * k] = 1
    h1 = _packed_dft(hann[None, :])[0]
    return {
        "hann": hann,
        "hann1": h1,
        "ring": ring,
        "count": count,
        "freq": freq,
        "pack": pack,
        "fold": np.minimum(np.arange(t), t - np.arange(t)),
    }


def _tile_means(y: np.ndarray, t: int, step: int) -> np.ndarray:
    """``(i, j)``: the mean of each ``t``×``t`` tile of ``y`` at ``step`` (``y`` holds whole
    tiles): of 2×2 blocks of ``step``² when ``t = 2·step``, block means being a resize."""
    if t != 2 * step:
        view = np.lib.stride_tricks.sliding_window_view(y, (t, t))[::step, ::step]
        return view.mean(axis=(2, 3), dtype=np.float64).astype(np.float32)
    nb = (y.shape[1] // step, y.shape[0] // step)
    b = cv2.resize(y, nb, interpolation=cv2.INTER_AREA)
    return (b[:-1, :-1] + b[1:, :-1] + b[:-1, 1:] + b[1:, 1:]) * np.float32(0.25)


def radial_spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welch estimate of the power of ``y`` ``(H, W)`` float32: Hann-windowed :data:`TILE`²
    tiles at half overlap, mean removed, averaged, then in :data:`BINS` rings across
    :data:`BAND`, rounding noise (variance 1/12) subtracted. Returns ``(rms f, power)`` per
    non-empty ring.

    Computed without complex numbers and sharing work between tiles: the window is separable,
    so each row of ``y`` is windowed and transformed once per column of tiles (OpenCV's real
    row transform), then each tile's columns of the result, windowed again, are transformed; a
    tile's mean ``m`` comes off in between, as ``m`` times the row window's transform. Each ring
    only needs the sum of its frequencies' power, and ``(v, u)`` and ``(t − v, u)`` share a
    ring: together their power is the sum of the squares of the four real numbers the two
    passes leave for the pair, so each may be counted as half of that."""
    t = min(TILE, *y.shape)
    step = max(1, t // 2)
    plan = _plan(t)
    hann = plan["hann"]
    ni, nj = (y.shape[0] - t) // step + 1, (y.shape[1] - t) // step + 1
    y = y[: (ni - 1) * step + t, : (nj - 1) * step + t]
    # (row, j, packed u): every row of y over the span of each column of tiles
    spans = np.lib.stride_tricks.sliding_window_view(y, t, axis=1)[:, ::step] * hann
    rows = _packed_dft(spans)
    # (j, packed u, i, r): each tile's columns, its mean's share taken off, windowed
    cols = cv2.transpose(rows.reshape(y.shape[0], nj * t))
    col_spans = np.lib.stride_tricks.sliding_window_view(cols, t, axis=1)[:, ::step]
    share = _tile_means(y, t, step).T[:, None, :] * plan["hann1"][None, :, None]
    tiles = np.empty((nj, t, ni, t), np.float32)
    np.subtract(col_spans.reshape(tiles.shape), share[..., None], out=tiles)
    tiles *= hann
    g = _packed_dft(tiles)  # (j, packed u, i, packed v)
    np.square(g, out=g)
    sq = np.einsum("jpic->pc", g).astype(np.float64)  # (packed u, packed v)
    half = plan["pack"] @ sq @ plan["pack"].T  # (u, min(v, t − v))
    p = half[:, plan["fold"]].T / (ni * nj * float((hann.astype(np.float64) ** 2).sum() ** 2))
    ring, count = plan["ring"], plan["count"]
    ok = ring >= 0
    power = np.bincount(ring[ok], p[ok], minlength=BINS) / np.maximum(count, 1) - 1.0 / 12.0
    keep = (count > 0) & (power > 1e-3)
    return plan["freq"][keep], power[keep]


def estimate_sigma(image: np.ndarray) -> float:
    """Gaussian-equivalent blur width of ``image`` in its own pixels, from its spectrum (≈ 0.3–0.45
    for sharp synthetic scenes after an antialiased downscale). ``image``: ``H×W`` or ``H×W×C``;
    images under 16 px (or without enough signal) return 0."""
    return Estimates(image).spectral


EDGE_REBLUR = 1.0  # σ_r of the re-blur, input pixels
EDGE_QUANTILE = 98.0  # the strongest 2 % of gradients count as edges


def _gradient(y: np.ndarray, trim: int) -> np.ndarray:
    """Sobel gradient magnitude of ``y`` ``(H, W)``, without ``trim`` pixels on each side (at
    least 1: the border, where the 3×3 mask would need pixels outside ``y``)."""
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)[trim:-trim, trim:-trim]


def edge_sigma(image: np.ndarray) -> float:
    """Blur width of ``image``'s strongest edges, in its own pixels: the Sobel gradient at the top
    :data:`EDGE_QUANTILE` percent of edge pixels drops by ``R`` when the image is re-blurred with
    a Gaussian of σ_r = :data:`EDGE_REBLUR`; a Gaussian-blurred step edge gives
    ``σ = σ_r / √(R² − 1)``. Same crop and input types as :func:`estimate_sigma`; flat or tiny
    images return 0."""
    return Estimates(image).edge


def blur_parts(image: np.ndarray | Estimates, *, need_edge: bool = True) -> dict[str, float]:
    """The blur estimates the kernel choice weighs: ``{"spectral": σ̂, "edge": σ̂}`` (input
    pixels; :func:`estimate_sigma`, :func:`edge_sigma`), the edge one only if ``need_edge``."""
    est = image if isinstance(image, Estimates) else Estimates(image)
    parts = {"spectral": est.spectral}
    if need_edge:
        parts["edge"] = est.edge
    return parts


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest of ``values`` (1-D, ``0 < n ≤ len``), in no order. A partial
    sort of a 1-in-16 sample gives a bound most of them clear; only those are sorted."""
    sample = values[::16]
    rank = len(sample) - 1 - min(len(sample) - 1, 2 * n // 16 + 8)
    bound = np.partition(sample, rank)[rank]
    candidates = np.flatnonzero(values >= bound)
    if len(candidates) < n:  # the sample misled: sort everything
        candidates = np.arange(len(values))
    cut = len(candidates) - n
    return candidates[np.argpartition(values[candidates], cut)[cut:]]


class Estimates:
    """The run-time estimates of one image, each computed on first use from one shared
    luminance crop (≤ :data:`CROP`² pixels, float32): ``spectral`` (:func:`estimate_sigma`),
    ``edge`` (:func:`edge_sigma`) and ``noise`` (:func:`noise_sigma`)."""

    def __init__(self, image: np.ndarray) -> None:
        self.shape = np.shape(image)[:2]
        self._image = image

    @cached_property
    def luma(self) -> np.ndarray:
        return luminance(_centre_crop(self._image))

    @cached_property
    def spectral(self) -> float:
        if min(self.shape) < 16:
            return 0.0
        f, p = radial_spectrum(self.luma)
        if len(f) < 6:
            return 0.0
        design = np.stack([np.ones_like(f), -np.log(f), -(f**2)], axis=1)
        c = np.linalg.lstsq(design, np.log(p), rcond=None)[0][2]
        return math.sqrt(max(float(c), 0.0) / (4 * math.pi**2))

    @cached_property
    def edge(self) -> float:
        if min(self.shape) < 16:
            return 0.0
        y, r = self.luma, 3
        taps = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float32) / EDGE_REBLUR) ** 2)
        yb = cv2.sepFilter2D(y, cv2.CV_32F, taps / taps.sum(), taps / taps.sum())
        g = _gradient(y, r + 1).ravel()  # only where the re-blur saw no border
        gb = _gradient(yb, r + 1).ravel()
        edges = _top(g, len(g) - int(len(g) * EDGE_QUANTILE / 100))
        top, low = float(g[edges].sum(dtype=np.float64)), float(gb[edges].sum(dtype=np.float64))
        if top <= 1e-6 * len(edges):
            return 0.0
        ratio = top / max(low, 1e-12)
        return EDGE_REBLUR / math.sqrt(max(ratio * ratio - 1.0, 1e-6))

    @cached_property
    def noise(self) -> float:
        y, b = self.luma, NOISE_BLOCK
        if min(y.shape) < 3 * b:
            return 0.0
        mask = np.array([1, -2, 1], np.float32)
        lap = np.abs(cv2.sepFilter2D(y, cv2.CV_32F, mask, mask)[1:-1, 1:-1])
        nh, nw = lap.shape[0] // b, lap.shape[1] // b
        blocks = cv2.resize(lap[: nh * b, : nw * b], (nw, nh), interpolation=cv2.INTER_AREA)
        # the b×b block of y under each block of lap starts at (1, 1); an erosion (dilation)
        # by a b×b square at b/2 past a block's start is the block's minimum (maximum)
        square = np.ones((b, b), np.uint8)
        at = (slice(1 + b // 2, 1 + b // 2 + nh * b, b), slice(1 + b // 2, 1 + b // 2 + nw * b, b))
        ok = ((cv2.erode(y, square)[at] > 2) & (cv2.dilate(y, square)[at] < 253)).ravel()
        blocks = blocks.ravel().astype(np.float64)
        blocks = blocks[ok] if ok.sum() >= 4 else blocks
        k = max(1, int(len(blocks) * NOISE_FLATTEST))
        flat = np.partition(blocks, k - 1)[:k].mean()
        return float(NOISE_BIAS * math.sqrt(math.pi / 2) / 6 * flat)


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
    return Estimates(image).noise
