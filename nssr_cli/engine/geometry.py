"""The geometry every upscale path shares: output size, the accepted scales, PyTorch's bicubic
taps (``align_corners=False``, A = −0.75, computed in float32 as PyTorch does) and
half-sample-free reflect indices. NumPy only."""

from __future__ import annotations

import math

import numpy as np

from nssr_cli.errors import UsageError

MAX_SCALE = 16.0
# The largest kernel side the engine accepts. Its plan's memory grows with the kernel, not the
# image: at ×2 a 63×63 kernel peaks ~0.2 GB above an 11×11 one, 101×101 took 1.4 GB, 201×201
# 15 GB. 63 covers a 31-layer 3×3 L-CNN and the largest DIV2KRK blur (×4: 31×31).
MAX_KERNEL_SIDE = 63


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(round(s·H), round(s·W))`` — the size every path produces."""
    return round(scale * height), round(scale * width)


def check_scale(scale: float) -> float:
    """A usable scale factor, or :class:`UsageError`. Accepts 1 < s ≤ 16 (and s = 1)."""
    try:
        if isinstance(scale, bool):  # float(True) is 1.0: a flag passed by mistake
            raise TypeError
        s = float(scale)
    except (TypeError, ValueError):
        raise UsageError(f"scale must be a number, got {scale!r}") from None
    if not math.isfinite(s) or s < 1.0 or s > MAX_SCALE:
        raise UsageError(f"scale must be between 1 and {MAX_SCALE:g}, got {scale}")
    return s


def bicubic_taps(
    n_in: int, n_out: int, dst: np.ndarray, dtype: type[np.floating] = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's bicubic (A = −0.75, ``align_corners=False``) taps for output indices ``dst``:
    ``(len(dst), 4)`` clamped source indices and weights, computed in ``dtype`` as PyTorch does
    for an image of that dtype (float32 for images, float64 for the polyphase weights)."""
    a = dtype(-0.75)
    scale = dtype(n_in / n_out)
    src = scale * (dst.astype(dtype) + dtype(0.5)) - dtype(0.5)
    base = np.floor(src)
    t = (src - base).astype(dtype)

    def near(d: np.ndarray) -> np.ndarray:  # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    w = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return idx, w.astype(dtype)


def reflect_indices(start: int, stop: int, n: int) -> np.ndarray:
    i = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)
