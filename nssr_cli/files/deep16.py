"""16-bit colour images, which Pillow opens as 8-bit ``RGB``/``RGBA`` and cannot write, and
16-bit gray+alpha TIFFs, which it cannot open at all.

Reading: Pillow's decoders unfilter and decompress correctly (they know the bytes per pixel);
only the final unpacking keeps the high byte of each sample. Decoding a second time with the
opposite byte order's unpacker yields the low bytes, and the two halves give the exact 16-bit
samples. A 16-bit gray+alpha TIFF's strips are read here (uncompressed or Deflate, with or
without the horizontal predictor), from the tags Pillow's own TIFF directory parser reads.
Writing: an uncompressed baseline TIFF of ``uint16`` arrays with the metadata an 8-bit TIFF
output gets, its directory laid out by Pillow's TIFF tag writer (PNG: :mod:`nssr_cli.files.png`).
"""

from __future__ import annotations

import io
import math
import struct
import sys
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, TiffImagePlugin

from nssr_cli.errors import InputError

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


def encode_tiff16(
    arr: np.ndarray,
    *,
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    tags: bytes | None = None,
) -> bytes:
    """``(H, W, C)`` uint16 → an uncompressed little-endian baseline TIFF (one strip), with an
    ICC profile, a resolution (``dpi``, dots per inch) and ``tags``: more first-directory tags
    as an EXIF block (the descriptive EXIF and XMP an 8-bit TIFF output gets), which never
    override the layout tags. Pillow's TIFF directory writer lays the file out."""
    a = arr if arr.ndim == 3 else arr[:, :, None]
    h, w, c = a.shape
    pixels = np.ascontiguousarray(a, dtype="<u2").tobytes()
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if tags:
        exif = Image.Exif()
        exif.load(tags)
        for tag, value in exif.items():
            ifd[tag] = value
    if dpi and all(math.isfinite(d) and d > 0 for d in dpi):
        ifd[296], ifd[282], ifd[283] = 2, float(dpi[0]), float(dpi[1])  # inch, x, y
    if icc:
        ifd[34675] = icc
    layout = {256: (w,), 257: (h,), 258: (16,) * c, 259: (1,), 262: (2 if c >= 3 else 1,),
              273: (0,), 277: (c,), 278: (h,), 279: (len(pixels),), 284: (1,)}  # fmt: skip
    if c in (2, 4):
        layout[338] = (2,)  # unassociated alpha
    for tag, values in layout.items():
        ifd.tagtype[tag] = 4 if tag in (256, 257, 273, 278, 279) else 3  # LONG, SHORT
        ifd[tag] = values if len(values) > 1 else values[0]
    # tobytes() places the strip (offset 0 above) after the directory and its data
    return b"II*\0" + struct.pack("<I", 8) + ifd.tobytes(8) + pixels


_COMPRESSION = {5: "LZW", 7: "JPEG", 32773: "PackBits", 34925: "LZMA", 50000: "Zstd"}
# (photometric, samples per pixel) → words; photometric 0 (MinIsWhite) counts as 1 (MinIsBlack)
_KINDS = {(1, 1): "gray", (1, 2): "gray+alpha", (2, 3): "RGB", (2, 4): "RGBA", (5, 4): "CMYK"}


def tiff_tags(data: bytes) -> TiffImagePlugin.ImageFileDirectory_v2 | None:
    """The first directory (IFD) of TIFF bytes as Pillow parses it, or ``None`` when the bytes
    are not a TIFF or its header and directory cannot be read (a damaged file)."""
    if not data.startswith((b"II*\0", b"MM\0*")):
        return None
    try:
        fp = io.BytesIO(data)
        tags = TiffImagePlugin.ImageFileDirectory_v2(fp.read(8))
        (entries,) = struct.unpack_from("<H" if data[:2] == b"II" else ">H", data, tags.next)
        if len(data) < tags.next + 2 + 12 * entries + 4:  # Pillow reads what there is, warns
            return None
        fp.seek(tags.next)
        tags.load(fp)
        if not (tags.get(256) and tags.get(257) and tags.get(277) and tags.get(258)):
            return None
    except Exception:  # Pillow's parser raises many types for damaged data
        return None
    return tags


def tiff_layout(tags: TiffImagePlugin.ImageFileDirectory_v2) -> str:
    """A TIFF's sample layout in words: ``16-bit gray+alpha``, ``32-bit floating-point RGB``."""
    spp, bits, photometric = tags[277], set(_seq(tags[258])), tags.get(262)
    kind = _KINDS.get((1 if photometric in (0, 1) else photometric, spp))
    depth = f"{bits.pop()}-bit" if len(bits) == 1 else "mixed-depth"
    floating = " floating-point" if 3 in _seq(tags.get(339, ())) else ""
    return f"{depth}{floating} {kind or f'{spp}-sample'}"


def _seq(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def unsupported_tiff(data: bytes) -> str | None:
    """The layout in words (``32-bit floating-point RGB``) of a TIFF whose directory reads
    well but whose samples Pillow has no mode for, or ``None`` for any other bytes."""
    tags = tiff_tags(data)
    if tags is None:
        return None
    try:
        TiffImagePlugin.TiffImageFile(io.BytesIO(data))
    except SyntaxError as exc:  # Pillow's words for a layout it does not know
        return tiff_layout(tags) if "unknown pixel mode" in str(exc) else None
    except Exception:  # damaged
        return None
    return None


def is_gray_alpha16(tags: TiffImagePlugin.ImageFileDirectory_v2) -> bool:
    """Whether a TIFF's first page is 16-bit gray+alpha (read by :func:`read_gray_alpha16`)."""
    return tiff_layout(tags) == "16-bit gray+alpha"


def read_gray_alpha16(data: bytes, tags: TiffImagePlugin.ImageFileDirectory_v2) -> np.ndarray:
    """A 16-bit gray+alpha TIFF's pixels → ``(H, W, 2)`` uint16: one page of strips, chunky,
    uncompressed or Deflate, predictor none or horizontal, alpha unassociated (nssr's own
    output, and what most programs write; ``tags`` from :func:`tiff_tags`). Other layouts
    raise :class:`InputError` naming what is not supported."""
    w, h = tags[256], tags[257]
    compression, predictor = tags.get(259, 1), tags.get(317, 1)
    unsupported = [
        (tags.next != 0, "with several pages"),
        (322 in tags, "in tiles"),
        (tags.get(284, 1) != 1, "in separate planes"),
        (_seq(tags.get(338, ())) != (2,), "with premultiplied or unspecified alpha"),
        (
            compression not in (1, 8, 32946),
            f"with {_COMPRESSION.get(compression, 'another')} compression",
        ),
        (predictor not in (1, 2), "with a floating-point predictor"),
    ]
    for bad, what in unsupported:
        if bad:
            raise InputError(f"16-bit gray+alpha TIFF {what} is not supported; convert it to PNG")
    rows = tags.get(278, h)
    offsets, counts = _seq(tags.get(273, ())), _seq(tags.get(279, ()))
    strips = -(-h // max(1, min(rows, h)))
    if len(offsets) != strips or len(counts) != strips:
        raise InputError("the file is truncated or damaged (its strips do not cover the image)")
    raw = bytearray()
    for i, (at, n) in enumerate(zip(offsets, counts, strict=True)):
        want = min(rows, h - i * rows) * w * 4
        strip = data[at : at + n]
        if compression != 1:
            strip = zlib.decompressobj().decompress(strip, want)
        if len(strip) < want or at + n > len(data):
            raise InputError("the file is truncated or damaged")
        raw += strip[:want]
    order = "<u2" if data.startswith(b"II") else ">u2"
    arr = np.frombuffer(bytes(raw), order).reshape(h, w, 2)
    if predictor == 2:  # each sample stored as the difference from its left neighbour
        arr = np.cumsum(arr, axis=1, dtype=np.uint16)
    arr = arr.astype(np.uint16)
    if tags.get(262) == 0:  # MinIsWhite: 0 is white
        arr[..., 0] = 65535 - arr[..., 0]
    return arr
