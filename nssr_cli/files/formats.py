"""Which image formats nssr reads and writes: the one definition, used by the decoder, by folder
walking (which extensions count as images), by ``nssr eval`` and by the encoder.

An explicit allow-list of raster formats, not "whatever Pillow can open": Pillow also opens
PostScript/EPS by running Ghostscript (an interpreter: a crafted file can read and write files,
hang, or print into stdout), and a long tail of rare formats whose decoders see little use.
Left out on purpose: EPS/PS/PDF (Ghostscript), and rarely needed decoders such as PSD, PCX,
ICO/ICNS, JPEG 2000, DDS, FITS, SGI, SPIDER, XPM, IM, WMF.
"""

from __future__ import annotations

import contextlib
import importlib
from functools import cache

from PIL import Image

# Pillow's format names. MPO (multi-picture JPEG) is opened by the JPEG plugin.
READABLE = ("PNG", "JPEG", "MPO", "GIF", "WEBP", "TIFF", "BMP", "PPM", "TGA", "QOI", "AVIF")
READABLE_NAMES = "PNG, JPEG, GIF, WebP, TIFF, BMP, PNM (PPM/PGM/PBM), TGA, QOI and AVIF"
_PLUGINS = ("Png", "Jpeg", "Mpo", "Gif", "WebP", "Tiff", "Bmp", "Ppm", "Tga", "Qoi", "Avif")
# What nssr writes: the formats it reads. Pillow's other writers change the picture or are not
# images: ICO and ICNS cap the size at 256 / 1024 px, SPIDER writes floats, SGI and PNM pick
# extensions of their own, EPS and PDF are documents.
WRITABLE = ("PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP", "PPM", "TGA", "QOI", "AVIF")


@cache
def load_plugins() -> None:
    """Register Pillow's plugins for the allow-list, and only those. ``Image.init()`` imports
    all ~45 (PDF's parser alone takes 11 ms): ~25 ms that a one-file ``nssr upscale`` would pay
    in every process. A plugin this Pillow lacks (AVIF before 11.3) is skipped, as ``init()``
    skips it."""
    for name in _PLUGINS:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"PIL.{name}ImagePlugin")


def writable(fmt: str) -> bool:
    """Whether nssr writes format ``fmt`` (Pillow's name): on :data:`WRITABLE`, and this
    Pillow has the writer (AVIF's needs Pillow ≥ 11.3 built with libavif)."""
    load_plugins()
    return fmt in WRITABLE and fmt in Image.SAVE


def writable_names() -> str:
    """The formats ``-f`` takes, for messages: ``png, jpeg, …, qoi or avif``."""
    names = [f.lower().replace("ppm", "ppm (pgm, pbm)") for f in WRITABLE if writable(f)]
    return ", ".join(names[:-1]) + " or " + names[-1]


def format_of_extension(ext: str) -> str | None:
    """Pillow's format for a lower-case extension (``.png`` → ``PNG``), or ``None``."""
    load_plugins()
    if ext not in Image.EXTENSION:
        Image.init()
    return Image.EXTENSION.get(ext)


def readable_formats() -> list[str]:
    """The allow-list as ``Image.open(..., formats=...)`` takes it (what this Pillow provides)."""
    load_plugins()
    return [f for f in READABLE if f in Image.OPEN]


def image_extensions() -> set[str]:
    """Lower-case extensions (``.png``) of the readable formats."""
    load_plugins()
    return {e for e, f in Image.EXTENSION.items() if f in READABLE}


def open_image(fp: object) -> Image.Image:
    """``Image.open`` restricted to the allow-list (a path or a binary file object)."""
    return Image.open(fp, formats=readable_formats())  # type: ignore[arg-type]
