"""What an output carries from its input besides pixels, ICC, EXIF and DPI: XMP, a PNG's colour
chunks (gAMA, cHRM, sRGB) and text chunks, a JPEG's comment, and how a WebP was compressed
(a lossless WebP stays lossless).

Read at decode time into :attr:`~nssr_cli.files.picture.Picture.info` (:func:`carried`,
:func:`webp_lossless`), written at encode time (:func:`png_chunks`, :func:`output_xmp`). Sizes
are bounded: XMP above :data:`XMP_BYTES`, and PNG text beyond :data:`TEXT_BYTES` in all, are
dropped rather than copied into every output (Pillow itself reads at most 64 MB of PNG text).
"""

from __future__ import annotations

import contextlib
import re
import struct
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

XMP_BYTES = 1 << 20  # larger XMP is dropped (XMP of real photos is a few KiB)
# What one APP1 segment holds: its length field (at most 65535) counts its own 2 bytes and
# the 29-byte namespace before the XMP (Pillow writes up to exactly this).
JPEG_XMP_BYTES = 65535 - 2 - 29
TEXT_BYTES = 1 << 20  # PNG text chunks, keys and values together; later ones are dropped
_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt chunk that holds a PNG's XMP
_PNG_COLOUR = ("gamma", "chromaticity", "srgb")


def carried(im: Image.Image) -> dict[str, Any]:
    """What a decoded image carries besides ICC, EXIF and DPI, as ``Picture.info`` keys:
    ``xmp`` (bytes), a JPEG's ``comment`` (bytes), a PNG's ``gamma``, ``chromaticity``,
    ``srgb`` (as Pillow reads them) and ``text`` (``[(key, value)]``, Pillow's ``str`` or
    ``iTXt`` values)."""
    info = carried_xmp(xmp_of(im))
    comment = im.info.get("comment")
    if im.format in ("JPEG", "MPO") and isinstance(comment, bytes) and comment:
        info["comment"] = comment
    if im.format == "PNG":
        info.update({k: im.info[k] for k in _PNG_COLOUR if k in im.info})
        if text := _png_text(im):
            info["text"] = text
    return info


def xmp_of(im: Image.Image) -> bytes | None:
    """An opened image's XMP as bytes (a PNG's iTXt, a JPEG's APP1, a TIFF's tag 700…)."""
    return xmp_bytes(im.info.get("xmp") or im.info.get(_XMP_KEY))


def xmp_bytes(value: object) -> bytes | None:
    """XMP as Pillow gives it (``bytes``, or ``str`` from a PNG or an ASCII TIFF tag) → bytes."""
    value = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return value if isinstance(value, bytes) else None


def carried_xmp(xmp: bytes | None) -> dict[str, Any]:
    """``{"xmp": xmp}`` for ``Picture.info``, or ``{}`` when there is none or it is above
    :data:`XMP_BYTES`."""
    return {"xmp": xmp} if xmp and len(xmp) <= XMP_BYTES else {}


# XMP that describes a JPEG's further images (an Ultra HDR or Apple gain map, a container
# directory of the MPF images): wrong in an output, which holds one image.
_FURTHER_IMAGES = re.compile(rb"hdrgm:|Container:Directory|GContainer|HDRGainMap", re.IGNORECASE)


def without_further_images(info: dict[str, Any]) -> None:
    """Drop from ``info`` an XMP that describes further images in the file (a phone photo's
    gain map: Pillow opens an Ultra HDR JPEG as its first image alone, other multi-picture
    JPEGs nssr does): the output holds the first image alone, and a viewer would look for the
    rest."""
    if _FURTHER_IMAGES.search(info.get("xmp") or b""):
        del info["xmp"]


def _png_text(im: Image.Image) -> list[tuple[str, str]]:
    """A PNG's text chunks: Pillow's text values are its only ``str`` ones besides XMP. Those
    after the pixels are there once ``im`` is loaded (a 16-bit colour PNG's ``im`` is not:
    :mod:`nssr_cli.files.deep16` decodes a copy, so only its text before the pixels is seen)."""
    text, size = [], 0
    for key, value in im.info.items():
        if not isinstance(value, str) or key in ("xmp", _XMP_KEY):  # XMP is carried as XMP
            continue
        if key.startswith("Raw profile type "):  # ImageMagick's hex EXIF, XMP…: stale once
            continue  # the pixels are rotated and resized, and carried as themselves
        size += len(key) + len(value)
        if size > TEXT_BYTES:
            break
        text.append((key, value))
    return text


# Only the spellings Pillow itself reads (and scrubs once it has turned a TIFF as it loads): a
# wider pattern would find an orientation Pillow already applied and turn the pixels twice.
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])\b')


def xmp_orientation(xmp: bytes | None) -> int | None:
    """The EXIF orientation (1–8) an XMP states (``tiff:Orientation``), or None. Pillow reads
    it into ``getexif()`` itself only from 11.1 on, and only where EXIF has none."""
    match = _XMP_ORIENTATION.search(xmp) if xmp else None
    return int(match[1]) if match else None


def output_xmp(info: dict[str, Any], size: tuple[int, int], limit: int = XMP_BYTES) -> bytes | None:
    """The input's XMP for an upright, upscaled output of ``size`` (width, height): orientation
    1, and the pixel dimensions the output's; ``None`` if there is none or it is above
    ``limit`` bytes."""
    xmp = info.get("xmp")
    if not xmp:
        return None
    values = {b"Orientation": b"1", b"PixelXDimension": b"%d" % size[0],
              b"ImageWidth": b"%d" % size[0], b"PixelYDimension": b"%d" % size[1],
              b"ImageLength": b"%d" % size[1]}  # fmt: skip
    xmp = _XMP_ATTRIBUTE.sub(lambda m: m[1] + m[3] + values[m[2]] + m[3], xmp)
    xmp = _XMP_ELEMENT.sub(lambda m: m[1] + values[m[3]] + m[4], xmp)
    return xmp if len(xmp) <= limit else None


_NAMES = rb"(Orientation|PixelXDimension|PixelYDimension|ImageWidth|ImageLength)"
# tiff:Orientation="6" (an attribute), or <tiff:Orientation>6</tiff:Orientation> (an element)
# Prefixes of at most 64 characters: an unbounded one backtracks through every long run of
# name characters, which took minutes on a hostile megabyte of XMP.
_XMP_ATTRIBUTE = re.compile(rb"(\b[\w.-]{1,64}:" + _NAMES + rb"""\s*=\s*)(["'])[^"'<>]*\3""")
_XMP_ELEMENT = re.compile(rb"(<([\w.-]{1,64}:)" + _NAMES + rb"(?:\s[^<>]*)?>)[^<>]*(</\2\3\s*>)")


def png_chunks(info: dict[str, Any], icc: bytes | None, size: tuple[int, int]) -> PngInfo:
    """The chunks a PNG output carries besides iCCP, pHYs and eXIf, in a :class:`PngInfo`
    (``.chunks``: ``(type, data, after_idat)``): gAMA, cHRM and sRGB only without an ICC
    profile (which overrides them, in the PNG specification), text, and XMP."""
    png = PngInfo()
    if not icc:
        try:
            if (gamma := info.get("gamma")) is not None:
                png.add(b"gAMA", struct.pack(">I", round(gamma * 100000)))
            if (white_and_primaries := info.get("chromaticity")) is not None:
                data = struct.pack(">8I", *(round(v * 100000) for v in white_and_primaries))
                png.add(b"cHRM", data)
            if info.get("srgb") in (0, 1, 2, 3):
                png.add(b"sRGB", bytes([info["srgb"]]))
        except (struct.error, TypeError, ValueError, OverflowError):
            pass  # values no PNG chunk can hold: dropped
    for key, value in info.get("text", ()):
        png.add_text(key, value, zip=len(value) > 1024)
    xmp = output_xmp(info, size)
    with contextlib.suppress(UnicodeDecodeError):  # XMP is UTF-8; anything else is dropped
        if xmp:
            png.add_itxt(_XMP_KEY, xmp.decode("utf-8"))
    return png


def webp_lossless(im: Image.Image) -> dict[str, Any]:
    """``{"webp_lossless": True}`` for an opened, not yet decoded WebP whose every image is
    lossless (VP8L), else ``{}``. Reads the file's chunk headers only, and must run before
    decoding: Pillow's WebP ``load()`` replaces the stream with the decoded pixels."""
    fp = getattr(im, "fp", None)
    if im.format != "WEBP" or fp is None:
        return {}
    where = fp.tell()
    try:
        fp.seek(12)  # after "RIFF", the size and "WEBP"
        kinds = set()
        while len(head := fp.read(8)) == 8:
            kind, size = head[:4], int.from_bytes(head[4:], "little")
            if kind == b"ANMF":  # an animation frame: 16 bytes of placement, then its chunks
                fp.seek(16, 1)
                continue
            kinds.add(kind)
            fp.seek(size + (size & 1), 1)
    except (OSError, ValueError):
        return {}
    finally:
        fp.seek(where)
    return {"webp_lossless": True} if b"VP8L" in kinds and b"VP8 " not in kinds else {}
