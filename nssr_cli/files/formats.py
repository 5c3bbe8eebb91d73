"""Which image formats nssr reads: the one definition, used by the decoder, by folder walking
(which extensions count as images) and by ``nssr eval``.

An explicit allow-list of raster formats, not "whatever Pillow can open": Pillow also opens
PostScript/EPS by running Ghostscript (an interpreter: a crafted file can read and write files,
hang, or print into stdout), and a long tail of rare formats whose decoders see little use.
Left out on purpose: EPS/PS/PDF (Ghostscript), and rarely needed decoders such as PSD, PCX,
ICO/ICNS, JPEG 2000, DDS, FITS, SGI, SPIDER, XPM, IM, WMF.
"""

from __future__ import annotations

from PIL import Image

# Pillow's format names. MPO (multi-picture JPEG) is opened by the JPEG plugin.
READABLE = ("PNG", "JPEG", "MPO", "GIF", "WEBP", "TIFF", "BMP", "PPM", "TGA", "QOI", "AVIF")
READABLE_NAMES = "PNG, JPEG, GIF, WebP, TIFF, BMP, PNM (PPM/PGM/PBM), TGA, QOI and AVIF"


def readable_formats() -> list[str]:
    """The allow-list as ``Image.open(..., formats=...)`` takes it (what this Pillow provides)."""
    Image.init()
    return [f for f in READABLE if f in Image.OPEN]


def image_extensions() -> set[str]:
    """Lower-case extensions (``.png``) of the readable formats."""
    Image.init()
    return {e for e, f in Image.registered_extensions().items() if f in READABLE}


def open_image(fp: object) -> Image.Image:
    """``Image.open`` restricted to the allow-list (a path or a binary file object)."""
    return Image.open(fp, formats=readable_formats())  # type: ignore[arg-type]
