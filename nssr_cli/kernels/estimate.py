"""A fast, image-free estimate of how blurred an input already is (README, "How `auto` chooses").

Natural images have a power spectrum falling off as a power law, ``P(f) ∝ f^−β`` (β ≈ 2, but
photographs vary: 1.5–3). Blur multiplies it by ``|H(f)|²``; for a Gaussian of width σ, ``log|H|² =
−4π²σ²f²``. So fitting ``log P(f) = a − β·log f − c·f²`` over the radial spectrum (0.03–0.42
cycles/pixel, 8-bit rounding noise subtracted) separates the image's own fall-off (β, free) from
blur (``c``), and ``σ̂ = √(c / 4π²)`` is a Gaussian-equivalent width in input pixels. Leaving β
free matters: a first version that assumed β = 2 read smooth photographs as blurred. The estimate
runs on a ≤512×512 centre crop of the luminance, as a Welch average of 64×64 tiles
(:mod:`~nssr_cli.kernels.spectrum`), far cheaper than the upscale itself. All three estimates
(blur: spectral and edge; noise) share that crop, in float32 (:class:`Estimates`).

On small inputs (a ×4 LR is often under 128 px a side: one or a few tiles) the spectral fit is
noisy and content-dependent: smooth photographs read blurred, textured ones sharp. A second,
independent estimate looks only at the strongest edges instead (:func:`edge_sigma`): how much their
gradient drops when the image is re-blurred by a known Gaussian (a step edge of width σ loses a
factor ``√(σ² + σ_r²)/σ``), which does not depend on the spectrum's slope. The two fail on
different images, so the kernel choice (:func:`~nssr_cli.kernels.bank.select_kernel`) weighs
them with per-scale weights.

Both widths read soft content as blurred: a sky, fog or a smooth background has no crisp edge
whether or not it was blurred, and sharpening it costs dB all the same. A third measure asks the
question a kernel choice is about instead: *would sharpening ring?* :func:`ringing` upscales the
crop with a mild bank kernel and reports the fraction of what it changes that overshoots the
range plain bicubic spans nearby. A blurred edge sharpened by about the right amount steepens
within its range; a sharp one rings past it. The clean rules and most JPEG rules score by
it, the widths correcting it where ringing alone misleads (soft sharp content rings little
too).

How the score becomes a bank level is calibrated on synthetic scenes only
(:mod:`nssr_cli.quality.calibrate`; ``python -m nssr_cli.quality.calibrate`` reruns it), never on
photographs: an even mix of sharp inputs (the classic bicubic downscale) and DIV2KRK-recipe blurs
with fresh seeds, every bank kernel applied to each, and per family the rising thresholds on the
score that give the best total utility, a dB lost to bicubic counting as much as four gained
(:data:`~nssr_cli.kernels.bank.LOSS_WEIGHT`). Over-sharpening a sharp image costs 5–12 dB,
under-sharpening a blurred one a fraction of the gain, so the thresholds come out cautious.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Sequence
from functools import cached_property

import cv2
import numpy as np

from nssr_cli.kernels.ringing import RINGING_OUT, overshoot_fraction
from nssr_cli.kernels.sparsity import gradient_sparsity
from nssr_cli.kernels.spectrum import peakiness, rings, welch_power
from nssr_cli.system import usable_cores

CROP = 512
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


def _centre_crop(image: np.ndarray, side: int = CROP) -> np.ndarray:
    h, w = np.shape(image)[:2]
    ch, cw = min(h, side), min(w, side)
    return np.asarray(image)[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]


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


def _gradient_at(y: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The same Sobel magnitude at the pixels ``where`` (flat indices into ``y``, none on the
    border) only."""
    w, flat = y.shape[1], y.ravel()

    def at(dr: int, dc: int) -> np.ndarray:
        return flat.take(where + (dr * w + dc))

    gx = at(-1, 1) + 2 * at(0, 1) + at(1, 1) - at(-1, -1) - 2 * at(0, -1) - at(1, -1)
    gy = at(1, -1) + 2 * at(1, 0) + at(1, 1) - at(-1, -1) - 2 * at(-1, 0) - at(-1, 1)
    return np.sqrt(gx * gx + gy * gy)


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
    if need_edge:
        est.start_spectral()  # meanwhile, the edge one here
        edge = est.edge
        return {"spectral": est.spectral, "edge": edge}
    return {"spectral": est.spectral}


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
    luminance crop (≤ :data:`CROP`² pixels, float32): ``spectral`` (:func:`estimate_sigma`,
    with ``peak``, how periodic the crop is), ``edge`` (:func:`edge_sigma`), ``noise``
    (:func:`noise_sigma`) and ``sparsity``
    (:func:`~nssr_cli.kernels.sparsity.gradient_sparsity`).

    :meth:`start_spectral` begins the costliest, the spectral one, on a second core while the
    caller goes on with the others (OpenCV and NumPy release the GIL)."""

    def __init__(self, image: np.ndarray) -> None:
        self.shape = np.shape(image)[:2]
        self._image = image
        self._worker: threading.Thread | None = None
        self._spectral: float | None = None
        self._peak = 0.0  # set with the spectral estimate
        self._ringing: dict[tuple[bytes, int], float] = {}

    @cached_property
    def luma(self) -> np.ndarray:
        return luminance(_centre_crop(self._image))

    def start_spectral(self) -> None:
        """Compute :attr:`spectral` on another thread from now, if this process may use more
        than one core; reading :attr:`spectral` waits for it."""
        if self._worker is None and self._spectral is None and usable_cores() > 1:
            _ = self.luma  # here, once: the two threads share it
            self._worker = threading.Thread(target=self._spectral_quietly, name="nssr-blur")
            self._worker.start()

    def _spectral_quietly(self) -> None:
        with contextlib.suppress(Exception):  # reading .spectral computes it again and raises
            self._spectral = self._spectral_sigma()

    @property
    def spectral(self) -> float:
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._spectral is None:
            self._spectral = self._spectral_sigma()
        return self._spectral

    @property
    def peak(self) -> float:
        """How periodic the crop is (:func:`~nssr_cli.kernels.spectrum.peakiness`; 0 for
        images under 16 px), from the spectrum the spectral estimate uses."""
        _ = self.spectral
        return self._peak

    def _spectral_sigma(self) -> float:
        if min(self.shape) < 16:
            return 0.0
        power = welch_power(self.luma)
        self._peak = peakiness(power)
        f, p = rings(power)
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
        g = _gradient(y, r + 1)  # only where the re-blur saw no border
        edges = _top(g.ravel(), g.size - int(g.size * EDGE_QUANTILE / 100))
        rows, cols = np.divmod(edges, g.shape[1])
        gb = _gradient_at(yb, (rows + r + 1) * y.shape[1] + cols + r + 1)
        top, low = float(g.ravel()[edges].sum(dtype=np.float64)), float(gb.sum(dtype=np.float64))
        if top <= 1e-6 * len(edges):
            return 0.0
        ratio = top / max(low, 1e-12)
        return EDGE_REBLUR / math.sqrt(max(ratio * ratio - 1.0, 1e-6))

    @cached_property
    def sparsity(self) -> float:
        return gradient_sparsity(self.luma)

    def ringing(self, kernel: np.ndarray, scale: int) -> float:
        """:func:`ringing` of the crop for ``kernel`` at integer ``scale`` (remembered)."""
        key = (np.asarray(kernel, np.float32).tobytes(), int(scale))
        if key not in self._ringing:
            crop = _centre_crop(self.luma, RINGING_OUT // int(scale))
            self._ringing[key] = overshoot_fraction(crop, kernel, int(scale))
        return self._ringing[key]

    @cached_property
    def noise(self) -> float:
        y, b = self.luma, NOISE_BLOCK
        if min(y.shape) < 3 * b:
            return 0.0
        mask = np.array([1, -2, 1], np.float32)
        lap = np.abs(cv2.sepFilter2D(y, cv2.CV_32F, mask, mask)[1:-1, 1:-1])
        nh, nw = lap.shape[0] // b, lap.shape[1] // b
        blocks = cv2.resize(lap[: nh * b, : nw * b], (nw, nh), interpolation=cv2.INTER_AREA)
        # the b×b block of y under each block of lap starts at (1, 1); it is ok if every pixel
        # is in (2, 253): a 0/255 mask whose block mean is 255
        lo, hi = np.nextafter(np.float32([2, 253]), np.float32([3, 252]))
        inside = cv2.inRange(y, float(lo), float(hi))
        inside = inside[1 : 1 + nh * b, 1 : 1 + nw * b]
        ok = (cv2.resize(inside, (nw, nh), interpolation=cv2.INTER_AREA) == 255).ravel()
        blocks = blocks.ravel().astype(np.float64)
        blocks = blocks[ok] if ok.sum() >= 4 else blocks
        k = max(1, int(len(blocks) * NOISE_FLATTEST))
        flat = np.partition(blocks, k - 1)[:k].mean()
        return float(NOISE_BIAS * math.sqrt(math.pi / 2) / 6 * flat)


def ringing(image: np.ndarray, kernel: np.ndarray, scale: int) -> float:
    """How far upscaling ``image`` by ``scale`` with ``kernel`` overshoots: of all that the
    kernel changes against plain bicubic, the fraction that lands outside the range bicubic
    spans within ±(s + 1) output pixels (0: none; 1 for images under 16 px or a kernel that
    changes nothing).

    A blurred edge sharpened by about the right amount steepens within its range; a sharp
    one, or one sharpened too far, rings past it — the halo that costs an over-sharpened image
    its dB. Smooth gradients and flat regions change little and count little, so the measure
    does not depend on how much of the image is sky. Same input types as
    :func:`estimate_sigma`, on a centre crop of at most
    :data:`~nssr_cli.kernels.ringing.RINGING_OUT` output pixels a side."""
    return Estimates(image).ringing(kernel, scale)


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
