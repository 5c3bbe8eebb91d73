"""The polyphase fold for integer scales (README, "Speed"), in NumPy: no PyTorch.

Bicubic ×s followed by the convolution kernel ``h`` is one linear shift-variant filter with ``s²``
phases: ``s²`` small kernels on the low-resolution grid, whose outputs interleave into the
high-resolution image — no full-resolution intermediate. With the LR input replicate-padded
(exactly bicubic's clamped taps) the result equals the reference everywhere but a band of
``r + 1`` pixels along the border (the reference's reflect padding), which the executors
recompute: :mod:`nssr_cli.engine.cpu` on the CPU, :mod:`nssr_cli.engine.tiles` with PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from nssr_cli.engine.geometry import bicubic_taps


def polyphase_weights(h: np.ndarray, s: int) -> tuple[np.ndarray, int, int]:
    """Fold bicubic ×s and the convolution kernel ``h`` into ``s²`` kernels on the LR grid.

    The response of the reference path to one LR impulse, in float64: bicubic's taps exactly
    as PyTorch computes them for a float64 image, then ``h``. Returns ``(weight, pad_lo,
    pad_hi)``: ``weight`` is ``(s², 1, T, T)`` float64 for cross-correlation (``conv2d``,
    ``cv2.filter2D``), output channel ``p·s + q`` being HR phase ``(p, q)`` (``pixel_shuffle``
    order); the LR input needs ``pad_lo`` pixels before and ``pad_hi`` after each axis.
    """
    h = np.asarray(h, dtype=np.float64)
    r = h.shape[-1] // 2
    m = math.ceil(r / s) + 4  # LR canvas radius: the response never meets the canvas border
    n = 2 * m + 1
    resp = _impulse_response(n, m, s, h)
    # resp[s·(a+m)+p, s·(b+m)+q] = weight of LR x[I−a, J−b] in HR out[s·I+p, s·J+q]
    k = resp.reshape(n, s, n, s).transpose(1, 3, 0, 2)  # (p, q, a+m, b+m)
    used = np.flatnonzero(np.abs(k).max(axis=(0, 1, 2)) + np.abs(k).max(axis=(0, 1, 3)) > 0)
    lo, hi = (int(used[0]), int(used[-1])) if used.size else (m, m)
    sub = k[:, :, lo : hi + 1, lo : hi + 1][:, :, ::-1, ::-1]  # correlation order
    weight = np.ascontiguousarray(sub.reshape(s * s, 1, hi - lo + 1, hi - lo + 1))
    return weight, hi - m, m - lo  # a_hi = hi − m LR pixels before, −a_lo = m − lo after


def _impulse_response(n: int, m: int, s: int, h: np.ndarray) -> np.ndarray:
    """The reference output ``(n·s, n·s)`` for an ``n × n`` LR image that is 1 at ``(m, m)``
    and 0 elsewhere: bicubic is separable, so its response is an outer product; then the
    convolution with ``h`` (zero padding is exact here: the response stays inside)."""
    idx, w = bicubic_taps(n, n * s, np.arange(n * s), np.float64)
    line = np.where(idx == m, w, 0.0).sum(axis=1)  # weight of LR pixel m in each HR pixel
    up = np.pad(np.outer(line, line), h.shape[0] // 2)
    size, k = n * s, h.shape[0]
    out = np.zeros((size, size))
    for u in range(k):  # true convolution: out[Y, X] = Σ h[u, v] · up[Y − u + r, X − v + r]
        for v in range(k):
            out += h[u, v] * up[k - 1 - u : k - 1 - u + size, k - 1 - v : k - 1 - v + size]
    return out


def stack_rows(weight: np.ndarray, s: int, m: int) -> np.ndarray:
    """``(s², 1, T, T)`` polyphase weights → ``(m·s², 1, T+m−1, T)`` for a vertical stride of
    ``m`` LR rows: output channel ``(e·s + p)·s + q`` is HR phase ``(p, q)`` of LR row
    ``m·i + e``."""
    t = weight.shape[-1]
    out = np.zeros((m, s, s, t + m - 1, t), dtype=weight.dtype)
    for e in range(m):
        out[e, :, :, e : e + t, :] = weight.reshape(s, s, t, t)
    return out.reshape(m * s * s, 1, t + m - 1, t)
