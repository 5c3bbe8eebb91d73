"""Tiny images made in memory for the imaging, batch and CLI tests (nothing downloaded)."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms


def gradient(h: int = 24, w: int = 32, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A smooth, asymmetric test pattern ``(h, w, channels)`` (or ``(h, w)`` for 1 channel)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [(x / w + c * 0.3 + y / (3 * h)) % 1.0 for c in range(channels)]
    arr = np.stack(planes, axis=-1) * np.iinfo(dtype).max
    arr = arr.round().astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr


def encoded(im: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def image_file(path: Path, im: Image.Image | None = None, **params: object) -> Path:
    """Write ``im`` (default: a 16×12 gradient) to ``path``, making its folder; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (im or Image.fromarray(gradient(12, 16))).save(path, **params)
    return path


def png16_reference(arr: np.ndarray) -> bytes:
    """A 16-bit PNG written with filter 0 only (an encoder independent of nssr's)."""
    a = arr if arr.ndim == 3 else arr[:, :, None]
    h, w, c = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))
    return _png(struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0), raw)


def png_keyed(samples: np.ndarray, depth: int, key: tuple[int, ...]) -> bytes:
    """A gray ``(H, W)`` or RGB ``(H, W, 3)`` PNG of ``depth`` bits (1, 2, 4, 8 or 16) whose
    tRNS chunk makes the colour ``key`` transparent, as PNG optimisers write binary alpha."""
    a = samples if samples.ndim == 3 else samples[:, :, None]
    h, w, c = a.shape
    if depth < 8:  # pack each row's samples, most significant bits first
        bits = np.unpackbits(a.astype(np.uint8), axis=2)[:, :, -depth:].reshape(h, -1)
        rows = np.packbits(bits, axis=1)
    else:
        rows = a.astype(">u2" if depth == 16 else np.uint8).reshape(h, -1).view(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 2 if c == 3 else 0, 0, 0, 0)
    return _png(ihdr, raw, (b"tRNS", struct.pack(f">{len(key)}H", *key)))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header that claims an enormous image, followed by almost no data."""
    return _png(struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0), b"\0" * 64)


def _png(ihdr: bytes, scanlines: bytes, *extra: tuple[bytes, bytes]) -> bytes:
    """A PNG file of one IHDR, the ``extra`` (type, data) chunks and one IDAT holding
    ``scanlines`` (filtered), deflated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + b"".join(chunk(kind, data) for kind, data in extra)
        + chunk(b"IDAT", zlib.compress(scanlines))
        + chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile, the same bytes on every call (LittleCMS stamps a new profile with
    the time: two made a second apart differ)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def sharpen_kernel(path: Path) -> Path:
    """A small valid convolution kernel file (sums to 1, sharpens)."""
    k = np.full((3, 3), -0.05, np.float32)
    k[1, 1] = 1.4
    np.save(path, k)
    return path
