"""16-bit colour images, which Pillow opens as 8-bit ``RGB``/``RGBA`` and cannot write.

Reading: Pillow's decoders unfilter and decompress correctly (they know the bytes per pixel);
only the final unpacking keeps the high byte of each sample. Decoding a second time with the
opposite byte order's unpacker yields the low bytes, and the two halves give the exact 16-bit
samples. Writing: a small baseline TIFF encoder for ``uint16`` arrays (PNG:
:mod:`nssr_cli.files.png`).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable

import numpy as np
from PIL import Image

# The unpacker taking each sample's other byte. ";16N" (native order) comes from libtiff.
_SWAP = {";16B": ";16L", ";16L": ";16B", ";16N": ";16B" if sys.byteorder == "little" else ";16L"}


def deep_rawmode(im: Image.Image) -> str | None:
    """The 16-bit multi-band raw mode of a not-yet-loaded image, or ``None`` if it is not one.
    Every tile must have it (an uncompressed TIFF has a tile per strip)."""
    if not im.tile or im.mode not in ("RGB", "RGBA"):
        return None
    modes = {t.args[0] if isinstance(t.args, tuple) else t.args for t in im.tile}
    if len(modes) != 1:
        return None
    raw = modes.pop()
    if not isinstance(raw, str):
        return None
    if raw == "LA;16B" and im.format == "PNG":
        return raw
    if raw.startswith(im.mode + ";16") and raw[-4:] in _SWAP:
        return raw
    return None


def _load_with(im: Image.Image, rawmode: str) -> np.ndarray:
    """Decode ``im`` once, strictly, unpacking with ``rawmode``: every pass must succeed."""
    im.tile = [
        t._replace(args=(rawmode, *t.args[1:]) if isinstance(t.args, tuple) else rawmode)
        for t in im.tile
    ]
    im.load()
    return np.asarray(im, dtype=np.uint16)


def read_deep(opener: Callable[[], Image.Image], rawmode: str) -> tuple[np.ndarray, Image.Image]:
    """Decode a 16-bit image twice (high bytes, low bytes) → ``(H, W, C)`` uint16, and the
    last decoded ``Image`` (to read metadata from once the pixels are known to be good).

    ``opener`` returns a fresh, unloaded ``Image`` of the same file each time it is called.
    """
    if rawmode == "LA;16B":  # gray+alpha: unpack the 4 bytes of each pixel verbatim
        im = opener()
        b = _load_with(im, "RGBA")
        return np.stack([b[..., 0] * 256 + b[..., 1], b[..., 2] * 256 + b[..., 3]], axis=-1), im
    hi = _load_with(opener(), rawmode)  # the stock unpacker keeps each sample's high byte
    im = opener()
    lo = _load_with(im, rawmode[:-4] + _SWAP[rawmode[-4:]])  # the swapped one, the low
    return (hi << 8 | lo).astype(np.uint16), im


def encode_tiff16(arr: np.ndarray, *, icc: bytes | None = None) -> bytes:
    """``(H, W, C)`` uint16 → an uncompressed little-endian baseline TIFF (one strip)."""
    a = arr if arr.ndim == 3 else arr[:, :, None]
    h, w, c = a.shape
    pixels = np.ascontiguousarray(a, dtype="<u2").tobytes()
    tags: list[tuple[int, int, int, bytes]] = []  # (tag, type, count, value bytes)

    def short(tag: int, *vals: int) -> None:
        tags.append((tag, 3, len(vals), struct.pack(f"<{len(vals)}H", *vals)))

    def long(tag: int, val: int) -> None:
        tags.append((tag, 4, 1, struct.pack("<I", val)))

    long(256, w)
    long(257, h)
    short(258, *([16] * c))
    short(259, 1)
    short(262, 2 if c >= 3 else 1)
    long(273, 0)  # strip offset, patched below
    short(277, c)
    long(278, h)
    long(279, len(pixels))
    short(284, 1)
    if c in (2, 4):
        short(338, 2)  # unassociated alpha
    if icc:
        tags.append((34675, 7, len(icc), icc))
    tags.sort()
    ifd_size = 2 + 12 * len(tags) + 4
    extra_at = 8 + ifd_size
    extra = b""
    entries = []
    for tag, typ, count, value in tags:
        if len(value) <= 4:
            entries.append((tag, typ, count, value.ljust(4, b"\0")))
        else:
            entries.append((tag, typ, count, struct.pack("<I", extra_at + len(extra))))
            extra += value + b"\0" * (len(value) % 2)
    pixel_at = extra_at + len(extra)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = struct.pack("<I", pixel_at)
        ifd += struct.pack("<HHI", tag, typ, count) + value
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + extra + pixels
