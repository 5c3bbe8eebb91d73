"""The CPU executor: bicubic + kernel with NumPy and OpenCV, never PyTorch (README, "Speed").

Integer scales: the ``s²`` polyphase kernels (:mod:`nssr_cli.engine.polyphase`) run as
``cv2.filter2D`` on full-width bands of LR rows, the LR image replicate-extended (bicubic's
clamped taps), each phase rounded and interleaved straight into the output; then the border
band of ``r + 1`` pixels, where the reference reflect-pads, is overwritten with the reference
(:func:`~nssr_cli.engine.cpu_rows.reference_rows`), computed once per image. Other scales run
the reference on full-width bands of rows. Bands run on all cores (OpenCV and NumPy release the
GIL). Rows never depend on where a band starts, so any tile size gives the same output bytes.

Images are ``(H, W, C)`` in their own units (``[0, peak]``); outputs are uint8, uint16 or
float32 ``(round(s·H), round(s·W), C)``, rounded as ``trunc(clamp(v + 0.5, 0, peak + 0.499))``
(float32: clamped to ``[0, peak]``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from nssr_cli.engine.cpu_rows import correlate, reference_rows
from nssr_cli.engine.geometry import check_scale, output_size
from nssr_cli.engine.polyphase import polyphase_weights
from nssr_cli.system import usable_cores

MAX_CHANNELS = 4  # OpenCV filters up to 4 interleaved channels at full speed; more go in groups


@dataclass(frozen=True)
class CpuPlan:
    """What one ``(kernel, scale)`` needs on the CPU, built once and reused across a batch."""

    h: np.ndarray  # (k, k) convolution kernel, float32
    scale: float
    phases: tuple[np.ndarray, ...] | None  # s² (T, T) float32 correlation kernels, p·s + q order
    anchor: int = 0  # LR pixels above (left of) an output's LR pixel that its kernel reaches
    device: str = "cpu"

    @property
    def band(self) -> int:
        """HR pixels along each image border that the polyphase path leaves to the reference."""
        return self.h.shape[-1] // 2 + 1


def make_cpu_plan(kernel: np.ndarray, scale: float) -> CpuPlan:
    """Prepare ``kernel`` (odd square convolution kernel) for upscaling by ``scale``."""
    scale = check_scale(scale)
    h = np.ascontiguousarray(kernel, dtype=np.float32)
    if not scale.is_integer():
        return CpuPlan(h, scale, None)
    weight, lo, _ = polyphase_weights(np.asarray(kernel, dtype=np.float64), int(scale))
    phases = tuple(np.ascontiguousarray(w[0], dtype=np.float32) for w in weight)
    return CpuPlan(h, scale, phases, lo)


def upscale_into(
    dst: np.ndarray, x: np.ndarray, plan: CpuPlan, *, peak: float = 1.0, tile: int = 1024
) -> None:
    """Upscale ``x`` ``(H, W, C)`` (uint8, uint16 or float32, values in ``[0, peak]``) into
    ``dst``, a C-contiguous ``(round(s·H), round(s·W), C)`` uint8, uint16 or float32 array,
    in full-width bands of about ``tile²`` output pixels (that bounds the memory)."""
    c = x.shape[2]
    if c <= MAX_CHANNELS:
        _upscale_group(dst, x, plan, peak, tile)
        return
    for c0 in range(0, c, MAX_CHANNELS):
        part = np.empty((*dst.shape[:2], min(c, c0 + MAX_CHANNELS) - c0), dst.dtype)
        _upscale_group(part, x[:, :, c0 : c0 + MAX_CHANNELS], plan, peak, tile)
        dst[:, :, c0 : c0 + part.shape[2]] = part


def _upscale_group(dst: np.ndarray, x: np.ndarray, plan: CpuPlan, peak: float, tile: int) -> None:
    height, width = x.shape[:2]
    out_h, out_w = dst.shape[:2]
    if plan.phases is None:
        rows = max(1, tile * tile // out_w)

        def fractional_band(y0: int) -> None:
            y1 = min(out_h, y0 + rows)
            _store(dst, y0, 0, reference_rows(x, plan.h, plan.scale, y0, y1), peak)

        _run(fractional_band, range(0, out_h, rows))
        return
    s = int(plan.scale)
    lr_rows = max(1, tile * tile // (s * out_w))
    _run(
        lambda ly0: _polyphase_band(plan, x, dst, ly0, min(height, ly0 + lr_rows), peak),
        range(0, height, lr_rows),
    )
    for y0, x0, pixels in _border_strips(plan, x):
        _store(dst, y0, x0, pixels, peak)


def _run(work: Callable[[int], None], starts: range) -> None:
    """``work(start)`` for every band start, on all cores when there is more than one band."""
    workers = min(len(starts), usable_cores(), 8)
    if workers < 2:
        for start in starts:
            work(start)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, starts))  # list(): re-raise the first error


def _polyphase_band(
    plan: CpuPlan, x: np.ndarray, dst: np.ndarray, ly0: int, ly1: int, peak: float
) -> None:
    """Output rows ``[s·ly0, s·ly1)`` by the polyphase kernels, exact except in the border
    band. Phase ``(p, q)`` of LR pixel ``(i, j)`` is output pixel ``(s·i + p, s·j + q)``."""
    assert plan.phases is not None
    s, lo, t = int(plan.scale), plan.anchor, plan.phases[0].shape[0]
    a, b = max(0, ly0 - lo), min(x.shape[0], ly1 + t - 1 - lo)  # the rows the kernels reach
    src = np.ascontiguousarray(x[a:b], dtype=np.float32)
    n, c = ly1 - ly0, dst.shape[2]
    # (LR row, p, LR column, q·C + channel): phase (p, q) is a strided slice of the output.
    rows = dst[s * ly0 : s * ly1].reshape(n, s, x.shape[1], s * c)
    offset = 0.0 if dst.dtype == np.float32 else 0.5
    for p in range(s):
        row = []
        for q in range(s):
            # the rounding's +0.5 rides along as filter2D's delta, for free
            out = correlate(src, plan.phases[p * s + q], lo, cv2.BORDER_REPLICATE, offset)
            row.append(_convert(out[ly0 - a : ly1 - a], dst.dtype, peak))
        # interleave the s phases of this row as channels (contiguous), then one row copy
        rows[:, p] = (row[0] if s == 1 else cv2.merge(row)).reshape(n, -1, s * c)


def _convert(v: np.ndarray, dtype: np.dtype, peak: float) -> np.ndarray:
    """``v`` (float32, +0.5 already added for integer outputs) clamped and cast to ``dtype``:
    the cast truncates, so integers round half up. Clamps ``v`` in place."""
    if dtype == np.float32:
        return np.clip(v, 0, peak, out=v)
    np.clip(v, 0, peak + 0.499, out=v)
    return v.astype(dtype)


def _store(dst: np.ndarray, y0: int, x0: int, v: np.ndarray, peak: float) -> None:
    """Write ``v`` ``(h, w, C)`` float32 (unclamped, no +0.5) into ``dst`` at ``(y0, x0)``."""
    if dst.dtype != np.float32:
        v += 0.5
    out = _convert(v, dst.dtype, peak)
    dst[y0 : y0 + out.shape[0], x0 : x0 + out.shape[1]] = out


def _border_strips(plan: CpuPlan, x: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The reference output on the four border bands, as ``(y0, x0, pixels (h, w, C))``:
    from just the rows (or, on the transposed image, the columns) each band needs."""
    out_h, out_w = output_size(*x.shape[:2], plan.scale)
    bh, bw = min(plan.band, out_h), min(plan.band, out_w)
    xt, ht = x.transpose(1, 0, 2), np.ascontiguousarray(plan.h.T)

    def columns(x0: int, x1: int) -> np.ndarray:
        return reference_rows(xt, ht, plan.scale, x0, x1).transpose(1, 0, 2)

    return [
        (0, 0, reference_rows(x, plan.h, plan.scale, 0, bh)),
        (out_h - bh, 0, reference_rows(x, plan.h, plan.scale, out_h - bh, out_h)),
        (0, 0, columns(0, bw)),
        (0, out_w - bw, columns(out_w - bw, out_w)),
    ]
