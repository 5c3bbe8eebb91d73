"""A decoded image: its frames as arrays and the metadata to carry to the output.

A :class:`Picture` holds one :class:`Frame` per animation frame or TIFF page. Each frame is a
colour array — ``(H, W)`` gray or ``(H, W, 3)`` RGB, ``uint8`` or ``uint16`` — plus an optional
``(H, W)`` alpha plane of the same dtype, kept apart because alpha is upscaled with plain bicubic
(sharpening alpha makes halos). Pixels are already rotated upright; the metadata says orientation 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Frame:
    """One frame: ``color`` (H, W) or (H, W, 3); ``alpha`` (H, W) or None; one dtype for both."""

    color: np.ndarray
    alpha: np.ndarray | None = None
    duration: int | None = None  # milliseconds, for animations


@dataclass
class Picture:
    """A decoded image: upright frames, plus the metadata to carry to the output."""

    frames: list[Frame]
    format: str  # Pillow's name for the source format, e.g. "PNG"
    icc: bytes | None = None
    exif: bytes | None = None  # with orientation reset to 1
    # "loop", "dpi", JPEG "quantization", "left_out" (images not decoded: a gain map, a
    # preview), and what files.metadata carries ("xmp", "text"…)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the first frame."""
        h, w = self.frames[0].color.shape[:2]
        return w, h

    @property
    def has_alpha(self) -> bool:
        return any(f.alpha is not None for f in self.frames)

    @property
    def mode(self) -> str:
        """A short description such as ``RGBA``, ``L``, ``I;16`` or ``RGB;16``."""
        f = self.frames[0]
        base = "L" if f.color.ndim == 2 else "RGB"
        base += "A" if f.alpha is not None else ""
        if f.color.dtype == np.uint16:
            return "I;16" if base == "L" else base + ";16"
        return base


@dataclass(frozen=True)
class Header:
    """What a file's header says, before any pixel is decoded.

    ``sizes`` holds ``(width, height)`` per frame (animations: the canvas, which every frame
    is decoded to); ``bands`` the samples per pixel once decoded (1 gray, 2 gray+alpha, 3 RGB,
    4 RGBA; an upper bound for animations) and ``itemsize`` the bytes per sample (1 or 2).
    ``format`` is what the file is (``JPEG`` for a multi-picture JPEG); ``left_out`` counts the
    images that are not decoded (a multi-picture JPEG's gain map or preview).
    """

    format: str
    sizes: tuple[tuple[int, int], ...]
    bands: int
    itemsize: int
    left_out: int = 0

    @property
    def frames(self) -> int:
        return len(self.sizes)

    @property
    def pixels(self) -> int:
        """Decoded pixels of all frames together."""
        return sum(w * h for w, h in self.sizes)

    @property
    def has_alpha(self) -> bool:
        return self.bands in (2, 4)
