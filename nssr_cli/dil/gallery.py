"""Kernel galleries: the paper's Random Kernel Gallery (RKG) of anisotropic Gaussians.

Every kernel is ``(size, size)``, non-negative, centred, summing to 1, a *convolution* kernel.
"""

from __future__ import annotations

import math

import torch


def gaussian_kernels(
    sigma1: torch.Tensor, sigma2: torch.Tensor, theta: torch.Tensor, size: int
) -> torch.Tensor:
    """Anisotropic Gaussians ``(N, size, size)`` with standard deviations ``sigma1, sigma2``
    along axes rotated by ``theta`` (radians), normalised to sum 1. Inputs are ``(N,)``."""
    r = size // 2
    ax = torch.arange(-r, r + 1, dtype=sigma1.dtype, device=sigma1.device)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    u = c * xx + s * yy
    v = -s * xx + c * yy
    k = torch.exp(-0.5 * (u**2 / sigma1[:, None, None] ** 2 + v**2 / sigma2[:, None, None] ** 2))
    return k / k.sum(dim=(1, 2), keepdim=True)


def random_kernel_gallery(
    n: int = 3200,
    size: int = 21,
    sigma_min: float = 0.175,
    sigma_max: float = 6.0,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The paper's RKG: ``(n, size, size)`` Gaussians, σ₁, σ₂ ~ U[σmin, σmax], θ ~ U[0, π)."""
    if n < 1 or size < 1 or size % 2 == 0:
        raise ValueError("need n ≥ 1 and an odd size")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError("need 0 < sigma_min <= sigma_max")
    sig = sigma_min + (sigma_max - sigma_min) * torch.rand(
        n, 2, generator=generator, dtype=torch.float64
    )
    theta = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    return gaussian_kernels(sig[:, 0], sig[:, 1], theta, size).to(dtype)
