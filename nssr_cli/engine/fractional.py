"""Any scale, rows at a time, as the reference computes them: a separable bicubic of just the
low-resolution rows an output band needs, reflect-padded, then the convolution. Serves
fractional scales and the border band of the polyphase path."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.engine.geometry import bicubic_taps, output_size, reflect_indices
from nssr_cli.engine.polyphase import stack_rows
from nssr_cli.engine.torch_polyphase import Plan, rows_conv


def _resample_axis(
    x: torch.Tensor, dim: int, n_in: int, n_out: int, dst: np.ndarray, offset: int = 0
) -> torch.Tensor:
    """Bicubic along one axis at output indices ``dst``, for an image ``n_in`` long along
    ``dim`` of which ``x`` holds the slice starting at ``offset`` (a 1-D separable pass)."""
    idx, w = bicubic_taps(n_in, n_out, dst)
    shape = [1] * x.ndim
    shape[dim] = len(dst)

    def tap(k: int) -> torch.Tensor:
        rows = x.index_select(dim, torch.from_numpy(idx[:, k] - offset).to(x.device))
        return rows.mul_(torch.from_numpy(w[:, k]).to(x.device).reshape(shape))

    out = tap(0)
    for k in range(1, 4):
        out += tap(k)  # in place: one output-sized buffer at a time beside the sum
    return out


def fractional_rows(
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
    rows = reflect_indices(y0 - r, y1 + r, out_h)
    need = bicubic_taps(height, out_h, rows)[0]
    la, lb = int(need.min()), int(need.max()) + 1
    # Columns first, on the few LR rows needed, gathering along a leading axis (index_select
    # along the last axis is ~10× slower); then the rows.
    xs = x[:, la:lb].to(plan.device, torch.float32).transpose(1, 2).contiguous()
    cols = reflect_indices(-r, out_w + r, out_w)
    up = _resample_axis(xs, 1, width, out_w, cols).transpose(1, 2).contiguous()
    up = _resample_axis(up, 1, height, out_h, rows, offset=la)
    h = plan.h.flip(-1, -2)
    if not phased:
        return F.conv2d(up[:, None], h[None, None])[:, 0]
    c, m = up.shape[0], 8
    up = F.pad(up, (0, 0, 0, -(y1 - y0) % m))  # whole steps of m rows
    w = torch.from_numpy(stack_rows(h.cpu().numpy()[None, None], 1, m)).to(h.device)
    out = rows_conv(up[None], w, m)
    return out.view(c, m, 1, *out.shape[-2:])
