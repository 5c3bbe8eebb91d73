"""The library entry: :func:`upscale_array`, the one place where a kernel choice meets the engine.

Rank 4: may import ``kernels``, ``dil``, ``engine``, ``synth``, ``files`` and ``errors``.
"""

from __future__ import annotations

import numpy as np

from nssr_cli.engine.device import resolve_device
from nssr_cli.engine.geometry import check_scale
from nssr_cli.engine.plans import cached_plan, check_image, upscale_checked
from nssr_cli.errors import UsageError
from nssr_cli.kernels.bank import select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.kernels.names import warn_other_scale


def upscale_array(
    image: np.ndarray,
    scale: float,
    kernel: str | np.ndarray | list[list[float]] | None = None,
    device: str = "auto",
    *,
    tile: int | None = None,
) -> np.ndarray:
    """Upscale an image array by ``scale`` with bicubic + one inverse-blur convolution.

    ``image``: ``H×W`` or ``H×W×C``, uint8, uint16 or float32 in [0, 1]; every channel is
    sharpened (split off an alpha channel first if it should stay soft). ``kernel``: ``None``
    (chosen for this image by its estimated blur, like ``nssr upscale --blur auto``), a
    built-in name (``"dil"``: the paper's), a path to an exported ``.npy``, or a 2-D odd square
    convolution kernel (an array, or a list of rows). Returns the same dtype and layout at
    ``round(s·H) × round(s·W)``.
    """
    image = np.asarray(image)
    if not image.dtype.isnative:  # big-endian uint16 from FITS or tifffile: the same numbers
        image = image.astype(image.dtype.newbyteorder("="))
    if isinstance(kernel, str) and not kernel.strip():
        raise UsageError("kernel is empty; give a name, a path or an array, or None to choose")
    check_image(image, warn=True)  # once, before the choice reads it
    if isinstance(kernel, (list, tuple)):  # rows of taps, as a JSON kernel file holds them
        try:
            kernel = np.asarray(kernel, dtype=np.float32)
        except (ValueError, TypeError):
            raise UsageError("a kernel given as a list must be rows of numbers") from None
    scale = check_scale(scale)
    device = resolve_device(device, argument=True)  # before the choice, which may take time
    h = select_kernel(image, scale, "auto").kernel if kernel is None else resolve_kernel(kernel)[0]
    if isinstance(kernel, str):  # a bank kernel solved for another scale: the CLI's warning
        warn_other_scale(kernel, scale)
    return upscale_checked(image, cached_plan(h, scale, device), tile=tile)
