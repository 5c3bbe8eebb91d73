"""`auto` on photographs no design decision saw: the sample images scikit-image ships.

    python benchmarks/unseen_photos.py photos-skimage/ [-s 2 3 4] [--protocol all downscalers]

Copies the photographs and scans that come inside scikit-image's wheel (no download) into the
folder, runs `nssr eval` on them at each scale and protocol group, and prints, as the README's
Quality tables do, per protocol and scale: `auto`'s mean gain over bicubic (Y PSNR dB) and its
SSIM gain, the worst single image, and the two oracles. The list was fixed before any of them
was scored: every bundled 8-bit photograph or scan (grey or colour), leaving out drawings and
synthetic images (chessboards, logo, phantom, silhouettes, motion-blur demo), microscopy and one
image of the stereo pair. nssr fits nothing on them and chose no design by them; they are the
textures (brick, grass, gravel), text and everyday photos the issue that made `auto` named.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)


def copy_photos(folder: Path) -> None:
    """Copy :data:`PHOTOS` from scikit-image's data folder into ``folder``."""
    import skimage.data

    source = Path(skimage.data.__file__).parent
    missing = [name for name in PHOTOS if not (source / name).is_file()]
    if missing:
        sys.exit(f"this scikit-image ({source}) does not ship {', '.join(missing)}")
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(source / name, folder / name)


def table(rows: list[dict]) -> str:
    """The Markdown table of ``auto``'s summary rows."""
    lines = [
        "| protocol | scale | auto: mean dB | SSIM | worst dB (image) | reach mean | oracle mean |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['protocol']} | ×{r['scale']} | {r['gain']:+.2f} | {r['ssim_gain']:+.4f} | "
            f"{r['worst']:+.2f} ({r['worst_image']}) | {r['reach']:+.2f} | {r['oracle']:+.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to copy the photos (created)")
    parser.add_argument("-s", "--scales", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--protocol", nargs="+", default=["all", "downscalers"])
    args = parser.parse_args()
    copy_photos(args.folder)
    rows = []
    for protocol in args.protocol:
        for scale in args.scales:
            cmd = [sys.executable, "-m", "nssr_cli", "eval", str(args.folder), "-s", str(scale)]
            cmd += ["--protocol", protocol, "--json"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            summary = json.loads(done.stdout)["summary"]
            rows += [r for r in summary if r["method"] == "auto"]
    print(table(rows))


if __name__ == "__main__":
    main()
