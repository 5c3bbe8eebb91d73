"""A file's header → a :class:`~nssr_cli.files.picture.Header`, and the pixel limit checked on
it before any pixel is decoded (decompression bombs, and many frames each under the limit)."""

from __future__ import annotations

from PIL import Image

from nssr_cli.errors import InputError
from nssr_cli.files.deep16 import deep_rawmode
from nssr_cli.files.picture import Header

MAX_FRAMES = 10_000  # a frame costs time and bookkeeping even when it is tiny
_CANVAS = ("GIF", "PNG", "WEBP")  # animations: every frame is decoded to the full canvas
# Formats whose further images are not frames, and the format the file is then: a multi-picture
# JPEG (MPO) is a JPEG photo, its first image; the others are an HDR gain map, a camera's
# preview or a stereo pair's second view, never to be animated or upscaled.
_PRIMARY_ONLY = {"MPO": "JPEG"}
_BANDS = {"1": 1, "L": 1, "I": 1, "F": 1, "LA": 2, "La": 2, "PA": 4, "RGBA": 4, "RGBa": 4}


def read_header(im: Image.Image, max_pixels: int) -> Header:
    """Frames, sizes and sample layout of an opened, not yet decoded image; refuses (with
    :class:`InputError`) a file whose frames hold more than ``max_pixels`` pixels in all or
    more than :data:`MAX_FRAMES` frames. Leaves ``im`` at frame 0. A multi-picture JPEG is
    its first image (the others are counted in ``Header.left_out``)."""
    fmt = im.format or "PNG"
    images = getattr(im, "n_frames", 1)  # GIF/TIFF count frames from their headers, not pixels
    n = 1 if fmt in _PRIMARY_ONLY else images
    if n > MAX_FRAMES:
        raise InputError(f"the file has {n} frames, more than nssr processes ({MAX_FRAMES})")
    if n == 1 or (im.format or "") in _CANVAS:
        sizes = [im.size] * n
    else:  # pages of their own sizes (TIFF): seeking reads a page's header only
        sizes = []
        for i in range(n):
            im.seek(i)
            sizes.append(im.size)
            check_pixels(sizes, n, max_pixels)
        im.seek(0)
    check_pixels(sizes, n, max_pixels)
    w, h = sizes[0]
    if min(min(s) for s in sizes) < 1:
        raise InputError(f"the image has no pixels ({w}×{h})")
    deep = deep_rawmode(im)
    bands = 4 if n > 1 and im.format in _CANVAS else _bands(im, deep)
    itemsize = 2 if deep or im.mode.startswith("I") else 1
    left_out = images - n + _gain_maps(im)
    return Header(_PRIMARY_ONLY.get(fmt, fmt), tuple(sizes), bands, itemsize, left_out)


def _gain_maps(im: Image.Image) -> int:
    """The images a JPEG's multi-picture index (MPF) lists besides the first where Pillow
    opened the file as one plain JPEG: an Ultra HDR photo, whose gain map Pillow leaves out on
    purpose (other multi-picture JPEGs it opens as MPO, their images counted as frames). 0
    where the index is unreadable or its count and entries disagree."""
    if im.format != "JPEG" or "mp" not in im.info:
        return 0
    try:
        index = im._getmp()  # type: ignore[attr-defined]  # Pillow's own MPF parser
        count, entries = index[0xB001], index[0xB002]
    except Exception:  # damaged: the file is one JPEG, as Pillow opened it
        return 0
    return count - 1 if isinstance(count, int) and count > 1 and len(entries) == count else 0


def pixels(n: int) -> str:
    """``n`` pixels for a message: ``90 MP``, ``1.5 MP``, ``4,096 pixels``."""
    return f"{n / 1e6:.3g} MP" if n >= 1e6 else f"{n:,} pixels"


def too_many_pixels(what: str, max_pixels: int) -> InputError:
    """The refusal of an image whose pixels (``what``) are above ``--max-pixels``."""
    return InputError(
        f"{what}, above --max-pixels ({pixels(max_pixels)} for all frames together); "
        "raise the limit if the file is trusted"
    )


def check_pixels(sizes: list[tuple[int, int]], n: int, max_pixels: int) -> None:
    """Refuse the ``sizes`` read so far of a file of ``n`` frames above ``max_pixels`` in all."""
    total = sum(w * h for w, h in sizes)
    if total <= max_pixels:
        return
    w, h = sizes[0]
    if n == 1:
        what = f"{w}×{h} is {pixels(total)}"
    elif len(set(sizes)) == 1 and len(sizes) == n:
        what = f"{n} frames of {w}×{h} are {pixels(total)} in all"
    else:
        what = f"the first {len(sizes)} of {n} frames are already {pixels(total)}"
    raise too_many_pixels(what, max_pixels)


def _bands(im: Image.Image, deep: str | None) -> int:
    keyed = "transparency" in im.info  # a palette's or a colour key's: decoded as alpha
    if deep is not None:
        return 2 if deep.startswith("LA") else len(im.mode) + (im.mode == "RGB" and keyed)
    if im.mode in ("1", "L", "I") or im.mode.startswith("I;16"):
        return 1 + keyed
    return _BANDS.get(im.mode, 4 if keyed else 3)
