"""Procedural training scenes: no photographs, no downloads.

* Dead leaves: opaque discs dropped one over another, radii drawn from a power law
  (density ∝ r⁻³, scale invariant, so the power spectrum falls off about like 1/f², as natural
  images do), rendered with 2× supersampling so edges are antialiased.
* 1/f² Gaussian random fields: white noise shaped to an amplitude spectrum ∝ 1/f.
* For calibrating the kernel choice on what users also bring (:func:`content_scene`): dead leaves
  as photographs are (discs from 0.75–2.5 LR px up at every scale, few enough that flat regions
  lie between edges; with the default tiny discs every 8×8 block holds an edge and the noise
  estimate reads it as noise),
  1/f^β fields (β 1.6–3), periodic textures (gratings, bricks and tiles), stochastic ones
  (gravel-like tiny leaves, rough 1/f^β fields with β < 1.6), text and strokes (Pillow's
  built-in font, lines), flat graphics (polygons of flat colour on gradients, half of them
  without antialiasing) and soft content as skies, clouds and fog are (a gradient under faint
  smooth wisps, half with a dark silhouette along the bottom): sharp at its own scale yet with
  no crisp edge, so every blur measure reads it as blurred, and sharpening costs it dB; and
  bokeh, a sharp subject on a defocused background, as portraits and close-ups are: mostly
  smooth, so it reads blurred too, yet its few edges are sharp (sparse gradients, as
  photographs': :mod:`nssr_cli.kernels.sparsity`).

Scenes are ``(size, size)`` float64 grey images in ``[0, 1]``; randomness comes from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont


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


def _gratings(size: int, rng: np.random.Generator) -> np.ndarray:
    """One to three sine or antialiased square-wave gratings, periods 2.5–24 px, any angle."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.zeros((size, size))
    for _ in range(int(rng.integers(1, 4))):
        theta = rng.uniform(0, math.pi)
        period = math.exp(rng.uniform(math.log(2.5), math.log(24)))
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period
        wave = np.sin(phase + rng.uniform(0, 2 * math.pi))
        if rng.uniform() < 0.5:
            wave = np.tanh(rng.uniform(2, 20) * wave)
        img += rng.uniform(0.3, 1) * wave
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    lo = rng.uniform(0, 0.5)
    return lo + rng.uniform(0.2, 1 - lo) * img


def _bricks(size: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of bricks or tiles (4–24 px high) with mortar lines, a shade per brick and a fine
    grain, 4× supersampled, sometimes rotated."""
    ss = 4
    bh = rng.uniform(4, 24)
    bw = bh * rng.uniform(1.0, 3.0)
    mortar = rng.uniform(0.5, 2.5)
    yy, xx = np.mgrid[0 : size * ss, 0 : size * ss] / ss
    row = np.floor(yy / bh)
    x = xx + (row % 2) * bw * rng.uniform(0.3, 0.7)
    col = np.floor(x / bw)
    inside = ((yy % bh) > mortar) & ((x % bw) > mortar)
    shades = rng.uniform(0.3, 0.9, (int(row.max()) + 1, int(col.max()) + 1))
    img = np.where(inside, shades[row.astype(int), col.astype(int)], rng.uniform())
    img = img.reshape(size, ss, size, ss).mean(axis=(1, 3))
    img += rng.uniform(0, 0.08) * (power_law_field(size, rng, rng.uniform(0.5, 1.5)) - 0.5)
    if rng.uniform() < 0.5:
        im = Image.fromarray(img.astype(np.float32))
        im = im.rotate(rng.uniform(-30, 30), Image.BICUBIC, fillcolor=float(img.mean()))
        img = np.asarray(im, dtype=np.float64)
    return np.clip(img, 0, 1)


def _text(size: int, rng: np.random.Generator) -> np.ndarray:
    """Lines of random characters (Pillow's built-in font, 7–28 px) or random strokes, dark on
    light or light on dark, 4× supersampled."""
    ss = 4
    bg, fg = rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.3)
    if rng.uniform() < 0.3:
        bg, fg = 1 - bg, 1 - fg
    im = Image.new("F", (size * ss, size * ss), float(bg))
    draw = ImageDraw.Draw(im)
    if rng.uniform() < 0.6:
        px = float(rng.uniform(7, 28))
        font = ImageFont.load_default(size=px * ss)
        chars = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;:-")
        y = rng.uniform(-px, px) * ss
        while y < size * ss:
            line = "".join(rng.choice(chars, size=int(2 * size / px) + 2))
            draw.text((rng.uniform(-px, 0) * ss, y), line, fill=float(fg), font=font)
            y += px * rng.uniform(1.1, 1.8) * ss
    else:
        for _ in range(int(rng.integers(5, 40))):
            points = [tuple(rng.uniform(0, size * ss, 2)) for _ in range(int(rng.integers(2, 5)))]
            shade = float(fg if rng.uniform() < 0.8 else rng.uniform())
            draw.line(points, fill=shade, width=max(1, int(rng.uniform(0.7, 4) * ss)))
    return np.asarray(im.resize((size, size), Image.BOX), dtype=np.float64)


def _graphics(size: int, rng: np.random.Generator) -> np.ndarray:
    """Rectangles, ellipses and triangles of flat colour, sometimes on a linear gradient; half
    the time drawn without antialiasing (pixel art, screenshots)."""
    ss = 4 if rng.uniform() < 0.5 else 1
    n = size * ss
    yy, xx = np.mgrid[0:n, 0:n] / n
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(theta) + yy * math.sin(theta)) * rng.uniform(-0.4, 0.4)
    img = rng.uniform() + (ramp if rng.uniform() < 0.4 else 0.0)
    im = Image.fromarray(np.asarray(img, dtype=np.float32) * np.ones((n, n), np.float32))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 25))):
        shade = float(rng.uniform())
        x0, y0 = rng.uniform(-0.2, 1, 2) * n
        w, h = rng.uniform(0.03, 0.6, 2) * n
        kind = int(rng.integers(3))
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=shade)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=shade)
        else:
            draw.polygon([tuple(rng.uniform(0, n, 2)) for _ in range(3)], fill=shade)
    out = np.asarray(im, dtype=np.float64).reshape(size, ss, size, ss).mean(axis=(1, 3))
    return np.clip(out, 0, 1)


def _sky(size: int, rng: np.random.Generator) -> np.ndarray:
    """Soft content, as skies, clouds, fog and smooth backgrounds are: a gentle gradient under a
    faint smooth 1/f^β field (β 2.2–3.6, contrast 1–9 % of the range: wisps, not texture),
    and half of the time a flat dark silhouette along the bottom (a horizon, a tree line)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(angle) * xx + math.sin(angle) * yy
    img = rng.uniform(0.2, 0.8) + rng.uniform(-0.3, 0.3) * (ramp - ramp.mean())
    img = img + (power_law_field(size, rng, rng.uniform(2.2, 3.6)) - 0.5) * rng.uniform(0.05, 0.5)
    if rng.uniform() < 0.5:
        ss = 4  # the silhouette's edge, antialiased
        xs = (np.arange(size * ss) + 0.5) / ss
        phase, period = rng.uniform(0, 2 * math.pi, 2), rng.uniform(0.1, 0.6, 2) * size
        top = size * rng.uniform(0.6, 0.9) + sum(
            rng.uniform(1, 0.06 * size) * np.sin(2 * math.pi * xs / p + f)
            for p, f in zip(period, phase, strict=True)
        )
        ys = (np.arange(size * ss) + 0.5)[:, None] / ss
        cover = (ys >= top[None, :]).reshape(size, ss, size, ss).mean(axis=(1, 3))
        img = img * (1 - cover) + rng.uniform(0.0, 0.3) * cover
    return np.clip(img, 0.0, 1.0)


def _photo_leaves(size: int, rng: np.random.Generator, scale: int) -> np.ndarray:
    """Dead leaves as photographs are at every scale (:func:`content_scene`): flat regions
    between edges, smallest discs 0.75–2.5 LR pixels."""
    r_min = rng.uniform(1.5, 5) * scale / 2
    return dead_leaves(size, rng, r_min=r_min, discs=int(size * 2 / scale * rng.uniform(1, 3)))


def _bokeh(size: int, rng: np.random.Generator, scale: int) -> np.ndarray:
    """A sharp subject (photo-like dead leaves inside an ellipse 15–40 % of the frame across,
    its edge antialiased) on a defocused background (the same kind of scene under a Gaussian of
    1–4 LR pixels)."""
    back = cv2.GaussianBlur(_photo_leaves(size, rng, scale), (0, 0), rng.uniform(2, 8) * scale / 2)
    subject = _photo_leaves(size, rng, scale)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    a, b = rng.uniform(0.15, 0.4, 2) * size
    theta = rng.uniform(0, math.pi)
    u = ((xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)) / a
    v = ((yy - cy) * math.cos(theta) - (xx - cx) * math.sin(theta)) / b
    inside = np.clip(0.5 - (np.sqrt(u * u + v * v) - 1) * min(a, b), 0, 1)  # 1-px ramp
    return back * (1 - inside) + subject * inside


CONTENT = ("leaves", "field", "periodic", "stochastic", "text", "graphics", "sky", "bokeh")


def content_scene(size: int, rng: np.random.Generator, scale: int = 2) -> tuple[str, np.ndarray]:
    """One calibration scene of a kind drawn evenly from :data:`CONTENT`: ``(kind, (size,
    size) float64 in [0, 1])``, ``size`` in HR pixels of an upscale by ``scale``.

    Dead leaves look the same in the LR at every scale, as a photograph downscaled for the
    screen does (its statistics are scale invariant): smallest discs 0.75–2.5 LR pixels, as
    many discs per LR pixel. Drawn in HR pixels they would be denser and finer in the LR the
    larger the scale, and at ×3 and ×4 most would read noisy (noise estimate σ̂ median 1.9 and
    2.3 where photographs read about 0.5)."""
    kind = CONTENT[int(rng.integers(len(CONTENT)))]
    if kind == "leaves":  # as photographs are: flat regions between edges (tiny discs: stochastic)
        return kind, _photo_leaves(size, rng, scale)
    if kind == "bokeh":
        return kind, _bokeh(size, rng, scale)
    if kind == "field":
        return kind, power_law_field(size, rng, rng.uniform(1.6, 3.0))
    if kind == "periodic":
        return kind, (_gratings if rng.uniform() < 0.5 else _bricks)(size, rng)
    if kind == "stochastic":
        if rng.uniform() < 0.5:
            tiny = int(size * size / rng.uniform(4, 12))
            return kind, dead_leaves(size, rng, r_min=0.5, r_max=rng.uniform(2, 8), discs=tiny)
        return kind, power_law_field(size, rng, rng.uniform(0.5, 1.6))
    if kind == "sky":
        return kind, _sky(size, rng)
    return kind, (_text if kind == "text" else _graphics)(size, rng)
