"""Upscaling a whole image tile by tile, into a preallocated output, and the plans it reuses.

Conventions: images are ``(C, H, W)`` in their own units (``[0, peak]``); kernels ``h`` are odd,
square, *convolution* kernels; the output is ``(round(s·H), round(s·W), C)`` uint8, uint16 or
float32. Integer scales run the polyphase path on square tiles, then overwrite the border band
with the reference (computed once per image, so tiled output equals un-tiled output exactly);
other scales run the fractional path on full-width bands.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import torch

from nssr_cli.engine.device import default_tile
from nssr_cli.engine.fractional import fractional_rows
from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.torch_polyphase import Plan, make_plan, padded_lr, polyphase_tile
from nssr_cli.errors import UsageError
from nssr_cli.system import usable_cores


def _border_strips(plan: Plan, x: torch.Tensor) -> list[tuple[int, int, torch.Tensor]]:
    """The reference output on the four border bands, as ``(y0, x0, pixels (C, h, w))``.

    Computed once per image from just the rows (or, on the transposed image, the columns) each
    band needs, so every tile copies the very same numbers: tiled equals un-tiled exactly.
    """
    s = int(plan.scale)
    out_h, out_w = s * x.shape[-2], s * x.shape[-1]
    bh, bw = min(plan.band, out_h), min(plan.band, out_w)
    flipped = replace(plan, h=plan.h.T.contiguous())
    xt = x.transpose(-1, -2)
    return [
        (0, 0, fractional_rows(plan, x, 0, bh)),
        (out_h - bh, 0, fractional_rows(plan, x, out_h - bh, out_h)),
        (0, 0, fractional_rows(flipped, xt, 0, bw).transpose(-1, -2)),
        (0, out_w - bw, fractional_rows(flipped, xt, out_w - bw, out_w).transpose(-1, -2)),
    ]


def _store(
    dst: np.ndarray,
    y0: int,
    x0: int,
    t: torch.Tensor,
    peak: float,
    offset: float,
    rows: int | None = None,
) -> None:
    """Write ``t`` (values in the output's units) into the ``(H', W', C)`` array ``dst`` at
    ``(y0, x0)``, clamped to ``[0, peak]`` and, for integer outputs, rounded.

    Rounding is ``trunc(clamp(t + 0.5))``; the polyphase tiles come with the 0.5 already added
    (as the convolution's bias, for free), other pieces pass ``offset=0.5``. ``t`` is
    ``(C, h, w)`` or ``(C, sy, sx, h, w)`` in phase layout (channels-last memory), of which
    only the first ``rows`` HR rows are written (default: all).
    """
    if dst.dtype == np.float32:
        t = t.clamp_(0, peak)
    else:
        t = (t.add_(offset) if offset else t).clamp_(0, peak + 0.499)
        if dst.dtype == np.uint8:
            t = t.to(torch.uint8)  # truncates; before the interleaving copy: 1/4 of the bytes
    if t.ndim == 5:
        c, sy, sx, h, w = t.shape
        # memory is (h, w, c, p, q); numpy interleaves it into rows (h, p, w, q, c) ~2× faster
        # than torch's strided copy
        phases = t.reshape(1, c * sy * sx, h, w).permute(0, 2, 3, 1).cpu().numpy()
        src = phases.reshape(h, w, c, sy, sx).transpose(0, 3, 1, 4, 2)  # (h, p, w, q, c)
        rows = sy * h if rows is None else rows
        whole = rows // sy
        block = dst[y0 : y0 + sy * whole, x0 : x0 + sx * w].reshape(whole, sy, w, sx, c)
        _parallel_copy(block, src[:whole])
        if rows > sy * whole:  # a partial last step (odd LR height with 2 rows per step)
            part = dst[y0 + sy * whole : y0 + rows, x0 : x0 + sx * w]
            part[...] = src[whole, : rows - sy * whole].reshape(rows - sy * whole, sx * w, c)
    else:
        dst[y0 : y0 + t.shape[1], x0 : x0 + t.shape[2]] = t.permute(1, 2, 0).cpu().numpy()


def _parallel_copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` split by rows over the CPU cores (numpy releases the GIL)."""
    n = min(len(dst), usable_cores(), 8)
    if n < 2 or dst.size < 1 << 20:
        dst[...] = src
        return
    bounds = np.linspace(0, len(dst), n + 1).astype(int)

    def part(i: int) -> None:
        dst[bounds[i] : bounds[i + 1]] = src[bounds[i] : bounds[i + 1]]

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(part, range(n)))


def upscale_into(
    dst: np.ndarray, x: torch.Tensor, plan: Plan, *, peak: float = 1.0, tile: int | None = None
) -> None:
    """Upscale ``x`` ``(C, H, W)`` (values in ``[0, peak]``, any dtype/device) into ``dst``, a
    ``(round(s·H), round(s·W), C)`` array (uint8, uint16 or float32), tile by tile.

    Integer scales use square tiles of about ``tile`` HR pixels: the polyphase path, then the
    border bands from the reference path (computed once per image, so tiled output equals
    un-tiled output exactly). Other scales use full-width bands of about ``tile²`` pixels.
    On CUDA the convolutions run in full float32, not TF32 (:func:`exact_float32`).
    """
    with exact_float32(plan.device):
        _upscale_into(dst, x, plan, peak, tile)


def _upscale_into(
    dst: np.ndarray, x: torch.Tensor, plan: Plan, peak: float, tile: int | None
) -> None:
    tile = tile or default_tile(plan.device)
    if tile < 1:
        raise UsageError("tile size must be positive")
    height, width = x.shape[-2:]
    offset = 0.0 if dst.dtype == np.float32 else 0.5
    if plan.weight is None:
        xf = x.to(plan.device, torch.float32)
        out_h, out_w = output_size(height, width, plan.scale)
        band = max(1, tile * tile // out_w)  # full-width bands of about tile² pixels
        for y0 in range(0, out_h, band):
            y1 = min(out_h, y0 + band)
            rows = fractional_rows(plan, xf, y0, y1, phased=True)
            _store(dst, y0, 0, rows, peak, offset, rows=y1 - y0)
        return
    s, lo, m = int(plan.scale), plan.pad_lo, plan.rows
    xp = padded_lr(x, lo, plan.pad_hi, plan.device, extra=m)
    step = max(m, tile // s // m * m)
    for ly0 in range(0, height, step):
        for lx0 in range(0, width, step):
            ly1, lx1 = min(height, ly0 + step), min(width, lx0 + step)
            t = polyphase_tile(plan, xp, ly0, ly1, lx0, lx1, offset)
            _store(dst, s * ly0, s * lx0, t, peak, 0.0, rows=s * (ly1 - ly0))
    for y0, x0, pixels in _border_strips(plan, xp[0, :, lo : lo + height, lo : lo + width]):
        _store(dst, y0, x0, pixels, peak, offset)


def upscale_tensor(
    x: torch.Tensor,
    kernel: np.ndarray,
    scale: float,
    *,
    device: str | torch.device = "auto",
    tile: int | None = None,
    plan: Plan | None = None,
) -> torch.Tensor:
    """``(C, H, W)`` float32 in [0, 1] → ``(C, round(s·H), round(s·W))`` float32 on the CPU,
    clamped to [0, 1]."""
    plan = plan or make_plan(kernel, scale, device)
    out = np.empty((*output_size(*x.shape[-2:], plan.scale), x.shape[0]), np.float32)
    upscale_into(out, x, plan, tile=tile)
    return torch.from_numpy(out).permute(2, 0, 1)


@contextmanager
def exact_float32(device: torch.device | str) -> Iterator[None]:
    """Full float32 in cuDNN convolutions while inside (restored after).

    cuDNN convolutions default to TF32 on Ampere and later GPUs: a 10-bit mantissa, a relative
    error of ~5e-4. A 16-bit image is filtered in 0–65535 units, where that is ±30 levels; full
    float32 keeps the result within a level of the CPU's. A no-op on other devices.
    """
    if torch.device(device).type != "cuda":
        yield
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # PyTorch ≥ 2.9
        saved, conv.fp32_precision = conv.fp32_precision, "ieee"
        try:
            yield
        finally:
            conv.fp32_precision = saved
        return
    saved_flag = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved_flag
