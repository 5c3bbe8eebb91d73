"""`auto` against a simple peer, bicubic followed by an unsharp mask, on the clean protocols.

    python benchmarks/unsharp_peer.py bench-data bench-data/photos bench-data/graphics -s 2 3 4

The images are degraded, upscaled and scored as `nssr eval` does: the same LR, bicubic through
the same engine, Y PSNR on the 8-bit output with `s` border pixels cropped. The unsharp mask is
`b + a·(b − G_σ ⊛ b)` on the bicubic output `b` (σ in HR pixels), at a few common settings that
were not tuned on these images. It prints, per scale, protocol and method, the mean gain over
bicubic and the worst single image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from nssr_cli.quality.evaluation import find_images, load_rgb, modcrop, upscale
from nssr_cli.quality.metrics import psnr_y
from nssr_cli.quality.protocols import make_lr

SETTINGS = ((1.0, 0.5), (1.0, 1.0), (1.5, 0.5))  # (σ, amount)


def unsharp(image: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """``image`` (uint8) sharpened by an unsharp mask, rounded back to uint8."""
    b = image.astype(np.float32)
    out = b + amount * (b - cv2.GaussianBlur(b, (0, 0), sigma))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="HR images or folders of them")
    parser.add_argument("-s", "--scales", nargs="+", type=int, default=[2, 3, 4])
    args = parser.parse_args()
    paths = find_images(args.paths)
    gains: dict[tuple[int, str, str], list[tuple[float, str]]] = {}
    for path in paths:
        hr_full = load_rgb(path, args.scales)
        for scale in args.scales:
            hr = modcrop(hr_full, scale)
            for protocol in ("div2krk", "classic"):
                lr, info = make_lr(hr, scale, protocol, path.stem)
                bicubic, _ = upscale(lr, scale, "bicubic", "cpu", info)
                outs = {"auto": upscale(lr, scale, "auto", "cpu", info)[0]}
                for sigma, amount in SETTINGS:
                    outs[f"unsharp σ {sigma} × {amount}"] = unsharp(bicubic, sigma, amount)
                base = psnr_y(bicubic, hr, scale)
                for method, out in outs.items():
                    gain = psnr_y(out, hr, scale) - base
                    gains.setdefault((scale, protocol, method), []).append((gain, path.stem))
    for (scale, protocol, method), rows in gains.items():
        mean = float(np.mean([g for g, _ in rows]))
        worst, name = min(rows)
        print(
            f"×{scale} {protocol:8s} {method:20s} mean {mean:+.2f} dB  worst {worst:+.2f} ({name})"
        )


if __name__ == "__main__":
    main()
