"""The memory one file's job needs, estimated from its header before any pixel is decoded, and
the refusal when that is more than the machine has available.

A job holds, at its peak: the decoded input, the upscaled output, and the encoder's own working
copies — which for some formats are several times the output (measured below). Decoding has a
peak of its own (Pillow's image, a converted copy, our arrays), before the output exists.
"""

from __future__ import annotations

from nssr_cli.engine.geometry import output_size
from nssr_cli.errors import InputError
from nssr_cli.files.picture import Header
from nssr_cli.system import memory_shortfall

# Extra peak memory while encoding, in multiples of the output's raw pixel bytes (the file's
# bytes, held until written, included). Measured on this machine as the rise of peak RSS
# (VmHWM, reset just before) while encoding a 3000×2000 textured picture, rounded up, taking
# the larger of RGB and RGBA (benchmarks/encoder_memory.py):
# PNG 4.1/4.5 (16-bit 3.2/4.0), JPEG 1.9, WebP 5.8/10.5, TIFF 4.4/3.1 (16-bit 2.0),
# GIF 4.3/3.1, BMP 2.4/2.1. Multi-frame files measured lower (1.6–2.9 for 20 frames).
ENCODER_FACTOR = {"PNG": 5.0, "JPEG": 2.0, "WEBP": 11.0, "TIFF": 5.0, "GIF": 5.0, "BMP": 3.0}
OTHER_ENCODER_FACTOR = 5.0
DECODE_FACTOR = 3.0  # Pillow's image (RGB held as 4 bytes a pixel), a converted copy, our arrays
PREMULTIPLIED_BYTES = 2 * 4  # two float32 copies of each output sample (engine.alpha)


def job_memory(header: Header, scale: float, fmt: str) -> int:
    """Bytes the job for one file needs at its peak: decoding ``header``'s file, upscaling by
    ``scale`` and encoding as ``fmt`` (Pillow's format name)."""
    sample = header.bands * header.itemsize
    outputs = [output_size(h, w, scale) for w, h in header.sizes]
    out_pixels = sum(h * w for h, w in outputs)
    decoded = header.pixels * sample
    work = decoded + out_pixels * sample * (1 + ENCODER_FACTOR.get(fmt, OTHER_ENCODER_FACTOR))
    if header.has_alpha:  # one frame at a time through the premultiplied path
        work += max(h * w for h, w in outputs) * header.bands * PREMULTIPLIED_BYTES
    return int(max(decoded * DECODE_FACTOR, work))


def check_memory(header: Header, scale: float, fmt: str) -> None:
    """Refuse (with :class:`InputError` saying how much it needs) a job that would not fit in
    the memory available now."""
    w, h = header.sizes[0]
    oh, ow = output_size(h, w, scale)
    frames = f" × {header.frames} frames" if header.frames > 1 else ""
    what = f"the output ({ow}×{oh}{frames}, written as {fmt})"
    problem = memory_shortfall(job_memory(header, scale, fmt), what)
    if problem is not None:
        raise InputError(f"{problem}; use a smaller scale" + (" or fewer frames" if frames else ""))
