"""What the shipped kernel bank can reach at best: the ceiling every kernel choice works under.

    python benchmarks/bank_ceiling.py bench-data bench-data/photos bench-data/graphics -s 3 4

For each scale and protocol (``--protocol``, as ``nssr eval`` names them; default ``div2krk``)
every image is degraded and upscaled as ``nssr eval`` does (same LR, same engine, Y on the 8-bit
output, ``s`` border pixels cropped) with every bank entry, every blend ``auto`` may take
(``light+medium``, ``none-q85+medium-q85``, …) and every route kernel (``x2-auto-light``, …).
Per image it keeps the best PSNR and, chosen separately, the best SSIM: two oracles that see the
HR. It prints their mean gains over bicubic, and each kernel's mean gains when given to every
image. A bar above the SSIM oracle cannot be met by choosing among these kernels, however well.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nssr_cli.engine.plans import upscale_planes
from nssr_cli.kernels.bank import bank_kernel, route_kernels
from nssr_cli.kernels.names import bank_entries, bank_scale
from nssr_cli.kernels.rule_table import steps
from nssr_cli.quality.evaluation import cached_plan, find_images, load_rgb, modcrop, upscale
from nssr_cli.quality.metrics import psnr_y, ssim_y
from nssr_cli.quality.protocols import make_lr
from nssr_cli.synth.levels import DEGRADATIONS


def candidates(scale: int) -> list[str]:
    """Every bank entry at ``scale``, every blend of two that ``auto`` may choose, and the
    clean steps' route kernels (``x2-auto-light``)."""
    s = bank_scale(scale)
    blends = [st for fam in ("clean", *DEGRADATIONS) for st in steps(fam) if "+" in st]
    routes = [n for st in steps("clean") for n in route_kernels(s, st)]
    return list(dict.fromkeys([*bank_entries(s), *(f"x{s}-{b}" for b in blends), *routes]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="HR images or folders of them")
    parser.add_argument("-s", "--scales", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--protocol", nargs="+", default=["div2krk"])
    args = parser.parse_args()
    paths = find_images(args.paths)
    # (scale, protocol) → per image: {kernel: (psnr gain, ssim gain)}
    table: dict[tuple[int, str], list[dict[str, tuple[float, float]]]] = {}
    for path in paths:
        hr_full = load_rgb(path, args.scales)
        for scale in args.scales:
            hr = modcrop(hr_full, scale)
            for protocol in args.protocol:
                lr, info = make_lr(hr, scale, protocol, path.stem)
                base, _ = upscale(lr, scale, "bicubic", "cpu", info)
                p0, s0 = psnr_y(base, hr, scale), ssim_y(base, hr, scale)
                row = {}
                for name in candidates(scale):
                    out = upscale_planes(lr, cached_plan(bank_kernel(name), scale, "cpu"))
                    row[name] = (psnr_y(out, hr, scale) - p0, ssim_y(out, hr, scale) - s0)
                table.setdefault((scale, protocol), []).append(row)
    for (scale, protocol), rows in table.items():
        best_psnr = np.mean([max(0.0, *(p for p, _ in r.values())) for r in rows])
        best_ssim = np.mean([max(0.0, *(q for _, q in r.values())) for r in rows])
        print(
            f"×{scale} {protocol} ({len(rows)} images): PSNR oracle {best_psnr:+.2f} dB, "
            f"SSIM oracle {best_ssim:+.4f} (each the best kernel per image, or bicubic)"
        )
        for name in rows[0]:
            p = np.mean([r[name][0] for r in rows])
            q = np.mean([r[name][1] for r in rows])
            print(f"    every image {name:22s} {p:+.2f} dB  SSIM {q:+.4f}")


if __name__ == "__main__":
    main()
