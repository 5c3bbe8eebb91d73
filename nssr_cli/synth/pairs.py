"""Training pairs for the image-free ``scenes`` objective: procedural scenes, degraded under a
bank entry's prior (blur, then maybe JPEG or noise), upsampled back with the engine's bicubic
(``align_corners=False``, the first step of :mod:`nssr_cli.engine.reference`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.synth.degradations import degrade
from nssr_cli.synth.levels import split_prior
from nssr_cli.synth.scenes import scene

MARGIN = 16  # HR pixels at each scene border left out of the target (border effects)
CONTEXT = 15  # extra upsampled context kept around the target: room for kernels up to 31×31


def scene_pairs(
    scale: int, blur: str, n: int, *, seed: int, size: int = 120
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs ``(u, x)``: ``u`` ``(n, 1, S+2·CONTEXT, …)`` bicubic upsampling of the LR,
    ``x`` ``(n, 1, S, S)`` the sharp scene's interior, ``S = size − 2·MARGIN``; float32 [0, 1].

    ``seed`` feeds a generator salted apart from the benchmark's seeds."""
    split_prior(blur)  # ValueError for an unknown prior, before any work
    if scale not in (2, 3, 4):
        raise ValueError("scene pairs are made for scales 2, 3 and 4")
    size -= size % scale
    rng = np.random.default_rng([seed, 0x7E57, scale])
    us, xs = [], []
    lo, hi = MARGIN - CONTEXT, size - MARGIN + CONTEXT
    for _ in range(n):
        hr = scene(size, rng)[:, :, None]
        lr = torch.from_numpy(degrade(hr, scale, blur, rng)[:, :, 0])[None, None].float()
        u = F.interpolate(lr, size=(size, size), mode="bicubic", align_corners=False)
        us.append(u[0, :, lo:hi, lo:hi])
        xs.append(torch.from_numpy(hr[MARGIN:-MARGIN, MARGIN:-MARGIN, 0]).float()[None])
    return torch.stack(us), torch.stack(xs)
