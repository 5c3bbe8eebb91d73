"""The degradations ``nssr eval`` scores on (README, "Quality"; the recipes themselves are in
:mod:`nssr_cli.synth.degradations`): how an HR photo becomes the LR input of each protocol.

``div2krk`` (blurred) and ``classic`` (sharp: Pillow's bicubic downscale), each optionally
followed by a JPEG round trip at quality 75, 85 or 95 (``div2krk+jpeg85``: the LR goes through
nssr's own decoder, so ``auto`` sees the file's quantization table as it would a user's JPEG) or
Gaussian noise of σ 2 or 5 on the 8-bit scale (``classic+noise5``). One fixed seed per image,
scale and variant. Sharp inputs also come from other downscalers: ``bilinear``, ``hamming``,
``lanczos`` and ``box`` are Pillow's antialiased filters of those names (``--protocol
downscalers``; a triangle filter is softer than bicubic, a box sharper).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from nssr_cli.errors import UsageError
from nssr_cli.files.decode import decode
from nssr_cli.synth.degradations import (
    OTHER_DOWNSCALERS,
    add_noise,
    classic_lr,
    div2krk_lr,
    image_seed,
    recipe_kernel,
)

PROTOCOLS = ("div2krk", "classic")  # the two base degradations
BASES = (*PROTOCOLS, *OTHER_DOWNSCALERS)  # and sharp inputs by Pillow's other filters
JPEG_QUALITIES = (75, 85, 95)


NOISE_SIGMAS = (2, 5)


# What each --protocol runs: base degradations, each with these variants ("" = as is).
PROTOCOL_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "div2krk": (("div2krk",), ("",)),
    "classic": (("classic",), ("",)),
    "both": (PROTOCOLS, ("",)),
    "jpeg": (PROTOCOLS, tuple(f"jpeg{q}" for q in JPEG_QUALITIES)),
    "noisy": (PROTOCOLS, tuple(f"noise{s}" for s in NOISE_SIGMAS)),
    "all": (
        PROTOCOLS,
        ("", *(f"jpeg{q}" for q in JPEG_QUALITIES), *(f"noise{s}" for s in NOISE_SIGMAS)),
    ),
    "downscalers": (OTHER_DOWNSCALERS, ("",)),
}


def protocol_names(name: str) -> list[str]:
    """The protocols a ``--protocol`` value runs, e.g. ``"jpeg"`` → ``classic+jpeg75``, …"""
    if name in BASES or "+" in name:
        return [name]
    if name not in PROTOCOL_SETS:
        raise UsageError(f"unknown protocol {name!r}; use one of {', '.join(PROTOCOL_SETS)}")
    bases, variants = PROTOCOL_SETS[name]
    return [f"{b}+{v}" if v else b for b in bases for v in variants]


def make_lr(
    hr: np.ndarray, scale: int, protocol: str, name: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """The LR input of one image, ``(H/s, W/s, 3)`` uint8 (``hr`` already modcropped), and the
    decoder's picture info (a JPEG's quantization table) for ``protocol`` (``base[+variant]``)."""
    base, _, variant = protocol.partition("+")
    if base not in BASES:
        raise UsageError(f"unknown protocol {protocol!r}")
    if base != "div2krk":  # a plain downscale: the classic one is Pillow's bicubic
        lr = classic_lr(hr, scale, "bicubic" if base == "classic" else base)
    else:
        rng = np.random.default_rng(image_seed(name, scale))
        lr = div2krk_lr(hr, recipe_kernel(scale, rng), scale)
    if not variant:
        return lr, {}
    if variant.startswith("jpeg") and variant[4:].isdigit():
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, "JPEG", quality=int(variant[4:]))
        pic = decode(buf.getvalue(), f"{name}.jpg")
        return pic.frames[0].color, pic.info
    if variant.startswith("noise") and variant[5:].isdigit():
        rng = np.random.default_rng(image_seed(name, scale, salt=f"nssr-{variant}"))
        return add_noise(lr, float(variant[5:]), rng), {}
    raise UsageError(f"unknown protocol variant {variant!r}")
