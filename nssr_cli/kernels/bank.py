"""Choosing the kernel for an image: the shipped bank of kernels per (scale, blur level), and the
blur-adaptive ``auto`` choice.

The bank holds ``weights/bank/x{s}-{level}.npy`` for s ∈ {2, 3, 4} and each level of
:data:`nssr_cli.synth.levels.LEVELS`: 11×11 convolution kernels solved on procedural scenes under
the level's blur prior (``nssr train --objective scenes --solve``; README). ``none`` is fitted to
sharp inputs (an antialiased bicubic downscale), so it is a mild kernel that still beats plain
bicubic. Fractional scales use the kernel of the nearest integer scale in 2…4. ``auto`` asks
:func:`nssr_cli.kernels.estimate.blur_score` how blurred the input already is (a few small FFTs
and, at ×4, an edge-width estimate) and picks the level with the best expected gain (thresholds
calibrated on synthetic scenes); between two levels it may pick their average kernel
(``"light+medium"``: still one 11×11 kernel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nssr_cli.errors import KernelError
from nssr_cli.kernels.estimate import blur_score, level_for
from nssr_cli.kernels.files import builtin_kernels, load_kernel
from nssr_cli.synth.levels import LEVELS

BLUR_LEVELS = ("auto", *LEVELS)
BANK_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class Selection:
    """The kernel chosen for one image, and why."""

    kernel: np.ndarray  # (k, k) float32 convolution kernel
    name: str  # what to show the user, e.g. "x2-medium"
    blur: str  # the blur level used (never "auto"), or "a+b": the mean of two levels' kernels
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the blur estimate


def bank_scale(scale: float) -> int:
    """The bank's integer scale for ``scale``: the nearest of 2, 3, 4."""
    return min(BANK_SCALES, key=lambda s: (abs(s - scale), s))


@lru_cache(maxsize=32)
def bank_kernel(name: str) -> np.ndarray:
    """The shipped bank kernel ``name`` (e.g. ``"x2-medium"``), read once."""
    path = builtin_kernels().get(name)
    if path is None or path.parent.name != "bank":
        raise KernelError(f"the kernel bank entry {name} is missing from the installed weights")
    return load_kernel(path)[0]


def select_kernel(image: np.ndarray, scale: float, blur: str = "auto") -> Selection:
    """The kernel for ``image`` (``H×W`` or ``H×W×C``, uint8/uint16/float32) at ``scale``.

    ``blur``: one of :data:`BLUR_LEVELS`; ``auto`` estimates it from ``image`` (the LR input)."""
    if blur not in BLUR_LEVELS:
        raise ValueError(f"blur must be one of {BLUR_LEVELS}")
    s = bank_scale(scale)
    info: dict[str, Any] = {"bank_scale": s}
    if blur == "auto":
        sigma, parts = blur_score(image, s)
        blur = level_for(sigma, s)
        info["sigma"] = round(sigma, 4)
        info.update({k: round(v, 4) for k, v in parts.items()})
    name = f"x{s}-{blur}"
    if "+" in blur:
        a, b = blur.split("+")
        kernel = (bank_kernel(f"x{s}-{a}") + bank_kernel(f"x{s}-{b}")) / np.float32(2)
        return Selection(kernel.astype(np.float32), name, blur, info)
    return Selection(bank_kernel(name), name, blur, info)
