"""The quality benchmark runner (DESIGN §4): degrade HR photos, upscale them back with bicubic
and with each kernel, score the rounded 8-bit output (Y-channel PSNR/SSIM, ``s`` border cropped).

Upscaling goes through the engine's fast path (:func:`~nssr_cli.engine.tiles.cached_plan` +
:func:`~nssr_cli.engine.tiles.upscale_planes`), so the benchmark measures what users get.
Methods: ``bicubic``, ``auto``/``none``/``light``/``medium``/``heavy`` (the bank, as
``nssr upscale --blur`` picks), or any kernel name or ``.npy`` path.

Protocols: ``div2krk`` (blurred) and ``classic`` (sharp), each also followed by what real files
carry (issue 9): a JPEG round trip at quality 75, 85 or 95 (``div2krk+jpeg85``; the LR goes
through nssr's own decoder, so ``auto`` sees the file's quantization tables as a user's JPEG
would) or Gaussian noise of σ 2 or 5 on the 8-bit scale (``classic+noise5``; a fixed seed per
image, scale and σ). Next to each method's scores the report keeps an **oracle**: the bank entry
with the best PSNR for each image (it sees the HR), so a selector's shortfall is visible.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nssr_cli.engine.tiles import cached_plan, upscale_planes
from nssr_cli.errors import UsageError
from nssr_cli.files.decode import decode
from nssr_cli.files.formats import image_extensions
from nssr_cli.kernels.bank import BLUR_LEVELS, bank_entries, bank_kernel, select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.quality.comparison import save_comparison
from nssr_cli.quality.metrics import psnr_y, require_scikit_image, ssim_y
from nssr_cli.synth.degradations import (
    add_noise,
    classic_lr,
    div2krk_lr,
    image_seed,
    modcrop,
    recipe_kernel,
)

PROTOCOLS = ("div2krk", "classic")  # the two base degradations
JPEG_QUALITIES = (75, 85, 95)
NOISE_SIGMAS = (2, 5)
# What each --protocol runs: base degradations, each with these variants ("" = as is).
PROTOCOL_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "div2krk": (("div2krk",), ("",)),
    "classic": (("classic",), ("",)),
    "both": (PROTOCOLS, ("",)),
    "jpeg": (PROTOCOLS, tuple(f"jpeg{q}" for q in JPEG_QUALITIES)),
    "noisy": (PROTOCOLS, tuple(f"noise{s}" for s in NOISE_SIGMAS)),
    "all": (
        PROTOCOLS,
        ("", *(f"jpeg{q}" for q in JPEG_QUALITIES), *(f"noise{s}" for s in NOISE_SIGMAS)),
    ),
}


def protocol_names(name: str) -> list[str]:
    """The protocols a ``--protocol`` value runs, e.g. ``"jpeg"`` → ``classic+jpeg75``, …"""
    if name in PROTOCOLS or "+" in name:
        return [name]
    if name not in PROTOCOL_SETS:
        raise UsageError(f"unknown protocol {name!r}; use one of {', '.join(PROTOCOL_SETS)}")
    bases, variants = PROTOCOL_SETS[name]
    return [f"{b}+{v}" if v else b for b in bases for v in variants]


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

    def summary(self) -> list[dict[str, Any]]:
        """Per (protocol, scale, method other than bicubic): mean PSNR and SSIM gain over
        bicubic, the worst single image's PSNR gain (and which image), and the oracle's mean PSNR
        gain (when it was measured), in first-seen order."""
        base = {(s.protocol, s.scale, s.image): s for s in self.scores if s.method == "bicubic"}
        groups: dict[tuple[str, int, str], list[Score]] = {}
        for s in self.scores:
            if s.method != "bicubic" and (s.protocol, s.scale, s.image) in base:
                groups.setdefault((s.protocol, s.scale, s.method), []).append(s)
        rows = []
        for (p, sc, m), v in groups.items():
            gain = [s.psnr - base[p, sc, s.image].psnr for s in v]
            worst = int(np.argmin(gain))
            ssim = [s.ssim - base[p, sc, s.image].ssim for s in v]
            rows.append(
                {
                    "protocol": p,
                    "scale": sc,
                    "method": m,
                    "images": len(v),
                    "gain": float(np.mean(gain)),
                    "ssim_gain": float(np.mean(ssim)),
                    "worst": float(gain[worst]),
                    "worst_image": v[worst].image,
                }
            )
        oracle = {(r["protocol"], r["scale"]): r["gain"] for r in rows if r["method"] == "oracle"}
        for r in rows:
            r["oracle"] = oracle.get((r["protocol"], r["scale"]))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "means": self.means(),
            "summary": self.summary(),
            "scores": [asdict(s) for s in self.scores],
        }


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
    """An HR image as ``(H, W, 3)`` uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def make_lr(
    hr: np.ndarray, scale: int, protocol: str, name: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """The LR input of one image, ``(H/s, W/s, 3)`` uint8 (``hr`` already modcropped), and the
    decoder's picture info (a JPEG's quantization table) for ``protocol`` (``base[+variant]``)."""
    base, _, variant = protocol.partition("+")
    if base not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}")
    if base == "classic":
        lr = classic_lr(hr, scale)
    else:
        rng = np.random.default_rng(image_seed(name, scale))
        lr = div2krk_lr(hr, recipe_kernel(scale, rng), scale)
    if not variant:
        return lr, {}
    if variant.startswith("jpeg") and variant[4:].isdigit():
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, "JPEG", quality=int(variant[4:]))
        pic = decode(buf.getvalue(), f"{name}.jpg")
        return pic.frames[0].color, pic.info
    if variant.startswith("noise") and variant[5:].isdigit():
        rng = np.random.default_rng(image_seed(name, scale, salt=f"nssr-{variant}"))
        return add_noise(lr, float(variant[5:]), rng), {}
    raise UsageError(f"unknown protocol variant {variant!r}")


def upscale(
    lr: np.ndarray, scale: int, method: str, device: str, info: dict[str, Any] | None = None
) -> tuple[np.ndarray, str]:
    """``lr`` upscaled by one method, and the name of the kernel it used."""
    if method in BLUR_LEVELS:
        sel = select_kernel(lr, scale, method, info=info)
        kernel, name = sel.kernel, sel.name
    else:
        kernel, name = resolve_kernel(method)
    return upscale_planes(lr, cached_plan(kernel, scale, device)), name


def oracle(lr: np.ndarray, hr: np.ndarray, scale: int, device: str) -> tuple[str, float, float]:
    """The bank entry with the best PSNR on this image (it sees ``hr``): name, PSNR, SSIM."""
    scored = []
    for name in bank_entries(scale):
        out = upscale_planes(lr, cached_plan(bank_kernel(name), scale, device))
        scored.append((psnr_y(out, hr, scale), name, out))
    p, name, out = max(scored, key=lambda t: t[0])
    return name, p, ssim_y(out, hr, scale)


def evaluate(
    paths: Iterable[Path],
    *,
    scales: Iterable[int] = (2, 3, 4),
    protocols: Iterable[str] = PROTOCOLS,
    methods: Iterable[str] = ("bicubic", "auto"),
    device: str = "cpu",
    compare_dir: Path | None = None,
    on_score: Callable[[Score], None] | None = None,
    with_oracle: bool = True,
) -> Report:
    """Score every method on every image, scale and protocol (``base`` or ``base+variant``, as
    :func:`protocol_names` lists them); with ``with_oracle`` also the method ``oracle``."""
    require_scikit_image()
    images = find_images(paths)
    methods = list(dict.fromkeys(methods))
    report = Report()
    for protocol in protocols:
        for scale in scales:
            for path in images:
                hr = modcrop(load_rgb(path), scale)
                lr, info = make_lr(hr, scale, protocol, path.stem)
                outs = []
                for method in methods:
                    out, used = upscale(lr, scale, method, device, info)
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
                if with_oracle:
                    best, p, q = oracle(lr, hr, scale, device)
                    score = Score(protocol, scale, "oracle", path.stem, p, q, best)
                    report.scores.append(score)
                    if on_score:
                        on_score(score)
                if compare_dir is not None:
                    dest = Path(compare_dir) / f"{path.stem}-{protocol}-x{scale}.png"
                    save_comparison(dest, lr, outs, hr, scale)
    return report
