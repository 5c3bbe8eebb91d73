"""The reference upscale (:mod:`~nssr_cli.engine.reference`) on a band of output rows, in NumPy
and OpenCV: no PyTorch.

Serves the CPU engine's fractional scales and the border band of its polyphase path. A separable
bicubic of just the low-resolution rows the band needs (taps as PyTorch computes them), the rows
and columns reflect-padded by the kernel's radius, then the convolution (``cv2.filter2D``).
Images are ``(H, W, C)`` in their own units; results are float32, unclamped.
"""

from __future__ import annotations

import cv2
import numpy as np

from nssr_cli.engine.geometry import bicubic_taps, output_size, reflect_indices


def correlate(
    src: np.ndarray, kernel: np.ndarray, anchor: int, border: int, delta: float = 0.0
) -> np.ndarray:
    """Cross-correlation of ``src`` ``(H, W, C)`` float32 with ``kernel`` ``(T, T)`` float32:
    ``out[i, j] = Σ kernel[a, b] · src[i + a − anchor, j + b − anchor] + delta``, ``src``
    extended past its edges by ``border`` (a ``cv2.BORDER_*``). Same shape as ``src``.

    OpenCV's direct filter, SIMD, one core; every output row is the same arithmetic on the same
    input rows wherever the call's rows begin, so bands of rows agree exactly with one call.
    """
    out = cv2.filter2D(
        src, cv2.CV_32F, kernel, anchor=(anchor, anchor), delta=delta, borderType=border
    )
    return out.reshape(src.shape)  # OpenCV drops a last axis of length 1


def reference_rows(x: np.ndarray, h: np.ndarray, scale: float, y0: int, y1: int) -> np.ndarray:
    """Output rows ``[y0, y1)`` at full width of the reference upscale of ``x`` ``(H, W, C)``
    (any dtype) by ``scale`` with the convolution kernel ``h`` ``(k, k)`` float32:
    ``(y1 − y0, round(s·W), C)`` float32, unclamped."""
    height, width, c = x.shape
    out_h, out_w = output_size(height, width, scale)
    r = h.shape[-1] // 2
    rows = reflect_indices(y0 - r, y1 + r, out_h)
    row_idx, row_w = bicubic_taps(height, out_h, rows)
    la, lb = int(row_idx.min()), int(row_idx.max()) + 1
    # Columns first, on the few LR rows needed, gathering whole rows of the transposed band
    # (contiguous copies); then the rows. Both passes produce the reflect padding directly.
    xt = np.ascontiguousarray(x[la:lb].transpose(1, 0, 2), dtype=np.float32)  # (W, rows, C)
    col_idx, col_w = bicubic_taps(width, out_w, reflect_indices(-r, out_w + r, out_w))
    up = _resample(xt, col_idx, col_w)  # (W' + 2r, rows, C)
    up = _resample(np.ascontiguousarray(up.transpose(1, 0, 2)), row_idx - la, row_w)
    if r == 0:
        return up * h.reshape(())
    flipped = np.ascontiguousarray(h[::-1, ::-1], dtype=np.float32)  # convolution → correlation
    return correlate(up, flipped, r, cv2.BORDER_CONSTANT)[r:-r, r:-r]


def _resample(x: np.ndarray, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One bicubic pass along axis 0: ``out[i] = Σ_k w[i, k] · x[idx[i, k]]``."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    out = np.take(x, idx[:, 0], axis=0)
    out *= w[:, 0].reshape(shape)
    tap = np.empty_like(out)
    for k in range(1, 4):
        np.take(x, idx[:, k], axis=0, out=tap)
        tap *= w[:, k].reshape(shape)
        out += tap
    return out
