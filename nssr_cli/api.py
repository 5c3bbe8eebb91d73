"""The library entry: :func:`upscale_array`, the one place where a kernel choice meets the engine.

Rank 4: may import ``kernels``, ``dil``, ``engine``, ``synth``, ``files``, ``errors`` and
``system``.
"""

from __future__ import annotations

import math

import numpy as np

from nssr_cli.engine.device import resolve_device
from nssr_cli.engine.geometry import check_scale, output_size
from nssr_cli.engine.plans import cached_plan, check_image, upscale_checked
from nssr_cli.errors import UsageError
from nssr_cli.kernels.bank import select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.kernels.names import warn_other_scale
from nssr_cli.system import memory_shortfall


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

    Raises :class:`~nssr_cli.errors.UsageError` for a bad argument, and before any work for an
    output that would not fit in the memory available (naming the size it needs);
    :class:`~nssr_cli.errors.KernelError` for a kernel that is not a valid one: both
    subclasses of :class:`~nssr_cli.errors.NssrError`.
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
    _check_memory(image, scale)  # before the choice or the output allocates anything
    device = resolve_device(device, argument=True)  # before the choice, which may take time
    h = select_kernel(image, scale, "auto").kernel if kernel is None else resolve_kernel(kernel)[0]
    if isinstance(kernel, str):  # a bank kernel solved for another scale: the CLI's warning
        warn_other_scale(kernel, scale)
    return upscale_checked(image, cached_plan(h, scale, device), tile=tile)


def _check_memory(image: np.ndarray, scale: float) -> None:
    """:class:`UsageError` naming the output's shape and size when it would not fit in the
    memory available now, as ``nssr upscale`` refuses such a file."""
    shape = (*output_size(*image.shape[:2], scale), *image.shape[2:])
    need = math.prod(shape) * image.dtype.itemsize
    problem = memory_shortfall(need, f"the output array {shape} {image.dtype}")
    if problem is not None:
        raise UsageError(f"{problem}; use a smaller scale or upscale a smaller image")
