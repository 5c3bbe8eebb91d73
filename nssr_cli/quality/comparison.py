"""Side-by-side crops for people to look at: LR (nearest) | each method | HR."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from nssr_cli.files.atomic import publish


def centre_crop_box(height: int, width: int, side: int, scale: int) -> tuple[int, int, int]:
    """``(y0, x0, side)``: a centred HR crop aligned to the LR grid (multiples of ``scale``)."""
    side = min(side, height, width)
    side -= side % scale
    y0 = (height - side) // 2 // scale * scale
    x0 = (width - side) // 2 // scale * scale
    return y0, x0, side


def save_comparison(
    dest: Path,
    lr: np.ndarray,
    outs: list[np.ndarray],
    hr: np.ndarray,
    scale: int,
    side: int = 192,
    *,
    overwrite: bool = False,
) -> None:
    """Write one PNG: the LR crop enlarged by nearest neighbour, each output, then HR,
    published safely (:func:`nssr_cli.files.atomic.publish`).

    ``lr``: ``(h, w, 3)`` uint8; ``outs`` and ``hr``: ``(s·h, s·w, 3)`` uint8."""
    y0, x0, side = centre_crop_box(*hr.shape[:2], side, scale)
    ly, lx, ls = y0 // scale, x0 // scale, side // scale
    nearest = np.repeat(np.repeat(lr[ly : ly + ls, lx : lx + ls], scale, 0), scale, 1)
    panels = [
        nearest,
        *(o[y0 : y0 + side, x0 : x0 + side] for o in outs),
        hr[y0 : y0 + side, x0 : x0 + side],
    ]
    gap = np.full((side, 4, 3), 255, dtype=np.uint8)
    row = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    buf = io.BytesIO()
    Image.fromarray(row).save(buf, "PNG")
    publish(dest, buf.getvalue(), overwrite=overwrite, make_folders=True)
