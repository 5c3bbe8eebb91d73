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
import zlib
from collections.abc import Iterator
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo, iTXt

XMP_BYTES = 1 << 20  # larger XMP is dropped (XMP of real photos is a few KiB)
# What one APP1 segment holds: its length field (at most 65535) counts its own 2 bytes and
# the 29-byte namespace before the XMP (Pillow writes up to exactly this).
JPEG_XMP_BYTES = 65535 - 2 - 29
TEXT_BYTES = 1 << 20  # PNG text chunks, keys and values together; later ones are dropped
_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt chunk that holds a PNG's XMP
_PNG_COLOUR = ("gamma", "chromaticity", "srgb")


def carried(im: Image.Image, data: bytes) -> dict[str, Any]:
    """What a decoded image (``data``: its file's bytes) carries besides ICC, EXIF and DPI, as
    ``Picture.info`` keys: ``xmp`` (bytes), a JPEG's ``comment`` (bytes), a PNG's ``gamma``,
    ``chromaticity``, ``srgb`` (as Pillow reads them) and ``text`` (:func:`png_text`)."""
    info = carried_xmp(xmp_of(im))
    comment = im.info.get("comment")
    if im.format in ("JPEG", "MPO") and isinstance(comment, bytes) and comment:
        info["comment"] = comment
    if im.format == "PNG":
        info.update({k: im.info[k] for k in _PNG_COLOUR if k in im.info})
        if text := png_text(data):
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


def png_text(data: bytes) -> list[tuple[str, str]]:
    """A PNG file's text chunks in file order, each one, as ``(keyword, value)``: ``str`` for
    tEXt and zTXt, Pillow's ``iTXt`` (with its language and translated keyword) for iTXt.
    Read from the chunks, not Pillow's ``info``, which keeps one value per keyword (the PNG
    specification allows several chunks to share one) and misses the text after the pixels of
    a 16-bit colour PNG (decoded from a copy: :mod:`nssr_cli.files.deep16`). Left out: the
    XMP (carried as XMP), ImageMagick's ``Raw profile type …`` copies of EXIF, XMP or ICC (stale
    once the pixels are turned and resized), chunks the specification forbids (a keyword not of
    1–79 printable Latin-1 characters, words one space apart), damaged ones, and those past
    :data:`TEXT_BYTES` in all."""
    text: list[tuple[str, str]] = []
    size = 0
    for kind, body in _png_chunks(data, (b"tEXt", b"zTXt", b"iTXt")):
        key, _, rest = body.partition(b"\0")
        keyword = key.decode("latin-1")
        if len(key) > 79 or not _KEYWORD.fullmatch(key) or keyword == _XMP_KEY:
            continue
        if keyword.startswith("Raw profile type ") or (value := _text_value(kind, rest)) is None:
            continue
        size += len(key) + len(value)
        if size > TEXT_BYTES:
            break
        text.append((keyword, value))
    return text


# A PNG keyword's characters: printable Latin-1, single spaces between words.
_KEYWORD = re.compile(rb"[\x21-\x7e\xa1-\xff]+(?: [\x21-\x7e\xa1-\xff]+)*")


def _png_chunks(data: bytes, kinds: tuple[bytes, ...]) -> Iterator[tuple[bytes, bytes]]:
    """``(type, data)`` of each chunk of a PNG file whose type is in ``kinds`` and whose CRC
    holds, in file order, up to IEND or the end of what is there."""
    at = 8  # after the signature
    while at + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        body = data[at + 8 : at + 8 + length]
        if kind == b"IEND" or at + 12 + length > len(data):
            return
        crc = struct.unpack_from(">I", data, at + 8 + length)[0]
        if kind in kinds and zlib.crc32(body, zlib.crc32(kind)) == crc:
            yield kind, body
        at += 12 + length


def _text_value(kind: bytes, rest: bytes) -> str | None:
    """A text chunk's value (``rest``: what follows its keyword's NUL), or None when it does
    not decode (or inflates past :data:`TEXT_BYTES`)."""
    try:
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(rest[1:], rest[:1]).decode("latin-1")
        flag, method, rest = rest[:1], rest[1:2], rest[2:]
        lang, _, rest = rest.partition(b"\0")
        translated, _, raw = rest.partition(b"\0")
        raw = _inflate(raw, method) if flag == b"\1" else raw
        return iTXt(raw.decode(), lang.decode(), translated.decode())
    except (UnicodeDecodeError, zlib.error, ValueError):
        return None


def _inflate(data: bytes, method: bytes) -> bytes:
    """``data`` inflated (compression method 0, zlib); ValueError if it is another method,
    damaged, or longer than :data:`TEXT_BYTES`."""
    stream = zlib.decompressobj()
    out = stream.decompress(data, TEXT_BYTES + 1) if method == b"\0" else b""
    if method != b"\0" or len(out) > TEXT_BYTES or not stream.eof:
        raise ValueError("not inflatable")
    return out


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
    profile (which overrides them, in the PNG specification) and with valid values, text
    (:func:`png_text`), and XMP."""
    png = PngInfo()
    if not icc:
        for kind, data in _colour_chunks(info):
            png.add(kind, data)
    for key, value in info.get("text", ()):
        png.add_text(key, value, zip=len(value) > 1024)
    xmp = output_xmp(info, size)
    with contextlib.suppress(UnicodeDecodeError):  # XMP is UTF-8; anything else is dropped
        if xmp:
            png.add_itxt(_XMP_KEY, xmp.decode("utf-8"))
    return png


def _colour_chunks(info: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """gAMA, cHRM and sRGB for ``info``'s values, each only where the PNG specification allows
    its value (as libpng reads it): a gamma above 0; white and primaries inside the
    chromaticity diagram (x, y ≥ 0, x + y ≤ 1; white's y above 0); a rendering intent 0–3.
    Any other is dropped rather than copied into the output."""
    chunks = []
    with contextlib.suppress(TypeError, ValueError, OverflowError):  # not numbers, NaN, inf
        if 0 < (gamma := round(info.get("gamma", 0) * 100000)) < 2**31:
            chunks.append((b"gAMA", struct.pack(">I", gamma)))
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        xy = [round(v * 100000) for v in info.get("chromaticity") or ()]
        pairs = list(zip(xy[::2], xy[1::2], strict=True))
        if len(pairs) == 4 and all(min(p) >= 0 and sum(p) <= 100000 for p in pairs) and xy[1]:
            chunks.append((b"cHRM", struct.pack(">8I", *xy)))
    if info.get("srgb") in (0, 1, 2, 3):
        chunks.append((b"sRGB", bytes([info["srgb"]])))
    return chunks


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
