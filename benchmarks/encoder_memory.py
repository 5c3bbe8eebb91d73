"""Peak memory each output encoder adds, as a multiple of the output's raw pixel bytes — the
factors behind ``nssr_cli.batch.memory.ENCODER_FACTOR``.

    python benchmarks/encoder_memory.py            # every format, RGB and RGBA, 3000×2000
    python benchmarks/encoder_memory.py WEBP RGBA 1

Each case runs in a fresh process: the peak RSS (``VmHWM``) is reset just before encoding
(``/proc/self/clear_refs``, Linux), and the rise over the RSS at that moment is what the encoder
(and the file's bytes it returns) took. tracemalloc would miss it: Pillow, zlib and libwebp
allocate outside Python's allocator.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import numpy as np

from nssr_cli.files.encode import encode
from nssr_cli.files.picture import Frame, Picture


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def measure(fmt: str, mode: str, frames: int) -> dict[str, object]:
    """Encode a textured picture (``mode`` RGB, RGBA, RGB16 or RGBA16) and report the rise."""
    h, w = (2000, 3000) if frames == 1 else (600, 800)
    dtype = np.uint16 if mode.endswith("16") else np.uint8
    channels = 4 if mode.startswith("RGBA") else 3
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = ((x * 7 + y * 3) % 256).astype(dtype) * (257 if dtype == np.uint16 else 1)
    arr = np.stack([base] * channels, -1) + rng.integers(0, 8, (h, w, channels)).astype(dtype)
    alpha = np.ascontiguousarray(arr[..., 3]) if channels == 4 else None
    pic = Picture(
        [Frame(np.ascontiguousarray(arr[..., :3]), alpha, 40) for _ in range(frames)], fmt
    )
    raw = sum(f.color.nbytes + (0 if f.alpha is None else f.alpha.nbytes) for f in pic.frames)
    del arr, base, x, y
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS
    before = _status("VmRSS")
    data = encode(pic, fmt)
    extra = _status("VmHWM") - before
    return {
        "format": fmt,
        "mode": mode,
        "frames": frames,
        "output_MB": round(raw / 1e6, 1),
        "encoder_MB": round(extra / 1e6, 1),
        "factor": round(extra / raw, 2),
        "file_MB": round(len(data) / 1e6, 2),
    }


CASES = [
    *((f, m, 1) for f in ("PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP") for m in ("RGB", "RGBA")),
    ("PNG", "RGB16", 1),
    ("PNG", "RGBA16", 1),
    ("TIFF", "RGB16", 1),
    *((f, "RGB", 20) for f in ("GIF", "WEBP", "PNG", "TIFF")),
]


def main() -> None:
    if len(sys.argv) == 4:
        print(json.dumps(measure(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
        return
    for fmt, mode, frames in CASES:
        if fmt == "JPEG" and mode == "RGBA":
            continue
        subprocess.run([sys.executable, __file__, fmt, mode, str(frames)], check=True)


if __name__ == "__main__":
    main()
