"""The radial power spectrum the blur estimate fits (:mod:`nssr_cli.kernels.estimate`): a Welch
average of Hann-windowed tiles at half overlap, in rings of spatial frequency, computed with
OpenCV's real row transforms and shared work between tiles (a few milliseconds on a 512² crop).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

BAND = (0.03, 0.42)  # cycles per pixel
BINS = 16
TILE = 64


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
    """Welch estimate of the power of ``y`` ``(H, W)`` float32 (:func:`welch_power`) in
    :data:`BINS` rings across :data:`BAND`, rounding noise (variance 1/12) subtracted. Returns
    ``(rms f, power)`` per non-empty ring."""
    return rings(welch_power(y))


def rings(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`radial_spectrum` of a :func:`welch_power` result."""
    plan = _plan(p.shape[0])
    ring, count = plan["ring"], plan["count"]
    ok = ring >= 0
    power = np.bincount(ring[ok], p[ok], minlength=BINS) / np.maximum(count, 1) - 1.0 / 12.0
    keep = (count > 0) & (power > 1e-3)
    return plan["freq"][keep], power[keep]


PEAK_BAND = (0.06, 0.46)  # cycles per pixel: above the tile's lowest frequencies
PEAK_RING = 0.04  # width of the rings peakiness compares within


@lru_cache(maxsize=16)
def _peak_rings(t: int) -> tuple[np.ndarray, ...]:
    """The flat indices into a ``(t, t // 2 + 1)`` :func:`welch_power` result of each ring
    :func:`peakiness` compares within (those of at least 8 frequencies)."""
    f = np.sqrt(np.fft.fftfreq(t)[:, None] ** 2 + np.fft.rfftfreq(t)[None, :] ** 2).ravel()
    rings = (
        np.flatnonzero((f >= lo) & (f < lo + PEAK_RING)) for lo in np.arange(*PEAK_BAND, PEAK_RING)
    )
    return tuple(r for r in rings if r.size >= 8)


def peakiness(p: np.ndarray) -> float:
    """How periodic a :func:`welch_power` spectrum is: the largest ``log10(max / median)`` of
    the power within a ring :data:`PEAK_RING` wide across :data:`PEAK_BAND`. A grating, bricks
    or tiles concentrate their power in a few frequencies (gratings 3–7, bricks 1.2–3.5);
    photographs and random textures spread it over each ring (mostly 0.3–2)."""
    best = 0.0
    for where in _peak_rings(p.shape[0]):
        ring = p.ravel()[where]
        top, median = max(float(ring.max()), 1e-9), max(float(np.median(ring)), 1e-9)
        best = max(best, math.log10(top / median))
    return best


def welch_power(y: np.ndarray) -> np.ndarray:
    """Welch estimate of the power of ``y`` ``(H, W)`` float32: Hann-windowed :data:`TILE`²
    tiles at half overlap (smaller if ``y`` is), mean removed, averaged; ``(t, t // 2 + 1)``,
    row ``v``, column ``u`` (the half plane of a real transform, ``(v, u)`` and ``(t − v, u)``
    given their mean).

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
    return half[:, plan["fold"]].T / (ni * nj * float((hann.astype(np.float64) ** 2).sum() ** 2))
