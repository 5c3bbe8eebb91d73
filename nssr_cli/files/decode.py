"""Image file bytes → a :class:`~nssr_cli.files.picture.Picture`: frames, 16-bit, EXIF
orientation, ICC — every frame decoded fully before any work starts.

A frame's mode → its colour and alpha planes is :mod:`nssr_cli.files.modes`; the EXIF carried
and the orientation applied, :mod:`nssr_cli.files.exif`; encoding to bytes is
:mod:`nssr_cli.files.encode`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from nssr_cli.errors import InputError, NssrError
from nssr_cli.files.deep16 import (
    deep_rawmode,
    is_gray_alpha16,
    read_deep,
    read_gray_alpha16,
    tiff_tags,
    unsupported_tiff,
)
from nssr_cli.files.exif import carried_exif, orient, pillow_orientation, turned
from nssr_cli.files.formats import READABLE_NAMES, open_image
from nssr_cli.files.header import check_pixels, pixels, read_header, too_many_pixels
from nssr_cli.files.metadata import (
    carried,
    carried_xmp,
    webp_lossless,
    without_further_images,
    xmp_bytes,
)
from nssr_cli.files.modes import colour_key, frame_of, keyed, split_bands
from nssr_cli.files.picture import Frame, Header, Picture

DEFAULT_MAX_PIXELS = 90_000_000  # about Pillow's own decompression-bomb threshold


def configure_limits(max_pixels: int) -> None:
    """Make Pillow refuse decompression bombs above ``max_pixels`` (its warning, an error)."""
    import warnings

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # we report failures
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def decode(
    data: bytes,
    name: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    check: Callable[[Header], None] | None = None,
) -> Picture:
    """Decode every frame of an image file's bytes fully and strictly, before any work is done.

    Only the raster formats of :mod:`nssr_cli.files.formats` are tried. The header is read
    first: frames and sizes, the total pixels of all frames against ``max_pixels``, then
    ``check(header)`` (e.g. the memory the job will need) — all before any pixel is decoded.
    Pixels are decoded before any metadata is read, and a decoder's error is never retried: a
    file Pillow cannot decode completely fails. Raises :class:`InputError` (naming ``name``)
    for empty, unknown, damaged or oversized data, never anything else.
    """
    if not data:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    try:
        tags = tiff_tags(data)
        if tags is not None and is_gray_alpha16(tags):  # Pillow has no mode for these
            return _decode_gray_alpha16(data, tags, max_pixels, check)
        return _decode(data, max_pixels, check)
    except NssrError as exc:
        raise InputError(f"{name}: {exc}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow's own check (at open, before ours): its message names twice the limit
        size = re.search(r"\((\d+) pixels\)", str(exc))
        what = f"its {pixels(int(size[1]))}" if size else "its size"
        raise InputError(f"{name}: {too_many_pixels(what, max_pixels)}") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: {_unreadable(data)}") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow's decoders raise many types for damaged data
        raise InputError(f"{name}: cannot decode the image ({_why(exc)})") from None


def _unreadable(data: bytes) -> str:
    """Why a file was not identified: a refused interpreter format, a sound TIFF in a layout
    nssr does not read, or unknown/damaged."""
    if data.startswith((b"%!", b"\xc5\xd0\xd3\xc6", b"%PDF")):
        return (
            "PostScript, EPS and PDF are not read (decoding them runs an interpreter, "
            "Ghostscript); convert the file to PNG or TIFF first"
        )
    if layout := unsupported_tiff(data):
        return f"{layout} TIFF is not supported; convert it to PNG, or to an 8- or 16-bit TIFF"
    return f"not an image nssr can read (damaged, or not one of {READABLE_NAMES})"


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return "the file is truncated or damaged" if "truncated" in text.lower() else text


def _decode(data: bytes, max_pixels: int, check: Callable[[Header], None] | None) -> Picture:
    def opener() -> Image.Image:
        return open_image(io.BytesIO(data))

    im = opener()
    lossless = webp_lossless(im)  # before decoding, which replaces a WebP's stream
    header = read_header(im, max_pixels)
    if check is not None:
        check(header)
    done = pillow_orientation(im)  # before loading: Pillow turns a TIFF as it loads, and forgets
    icc = im.info.get("icc_profile") or None
    # Pixels first, strictly: reading EXIF may load the image and swallow the decoder's error,
    # and a second load() after a failed one returns the partial image without complaint.
    if header.frames > 1:
        frames, (exif, orientation) = _all_frames(im, header.frames)
    elif (raw := deep_rawmode(im)) is not None:
        arr, loaded = read_deep(opener, raw)
        frame = keyed(arr, colour_key(im)) if arr.shape[2] == 3 else split_bands(arr)
        frames, (exif, orientation) = [frame], carried_exif(loaded)
    else:
        key = colour_key(im)  # before load(), which drops the tiles that tell the bit depth
        im.load()
        frame, icc = frame_of(im, icc, key)
        frames, (exif, orientation) = [frame], carried_exif(im)
    frames = [_writable(orient(f, orientation)) for f in frames]
    info = {k: im.info[k] for k in ("loop", "dpi") if k in im.info}
    if im.format == "TIFF" and 282 not in getattr(im, "tag_v2", {}):
        info.pop("dpi", None)  # Pillow says 1 dpi for a TIFF without XResolution: none given
    if header.left_out:
        info["left_out"] = header.left_out
    info.update(lossless, **carried(im, data))
    without_further_images(info)
    luma = _luma_quantization(im)
    if luma is not None:
        info["quantization"] = luma
    sampling = _jpeg_sampling(im)
    if sampling is not None:
        info["jpeg_subsampling"] = sampling
    return Picture(frames, header.format, icc, exif, turned(info, done, orientation))


def _decode_gray_alpha16(
    data: bytes,
    tags: TiffImagePlugin.ImageFileDirectory_v2,
    max_pixels: int,
    check: Callable[[Header], None] | None,
) -> Picture:
    """A 16-bit gray+alpha TIFF, which Pillow cannot open: header checks as for any file, then
    the pixels (:func:`read_gray_alpha16`), then its EXIF, ICC and DPI."""
    header = Header("TIFF", ((tags[256], tags[257]),), 2, 2)
    check_pixels(list(header.sizes), 1, max_pixels)
    if check is not None:
        check(header)
    frame = split_bands(read_gray_alpha16(data, tags))
    xmp = xmp_bytes(tags.get(700))
    exif, orientation = carried_exif(data, xmp)
    unit = {2: 1.0, 3: 2.54}.get(tags.get(296, 2))  # inch, centimetre
    res = (tags.get(282), tags.get(283))
    info = {"dpi": tuple(float(r) * unit for r in res)} if unit and all(res) else {}
    info.update(carried_xmp(xmp))
    without_further_images(info)
    icc = tags.get(34675) or None
    return Picture(
        [_writable(orient(frame, orientation))], "TIFF", icc, exif, turned(info, orientation)
    )


def _jpeg_sampling(im: Image.Image) -> int | None:
    """A JPEG's chroma subsampling as Pillow's ``subsampling`` option names it (0 = 4:4:4,
    1 = 4:2:2, 2 = 4:2:0), or None (not a JPEG, grayscale, or another layout)."""
    if im.format not in ("JPEG", "MPO") or im.mode not in ("RGB", "YCbCr"):
        return None
    from PIL import JpegImagePlugin

    sampling = JpegImagePlugin.get_sampling(im)
    return sampling if sampling in (0, 1, 2) else None


def _luma_quantization(im: Image.Image) -> tuple[int, ...] | None:
    """A JPEG's first (luma) quantization table, 64 values in natural order, or None: it says
    how hard the file was compressed, which the kernel choice needs (``kernels.estimate``)."""
    tables = getattr(im, "quantization", None) or {}
    table = tables.get(0) if isinstance(tables, dict) else None
    if table is None or len(table) != 64:
        return None
    return tuple(int(v) for v in table)


def _writable(frame: Frame) -> Frame:
    """Own, writable arrays (``np.asarray(image)`` is a read-only view into Pillow's buffer)."""
    frame.color = frame.color if frame.color.flags.writeable else frame.color.copy()
    if frame.alpha is not None and not frame.alpha.flags.writeable:
        frame.alpha = frame.alpha.copy()
    return frame


def _all_frames(im: Image.Image, n: int) -> tuple[list[Frame], tuple[bytes | None, int]]:
    """Every frame of an animation or multi-page file, made alike (gray/RGB, alpha), and the
    first frame's EXIF as :func:`carried_exif` gives it (read once that frame is decoded)."""
    frames = []
    exif: tuple[bytes | None, int] = (None, 1)
    for i in range(n):
        im.seek(i)
        if deep_rawmode(im) is not None:
            raise InputError(
                "multi-page 16-bit colour files are not supported (pages not processed)"
            )
        key = colour_key(im)
        im.load()
        frame, _ = frame_of(im, None, key)
        frame.duration = im.info.get("duration")
        frames.append(frame)
        if i == 0:
            exif = carried_exif(im)
    if len({f.color.dtype for f in frames}) > 1:
        raise InputError("the pages mix 8- and 16-bit depths; not supported (pages not processed)")
    rgb = any(f.color.ndim == 3 for f in frames)
    alpha = any(f.alpha is not None for f in frames)
    for f in frames:
        if rgb and f.color.ndim == 2:
            f.color = np.repeat(f.color[:, :, None], 3, axis=2)
        if alpha and f.alpha is None:
            f.alpha = np.full(f.color.shape[:2], np.iinfo(f.color.dtype).max, f.color.dtype)
    return frames, exif
