"""The reference upscale: the definition of correct output every fast path matches.

Bicubic (``align_corners=False``) to ``(round(s·H), round(s·W))``, then a reflect-padded
convolution with the kernel ``h`` per channel; output pixels are that, clamped to the input's
range and rounded to its bit depth. Used as the tests' oracle, to build the polyphase weights and
for the thin border band the fast path leaves to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nssr_cli.engine.geometry import output_size, reflect_indices


def reference_upscale(x: torch.Tensor, h: torch.Tensor, scale: float) -> torch.Tensor:
    """The definition of correct output, before the clamp and rounding.

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
        idx = reflect_indices(-r, x.shape[dim] + r, x.shape[dim])
        x = x.index_select(dim, torch.from_numpy(idx).to(x.device))
    return x
