"""Image file bytes → a :class:`~nssr_cli.files.picture.Picture`: modes, alpha, 16-bit, EXIF
orientation, ICC, frames — every frame decoded fully before any work starts.

Encoding to bytes lives in :mod:`nssr_cli.files.encode`.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from nssr_cli.errors import InputError, NssrError
from nssr_cli.files.deep16 import deep_rawmode, read_deep
from nssr_cli.files.picture import Frame, Picture

ORIENTATION = 0x0112
DEFAULT_MAX_PIXELS = 90_000_000  # about Pillow's own decompression-bomb threshold


def configure_limits(max_pixels: int) -> None:
    """Make Pillow refuse decompression bombs above ``max_pixels`` (its warning, an error)."""
    import warnings

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # we report failures
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def decode(data: bytes, name: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode every frame of an image file's bytes fully, before any work is done.

    Raises :class:`InputError` (naming ``name``) for empty, unknown, truncated, corrupt or
    oversized data, never anything else.
    """
    if not data:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    try:
        return _decode(lambda: Image.open(io.BytesIO(data)), max_pixels)
    except NssrError as exc:
        raise InputError(f"{name}: {exc}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(f"{name}: refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image file nssr can read (unknown or damaged)") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow's decoders raise many types for damaged data
        raise InputError(f"{name}: cannot decode the image ({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return "the file is truncated or damaged" if "truncated" in text.lower() else text


def _decode(opener: Callable[[], Image.Image], max_pixels: int) -> Picture:
    im = opener()
    w, h = im.size
    if w * h > max_pixels:
        raise InputError(
            f"{w}×{h} is {w * h / 1e6:.0f} MP, above --max-pixels "
            f"({max_pixels / 1e6:.0f} MP); raise the limit if the file is trusted"
        )
    if w < 1 or h < 1:
        raise InputError(f"the image has no pixels ({w}×{h})")
    icc = im.info.get("icc_profile") or None
    raw = deep_rawmode(im)  # before getexif(), which may load the image
    exif, orientation = _exif(im)
    n = getattr(im, "n_frames", 1)
    if n > 1:
        frames = _all_frames(opener(), n)
    elif raw is not None:
        frames = [_split(read_deep(opener, raw))]
    else:
        im.load()
        frame, icc = _frame(im, icc)
        frames = [frame]
    frames = [_writable(_orient(f, orientation)) for f in frames]
    info = {k: im.info[k] for k in ("loop", "dpi") if k in im.info}
    luma = _luma_quantization(im)
    if luma is not None:
        info["quantization"] = luma
    return Picture(frames, im.format or "PNG", icc, exif, info)


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


def _exif(im: Image.Image) -> tuple[bytes | None, int]:
    """The EXIF block to carry (orientation reset to 1) and the orientation to apply."""
    try:
        exif = im.getexif()
        orientation = exif.get(ORIENTATION, 1)
        orientation = orientation if orientation in range(1, 9) else 1
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        return (exif.tobytes() if len(exif) else None), orientation
    except Exception:  # unreadable EXIF is dropped, not fatal
        return None, 1


def _split(arr: np.ndarray) -> Frame:
    """``(H, W, C)`` → a frame: C = 2 gray+alpha, 3 RGB, 4 RGBA."""
    if arr.shape[2] in (2, 4):
        return Frame(
            np.ascontiguousarray(arr[..., :-1].squeeze(-1) if arr.shape[2] == 2 else arr[..., :3]),
            np.ascontiguousarray(arr[..., -1]),
        )
    return Frame(np.ascontiguousarray(arr))


def _frame(im: Image.Image, icc: bytes | None) -> tuple[Frame, bytes | None]:
    """A loaded single-frame image → a frame, and the ICC profile that now describes it."""
    mode = im.mode
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc)
    if mode in ("1", "L"):
        return Frame(np.asarray(im.convert("L"))), icc
    if mode in ("LA", "La"):
        return _split(np.asarray(im.convert("LA"))), icc
    if mode.startswith("I;16"):
        return Frame(np.asarray(im).astype(np.uint16)), icc
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError("32-bit integer pixel values beyond 16 bits are not supported")
        return Frame(arr.astype(np.uint16)), icc
    if mode == "F":
        raise InputError("32-bit floating-point images are not supported")
    return _split(np.asarray(im.convert("RGBA" if _has_alpha(im) else "RGB"))), icc


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "RGBa", "PA") or "transparency" in im.info


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Frame, bytes | None]:
    """CMYK → sRGB through the embedded profile (then tagged sRGB), else Pillow's naive formula."""
    if icc:
        try:
            srgb = ImageCms.createProfile("sRGB")
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            assert rgb is not None
            return Frame(np.asarray(rgb)), ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError, AssertionError):
            pass  # a broken profile: fall back, and do not carry it
    return Frame(np.asarray(im.convert("RGB"))), None


def _all_frames(im: Image.Image, n: int) -> list[Frame]:
    """Every frame of an animation or multi-page file, made alike (gray/RGB, alpha)."""
    frames = []
    for i in range(n):
        im.seek(i)
        if deep_rawmode(im) is not None:
            raise InputError(
                "multi-page 16-bit colour files are not supported (pages not processed)"
            )
        im.load()
        frame, _ = _frame(im, None)
        frame.duration = im.info.get("duration")
        frames.append(frame)
    if len({f.color.dtype for f in frames}) > 1:
        raise InputError("the pages mix 8- and 16-bit depths; not supported (pages not processed)")
    rgb = any(f.color.ndim == 3 for f in frames)
    alpha = any(f.alpha is not None for f in frames)
    for f in frames:
        if rgb and f.color.ndim == 2:
            f.color = np.repeat(f.color[:, :, None], 3, axis=2)
        if alpha and f.alpha is None:
            f.alpha = np.full(f.color.shape[:2], np.iinfo(f.color.dtype).max, f.color.dtype)
    return frames


def _orient(frame: Frame, orientation: int) -> Frame:
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
