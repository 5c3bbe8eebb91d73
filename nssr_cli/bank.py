"""Choosing the kernel for an image: the shipped bank of kernels per (scale, blur level), and
the blur-adaptive ``auto`` choice.

INTERIM: until the image-free kernel bank lands (issue 5), every level maps to the paper's
``dil`` kernel (``none`` to plain bicubic). The signature below is the contract the CLI and
``upscale_array`` rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLUR_LEVELS = ("auto", "none", "light", "medium", "heavy")


@dataclass(frozen=True)
class Selection:
    """The kernel chosen for one image, and why."""

    kernel: np.ndarray  # (k, k) float32 convolution kernel
    name: str  # what to show the user, e.g. "x2-medium" or "dil"
    blur: str  # the blur level used (never "auto")
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the blur estimate


def select_kernel(image: np.ndarray, scale: float, blur: str = "auto") -> Selection:
    """The kernel for ``image`` (``H×W`` or ``H×W×C``, uint8/uint16/float32) at ``scale``."""
    from nssr_cli.store import resolve_kernel

    if blur not in BLUR_LEVELS:
        raise ValueError(f"blur must be one of {BLUR_LEVELS}")
    if blur == "none":
        k, _ = resolve_kernel("bicubic")
        return Selection(k, "bicubic", "none")
    k, name = resolve_kernel("dil")
    return Selection(k, name, "medium" if blur == "auto" else blur)
