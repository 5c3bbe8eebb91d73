"""Training pairs for the image-free ``scenes`` objective: procedural scenes, degraded under a
bank entry's prior (blur, then maybe JPEG or noise), upsampled back with the engine's bicubic
(``align_corners=False``, the first step of :mod:`nssr_cli.engine.reference`); and the inputs
the kernel choice is calibrated on (:func:`synthetic_input`, :func:`in_family`;
:mod:`nssr_cli.quality.calibrate`)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.synth.degradations import (
    OTHER_DOWNSCALERS,
    add_noise,
    blur_subsample,
    classic_lr,
    degrade,
    div2krk_lr,
    gaussian,
    jpeg_roundtrip,
    modcrop,
    recipe_kernel,
)
from nssr_cli.synth.levels import DEGRADATIONS, split_prior
from nssr_cli.synth.scenes import content_scene, scene

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


# The widest optical blur (Gaussian σ, HR pixels) a calibration scene's HR carries. A camera's
# lens and sensor leave a contrast of about 0.1–0.3 at the Nyquist frequency (σ ≈ 0.5–0.7 px),
# a photo scaled down for the screen more; σ = 0.75 leaves 0.06. An HR blurrier than that has
# nothing in the top of its band: not the sharp image an upscale aims at (docs/quality.md,
# "Calibration, on synthetic scenes only").
OPTICS_MAX = 0.75


def synthetic_input(
    scale: int, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray, bool]:
    """One calibration scene ``(kind, hr (H, W, 1) float64, lr (h, w, 1) float64, sharp)``: half
    of them sharp, the others blurred by a DIV2KRK-recipe kernel.

    A sharp one is the classic bicubic downscale half of the time, else one of Pillow's other
    antialiased filters (:data:`~nssr_cli.synth.degradations.OTHER_DOWNSCALERS`): people's
    images come from every common downscaler. A triangle (bilinear) one is softer than bicubic
    and takes `light` best; calibrated on bicubic ones alone, the ×2 clean rule gave such photos
    `medium` (Kite −1.5 dB; docs/quality.md, "Sharp inputs from five downscalers")."""
    kind, hr = content_scene(int(rng.integers(48, 160)) * scale, rng, scale)
    x = hr[:, :, None]
    optics = rng.uniform(0, OPTICS_MAX)
    if kind != "graphics" and rng.uniform() < 0.7 and optics > 0.05:
        r = math.ceil(3 * optics)
        k = gaussian(2 * r + 1, optics**2, optics**2, 0.0)
        x = blur_subsample(x, k / k.sum(), 1)
    x = modcrop(x, scale)
    sharp = bool(rng.uniform() < 0.5)
    if not sharp:
        return kind, x, div2krk_lr(x, recipe_kernel(scale, rng), scale), sharp
    others = OTHER_DOWNSCALERS
    resample = "bicubic" if rng.uniform() < 0.5 else others[int(rng.integers(len(others)))]
    return kind, x, classic_lr(x, scale, resample), sharp


def in_family(lr: np.ndarray, family: str, rng: np.random.Generator) -> np.ndarray:
    """``lr`` as a file of ``family`` would carry it: JPEG at a quality, or noise of a σ, drawn
    from the family's range; uint8 ``(h, w, 1)``."""
    x = np.round(lr * 255).astype(np.uint8)
    if family == "clean":
        return x
    kind, lo, hi = DEGRADATIONS[family]
    if kind == "jpeg":
        return jpeg_roundtrip(x, int(rng.integers(int(lo), int(hi) + 1)))
    return add_noise(x, float(rng.uniform(lo, hi)), rng)
