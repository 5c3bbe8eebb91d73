"""Pillow's image modes → a :class:`~nssr_cli.files.picture.Frame`'s planes: gray or RGB
colour, alpha (also from a tRNS transparent colour), 16 bits, and CMYK made RGB through its
ICC profile. Which frames and metadata a file holds is :mod:`nssr_cli.files.decode`'s job.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from nssr_cli.errors import InputError
from nssr_cli.files.picture import Frame

ColourKey = int | tuple[int, ...] | None  # the gray level or RGB colour tRNS makes transparent


def split_bands(arr: np.ndarray) -> Frame:
    """``(H, W, C)`` → a frame: C = 2 gray+alpha, 3 RGB, 4 RGBA."""
    if arr.shape[2] in (2, 4):
        return Frame(
            np.ascontiguousarray(arr[..., :-1].squeeze(-1) if arr.shape[2] == 2 else arr[..., :3]),
            np.ascontiguousarray(arr[..., -1]),
        )
    return Frame(np.ascontiguousarray(arr))


def frame_of(im: Image.Image, icc: bytes | None, key: ColourKey) -> tuple[Frame, bytes | None]:
    """A loaded single-frame image → a frame, and the ICC profile that now describes it; ``key``
    is :func:`colour_key`'s, read before the image was loaded."""
    mode = im.mode
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc)
    if mode in ("1", "L"):
        return keyed(np.asarray(im.convert("L")), key), icc
    if mode in ("LA", "La"):
        return split_bands(np.asarray(im.convert("LA"))), icc
    if mode.startswith("I;16"):
        return keyed(np.asarray(im).astype(np.uint16), key), icc
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError("32-bit integer pixel values beyond 16 bits are not supported")
        return keyed(arr.astype(np.uint16), key), icc
    if mode == "F":
        raise InputError("32-bit floating-point images are not supported")
    target = "RGBA" if _has_alpha(im) else "RGB"
    # convert() to the mode an image already has is a full copy (14 ms for 6 MP): skip it
    return split_bands(np.asarray(im if im.mode == target else im.convert(target))), icc


# Pillow unpacks 1-, 2- and 4-bit gray to 0–255 but keeps a PNG's tRNS key in the file's scale
_GRAY_STEP = {"L;2": 85, "L;4": 17}


def colour_key(im: Image.Image) -> ColourKey:
    """The sample value(s) a gray or RGB image marks as transparent (PNG's tRNS chunk), in the
    scale of its decoded samples (8 or 16 bits), or None. ``im`` is not yet loaded."""
    key = im.info.get("transparency")
    if isinstance(key, int) and (im.mode in ("1", "L", "I") or im.mode.startswith("I;16")):
        args = im.tile[0].args if im.tile else None
        raw = args[0] if isinstance(args, tuple) else args
        if raw == "1":  # black or white; Pillow gives the key as 1 (before 11.1) or 255
            return 255 if key else 0
        return key * _GRAY_STEP.get(raw, 1) if isinstance(raw, str) else key
    return tuple(key) if im.mode == "RGB" and isinstance(key, tuple) and len(key) == 3 else None


def keyed(color: np.ndarray, key: ColourKey) -> Frame:
    """``(H, W)`` gray or ``(H, W, 3)`` RGB with its transparent colour key → a frame whose
    alpha is 0 where the pixel is the key and opaque elsewhere; no key, no alpha."""
    if key is None:
        return split_bands(color) if color.ndim == 3 else Frame(color)
    hit = color == key if color.ndim == 2 else (color == np.asarray(key)).all(axis=2)
    alpha = np.where(hit, 0, np.iinfo(color.dtype).max).astype(color.dtype)
    return Frame(np.ascontiguousarray(color), alpha)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "RGBa", "PA") or "transparency" in im.info


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Frame, bytes | None]:
    """CMYK → sRGB through the embedded profile (then tagged sRGB), else Pillow's naive formula."""
    if icc:
        from PIL import ImageCms  # LittleCMS: only for the rare CMYK file with a profile

        try:
            srgb = ImageCms.createProfile("sRGB")
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            assert rgb is not None
            return Frame(np.asarray(rgb)), ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError, AssertionError):
            pass  # a broken profile: fall back, and do not carry it
    return Frame(np.asarray(im.convert("RGB"))), None
