"""Procedural training scenes: no photographs, no downloads.

* Dead leaves: opaque discs dropped one over another, radii drawn from a power law
  (density ∝ r⁻³, scale invariant, so the power spectrum falls off about like 1/f², as natural
  images do), rendered with 2× supersampling so edges are antialiased.
* 1/f² Gaussian random fields: white noise shaped to an amplitude spectrum ∝ 1/f.

Scenes are ``(size, size)`` float64 grey images in ``[0, 1]``; randomness comes from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np


def _radius(rng: np.random.Generator, r_min: float, r_max: float) -> float:
    """A radius with density ∝ r⁻³ on ``[r_min, r_max]`` (inverse-CDF sampling)."""
    u = rng.uniform()
    return float((r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5)


def dead_leaves(
    size: int,
    rng: np.random.Generator,
    *,
    r_min: float = 1.0,
    r_max: float | None = None,
    discs: int | None = None,
) -> np.ndarray:
    """A dead-leaves scene ``(size, size)`` float64 in [0, 1], radii in HR pixels."""
    ss = 2  # supersampling factor
    n = size * ss
    r_max = r_max if r_max is not None else size / 3
    discs = discs if discs is not None else 6 * size
    img = np.full((n, n), rng.uniform())
    for _ in range(discs):
        r = _radius(rng, r_min, r_max) * ss
        cy, cx = rng.uniform(-r, n + r, size=2)
        y0, y1 = max(0, int(cy - r)), min(n, int(cy + r) + 2)
        x0, x1 = max(0, int(cx - r)), min(n, int(cx + r) + 2)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1)[:, None] + 0.5 - cy
        xx = np.arange(x0, x1)[None, :] + 0.5 - cx
        mask = yy**2 + xx**2 < r * r
        img[y0:y1, x0:x1][mask] = rng.uniform()
    return img.reshape(size, ss, size, ss).mean(axis=(1, 3))


def power_law_field(size: int, rng: np.random.Generator, exponent: float = 2.0) -> np.ndarray:
    """A Gaussian random field with power spectrum ∝ 1/f^exponent, ``(size, size)`` in [0, 1]."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fy**2 + fx**2)
    f[0, 0] = 1.0
    spec = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) * f ** (-exponent / 2)
    spec[0, 0] = 0.0
    x = np.fft.irfft2(spec, s=(size, size))
    x = (x - x.mean()) / (x.std() + 1e-12)
    return np.clip(0.5 + 0.18 * x, 0.0, 1.0)


def scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """One training scene: dead leaves (most of the time) or a 1/f² field."""
    if rng.uniform() < 0.75:
        return dead_leaves(size, rng)
    return power_law_field(size, rng)
