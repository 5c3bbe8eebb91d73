"""The quality benchmark runner (DESIGN §4): degrade HR photos, upscale them back with bicubic
and with each kernel, score the rounded 8-bit output (Y-channel PSNR/SSIM, ``s`` border cropped).

Upscaling goes through the engine's fast path (:func:`~nssr_cli.engine.plans.cached_plan` +
:func:`~nssr_cli.engine.plans.upscale_planes`), so the benchmark measures what users get.
Methods: ``bicubic``, ``auto``/``none``/``light``/``medium``/``heavy`` (the bank, as
``nssr upscale --blur`` picks), or any kernel name or ``.npy`` path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nssr_cli.engine.plans import cached_plan, upscale_planes
from nssr_cli.errors import UsageError
from nssr_cli.files.atomic import publish_problem
from nssr_cli.files.formats import image_extensions, open_image
from nssr_cli.kernels.bank import BLUR_LEVELS, select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.quality.comparison import save_comparison
from nssr_cli.quality.metrics import psnr_y, require_scikit_image, ssim_y
from nssr_cli.synth.degradations import (
    classic_lr,
    div2krk_lr,
    image_seed,
    modcrop,
    recipe_kernel,
)

PROTOCOLS = ("div2krk", "classic")


@dataclass(frozen=True)
class Score:
    """One (protocol, scale, method, image) measurement."""

    protocol: str
    scale: int
    method: str
    image: str
    psnr: float
    ssim: float
    kernel: str  # the kernel actually used (the bank entry for blur levels)


@dataclass
class Report:
    scores: list[Score] = field(default_factory=list)

    def means(self) -> list[dict[str, Any]]:
        """Mean PSNR/SSIM per (protocol, scale, method), in first-seen order."""
        groups: dict[tuple[str, int, str], list[Score]] = {}
        for s in self.scores:
            groups.setdefault((s.protocol, s.scale, s.method), []).append(s)
        return [
            {
                "protocol": p,
                "scale": sc,
                "method": m,
                "images": len(v),
                "psnr": float(np.mean([s.psnr for s in v])),
                "ssim": float(np.mean([s.ssim for s in v])),
            }
            for (p, sc, m), v in groups.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"means": self.means(), "scores": [asdict(s) for s in self.scores]}


def find_images(paths: Iterable[Path]) -> list[Path]:
    """Image files among ``paths`` (folders are searched, not recursively), sorted per folder."""
    exts = image_extensions()
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in exts)
        elif p.is_file():
            found.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    if not found:
        raise UsageError("no images found in the given paths")
    return found


def load_rgb(path: Path) -> np.ndarray:
    """An HR image as ``(H, W, 3)`` uint8 RGB (only formats on the allow-list are opened)."""
    with open_image(path) as im:
        return np.asarray(im.convert("RGB"))


def make_lr(hr: np.ndarray, scale: int, protocol: str, name: str) -> np.ndarray:
    """The LR input of one image: ``(H/s, W/s, 3)`` uint8 (``hr`` already modcropped)."""
    if protocol == "classic":
        return classic_lr(hr, scale)
    rng = np.random.default_rng(image_seed(name, scale))
    return div2krk_lr(hr, recipe_kernel(scale, rng), scale)


def upscale(lr: np.ndarray, scale: int, method: str, device: str) -> tuple[np.ndarray, str]:
    """``lr`` upscaled by one method, and the name of the kernel it used."""
    if method in BLUR_LEVELS:
        sel = select_kernel(lr, scale, method)
        kernel, name = sel.kernel, sel.name
    else:
        kernel, name = resolve_kernel(method)
    return upscale_planes(lr, cached_plan(kernel, scale, device)), name


def evaluate(
    paths: Iterable[Path],
    *,
    scales: Iterable[int] = (2, 3, 4),
    protocols: Iterable[str] = PROTOCOLS,
    methods: Iterable[str] = ("bicubic", "auto"),
    device: str = "cpu",
    compare_dir: Path | None = None,
    on_score: Callable[[Score], None] | None = None,
    overwrite: bool = False,
) -> Report:
    """Score every method on every image, scale and protocol. Comparison crops in
    ``compare_dir`` follow the publishing rule: existing ones are refused, before any work,
    unless ``overwrite``."""
    require_scikit_image()
    images = find_images(paths)
    methods = list(dict.fromkeys(methods))
    report = Report()
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise UsageError(f"unknown protocol {protocol!r}; use div2krk, classic or both")
    if compare_dir is not None:
        crops = [
            _crop_path(compare_dir, p, pr, s) for pr in protocols for s in scales for p in images
        ]
        for problem in (publish_problem(c, overwrite=overwrite) for c in crops):
            if problem is not None:
                raise UsageError(problem)
    for protocol in protocols:
        for scale in scales:
            for path in images:
                hr = modcrop(load_rgb(path), scale)
                lr = make_lr(hr, scale, protocol, path.stem)
                outs = []
                for method in methods:
                    out, used = upscale(lr, scale, method, device)
                    score = Score(
                        protocol,
                        scale,
                        method,
                        path.stem,
                        psnr_y(out, hr, scale),
                        ssim_y(out, hr, scale),
                        used,
                    )
                    report.scores.append(score)
                    outs.append(out)
                    if on_score:
                        on_score(score)
                if compare_dir is not None:
                    dest = _crop_path(compare_dir, path, protocol, scale)
                    save_comparison(dest, lr, outs, hr, scale, overwrite=overwrite)
    return report


def _crop_path(compare_dir: Path, image: Path, protocol: str, scale: int) -> Path:
    return Path(compare_dir) / f"{image.stem}-{protocol}-x{scale}.png"
