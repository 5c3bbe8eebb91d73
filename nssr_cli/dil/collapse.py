"""L-CNN → one convolution kernel, exactly (pure math; every kernel file holds such an ``h``).

A stack of linear shift-invariant layers equals one convolution whose kernel is the stack's
impulse response ``h = LCNN(δ)``. With PyTorch's cross-correlating ``conv2d``:
``LCNN(x) == x ⊛ h == conv2d(x, flip(h))`` (away from zero-padded borders).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from nssr_cli.dil.model import LCNN


def impulse_response(model: LCNN, *, differentiable: bool = False) -> torch.Tensor:
    """The model's impulse response, ``(R, R)``, R = receptive field, a *convolution* kernel.

    The impulse sits at the centre of an ``R × R`` canvas: every intermediate activation has
    radius ≤ R//2, so the zero padding never clips it and the result is exact. Computed in the
    model's own dtype/device; ``differentiable=True`` keeps the graph (used in training).
    """
    r = model.config.receptive_field
    p = next(model.parameters())
    delta = torch.zeros(1, 1, r, r, dtype=p.dtype, device=p.device)
    delta[0, 0, r // 2, r // 2] = 1.0
    if differentiable:
        return model(delta)[0, 0]
    with torch.no_grad():
        return model(delta)[0, 0]


def collapse(model: LCNN) -> np.ndarray:
    """The exported kernel: impulse response computed in float64 on the CPU, as float32."""
    m64 = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    return impulse_response(m64).numpy().astype(np.float32)


def apply_kernel(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Zero-padded 'same' *convolution* of ``(B, 1, H, W)`` with an odd ``(k, k)`` kernel ``h``."""
    k = h.shape[-1]
    return nn.functional.conv2d(x, h.flip(-1, -2)[None, None].to(x), padding=k // 2)
