"""One entry for both executors: prepare a plan for a ``(kernel, scale, device)``, upscale arrays.

On the CPU the plan runs :mod:`nssr_cli.engine.cpu` (NumPy and OpenCV; PyTorch is never
imported); on CUDA, PyTorch's :mod:`nssr_cli.engine.tiles`. Both produce the reference output
(:mod:`nssr_cli.engine.reference`) within float32 rounding.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nssr_cli.engine.cpu import CpuPlan, make_cpu_plan
from nssr_cli.engine.cpu import upscale_into as cpu_upscale_into
from nssr_cli.engine.device import default_tile, resolve_device
from nssr_cli.engine.geometry import output_size
from nssr_cli.errors import NssrWarning, UsageError, caller_stacklevel

if TYPE_CHECKING:
    from nssr_cli.engine.torch_polyphase import Plan as TorchPlan

AnyPlan = Union[CpuPlan, "TorchPlan"]

PEAK = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


def make_plan(kernel: np.ndarray, scale: float, device: Any = "auto", *, torch: bool = False):
    """Prepare ``kernel`` (odd square convolution kernel) for upscaling by ``scale`` on
    ``device`` (``auto``, ``cpu``, ``cuda``). ``torch=True`` runs PyTorch even on the CPU (the
    previous engine: for cross-checks and benchmarks)."""
    dev = resolve_device(device)
    if dev == "cpu" and not torch:
        return make_cpu_plan(kernel, scale)
    from nssr_cli.engine.torch_polyphase import make_plan as make_torch_plan

    return make_torch_plan(kernel, scale, dev)


def cached_plan(kernel: np.ndarray, scale: float, device: Any = "auto") -> AnyPlan:
    """:func:`make_plan`, remembered for repeated calls with the same (kernel, scale, device)."""
    h = np.ascontiguousarray(kernel, dtype=np.float32)
    return _cached_plan(h.tobytes(), h.shape[0], float(scale), resolve_device(device))


@lru_cache(maxsize=32)
def _cached_plan(kernel: bytes, size: int, scale: float, device: str) -> AnyPlan:
    h = np.frombuffer(kernel, dtype=np.float32).reshape(size, size).copy()
    return make_plan(h, scale, device)


def check_image(image: np.ndarray, *, warn: bool = False) -> None:
    """:class:`UsageError` unless ``image`` is an ``H×W`` or ``H×W×C`` array, none of them 0,
    of uint8, uint16, or float32 holding no NaN or infinity; with ``warn``, a
    :class:`NssrWarning` for float32 values far outside [0, 1] (an image on the 0–255 scale
    would come out white) and for a shape that looks channels-first (``3×H×W``)."""
    if image.dtype not in PEAK:
        raise UsageError(f"unsupported array dtype {image.dtype}; use uint8, uint16 or float32")
    if image.ndim not in (2, 3) or 0 in image.shape:
        raise UsageError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    if warn and image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] > 4:
        warnings.warn(
            f"an image of shape {image.shape} is taken as {image.shape[0]} rows of "
            f"{image.shape[2]} channels; for channels first (C×H×W, as PyTorch has it) pass "
            "np.moveaxis(image, 0, -1)",
            NssrWarning,
            stacklevel=caller_stacklevel(),
        )
    if image.dtype != np.float32:
        return
    lo, hi = float(image.min()), float(image.max())  # NaN if any is
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise UsageError("the float32 image holds NaN or infinite values; expected [0, 1]")
    if warn and (lo < -0.01 or hi > 1.01):
        warnings.warn(
            f"the float32 image holds values from {lo:g} to {hi:g}; outputs are clamped to "
            "[0, 1] (an 8-bit image as float: divide it by 255)",
            NssrWarning,
            stacklevel=caller_stacklevel(),
        )


def upscale_planes(image: np.ndarray, plan: AnyPlan, *, tile: int | None = None) -> np.ndarray:
    """Upscale an ``H×W`` or ``H×W×C`` array (uint8, uint16, or float32 in [0, 1]) with a
    prepared plan; returns the same dtype and layout, rounded back to the input's bit depth.
    ``tile`` (output pixels) bounds the memory; any tile gives the same output."""
    check_image(image, warn=True)
    return upscale_checked(image, plan, tile=tile)


def upscale_checked(image: np.ndarray, plan: AnyPlan, *, tile: int | None = None) -> np.ndarray:
    """:func:`upscale_planes` of an image :func:`check_image` has already passed."""
    planes = image if image.ndim == 3 else image[:, :, None]
    out = np.empty((*output_size(*planes.shape[:2], plan.scale), planes.shape[2]), image.dtype)
    # Work in the input's own units (0..255, 0..65535): the filter is linear, so this skips a
    # divide on the way in and a multiply on the way out.
    upscale_into(out, planes, plan, peak=PEAK[image.dtype], tile=tile)
    return out if image.ndim == 3 else out[:, :, 0]


def upscale_into(
    dst: np.ndarray, planes: np.ndarray, plan: AnyPlan, *, peak: float, tile: int | None = None
) -> None:
    """Upscale ``planes`` ``(H, W, C)`` (uint8, uint16 or float32, values in ``[0, peak]``)
    into ``dst``, a C-contiguous ``(round(s·H), round(s·W), C)`` uint8, uint16 or float32
    array, clamped to ``[0, peak]`` (``peak`` may be ``inf``) and rounded for integers."""
    tile = default_tile(plan.device) if tile is None else tile
    if tile < 1:
        raise UsageError("tile size must be positive")
    if isinstance(plan, CpuPlan):
        cpu_upscale_into(dst, planes, plan, peak=peak, tile=tile)
        return
    from torch import from_numpy

    from nssr_cli.engine.tiles import upscale_into as torch_upscale_into

    planes = np.ascontiguousarray(planes)
    if not planes.flags.writeable:  # e.g. np.asarray(pil_image): PyTorch warns on a read-only
        planes = planes.copy()  # array; a copy of the input is small beside the s²× output
    x = from_numpy(planes).permute(2, 0, 1)  # (C, H, W) view
    torch_upscale_into(dst, x, plan, peak=peak, tile=tile)
