"""Degradations for measuring (README, "Quality") and for synthetic training data.

* The DIV2KRK recipe: a random anisotropic Gaussian blur kernel with multiplicative noise, its
  centre of mass moved so that low-resolution (LR) pixel ``i`` sits at high-resolution (HR)
  coordinate ``s·i + (s−1)/2`` (PyTorch's ``align_corners=False`` convention), correlation with
  half-sample-symmetric borders (``scipy.ndimage``'s ``reflect``, as KernelGAN used), keep pixels
  ``0, s, 2s, …``, round to 8 bits.
* The classic protocol: Pillow's antialiased bicubic downscale (same pixel-centre convention);
  Pillow's other antialiased filters (:data:`DOWNSCALERS`) make the sharp inputs people also
  bring: a triangle (``bilinear``) downscale is softer, a ``box`` one sharper.
* What real inputs add on top: a JPEG round trip at a given quality (Pillow's encoder, IJG
  tables, 4:2:0 chroma for colour) and Gaussian noise on the 8-bit scale, clipped and rounded.

Images here are ``(H, W, C)`` ``float64`` in ``[0, 1]`` unless a function says ``uint8``.
Blur kernels from this module are *correlation* kernels (the recipe correlates), ``float64``,
non-negative, summing to 1.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nssr_cli.synth.levels import BLUR_PRIORS, DEGRADATIONS, DIV2KRK_EIGEN_RANGE, split_prior

KERNEL_SIZES = {2: 11, 3: 21, 4: 31}
EIGEN_RANGE = DIV2KRK_EIGEN_RANGE
NOISE_LEVEL = 0.25


def gaussian(size: int, lam1: float, lam2: float, theta: float) -> np.ndarray:
    """``(size, size)`` anisotropic Gaussian centred at ``size//2`` with covariance eigenvalues
    ``lam1, lam2`` (pixels²) along axes rotated by ``theta``; unnormalised."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([lam1, lam2]) @ rot.T)
    ax = np.arange(size) - size // 2
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    z = np.stack([xx, yy], axis=-1)
    return np.exp(-0.5 * np.einsum("...i,ij,...j->...", z, inv, z))


def centre_of_mass(k: np.ndarray) -> tuple[float, float]:
    """``(row, col)`` centre of mass of a 2-D kernel, in its own pixel indices."""
    idx = np.arange(k.shape[0], dtype=np.float64)
    total = k.sum()
    return float((k.sum(axis=1) * idx).sum() / total), float((k.sum(axis=0) * idx).sum() / total)


def _shift_matrix(n: int, d: float) -> np.ndarray:
    """``(n, n)`` matrix shifting a length-``n`` signal by ``d`` samples (Keys cubic, a = −0.5,
    zero outside). Keys' cubic reproduces linear functions, so the first moment moves by ``d``."""
    t = np.arange(n)[:, None] - d - np.arange(n)[None, :]
    a = np.abs(t)
    near = 1.5 * a**3 - 2.5 * a**2 + 1
    far = -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return np.where(a <= 1, near, np.where(a < 2, far, 0.0))


def shift_to(k: np.ndarray, target: float) -> np.ndarray:
    """Move ``k``'s centre of mass to ``(target, target)``; clip at 0 and renormalise to sum 1."""
    cy, cx = centre_of_mass(k)
    for _ in range(10):  # clipping moves the mass a hair; a few more (tiny) shifts settle it
        k = _shift_matrix(k.shape[0], target - cy) @ k @ _shift_matrix(k.shape[1], target - cx).T
        k = np.clip(k, 0, None)
        k = k / k.sum()
        cy, cx = centre_of_mass(k)
        if max(abs(target - cy), abs(target - cx)) < 1e-7:
            break
    return k


def sampling_centre(size: int, scale: int) -> float:
    """Where a kernel's centre of mass must sit: ``size//2 + 0.5·(s − size%2)``: for an odd
    ``size``, LR pixel ``i`` (HR pixel ``s·i``, correlated) then sits at HR ``s·i + (s−1)/2``."""
    return size // 2 + 0.5 * (scale - size % 2)


def recipe_kernel(
    scale: int, rng: np.random.Generator, eigen_range: tuple[float, float] = EIGEN_RANGE
) -> np.ndarray:
    """One DIV2KRK-recipe blur kernel for ``scale`` ∈ {2, 3, 4}: ``(size, size)`` float64
    correlation kernel, sum 1, centre of mass at :func:`sampling_centre`.

    ×2: 11×11, eigenvalues ~ U[eigen_range]; ×3: 21×21, eigenvalues ×2.25;
    ×4: ``k₂ ⊛ dilate₂(k₂)`` (31×31) from one ×2 kernel."""
    if scale not in KERNEL_SIZES:
        raise ValueError(f"the DIV2KRK recipe covers scales 2, 3, 4, not {scale}")
    lo, hi = eigen_range
    lam = rng.uniform(lo, hi, size=2) * (2.25 if scale == 3 else 1.0)
    theta = rng.uniform(0, math.pi)
    size = 21 if scale == 3 else 11
    k = gaussian(size, lam[0], lam[1], theta)
    k = np.clip(k * (1 + rng.uniform(-NOISE_LEVEL, NOISE_LEVEL, size=k.shape)), 0, None)
    k = k / k.sum()
    if scale == 4:
        dil = np.zeros((21, 21))
        dil[::2, ::2] = k
        k = F.conv2d(
            torch.from_numpy(np.pad(k, 20))[None, None],
            torch.from_numpy(dil[::-1, ::-1].copy())[None, None],
        )[0, 0].numpy()  # full convolution k ⊛ dilate₂(k): 31×31
    return shift_to(k, sampling_centre(k.shape[0], scale))


def effective_sigma(k: np.ndarray, scale: int) -> float:
    """``√(trace(cov)/2)/s``: a blur kernel's width in LR pixels (how blurred the LR looks)."""
    idx = np.arange(k.shape[0], dtype=np.float64)
    cy, cx = centre_of_mass(k)
    vy = (k.sum(axis=1) * (idx - cy) ** 2).sum()
    vx = (k.sum(axis=0) * (idx - cx) ** 2).sum()
    return math.sqrt((vy + vx) / 2) / scale


def image_seed(name: str, scale: int, salt: str = "nssr-eval") -> int:
    """The fixed seed of one benchmark image at one scale (stable across runs and machines)."""
    return zlib.crc32(f"{salt}:{name}:{scale}".encode())


def modcrop(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop ``(H, W, …)`` to multiples of ``scale`` (bottom/right), so LR is exactly ``H/s``."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return hr[:h, :w]


def blur_subsample(hr: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """Correlate ``(H, W, C)`` float with ``kernel`` (symmetric borders) and keep pixels
    ``0, s, 2s, …``: ``(⌈H/s⌉, ⌈W/s⌉, C)`` float64, not rounded."""
    if kernel.shape[0] % 2 == 0:
        raise ValueError("blur kernels here are odd-sized")
    p = kernel.shape[0] // 2
    x = np.pad(hr.transpose(2, 0, 1), ((0, 0), (p, p), (p, p)), mode="symmetric")
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))[:, None]
    w = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float64))[None, None]
    out = F.conv2d(x, w, stride=scale)[:, 0].numpy()  # conv2d correlates
    rows, cols = -(-hr.shape[0] // scale), -(-hr.shape[1] // scale)
    return out[:, :rows, :cols].transpose(1, 2, 0)


def quantize(x: np.ndarray) -> np.ndarray:
    """Round float ``[0, 1]`` to the 8-bit grid (still float64)."""
    return np.clip(np.round(x * 255.0), 0, 255) / 255.0


def div2krk_lr(hr: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """DIV2KRK LR of a modcropped HR image: uint8 in → uint8 out; float in → 8-bit-rounded float."""
    as_uint8 = hr.dtype == np.uint8
    x = hr.astype(np.float64) / 255.0 if as_uint8 else hr
    lr = quantize(blur_subsample(x, kernel, scale))
    return np.round(lr * 255).astype(np.uint8) if as_uint8 else lr


# Pillow's antialiased resampling filters, by name: the sharp downscales people's images come
# from (photo tools and libraries use all of these; ``bicubic`` is the classic protocol's).
DOWNSCALERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
OTHER_DOWNSCALERS = tuple(d for d in DOWNSCALERS if d != "bicubic")  # all but the classic one


def classic_lr(hr: np.ndarray, scale: int, resample: str = "bicubic") -> np.ndarray:
    """Antialiased downscale of a modcropped ``(H, W, C)`` image by an integer ``scale`` with
    Pillow's ``resample`` filter (:data:`DOWNSCALERS`; bicubic: the classic protocol); uint8 in →
    uint8 out, float in → 8-bit-rounded float out."""
    as_uint8 = hr.dtype == np.uint8
    x = hr.astype(np.float32) if as_uint8 else (hr * 255.0).astype(np.float32)
    size = (hr.shape[1] // scale, hr.shape[0] // scale)
    how = DOWNSCALERS[resample]
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(x[:, :, c])).resize(size, how))
        for c in range(hr.shape[2])
    ]
    lr = np.clip(np.round(np.stack(planes, axis=-1)), 0, 255)
    return lr.astype(np.uint8) if as_uint8 else lr / 255.0


def jpeg_roundtrip(lr: np.ndarray, quality: int) -> np.ndarray:
    """``lr`` saved as JPEG at ``quality`` (Pillow's defaults otherwise) and decoded again.
    ``(H, W, C)`` with C = 1 (greyscale JPEG) or 3; uint8 in → uint8 out, float in → float out."""
    import io

    as_uint8 = lr.dtype == np.uint8
    x = lr if as_uint8 else np.round(np.clip(lr, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(x[:, :, 0] if x.shape[2] == 1 else x).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im).reshape(x.shape)
    return out if as_uint8 else out / 255.0


def add_noise(lr: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``lr`` plus Gaussian noise of ``sigma`` on the 8-bit scale, clipped and rounded to 8 bits;
    uint8 in → uint8 out, float in → float out."""
    as_uint8 = lr.dtype == np.uint8
    x = lr.astype(np.float64) if as_uint8 else lr * 255.0
    out = np.clip(np.round(x + rng.normal(0.0, sigma, lr.shape)), 0, 255)
    return out.astype(np.uint8) if as_uint8 else out / 255.0


def degrade(hr: np.ndarray, scale: int, prior: str, rng: np.random.Generator) -> np.ndarray:
    """LR of a modcropped ``(H, W, C)`` float HR under the prior named ``prior`` (a blur level,
    optionally with a degradation, :func:`~nssr_cli.synth.levels.split_prior`: a fresh kernel,
    quality or σ drawn from ``rng``); 8-bit-rounded float64."""
    blur, degradation = split_prior(prior)
    eigen = BLUR_PRIORS[blur]
    if eigen is None:
        lr = classic_lr(hr, scale)
    else:
        lr = div2krk_lr(hr, recipe_kernel(scale, rng, eigen), scale)
    if degradation is None:
        return lr
    kind, lo, hi = DEGRADATIONS[degradation]
    if kind == "jpeg":
        return jpeg_roundtrip(lr, int(rng.integers(int(lo), int(hi) + 1)))
    return add_noise(lr, float(rng.uniform(lo, hi)), rng)
