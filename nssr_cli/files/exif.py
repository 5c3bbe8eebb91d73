"""EXIF: the tags an output carries, and the orientation — which one to apply (EXIF's, else the
XMP's), the one Pillow's TIFF reader applies itself as a TIFF loads, turning a frame upright,
and what a quarter turn changes besides the pixels (the DPI, a JPEG's chroma subsampling).

Pillow turns a TIFF by its orientation inside ``load()`` and then deletes the tag (and scrubs
the XMP spellings it knows), so after decoding nothing says the picture was turned:
:func:`pillow_orientation` reads it before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from nssr_cli.files.metadata import xmp_of, xmp_orientation
from nssr_cli.files.picture import Frame

ORIENTATION = 0x0112

# IFD0 tags that describe the picture rather than how a file stores it: the only ones carried.
# A TIFF's getexif() is its own IFD0 (ImageWidth, StripOffsets, Compression…): carried into a
# TIFF output those would override the output's own tags. Resolution travels as ``dpi``.
_DESCRIPTIVE = {
    0x010E,  # ImageDescription
    0x010F,  # Make
    0x0110,  # Model
    0x0112,  # Orientation
    0x0131,  # Software
    0x0132,  # DateTime
    0x013B,  # Artist
    0x013E,  # WhitePoint
    0x013F,  # PrimaryChromaticities
    0x4746,  # Rating
    0x4749,  # RatingPercent
    0x8298,  # Copyright
    0x8769,  # the EXIF sub-IFD (camera settings, dates)
    0x8825,  # the GPS sub-IFD
    *range(0x9C9B, 0x9CA0),  # Windows XPTitle, XPComment, XPAuthor, XPKeywords, XPSubject
}
_EXIF_IFD = 0x8769
_PIXEL_DIMENSIONS = (0xA002, 0xA003)  # the source's size: wrong after upscaling


def carried_exif(im: Image.Image | bytes, xmp: bytes | None = None) -> tuple[bytes | None, int]:
    """The EXIF block to carry (descriptive tags only, orientation reset to 1) and the
    orientation to apply (EXIF's, else the XMP's). ``im`` is already loaded, or the bytes of a
    TIFF (its first IFD) and ``xmp`` its XMP."""
    try:
        exif = im.getexif() if isinstance(im, Image.Image) else Image.Exif()
        if isinstance(im, bytes):
            exif.load(im)
        xmp = xmp_of(im) if isinstance(im, Image.Image) else xmp
        orientation = exif.get(ORIENTATION) or xmp_orientation(xmp)
        orientation = orientation if orientation in range(1, 9) else 1  # None too
        for tag in [t for t in exif if t not in _DESCRIPTIVE]:
            del exif[tag]
        if _EXIF_IFD in exif:
            sub = exif.get_ifd(_EXIF_IFD)  # cached: tobytes() writes this dict
            for tag in _PIXEL_DIMENSIONS:
                sub.pop(tag, None)
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        return (exif.tobytes() if len(exif) else None), orientation
    except Exception:  # unreadable EXIF is dropped, not fatal (the pixels are already decoded)
        return None, 1


def pillow_orientation(im: Image.Image) -> int:
    """The orientation (1–8) Pillow applies itself as it loads ``im``, an opened, not yet
    loaded image: a TIFF's (its EXIF's, or from Pillow 11.1 on its XMP's), which Pillow then
    deletes; 1 for other formats, which nssr turns itself (:func:`carried_exif`)."""
    if im.format != "TIFF":
        return 1
    try:  # the same cached getexif() that Pillow's loader reads the orientation from
        orientation = im.getexif().get(ORIENTATION)
    except Exception:  # damaged: Pillow's loader fails on it too, and says so
        return 1
    return orientation if orientation in range(1, 9) else 1


def orient(frame: Frame, orientation: int) -> Frame:
    """Apply EXIF orientation 1–8 to the pixels (as Pillow's ``ImageOps.exif_transpose``)."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    if op is None:
        return frame
    alpha = None if frame.alpha is None else np.ascontiguousarray(op(frame.alpha))
    return Frame(np.ascontiguousarray(op(frame.color)), alpha, frame.duration)


def turned(info: dict[str, Any], *orientations: int) -> dict[str, Any]:
    """``info`` for the picture made upright by ``orientations`` (Pillow's, then nssr's): a
    quarter turn (orientations 5–8) makes the horizontal resolution the vertical one."""
    if sum(o >= 5 for o in orientations) % 2:
        if "dpi" in info:
            info["dpi"] = tuple(info["dpi"][::-1])
        if info.get("jpeg_subsampling") == 1:  # 4:2:2 turned is 4:4:0, which Pillow does
            info["jpeg_subsampling"] = 0  # not write: 4:4:4 keeps every colour sample
    return info
