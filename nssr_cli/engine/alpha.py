"""Colour with an alpha plane: resampled premultiplied, so transparent pixels weigh nothing.

Upscaling straight (non-premultiplied) colour mixes the colour of fully transparent pixels —
often black — into the visible ones beside them: opaque white next to transparent black came out
with dark fringes (R 197, even 58 once sharpened, where Pillow's premultiplied resize gives 255).

Alpha itself is upscaled with plain bicubic ``B`` (sharpening alpha makes halos). Colour ``C``
goes through the chosen operator ``L`` (bicubic + the inverse-blur kernel) as a *normalized
convolution*: ``C' = L(C·α) / L(α)``. Each output colour is then an affine combination of the
visible neighbours' colours with weights summing to one, so a uniform colour comes out exactly
at any alpha, and where every neighbour is opaque this is plain ``L(C)``. Dividing ``L(C·α)`` by
the *bicubic* alpha instead (the output's alpha) mixes two different filters: the kernel's
negative lobes then pull ``C'`` below ``C`` right at the edge (the dark fringe again). Sharpening
straight colour first and compositing after would need the colour of transparent pixels, which
means nothing. Where the sharpened weight ``L(α)`` collapses (below half of ``B(α)``, just
outside an edge, where the negative lobes dominate) the ratio is unstable, and the colour is the
bicubic one, ``B(C·α) / B(α)``: unsharpened there, still exact for a uniform colour.
"""

from __future__ import annotations

import numpy as np

from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.plans import AnyPlan, upscale_into, upscale_planes

_ROWS = 256  # rows per block of the final division: its float temporaries stay small


def upscale_with_alpha(
    color: np.ndarray,
    alpha: np.ndarray,
    plan: AnyPlan,
    alpha_plan: AnyPlan,
    *,
    tile: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Upscale ``color`` (``(H, W)`` or ``(H, W, C)``) and its ``alpha`` (``(H, W)``), both uint8
    or both uint16: colour premultiplied by alpha through ``plan``, alpha through
    ``alpha_plan`` (bicubic). Returns both at the output size, same dtypes and layouts, rounded.

    A fully opaque alpha takes the plain path (bit-identical to upscaling colour alone). Output
    pixels whose written alpha rounds to 0 get colour 0, as Pillow's premultiplied resampling
    gives them (also where the sharpened weight ``L(α)`` is still above 0).
    """
    peak = float(np.iinfo(alpha.dtype).max)
    if alpha.min() == peak:
        return upscale_planes(color, plan, tile=tile), upscale_planes(alpha, alpha_plan, tile=tile)
    col = color if color.ndim == 3 else color[:, :, None]
    c = col.shape[2]
    pre = np.empty((*col.shape[:2], c + 1), np.float32)  # C·α (colour units) and α
    pre[..., c] = alpha
    np.multiply(col, pre[..., c:] / np.float32(peak), out=pre[..., :c])
    shape = (*output_size(*col.shape[:2], plan.scale), c + 1)
    sharp, soft = np.empty(shape, np.float32), np.empty(shape, np.float32)
    upscale_into(sharp, pre, plan, peak=np.inf, tile=tile)  # clamped at 0 only
    upscale_into(soft, pre, alpha_plan, peak=np.inf, tile=tile)
    del pre
    out_color = np.empty((*shape[:2], c), color.dtype)
    for y0 in range(0, shape[0], _ROWS):  # in place, block by block: `sharp` is spent after
        s, b = sharp[y0 : y0 + _ROWS], soft[y0 : y0 + _ROWS]
        np.copyto(s, b, where=(s[..., c] < 0.5 * b[..., c])[..., None])  # untrusted: bicubic
        den = s[..., c]
        shown = b[..., c] >= 0.5  # where the written alpha, rounded, is not 0
        gain = np.divide(peak, den, out=np.zeros_like(den), where=(den > 0) & shown)
        straight = s[..., :c]
        straight *= gain[..., None]
        out_color[y0 : y0 + _ROWS] = _rounded(straight, peak, color.dtype)
    out_alpha = _rounded(soft[..., c], peak, alpha.dtype)
    return (out_color if color.ndim == 3 else out_color[..., 0]), out_alpha


def _rounded(values: np.ndarray, peak: float, dtype: np.dtype) -> np.ndarray:
    """Float values in output units → ``dtype``: clamped to ``[0, peak]``, rounded half up
    (after the clamp, ``+ 0.5`` then truncation is rounding). Overwrites ``values``."""
    np.clip(values, 0.0, peak, out=values)
    values += 0.5
    return values.astype(dtype)
