"""The reference upscale (:mod:`~nssr_cli.engine.reference`) on a band of output rows, in NumPy
and OpenCV: no PyTorch.

Serves the CPU engine's fractional scales and the border band of its polyphase path. A separable
bicubic of just the low-resolution rows the band needs (PyTorch's taps down the low-resolution
columns, then OpenCV's resize across), the rows and columns reflect-padded by the kernel's
radius, then the convolution (``cv2.filter2D``).
Images are ``(H, W, C)`` in their own units; results are float32, unclamped.
"""

from __future__ import annotations

import cv2
import numpy as np

from nssr_cli.engine.geometry import bicubic_taps, output_size, reflect_indices

# OpenCV's filter2D switches from its direct filter to a DFT once a kernel has this many taps:
# 130 where the CPU has SSE3 (x86-64), 50 elsewhere (ARM), for float32 in and out as here (9 is
# CV_CPU_SSE3). The shipped kernels' phases (49–81 taps) and the 11×11 convolution (121) lie in
# between: correlate() applies them directly everywhere, so ARM rounds as x86 does and every
# output row stays the same arithmetic wherever a band of rows begins.
DFT_TAPS = 130 if cv2.checkHardwareSupport(9) else 50
DIRECT_TAPS = 130  # below this, always the direct filter (x86's own switch)


def correlate(
    src: np.ndarray, kernel: np.ndarray, anchor: int, border: int, delta: float = 0.0
) -> np.ndarray:
    """Cross-correlation of ``src`` ``(H, W, C)`` float32 with ``kernel`` ``(T, T)`` float32:
    ``out[i, j] = Σ kernel[a, b] · src[i + a − anchor, j + b − anchor] + delta``, ``src``
    extended past its edges by ``border`` (a ``cv2.BORDER_*``). Same shape as ``src``.

    OpenCV's direct filter, SIMD, one core: every output row is the same arithmetic on the same
    input rows wherever the call's rows begin, so bands of rows agree exactly with one call.
    Where OpenCV would take a DFT for a kernel below :data:`DIRECT_TAPS` (:data:`DFT_TAPS`), the
    kernel is applied as blocks of taps that each stay below that switch, summed.
    """
    t = kernel.shape[0]
    if not DFT_TAPS <= t * t < DIRECT_TAPS:
        out = cv2.filter2D(
            src, cv2.CV_32F, kernel, anchor=(anchor, anchor), delta=delta, borderType=border
        )
        return out.reshape(src.shape)  # OpenCV drops a last axis of length 1
    h, w = src.shape[:2]
    padded = cv2.copyMakeBorder(src, t, t, t, t, border).reshape(h + 2 * t, w + 2 * t, -1)
    cols = max(1, min(t, DFT_TAPS - 1))
    rows = max(1, (DFT_TAPS - 1) // cols)
    out = np.full(src.shape, delta, np.float32)
    for r0 in range(0, t, rows):
        for c0 in range(0, t, cols):
            block = kernel[r0 : r0 + rows, c0 : c0 + cols]
            part = cv2.filter2D(padded, cv2.CV_32F, block, anchor=(0, 0)).reshape(padded.shape)
            y0, x0 = t + r0 - anchor, t + c0 - anchor  # where output pixel (0, 0) reads from
            out += part[y0 : y0 + h, x0 : x0 + w]
    return out


# Rows computed and dropped at each end of a resize call. With Intel IPP (x86 wheels) OpenCV's
# bicubic resize computes a call's first and last rows, and whole calls of a few rows, slightly
# differently from the others (by up to 6e-5). With two rows of margin every kept row already
# equalled a whole-image call in the tests (bands of 1 row up to the whole image, the same
# bytes); four leave room. Without the margin, 21 of those tests fail.
RESIZE_MARGIN = 4


def reference_rows(x: np.ndarray, h: np.ndarray, scale: float, y0: int, y1: int) -> np.ndarray:
    """Output rows ``[y0, y1)`` at full width of the reference upscale of ``x`` ``(H, W, C)``
    (any dtype) by ``scale`` with the convolution kernel ``h`` ``(k, k)`` float32:
    ``(y1 − y0, round(s·W), C)`` float32, unclamped."""
    height, width, c = x.shape
    out_h, out_w = output_size(height, width, scale)
    r = h.shape[-1] // 2
    # The rows the convolution needs, and RESIZE_MARGIN more on each side for the resize below.
    rows = reflect_indices(y0 - r - RESIZE_MARGIN, y1 + r + RESIZE_MARGIN, out_h)
    row_idx, row_w = bicubic_taps(height, out_h, rows)
    la, lb = int(row_idx.min()), int(row_idx.max()) + 1
    # Rows first, on the low-resolution width: PyTorch's taps, four whole-row gathers. Then
    # across: OpenCV's bicubic resize to the output width, height unchanged (PyTorch's kernel,
    # A = −0.75, and its clamping at the edges; the source coordinates in double where PyTorch
    # rounds them to float32: a difference within ~2e-4 of the range), reflect-padded by the
    # kernel's radius.
    band = np.ascontiguousarray(x[la:lb], dtype=np.float32)
    rows_up = _resample(band, row_idx - la, row_w)  # (rows + 2r + 2·margin, W, C)
    up = _across(rows_up, out_w)[RESIZE_MARGIN : len(rows) - RESIZE_MARGIN]
    if r:
        up = cv2.copyMakeBorder(up, 0, 0, r, r, cv2.BORDER_REFLECT_101)
    up = up.reshape(len(rows) - 2 * RESIZE_MARGIN, out_w + 2 * r, c)
    if r == 0:
        return up * h.reshape(())
    flipped = np.ascontiguousarray(h[::-1, ::-1], dtype=np.float32)  # convolution → correlation
    return correlate(up, flipped, r, cv2.BORDER_CONSTANT)[r:-r, r:-r]


def _across(x: np.ndarray, width: int) -> np.ndarray:
    """OpenCV's bicubic resize of ``x`` ``(rows, W, C)`` float32 to ``width``, height unchanged,
    one channel at a time (IPP's arithmetic differs between channel counts): ``(rows, width,
    C)``, or ``(rows, width)`` for one channel."""
    size = (width, x.shape[0])
    planes = [
        cv2.resize(np.ascontiguousarray(x[:, :, k]), size, interpolation=cv2.INTER_CUBIC)
        for k in range(x.shape[2])
    ]
    return cv2.merge(planes) if len(planes) > 1 else planes[0]


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
