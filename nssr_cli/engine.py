"""Bicubic + one inverse-blur convolution on tensors: the reference path, the fused fast path,
tiling and devices (DESIGN §3, §6).

Conventions: images are ``(C, H, W)`` float32 in ``[0, 1]`` (channels are independent, so they
travel in the batch dimension of ``conv2d``); kernels ``h`` are odd, square, *convolution*
kernels. Output size is ``(round(s·H), round(s·W))`` with Python's ``round``.

The fast path for an integer scale ``s`` folds bicubic and ``h`` into ``s²`` small kernels on
the low-resolution grid (a polyphase filter), applied by one grouped channels-last ``conv2d``
whose phases are interleaved straight into the output: no full-resolution intermediate. The LR
input is replicate-padded, exactly like bicubic's clamped taps, so the result equals the
reference everywhere but a band of ``r + 1`` pixels along the border (the reference's reflect
padding); that band is recomputed from just the rows (columns) it needs. Other scales run a
separable bicubic of the rows each band of the output needs, then the convolution.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.errors import UsageError

MAX_SCALE = 16.0


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(round(s·H), round(s·W))`` — the size every path produces."""
    return round(scale * height), round(scale * width)


def check_scale(scale: float) -> float:
    """A usable scale factor, or :class:`UsageError`. Accepts 1 < s ≤ 16 (and s = 1)."""
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise UsageError(f"scale must be a number, got {scale!r}") from None
    if not math.isfinite(s) or s < 1.0 or s > MAX_SCALE:
        raise UsageError(f"scale must be between 1 and {MAX_SCALE:g}, got {scale}")
    return s


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU. Asking for CUDA without it is a usage error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA GPU is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def reference_upscale(x: torch.Tensor, h: torch.Tensor, scale: float) -> torch.Tensor:
    """The definition of correct output (DESIGN §3), unclamped.

    ``x``: ``(N, C, H, W)`` float; ``h``: ``(k, k)`` convolution kernel. Returns
    ``(N, C, round(s·H), round(s·W))``: bicubic (``align_corners=False``), reflect-padded
    convolution with ``h`` per channel.
    """
    n, c, hgt, wid = x.shape
    up = F.interpolate(x, size=output_size(hgt, wid, scale), mode="bicubic", align_corners=False)
    r = h.shape[-1] // 2
    if r == 0:
        return up * h.reshape(())
    up = _reflect_pad(up.reshape(n * c, 1, *up.shape[-2:]), r)
    out = F.conv2d(up, h.flip(-1, -2)[None, None].to(up))
    return out.reshape(n, c, *out.shape[-2:])


def _reflect_pad(x: torch.Tensor, r: int) -> torch.Tensor:
    """Reflect-pad the last two dims by ``r``; also when ``r`` ≥ the size (mirrors repeatedly)."""
    if r == 0:
        return x
    if r < x.shape[-1] and r < x.shape[-2]:
        return F.pad(x, (r, r, r, r), mode="reflect")
    for dim in (-2, -1):
        idx = _reflect_indices(-r, x.shape[dim] + r, x.shape[dim])
        x = x.index_select(dim, torch.from_numpy(idx).to(x.device))
    return x


def polyphase_weights(h: np.ndarray, s: int) -> tuple[np.ndarray, int, int]:
    """Fold bicubic ×s and the convolution kernel ``h`` into ``s²`` kernels on the LR grid.

    Built from the reference path itself (the response to one LR impulse, in float64), so it
    inherits bicubic's exact coefficients. Returns ``(weight, pad_lo, pad_hi)``: ``weight`` is
    ``(s², 1, T, T)`` for cross-correlation (``conv2d``), output channel ``p·s + q`` being HR
    phase ``(p, q)`` (``pixel_shuffle`` order); the LR input needs ``pad_lo`` pixels before and
    ``pad_hi`` after each axis.
    """
    r = h.shape[-1] // 2
    m = math.ceil(r / s) + 4  # LR canvas radius: the response never meets the canvas border
    n = 2 * m + 1
    x = torch.zeros(1, 1, n, n, dtype=torch.float64)
    x[0, 0, m, m] = 1.0
    resp = reference_upscale(x, torch.from_numpy(np.asarray(h, dtype=np.float64)), s)[0, 0]
    # resp[s·(a+m)+p, s·(b+m)+q] = weight of LR x[I−a, J−b] in HR out[s·I+p, s·J+q]
    k = resp.reshape(n, s, n, s).permute(1, 3, 0, 2).numpy()  # (p, q, a+m, b+m)
    used = np.flatnonzero(np.abs(k).max(axis=(0, 1, 2)) + np.abs(k).max(axis=(0, 1, 3)) > 0)
    lo, hi = (int(used[0]), int(used[-1])) if used.size else (m, m)
    sub = k[:, :, lo : hi + 1, lo : hi + 1][:, :, ::-1, ::-1]  # correlation order
    weight = np.ascontiguousarray(sub.reshape(s * s, 1, hi - lo + 1, hi - lo + 1))
    return weight, hi - m, m - lo  # a_hi = hi − m LR pixels before, −a_lo = m − lo after


def _bicubic_taps(n_in: int, n_out: int, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's bicubic (A = −0.75, ``align_corners=False``) taps for output indices ``dst``:
    ``(len(dst), 4)`` clamped source indices and weights, computed in float32 as PyTorch does."""
    a = np.float32(-0.75)
    scale = np.float32(n_in / n_out)
    src = scale * (dst.astype(np.float32) + np.float32(0.5)) - np.float32(0.5)
    base = np.floor(src)
    t = (src - base).astype(np.float32)

    def near(d: np.ndarray) -> np.ndarray:  # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    w = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return idx, w.astype(np.float32)


def _resample_axis(
    x: torch.Tensor, dim: int, n_in: int, n_out: int, dst: np.ndarray, offset: int = 0
) -> torch.Tensor:
    """Bicubic along one axis at output indices ``dst``, for an image ``n_in`` long along
    ``dim`` of which ``x`` holds the slice starting at ``offset`` (a 1-D separable pass)."""
    idx, w = _bicubic_taps(n_in, n_out, dst)
    shape = [1] * x.ndim
    shape[dim] = len(dst)

    def tap(k: int) -> torch.Tensor:
        rows = x.index_select(dim, torch.from_numpy(idx[:, k] - offset).to(x.device))
        return rows.mul_(torch.from_numpy(w[:, k]).to(x.device).reshape(shape))

    out = tap(0)
    for k in range(1, 4):
        out += tap(k)  # in place: one output-sized buffer at a time beside the sum
    return out


def _reflect_indices(start: int, stop: int, n: int) -> np.ndarray:
    i = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)


@dataclass(frozen=True)
class Plan:
    """What one ``(kernel, scale, device)`` needs, built once and reused across a batch."""

    h: torch.Tensor  # (k, k) convolution kernel, float32, on the device
    scale: float
    device: torch.device
    weight: torch.Tensor | None  # polyphase (m·s², 1, T+m−1, T) for integer scales, else None
    pad_lo: int = 0
    pad_hi: int = 0
    rows: int = 1  # m: LR rows per convolution step (vertical stride)

    @property
    def band(self) -> int:
        """HR pixels along each image border that the polyphase path leaves to the reference."""
        # The LR tiles are replicate-padded, which is exactly how bicubic clamps its taps, so
        # only the reflect padding of the HR image (radius r) is left to fix.
        return self.h.shape[-1] // 2 + 1


def make_plan(kernel: np.ndarray, scale: float, device: torch.device | str = "cpu") -> Plan:
    """Prepare ``kernel`` (odd square convolution kernel) for upscaling by ``scale``."""
    device = resolve_device(device)
    scale = check_scale(scale)
    h = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)).to(device)
    if not float(scale).is_integer():
        return Plan(h, scale, device, None)
    weight, lo, hi = polyphase_weights(np.asarray(kernel, dtype=np.float64), int(scale))
    # oneDNN computes 8 output channels per vector: at ×2 (4 phases) half the lanes idle,
    # at ×3 (9) a third; two LR rows per step (8 / 18 phases, stride 2) ran 1.3–1.9× faster.
    rows = 2 if int(scale) <= 3 else 1
    w = torch.from_numpy(_stack_rows(weight, int(scale), rows).astype(np.float32)).to(device)
    return Plan(h, scale, device, w, lo, hi, rows)


def _stack_rows(weight: np.ndarray, s: int, m: int) -> np.ndarray:
    """``(s², 1, T, T)`` polyphase weights → ``(m·s², 1, T+m−1, T)`` for a vertical stride of
    ``m`` LR rows: output channel ``(e·s + p)·s + q`` is HR phase ``(p, q)`` of LR row
    ``m·i + e``."""
    t = weight.shape[-1]
    out = np.zeros((m, s, s, t + m - 1, t), dtype=weight.dtype)
    for e in range(m):
        out[e, :, :, e : e + t, :] = weight.reshape(s, s, t, t)
    return out.reshape(m * s * s, 1, t + m - 1, t)


def _padded_lr(
    x: torch.Tensor, lo: int, hi: int, device: torch.device, extra: int = 0
) -> torch.Tensor:
    """``x`` ``(C, H, W)`` (any dtype) as float32 ``(1, C, H+lo+hi+extra, W+lo+hi)`` on
    ``device``, replicate-padded (= bicubic's clamped taps), channels-last: one copy, made once
    per image. ``extra`` rows at the bottom let a strided convolution finish an odd height."""
    c, height, width = x.shape
    xp = torch.empty(
        1,
        c,
        height + lo + hi + extra,
        width + lo + hi,
        device=device,
        memory_format=torch.channels_last,
    )
    xp[0, :, lo : lo + height, lo : lo + width] = x.to(device)
    xp[0, :, :lo, lo : lo + width] = xp[0, :, lo : lo + 1, lo : lo + width]
    xp[0, :, lo + height :, lo : lo + width] = xp[
        0, :, lo + height - 1 : lo + height, lo : lo + width
    ]
    xp[0, :, :, :lo] = xp[0, :, :, lo : lo + 1]
    xp[0, :, :, lo + width :] = xp[0, :, :, lo + width - 1 : lo + width]
    return xp


def _polyphase_tile(
    plan: Plan, xp: torch.Tensor, ly0: int, ly1: int, lx0: int, lx1: int, bias: float
) -> torch.Tensor:
    """Fast path for LR tile rows ``[ly0, ly1)`` × cols ``[lx0, lx1)``, from the padded LR
    ``xp`` of :func:`_padded_lr`. Returns ``(C, s, s, h, w)`` in *phase layout*
    (``[c, p, q, i, j]`` is HR pixel ``(s·i + p, s·j + q)`` of the tile), plus ``bias``;
    exact except in the border band.
    """
    assert plan.weight is not None
    s, c, m = int(plan.scale), xp.shape[1], plan.rows
    span = plan.pad_lo + plan.pad_hi
    ly1 = ly0 + m * -(-(ly1 - ly0) // m)  # whole steps of m rows; the caller crops the excess
    out = _rows_conv(xp[:, :, ly0 : ly1 + span + m - 1, lx0 : lx1 + span], plan.weight, m, bias)
    return out.view(c, m * s, s, *out.shape[-2:])  # (1, C·m·s², h/m, w) → phase layout


def _rows_conv(x: torch.Tensor, weight: torch.Tensor, m: int, bias: float = 0.0) -> torch.Tensor:
    """``x`` ``(1, C, H, W)`` convolved with ``weight`` (:func:`_stack_rows` layout), ``m`` rows
    per step: ``(1, C·len(weight), h, w)``. Grouped, one group per channel, in channels-last
    memory: measured here 1.5–2× faster than channels in the batch dimension."""
    c = x.shape[1]
    region = x.contiguous(memory_format=torch.channels_last)
    b = torch.full((c * weight.shape[0],), bias, device=x.device) if bias else None
    return F.conv2d(region, weight.repeat(c, 1, 1, 1), b, stride=(m, 1), groups=c)


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
        (0, 0, _fractional_rows(plan, x, 0, bh)),
        (out_h - bh, 0, _fractional_rows(plan, x, out_h - bh, out_h)),
        (0, 0, _fractional_rows(flipped, xt, 0, bw).transpose(-1, -2)),
        (0, out_w - bw, _fractional_rows(flipped, xt, out_w - bw, out_w).transpose(-1, -2)),
    ]


def _fractional_rows(
    plan: Plan, x: torch.Tensor, y0: int, y1: int, *, phased: bool = False
) -> torch.Tensor:
    """Any scale: HR rows ``[y0, y1)`` at full width, as the reference computes them
    (separable bicubic on just the rows needed, reflect-padded, then the convolution).

    Returns ``(C, y1−y0, W')``; with ``phased``, ``(C, m, 1, ⌈(y1−y0)/m⌉, W')`` in phase layout
    (row ``m·i + e`` at ``[:, e, 0, i]``, padding rows past ``y1`` to drop), computed by a
    grouped channels-last convolution with a stride of ``m`` = 8 rows: ~4× faster here.
    """
    height, width = x.shape[-2:]
    out_h, out_w = output_size(height, width, plan.scale)
    r = plan.h.shape[-1] // 2
    rows = _reflect_indices(y0 - r, y1 + r, out_h)
    need = _bicubic_taps(height, out_h, rows)[0]
    la, lb = int(need.min()), int(need.max()) + 1
    # Columns first, on the few LR rows needed, gathering along a leading axis (index_select
    # along the last axis is ~10× slower); then the rows.
    xs = x[:, la:lb].to(plan.device, torch.float32).transpose(1, 2).contiguous()
    cols = _reflect_indices(-r, out_w + r, out_w)
    up = _resample_axis(xs, 1, width, out_w, cols).transpose(1, 2).contiguous()
    up = _resample_axis(up, 1, height, out_h, rows, offset=la)
    h = plan.h.flip(-1, -2)
    if not phased:
        return F.conv2d(up[:, None], h[None, None])[:, 0]
    c, m = up.shape[0], 8
    up = F.pad(up, (0, 0, 0, -(y1 - y0) % m))  # whole steps of m rows
    w = torch.from_numpy(_stack_rows(h.cpu().numpy()[None, None], 1, m)).to(h.device)
    out = _rows_conv(up[None], w, m)
    return out.view(c, m, 1, *out.shape[-2:])


def default_tile(device: torch.device) -> int:
    """Output tile side: a few MP per tile bounds memory (~0.2 GB on the CPU) at no speed cost."""
    return 4096 if device.type == "cuda" else 2048


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
    n = min(len(dst), os.cpu_count() or 1, 8)
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
    """
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
            rows = _fractional_rows(plan, xf, y0, y1, phased=True)
            _store(dst, y0, 0, rows, peak, offset, rows=y1 - y0)
        return
    s, lo, m = int(plan.scale), plan.pad_lo, plan.rows
    xp = _padded_lr(x, lo, plan.pad_hi, plan.device, extra=m)
    step = max(m, tile // s // m * m)
    for ly0 in range(0, height, step):
        for lx0 in range(0, width, step):
            ly1, lx1 = min(height, ly0 + step), min(width, lx0 + step)
            t = _polyphase_tile(plan, xp, ly0, ly1, lx0, lx1, offset)
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


_PEAK = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


def upscale_planes(image: np.ndarray, plan: Plan, *, tile: int | None = None) -> np.ndarray:
    """Upscale an ``H×W`` or ``H×W×C`` array (uint8, uint16, or float32 in [0, 1]) with a
    prepared plan; returns the same dtype and layout, rounded back to the input's bit depth."""
    if image.dtype not in _PEAK:
        raise UsageError(f"unsupported array dtype {image.dtype}; use uint8, uint16 or float32")
    if image.ndim not in (2, 3) or 0 in image.shape:
        raise UsageError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    planes = image if image.ndim == 3 else image[:, :, None]
    # Work in the input's own units (0..255, 0..65535): the filter is linear, so this skips a
    # divide on the way in and a multiply on the way out. (C, H, W) view of H×W×C memory.
    x = torch.from_numpy(np.ascontiguousarray(planes)).permute(2, 0, 1)
    out = np.empty((*output_size(*planes.shape[:2], plan.scale), planes.shape[2]), image.dtype)
    upscale_into(out, x, plan, peak=_PEAK[image.dtype], tile=tile)
    return out if image.ndim == 3 else out[:, :, 0]


def upscale_array(
    image: np.ndarray,
    scale: float,
    kernel: str | np.ndarray | None = None,
    device: str = "auto",
    *,
    tile: int | None = None,
) -> np.ndarray:
    """Upscale an image array by ``scale`` with bicubic + one inverse-blur convolution.

    ``image``: ``H×W`` or ``H×W×C``, uint8, uint16 or float32 in [0, 1]; every channel is
    sharpened (split off an alpha channel first if it should stay soft). ``kernel``: ``None``
    (chosen for this image by its estimated blur, like ``nssr upscale --blur auto``), a
    built-in name (``"dil"``: the paper's), a path to an exported ``.npy``, or a 2-D odd square
    convolution kernel. Returns the same dtype and layout at ``round(s·H) × round(s·W)``.
    """
    image = np.asarray(image)
    if kernel is None:
        from nssr_cli.bank import select_kernel

        h = select_kernel(image, check_scale(scale), "auto").kernel
    else:
        from nssr_cli.store import resolve_kernel

        h = resolve_kernel(kernel)[0]
    return upscale_planes(image, cached_plan(h, scale, device), tile=tile)


def cached_plan(kernel: np.ndarray, scale: float, device: str | torch.device = "auto") -> Plan:
    """:func:`make_plan`, remembered for repeated calls with the same (kernel, scale, device)."""
    h = np.ascontiguousarray(kernel, dtype=np.float32)
    return _cached_plan(h.tobytes(), h.shape[0], float(scale), str(device))


@lru_cache(maxsize=32)
def _cached_plan(kernel: bytes, size: int, scale: float, device: str) -> Plan:
    h = np.frombuffer(kernel, dtype=np.float32).reshape(size, size).copy()
    return make_plan(h, scale, device)
