"""Pictures of a kernel, drawn with Pillow: its taps and its frequency response."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def _diverging(v: np.ndarray) -> np.ndarray:
    """Map values in [−1, 1] to RGB: blue (negative), white (0), red (positive)."""
    v = np.clip(v, -1, 1)[..., None]
    white = np.array([255.0, 255.0, 255.0])
    red, blue = np.array([178.0, 24.0, 43.0]), np.array([33.0, 102.0, 172.0])
    rgb = np.where(v >= 0, white + v * (red - white), white - v * (blue - white))
    return rgb.astype(np.uint8)


def _sequential(v: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to a dark-to-bright ramp."""
    v = np.clip(v, 0, 1)[..., None]
    lo, hi = np.array([20.0, 20.0, 60.0]), np.array([250.0, 230.0, 80.0])
    return (lo + v * (hi - lo)).astype(np.uint8)


def frequency_response(h: np.ndarray, n: int = 128) -> np.ndarray:
    """``|H(f)|`` on an ``n × n`` grid, zero frequency in the centre."""
    return np.abs(np.fft.fftshift(np.fft.fft2(h.astype(np.float64), s=(n, n))))


def kernel_figure(h: np.ndarray, title: str = "") -> Image.Image:
    """Two panels: the taps (diverging colours, 0 = white) and ``|H(f)|`` (log-scaled)."""
    cell = max(8, 330 // h.shape[0])
    scaled = h / (np.abs(h).max() or 1.0)
    taps = _diverging(np.sign(scaled) * np.sqrt(np.abs(scaled)))  # sqrt: small taps stay visible
    left = Image.fromarray(taps).resize((cell * h.shape[1], cell * h.shape[0]), Image.NEAREST)
    mag = frequency_response(h)
    logm = np.log10(np.maximum(mag, 1e-4))
    right = Image.fromarray(_sequential((logm - logm.min()) / (np.ptp(logm) or 1.0)))
    right = right.resize(left.size, Image.BILINEAR)
    pad, top = 16, 40
    fig = Image.new("RGB", (left.width + right.width + 3 * pad, left.height + top + pad), "white")
    fig.paste(left, (pad, top))
    fig.paste(right, (2 * pad + left.width, top))
    d = ImageDraw.Draw(fig)
    d.text((pad, 4), title, fill="black")
    d.text(
        (pad, top - 16),
        f"taps (red +, blue -, sqrt scale), max |h| = {np.abs(h).max():.3f}",
        fill="black",
    )
    d.text(
        (2 * pad + left.width, top - 16),
        f"|H(f)| log scale, {mag.min():.2f} .. {mag.max():.2f}",
        fill="black",
    )
    return fig
